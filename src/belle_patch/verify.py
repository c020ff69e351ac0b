"""Check files against an MD5 list, several files at once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from .engine import ProgressCallback
from .errors import UsageError
from .hashing import MD5, hash_file

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


def verify_entries(
    entries: Dict[str, str],
    files: Dict[str, Path],
    *,
    jobs: int = 2,
    on_progress: Optional[ProgressCallback] = None,
) -> List[FileCheck]:
    """Hash every listed file that is present (in parallel) and compare with the list."""

    def check(name: str) -> FileCheck:
        expected = entries[name]
        path = files.get(name)
        if path is None:
            return FileCheck(name, MISSING, expected, detail="No such file or directory")
        try:
            actual = hash_file(path, [MD5], on_progress=on_progress)[MD5]
        except OSError as exc:
            return FileCheck(name, UNREADABLE, expected, path=path, detail=exc.strerror or "")
        status = OK if actual == expected else FAILED
        return FileCheck(name, status, expected, actual, path)

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(check, entries))
