"""Regenerate the bundled release manifests from the research data.

    python scripts/build_manifests.py [RESEARCH_JSON] [--out FOLDER]

Reads scripts/data/xor-release-manifests.json (the published MD5 lists, with sources and
uncertainty notes) and writes one JSON file per release, plus keys.json with the known
LLaMA key files, into src/belle_patch/manifests/ (or --out). The input is read and every
file built before anything is written; the new folder then replaces the old one whole.
A test checks that the shipped files are what this script makes.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import Any, Dict, List, Optional

from staged_folder import check_target, staged_folder

HERE = Path(__file__).resolve().parent
DEFAULT_RESEARCH = HERE / "data" / "xor-release-manifests.json"
DEFAULT_OUT = HERE.parent / "src" / "belle_patch" / "manifests"
SCHEMA = "belle-patch-release/1"

FORMATS = {"point-alpaca": "header", "point-alpaca-variant-no-header": "no-header"}


def _source_urls(release: Dict[str, Any]) -> List[str]:
    urls = []
    for source in release.get("sources", []):
        url = source.get("url")
        if url and url not in urls:
            urls.append(url)
    return urls


def _file_entry(entry: Dict[str, Any]) -> Dict[str, Any]:
    md5: Optional[str] = entry.get("restored_md5")
    derived = md5 is None and entry.get("restored_md5_derived") is not None
    notes = entry.get("notes")
    if isinstance(notes, str):
        notes = [notes]
    result: Dict[str, Any] = {
        "name": entry["restored_name"],
        "sha256": entry.get("sha256"),
        "md5": md5 if md5 is not None else entry.get("restored_md5_derived"),
        "md5_derived": derived,
        "enc_name": entry.get("enc_name"),
        "enc_md5": entry.get("enc_md5"),
        "uncertain": bool(entry.get("uncertain")),
    }
    if entry.get("sha256_prefix"):
        result["sha256_prefix"] = entry["sha256_prefix"]
    if entry.get("restored_size_bytes_reported") is not None:
        result["size_reported"] = entry["restored_size_bytes_reported"]
    if notes:
        result["notes"] = list(notes)
    return result


def build_release(release: Dict[str, Any]) -> Dict[str, Any]:
    key = release["key"]
    candidates = [c.split(" ")[0] for c in key.get("candidates", [])]
    completeness = release.get("completeness", {})
    notes = list(release.get("format_notes", [])) + list(release.get("notes", []))
    if completeness.get("note"):
        notes.append(completeness["note"])
    return {
        "schema": SCHEMA,
        "id": release["id"],
        "name": release["name"],
        "publisher": release["publisher"],
        "format": FORMATS[release["format"]],
        "key": {
            "needs": key["llama_key_id"],
            "candidates": candidates or [key["llama_key_id"]],
            "certainty": key.get("certainty", ""),
            "evidence": key.get("evidence", ""),
        },
        "complete": bool(completeness.get("complete")),
        "sources": _source_urls(release),
        "notes": notes,
        "files": [_file_entry(e) for e in release.get("entries", [])],
        "other_files": [
            {"name": f["name"], "md5": f.get("restored_md5"), "note": f.get("note", "")}
            for f in release.get("extra_restored_files", [])
        ],
    }


def build_keys(research: Dict[str, Any]) -> Dict[str, Any]:
    keys = []
    for key in research["llama_keys"]:
        if not key["file"].startswith("consolidated."):
            continue
        keys.append(
            {
                "id": key["id"],
                "description": f"{key['model']} {key['file']}",
                "size": key.get("size_bytes"),
                "md5": key.get("md5"),
                "sha256": key.get("sha256"),
                "md5_first_16mib": key.get("md5_first_16MiB"),
            }
        )
    wrong = []
    for key in research["known_wrong_keys"]:
        md5s = key.get("md5")
        wrong.append(
            {
                "description": key["what"],
                "size": key.get("size_bytes"),
                "md5": [md5s] if isinstance(md5s, str) else (md5s or []),
                "source": key.get("source", ""),
            }
        )
    return {"schema": "belle-patch-keys/1", "llama1": keys, "known_wrong": wrong}


def build_all(research: Dict[str, Any]) -> Dict[str, str]:
    """File name -> JSON text of every bundled file."""
    out = {}
    for release in research["releases"]:
        out[f"{release['id']}.json"] = json.dumps(build_release(release), indent=1) + "\n"
    out["keys.json"] = json.dumps(build_keys(research), indent=1) + "\n"
    return out


def build_from_file(path: Path) -> Dict[str, str]:
    """Read and build everything; raise ValueError saying what is wrong with the input."""
    try:
        research = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise ValueError(f"{path}: not JSON: {exc}") from exc
    try:
        return build_all(research)
    except KeyError as exc:
        raise ValueError(f"{path}: not a release research file: no field {exc}") from exc
    except (TypeError, AttributeError) as exc:
        raise ValueError(f"{path}: not a release research file: {exc}") from exc


# Written by scripts/build_family_manifests.py: carried over as it is.
FAMILY_SUBFOLDER = "families"


def write_manifests(files: Dict[str, str], out: Path) -> None:
    with staged_folder(out) as staging:
        for name, text in files.items():
            (staging / name).write_text(text, encoding="utf-8")
        families = out / FAMILY_SUBFOLDER
        if families.is_dir() and not families.is_symlink():
            shutil.copytree(families, staging / FAMILY_SUBFOLDER)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "research",
        nargs="?",
        type=Path,
        default=DEFAULT_RESEARCH,
        help="research data (default: scripts/data/xor-release-manifests.json)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help="folder to replace with the manifests (default: the package's manifests folder)",
    )
    args = parser.parse_args(argv)
    try:
        check_target(args.out)
        files = build_from_file(args.research)
    except ValueError as exc:
        parser.error(str(exc))
    write_manifests(files, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
