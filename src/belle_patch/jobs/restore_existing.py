"""An output already under its final name: kept when it verifies, else in the way."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from belle_patch.errors import OutputExistsError
from belle_patch.jobs.restore_types import RestoreOptions
from belle_patch.output import state
from belle_patch.stream.engine import ProgressCallback
from belle_patch.stream.hashing import hash_file
from belle_patch.vocabulary import DigestKind


def existing_output(
    final_path: Path,
    sha256: Optional[str],
    options: RestoreOptions,
    on_progress: Optional[ProgressCallback],
    *,
    recorded_only: bool = False,
) -> Optional[str]:
    """The MD5 of an existing output that already verifies; None when there is work to do.

    With no checksum to compare (``recorded_only``), only a file this tool restored and
    recorded, unchanged since, counts as done: another tool's half-written file would pass
    any check of its first bytes.
    """
    # A symlink in the way is replaced by the restored file, never written through.
    if options.force or final_path.is_symlink() or not final_path.exists():
        return None
    if final_path.is_file() and not final_path.is_symlink():
        recorded = _recorded_digests(
            final_path, on_progress, need_md5=not recorded_only, need_sha256=sha256 is not None
        )
        try:
            if recorded is not None or recorded_only:
                digests = recorded or {}
            else:
                digests = hash_file(
                    final_path, [DigestKind.SHA256, DigestKind.MD5], on_progress=on_progress
                )
        except OSError:
            digests = {}
        sha_ok = sha256 is None or digests.get(DigestKind.SHA256) == sha256
        md5_ok = options.expected_md5 in (None, digests.get(DigestKind.MD5))
        if digests and sha_ok and md5_ok:
            return digests[DigestKind.MD5]
    raise OutputExistsError(
        "an output that does not verify is in the way; it was left untouched",
        path=final_path,
        hint="run again with --force to replace it",
    )


def _recorded_digests(
    path: Path,
    on_progress: Optional[ProgressCallback],
    *,
    need_md5: bool = True,
    need_sha256: bool = False,
) -> Optional[dict[str, str]]:
    """SHA-256 and MD5 from the state file, if the file still hashes to the recorded xxh3.

    A record without a digest that is needed (a header-less file restored before its
    SHA-256 was listed) is not used: the file is hashed instead.
    """
    recorded = state.lookup(path.parent, path.name)
    if recorded is None or (need_md5 and not recorded.md5) or (need_sha256 and not recorded.sha256):
        return None
    try:
        current = hash_file(path, [DigestKind.XXH3_128], on_progress=on_progress)[
            DigestKind.XXH3_128
        ]
    except OSError:
        return None
    if current != recorded.xxh3_128:
        return None
    return {DigestKind.SHA256: recorded.sha256, DigestKind.MD5: recorded.md5}
