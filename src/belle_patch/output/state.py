"""What belle-patch recorded about the files it restored, for fast re-verification.

After a file is restored and verified (SHA-256 and MD5), its size, mtime and xxh3-128 go
into the ``.belle-patch`` folder of the output folder. A later check of a file whose size
and mtime are unchanged can then hash it with xxh3, which runs at memory speed, instead of
MD5. Any doubt (no record, another size or mtime, a damaged state) means a full check.

The folder holds ``state.json`` (every record, as one document) and ``state.journal`` (one
record a line, appended). A record is one appended line; once the journal outgrows the
document, both are merged into a new ``state.json``, so recording n files costs O(n).
Readers keep the parsed state per folder and read again only what changed.

The folder may come from elsewhere (a copied or unpacked output folder), so nothing in it
is trusted: no symlink is followed, only regular files of bounded size are read, and any
problem there means "no record". :func:`~belle_patch.output.state_rules.last_problem` tells
what went wrong, in one line.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

from belle_patch.output.locking import open_regular
from belle_patch.output.staging import sync_folder
from belle_patch.output.state_rules import (
    STATE_FOLDER,
    StateProblem,
    _describe,
    _guard,
    _key,
    _note,
    exclusive_lock,
    state_folder,
)

STATE_FILE = "state.json"
JOURNAL_FILE = "state.journal"
LOCK_FILE = "state.lock"
# Far above any real state (a record takes about 300 bytes), far below a memory problem.
MAX_STATE_BYTES = 64 * 1024 * 1024
# A journal smaller than this is never merged: merging tiny states would only cost time.
MERGE_FLOOR_BYTES = 64 * 1024
# The state lock is held for milliseconds; a longer wait means a stuck run, and records
# are worth less than finishing.
LOCK_PATIENCE_SECONDS = 10.0
# A merge writes its temporary file in milliseconds; one this old was left by a crash.
TEMPORARY_AGE_SECONDS = 3600

_FIELDS = {
    "size": int,
    "mtime_ns": int,
    "inode": int,
    "ctime_ns": int,
    "xxh3_128": str,
    "sha256": str,
    "md5": str,
}


@dataclass(frozen=True)
class FileState:
    size: int
    mtime_ns: int
    # The file this record was made for: a copy (cp -a, tar, rsync) is a new inode with a
    # new ctime, which no program can set, so a state folder that came along with copied
    # files (or was written for other ones) never vouches for them.
    inode: int
    ctime_ns: int
    xxh3_128: str
    sha256: str
    md5: str


def _read_bounded(path: Path, offset: int = 0) -> Optional[Tuple[bytes, os.stat_result]]:
    """The bytes of ``path`` from ``offset`` and its fstat, or None if there is no such file."""
    try:
        fd = open_regular(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    with os.fdopen(fd, "rb", buffering=0) as source:
        info = os.fstat(fd)
        if info.st_size > MAX_STATE_BYTES:
            raise StateProblem(f"{path} is larger than belle-patch ever makes it")
        source.seek(offset)
        chunks = []
        left = MAX_STATE_BYTES + 1 - offset
        while left > 0:
            chunk = source.read(left)
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    if left <= 0:
        raise StateProblem(f"{path} is larger than belle-patch ever makes it")
    return b"".join(chunks), info


def _entry(raw: Any) -> Optional[FileState]:
    if not isinstance(raw, dict) or set(raw) - {"name"} != set(_FIELDS):
        return None
    for name, kind in _FIELDS.items():
        value = raw[name]
        if type(value) is not kind or (isinstance(value, int) and value < 0):
            return None
    return FileState(**{name: raw[name] for name in _FIELDS})


def _parse_document(data: bytes, path: Path) -> Dict[str, FileState]:
    """Every record of a ``state.json``; StateProblem if it is not what belle-patch writes."""
    try:
        raw = json.loads(data)
        listed = raw["files"]
    except (ValueError, RecursionError, KeyError, TypeError) as exc:
        raise StateProblem(f"{path} is damaged") from exc
    if not isinstance(listed, dict):
        raise StateProblem(f"{path} is damaged")
    files: Dict[str, FileState] = {}
    for name, raw_entry in listed.items():
        entry = _entry(raw_entry)
        if entry is None:
            raise StateProblem(f"{path} is damaged")
        files[name] = entry
    return files


def _parse_journal(data: bytes, files: Dict[str, FileState]) -> int:
    """Apply the complete lines of ``data`` to ``files``; how many bytes they took."""
    end = data.rfind(b"\n") + 1
    for line in data[:end].split(b"\n"):
        # A line cut short by a crash, or damaged, loses that record only; a crash can also
        # leave zeros where a line was, before the next one.
        try:
            raw = json.loads(line.lstrip(b"\0"))
        except (ValueError, RecursionError):
            continue
        entry = _entry(raw)
        if entry is not None and isinstance(raw.get("name"), str):
            files[raw["name"]] = entry
    return end


def _identity(info: Optional[os.stat_result]) -> Tuple[int, ...]:
    if info is None:
        return ()
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


def _lstat(path: Path) -> Optional[os.stat_result]:
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None


@dataclass
class _Cached:
    document: Tuple[int, ...]
    journal: Tuple[int, int]  # device and inode of the journal read so far
    journal_read: int  # bytes of it already applied
    files: Dict[str, FileState] = field(default_factory=dict)


_cache: Dict[str, _Cached] = {}


def _parse_all(state_dir: Path) -> _Cached:
    document_path = state_dir / STATE_FILE
    read = _read_bounded(document_path)
    files = {} if read is None else _parse_document(read[0], document_path)
    document = _identity(None if read is None else read[1])
    journal = _read_bounded(state_dir / JOURNAL_FILE)
    if journal is None:
        return _Cached(document, (0, 0), 0, files)
    used = _parse_journal(journal[0], files)
    return _Cached(document, (journal[1].st_dev, journal[1].st_ino), used, files)


def _journal_grew(cached: _Cached, journal: Optional[os.stat_result]) -> bool:
    """Whether the journal is the one read before, with at most lines added since."""
    if journal is None:
        return cached.journal_read == 0
    same_file = (journal.st_dev, journal.st_ino) == cached.journal
    return same_file and journal.st_size >= cached.journal_read


def _load(folder: Path) -> Dict[str, FileState]:
    """Every record of ``folder``, read again only where the files changed since last time."""
    state_dir = state_folder(folder, create=False)
    key = _key(folder)
    if state_dir is None:
        _cache.pop(key, None)
        return {}
    cached = _cache.get(key)
    document = _lstat(state_dir / STATE_FILE)
    journal = _lstat(state_dir / JOURNAL_FILE)
    if document is not None and not stat.S_ISREG(document.st_mode):
        raise StateProblem(f"{state_dir / STATE_FILE} is not a regular file")
    if (
        cached is None
        or cached.document != _identity(document)
        or not _journal_grew(cached, journal)
    ):
        cached = _cache[key] = _parse_all(state_dir)
    elif journal is not None and journal.st_size > cached.journal_read:
        read = _read_bounded(state_dir / JOURNAL_FILE, cached.journal_read)
        if read is None or (read[1].st_dev, read[1].st_ino) != cached.journal:
            cached = _cache[key] = _parse_all(state_dir)
        else:
            cached.journal_read += _parse_journal(read[0], cached.files)
    return cached.files


def records(folder: Path) -> Dict[str, FileState]:
    """Every record in the folder's state; {} when there is none or it cannot be read safely."""
    with _guard:
        try:
            files = dict(_load(folder))
        except (OSError, StateProblem) as exc:
            _cache.pop(_key(folder), None)
            _note(folder, _describe(exc, folder / STATE_FOLDER))
            return {}
        return files


def lookup(folder: Path, name: str) -> Optional[FileState]:
    """The record of ``name`` if it is still the same file: size, mtime, inode and ctime."""
    with _guard:
        try:
            entry = _load(folder).get(name)
        except (OSError, StateProblem) as exc:
            _cache.pop(_key(folder), None)
            _note(folder, _describe(exc, folder / STATE_FOLDER))
            return None
    if entry is None:
        return None
    try:
        info = (folder / name).stat()
    except OSError:
        return None
    if not same_file(info, entry):
        return None
    return entry


def same_file(info: os.stat_result, entry: FileState) -> bool:
    """True if ``info`` is the very file ``entry`` was recorded for, unchanged since."""
    return (
        info.st_size == entry.size
        and info.st_mtime_ns == entry.mtime_ns
        and info.st_ino == entry.inode
        and info.st_ctime_ns == entry.ctime_ns
    )


def record(folder: Path, name: str, *, xxh3_128: str, sha256: str, md5: str) -> None:
    """Remember a verified file; best effort, since the state only saves time later.

    The record is one line appended to the journal. A crash may lose the newest records,
    never older ones, and never leaves a state that reads as damaged.
    """
    try:
        info = (folder / name).stat()
        entry = FileState(
            info.st_size, info.st_mtime_ns, info.st_ino, info.st_ctime_ns, xxh3_128, sha256, md5
        )
        line = json.dumps({"name": name, **asdict(entry)}).encode() + b"\n"
        try:
            _record_line(folder, line)
        except FileNotFoundError:
            _record_line(folder, line)  # another run removed the empty state folder meanwhile
    except (OSError, StateProblem) as exc:
        _note(folder, _describe(exc, folder / STATE_FOLDER))
        return


def _record_line(folder: Path, line: bytes) -> None:
    state_dir = state_folder(folder, create=True)
    assert state_dir is not None
    with _guard, exclusive_lock(state_dir / LOCK_FILE, patience=LOCK_PATIENCE_SECONDS):
        journal_size = _append(state_dir / JOURNAL_FILE, line)
        document = _lstat(state_dir / STATE_FILE)
        # The first record makes a state.json, so the folder's state has its usual shape.
        if document is None or journal_size > max(MERGE_FLOOR_BYTES, document.st_size):
            _merge(folder, state_dir)
            return
        try:
            _load(folder)  # reads just the new line while the state is sound
        except StateProblem:
            _merge(folder, state_dir)  # replaces what cannot be read


def flush(folder: Path) -> None:
    """Merge the journal into ``state.json`` now, e.g. at the end of a batch; best effort.

    Not needed for correctness: readers apply the journal. It leaves one file that holds
    every record, for tools that read only ``state.json``.
    """
    try:
        state_dir = state_folder(folder, create=False)
        if state_dir is None:
            return
        journal = _lstat(state_dir / JOURNAL_FILE)
        if journal is None or journal.st_size == 0:
            return
        with _guard, exclusive_lock(state_dir / LOCK_FILE, patience=LOCK_PATIENCE_SECONDS):
            _merge(folder, state_dir)
    except (OSError, StateProblem) as exc:
        _note(folder, _describe(exc, folder / STATE_FOLDER))


def _append(journal: Path, line: bytes) -> int:
    fd = open_regular(journal, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        size = os.fstat(fd).st_size + len(line)
        if size > MAX_STATE_BYTES:
            raise StateProblem(f"{journal} is full")
        os.write(fd, line)
    finally:
        os.close(fd)
    return size


def _merge(folder: Path, state_dir: Path) -> None:
    """Write every record into a new ``state.json`` and empty the journal; under the lock.

    A ``state.json`` that cannot be read (damaged, too large, not a regular file) is
    replaced, and only the journal's records survive it.
    """
    try:
        files = _load(folder)
    except StateProblem:
        files = {}
        journal_read = _read_bounded(state_dir / JOURNAL_FILE)
        if journal_read is not None:
            _parse_journal(journal_read[0], files)
    document = json.dumps({"files": {n: asdict(s) for n, s in sorted(files.items())}}, indent=1)
    data = document.encode()
    if len(data) > MAX_STATE_BYTES:
        raise StateProblem(f"{state_dir / STATE_FILE} would be too large")
    _remove_old_temporaries(state_dir)
    # mkstemp creates a new file of its own: no name anyone could have prepared.
    fd, temp = tempfile.mkstemp(prefix=f"{STATE_FILE}.", suffix=".tmp", dir=state_dir)
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o644)  # as readable as state.json always was, not mkstemp's 0600
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, state_dir / STATE_FILE)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    sync_folder(state_dir)
    # Until this point a crash leaves records in both files, which is harmless.
    fd = open_regular(state_dir / JOURNAL_FILE, os.O_WRONLY)
    try:
        os.ftruncate(fd, 0)
        journal = os.fstat(fd)
    finally:
        os.close(fd)
    # What was just written needs no parsing again.
    merged = _Cached(_identity(_lstat(state_dir / STATE_FILE)), (journal.st_dev, journal.st_ino), 0)
    merged.files.update(files)
    _cache[_key(folder)] = merged


def _remove_old_temporaries(state_dir: Path) -> None:
    """Delete ``state.json.*.tmp`` files that a merge killed long ago left behind."""
    now = time.time()
    with contextlib.suppress(OSError), os.scandir(state_dir) as entries:
        for entry in entries:
            if not (entry.name.startswith(f"{STATE_FILE}.") and entry.name.endswith(".tmp")):
                continue
            info = entry.stat(follow_symlinks=False)
            if stat.S_ISREG(info.st_mode) and now - info.st_mtime > TEMPORARY_AGE_SECONDS:
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)
