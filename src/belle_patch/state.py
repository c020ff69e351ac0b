"""What belle-patch recorded about the files it restored, for fast re-verification.

After a file is restored and verified (SHA-256 and MD5), its size, mtime and xxh3-128 go
into ``.belle-patch/state.json`` in the output folder. A later check of a file whose size
and mtime are unchanged can then hash it with xxh3, which runs at memory speed, instead of
MD5. Any doubt (no record, another size or mtime, a damaged state file) means a full check.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict, Iterator, Optional

STATE_FOLDER = ".belle-patch"
STATE_FILE = "state.json"
LOCK_FILE = "state.lock"


@dataclass(frozen=True)
class FileState:
    size: int
    mtime_ns: int
    xxh3_128: str
    sha256: str
    md5: str


@contextlib.contextmanager
def exclusive_lock(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive flock on ``lock_path`` (created if missing); others wait."""
    with lock_path.open("a") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        yield


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[Path]:
    state_dir = folder / STATE_FOLDER
    state_dir.mkdir(exist_ok=True)
    with exclusive_lock(state_dir / LOCK_FILE):
        yield state_dir


def _read(state_dir: Path) -> Dict[str, FileState]:
    try:
        raw = json.loads((state_dir / STATE_FILE).read_text())
        return {name: FileState(**entry) for name, entry in raw["files"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def record(folder: Path, name: str, *, xxh3_128: str, sha256: str, md5: str) -> None:
    """Remember a verified file; best effort, since the state only saves time later."""
    path = folder / name
    try:
        stat = path.stat()
        with _locked(folder) as state_dir:
            files = _read(state_dir)
            files[name] = FileState(stat.st_size, stat.st_mtime_ns, xxh3_128, sha256, md5)
            temp = state_dir / f"{STATE_FILE}.{os.getpid()}.tmp"
            document = {"files": {n: asdict(s) for n, s in sorted(files.items())}}
            temp.write_text(json.dumps(document, indent=1))
            temp.replace(state_dir / STATE_FILE)
    except OSError:
        return


def lookup(folder: Path, name: str) -> Optional[FileState]:
    """The record of ``name`` if the file still has the recorded size and mtime."""
    state_dir = folder / STATE_FOLDER
    if not (state_dir / STATE_FILE).is_file():
        return None
    entry = _read(state_dir).get(name)
    if entry is None:
        return None
    try:
        stat = (folder / name).stat()
    except OSError:
        return None
    if stat.st_size != entry.size or stat.st_mtime_ns != entry.mtime_ns:
        return None
    return entry


def records(folder: Path) -> Dict[str, FileState]:
    """Every record in the folder's state; {} when there is none or it cannot be read."""
    return _read(folder / STATE_FOLDER)
