"""Check files against an MD5 list, several files at once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from . import state
from .engine import ProgressCallback
from .errors import UsageError
from .expectations import Expectations
from .hashing import MD5, XXH3_128, hash_file
from .registry import Release, releases_by_patch_names, releases_by_restored_names

OK = "OK"
FAILED = "FAILED"
MISSING = "MISSING"
UNREADABLE = "UNREADABLE"


@dataclass(frozen=True)
class FileCheck:
    """The verdict on one listed file."""

    name: str
    status: str
    expected: str
    actual: Optional[str] = None
    path: Optional[Path] = None
    detail: str = ""
    method: str = MD5

    @property
    def ok(self) -> bool:
        return self.status == OK


def index_files(paths: Sequence[Path]) -> Dict[str, Path]:
    """Map file names to the files under ``paths`` (folders: their direct entries)."""
    found: Dict[str, Path] = {}
    for path in paths:
        if path.is_dir():
            for entry in sorted(path.iterdir()):
                found.setdefault(entry.name, entry)
        elif path.exists():
            found.setdefault(path.name, path)
        else:
            raise UsageError("no such file or folder", path=path)
    return found


def _recorded_match(path: Path, expected: str) -> bool:
    """True if belle-patch verified this very file before (same size, mtime and xxh3)."""
    recorded = state.lookup(path.parent, path.name)
    if recorded is None or recorded.md5 != expected:
        return False
    return hash_file(path, [XXH3_128])[XXH3_128] == recorded.xxh3_128


def verify_entries(
    entries: Dict[str, str],
    files: Dict[str, Path],
    *,
    jobs: int = 2,
    full: bool = False,
    on_progress: Optional[ProgressCallback] = None,
) -> List[FileCheck]:
    """Hash every listed file that is present (in parallel) and compare with the list.

    Unless ``full``, a file recorded in its folder's state as verified, with unchanged size
    and mtime, is checked with xxh3 against the record instead of MD5.
    """

    def check(name: str) -> FileCheck:
        expected = entries[name]
        path = files.get(name)
        if path is None:
            return FileCheck(name, MISSING, expected, detail="No such file or directory")
        try:
            if not full and path.name == name and _recorded_match(path, expected):
                return FileCheck(name, OK, expected, expected, path, method=XXH3_128)
            actual = hash_file(path, [MD5], on_progress=on_progress)[MD5]
        except OSError as exc:
            return FileCheck(name, UNREADABLE, expected, path=path, detail=exc.strerror or "")
        status = OK if actual == expected else FAILED
        return FileCheck(name, status, expected, actual, path)

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(check, entries))


def detect_release_for(files: Dict[str, Path]) -> Release:
    """The bundled release a folder of patches or of restored files belongs to.

    Patch names identify a release on their own. Restored names are shared between
    releases; when several fit equally, the MD5 of the smallest shared file decides.
    """
    found = releases_by_patch_names(files)
    if len(found) == 1:
        return found[0]
    candidates = releases_by_restored_names(files)
    if len(candidates) > 1:
        candidates = _narrow_by_content(candidates, files)
    if len(candidates) == 1:
        return candidates[0]
    raise UsageError(
        "cannot tell which release these files belong to",
        hint="pass the MD5 list with --manifest FILE, or --release NAME (see belle-patch releases)",
    )


def _narrow_by_content(candidates: List[Release], files: Dict[str, Path]) -> List[Release]:
    listed = set().union(*(r.restored_md5s() for r in candidates)) & set(files)
    if not listed:
        return candidates
    smallest = min(listed, key=lambda name: files[name].stat().st_size)
    try:
        md5 = hash_file(files[smallest], [MD5])[MD5]
    except OSError:
        return candidates
    return [r for r in candidates if r.restored_md5s().get(smallest) == md5]


def checks_for(expected: Expectations, files: Dict[str, Path]) -> Dict[str, str]:
    """Which names to check: a release's downloads if the folder holds patches, else its
    restored files (files that are not patches, like the model card, only when present);
    everything a user's list names."""
    if expected.release is None:
        return expected.listed
    if any(name in files for name in expected.downloads):
        return dict(expected.downloads)
    patch_files = expected.patch_files
    return {n: m for n, m in expected.restored.items() if n in patch_files or n in files}
