"""The lists a publisher puts on a model card, written next to the patches."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Sequence

from belle_patch.expect.manifest import encode_md5_list
from belle_patch.formats.families import BELLE, XorFormat
from belle_patch.jobs.seal import SealResult
from belle_patch.output.staging import StagedFile

DOWNLOADS_LIST = "md5sums-enc.txt"
RESTORED_LIST = "md5sums.txt"
JSON_MANIFEST = "manifest.json"
MANIFEST_SCHEMA = "belle-patch-release/1"


def release_manifest(
    name: str, results: Sequence[SealResult], format: XorFormat = BELLE
) -> Dict[str, Any]:
    """The project's JSON manifest (what ``verify --manifest`` and ``decrypt`` read)."""
    ordered = sorted(results, key=lambda r: r.source.name)
    return {
        "schema": MANIFEST_SCHEMA,
        "id": name,
        "name": name,
        "format": format.listed_as,
        "complete": True,
        "files": [
            {
                "name": r.source.name,
                "sha256": r.sha256 or None,
                "md5": r.md5,
                "enc_name": r.output.name,
                "enc_md5": r.enc_md5 or None,
                "size": r.size,
            }
            for r in ordered
        ],
    }


def write_release_lists(
    out_dir: Path, name: str, results: Sequence[SealResult], format: XorFormat = BELLE
) -> List[Path]:
    """Write the downloads' and the restored files' MD5 lists and the JSON manifest."""
    ordered = sorted(results, key=lambda r: r.source.name)
    # Names are data: escaped in the lists as md5sum does, undecodable bytes written back
    # as they were (json.dumps escapes them as \udcXX, which reads back the same).
    contents = {
        DOWNLOADS_LIST: encode_md5_list({r.output.name: r.enc_md5 for r in ordered if r.enc_md5}),
        RESTORED_LIST: encode_md5_list({r.source.name: r.md5 for r in ordered}),
        JSON_MANIFEST: (
            json.dumps(release_manifest(name, ordered, format), indent=1) + "\n"
        ).encode(),
    }
    written = []
    for file_name, content in contents.items():
        with StagedFile(out_dir, file_name) as staged:
            staged.write(memoryview(content))
            staged.sync()
            written.append(staged.commit(file_name))
    return written
