"""Check files against MD5s, several files at once, and tell which release a folder holds.

Files are looked up by their listed names: direct entries of the given folders, names in
subfolders (``original/params.json``) inside them, or files given one by one. Only regular
files are read; a FIFO, a device or a dangling link fails as unreadable without blocking.
"""

from __future__ import annotations

import os
import stat
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import (
    Callable,
    Dict,
    Iterable,
    List,
    Mapping,
    Optional,
    Tuple,
    cast,
)

from belle_patch.check.fileindex import FileIndex
from belle_patch.check.verdict import _BY_MD5, _BY_RECORD, _BY_SHA256, FileCheck
from belle_patch.errors import BellePatchError
from belle_patch.output import state
from belle_patch.stream.engine import ProgressCallback
from belle_patch.stream.hashing import NOT_REGULAR, NotRegularFile, hash_file
from belle_patch.vocabulary import DigestKind, Status

NO_SUCH_FILE = "No such file or directory"


def _recorded_match(
    path: Path, expected: str, on_progress: Optional[ProgressCallback]
) -> Optional[bool]:
    """True if belle-patch verified this very file before (same size, mtime and xxh3);
    False if the file was read and differs from the record; None if it was not read."""
    recorded = state.lookup(path.parent, path.name)
    if recorded is None or recorded.md5 != expected:
        return None
    return (
        hash_file(path, [DigestKind.XXH3_128], on_progress=on_progress, regular_only=True)[
            DigestKind.XXH3_128
        ]
        == recorded.xxh3_128
    )


def _check_against_record(
    name: str, path: Path, on_progress: Optional[ProgressCallback]
) -> FileCheck:
    """A file restored with no MD5 computed (``--no-md5``): its record's xxh3 is all there
    is, compared whatever the size and mtime, since a changed mtime proves nothing."""
    recorded = state.records(path.parent).get(path.name)
    if recorded is None:
        return FileCheck(
            name, Status.NOT_VERIFIED, "", path=path, detail="no MD5 listed or recorded"
        )
    actual = hash_file(path, [DigestKind.XXH3_128], on_progress=on_progress, regular_only=True)[
        DigestKind.XXH3_128
    ]
    if actual == recorded.xxh3_128:
        return FileCheck(
            name, Status.OK, "", path=path, method=DigestKind.XXH3_128, verified_by=_BY_RECORD
        )
    detail = "differs from what was verified when belle-patch restored it"
    return FileCheck(name, Status.FAILED, "", path=path, detail=detail, method=DigestKind.XXH3_128)


@dataclass
class CheckHooks:
    """Where a check reports its work; called from worker threads, one call at a time."""

    started: Callable[[Path, int], None] = lambda path, size: None
    advanced: Callable[[int], None] = lambda nbytes: None
    done: Callable[[FileCheck], None] = lambda check: None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def on_start(self, path: Path, size: int) -> None:
        with self.lock:
            self.started(path, size)

    def on_progress(self, nbytes: int) -> None:
        with self.lock:
            self.advanced(nbytes)

    def on_done(self, check: FileCheck) -> None:
        with self.lock:
            self.done(check)


def check_file(
    name: str,
    expected: str,
    path: Optional[Path],
    *,
    full: bool = False,
    known_md5: Optional[str] = None,
    hooks: Optional[CheckHooks] = None,
    known_sha256: Optional[str] = None,
) -> FileCheck:
    """Compare one file with its expected MD5 (or SHA-256, when 64 hex digits are listed);
    never raises for a file that cannot be read."""
    hooks = hooks or CheckHooks()
    if path is None:
        return FileCheck(name, Status.MISSING, expected, detail=NO_SUCH_FILE)
    try:
        info = path.stat()
    except FileNotFoundError:
        if os.path.islink(path):
            return FileCheck(
                name, Status.UNREADABLE, expected, path=path, detail="dangling symbolic link"
            )
        return FileCheck(name, Status.MISSING, expected, path=path, detail=NO_SUCH_FILE)
    except OSError as exc:
        return FileCheck(name, Status.UNREADABLE, expected, path=path, detail=exc.strerror or "")
    if not stat.S_ISREG(info.st_mode):
        return FileCheck(name, Status.UNREADABLE, expected, path=path, detail=NOT_REGULAR)
    hooks.on_start(path, info.st_size)
    try:
        if not expected:
            return _check_against_record(name, path, hooks.on_progress)
        if DigestKind.of_listed(expected) == DigestKind.SHA256:
            actual = (
                known_sha256
                or hash_file(
                    path, [DigestKind.SHA256], on_progress=hooks.on_progress, regular_only=True
                )[DigestKind.SHA256]
            )
            if actual == expected:
                return _verified(name, expected, path, _BY_SHA256, method=DigestKind.SHA256)
            return FileCheck(name, Status.FAILED, expected, actual, path, method=DigestKind.SHA256)
        recorded = None
        if known_md5 is None and not full:
            recorded = _recorded_match(path, expected, hooks.on_progress)
        if recorded:
            return _verified(name, expected, path, _BY_RECORD, method=DigestKind.XXH3_128)
        # Progress counts each file's size once: a second read after xxh3 is not reported.
        on_progress = hooks.on_progress if recorded is None else None
        actual = (
            known_md5
            or hash_file(path, [DigestKind.MD5], on_progress=on_progress, regular_only=True)[
                DigestKind.MD5
            ]
        )
    except NotRegularFile:
        return FileCheck(name, Status.UNREADABLE, expected, path=path, detail=NOT_REGULAR)
    except OSError as exc:
        return FileCheck(
            name, Status.UNREADABLE, expected, path=path, detail=exc.strerror or str(exc)
        )
    except BellePatchError as exc:
        return FileCheck(name, Status.UNREADABLE, expected, path=path, detail=exc.problem)
    if actual == expected:
        return _verified(name, expected, path, _BY_MD5)
    return FileCheck(name, Status.FAILED, expected, actual, path)


def _verified(
    name: str,
    expected: str,
    path: Path,
    verified_by: Tuple[str, ...],
    method: str = DigestKind.MD5,
) -> FileCheck:
    """An OK check. The expected string stands for the equal actual one: one copy per OK
    file, not two."""
    return FileCheck(
        name, Status.OK, expected, expected, path, method=method, verified_by=verified_by
    )


def verify_entries(
    entries: Mapping[str, str],
    files: FileIndex,
    *,
    jobs: int = 2,
    full: bool = False,
    known_md5s: Optional[Dict[Path, str]] = None,
    hooks: Optional[CheckHooks] = None,
    known_sha256s: Optional[Dict[Path, str]] = None,
) -> List[FileCheck]:
    """Hash every listed file that is present (in parallel) and compare with the list.

    Unless ``full``, a file recorded in its folder's state as verified, with unchanged size
    and mtime, is checked with xxh3 against the record instead of MD5. ``known_md5s`` holds
    MD5s computed moments ago (while telling the release), so no file is read twice.
    Returns one check per entry, in the entries' order; memory beyond that list does not
    grow with the number of entries.
    """
    hooks = hooks or CheckHooks()
    known = known_md5s or {}
    known_sha256 = known_sha256s or {}

    def check(name: str, expected: str) -> FileCheck:
        path = files.find(name)
        result = check_file(
            name,
            expected,
            path,
            full=full,
            known_md5=known.get(path) if path is not None and expected else None,
            hooks=hooks,
            known_sha256=known_sha256.get(path) if path is not None else None,
        )
        hooks.on_done(result)
        return result

    return in_order(check, entries.items(), len(entries), jobs)


def in_order(
    work: Callable[[str, str], FileCheck],
    items: Iterable[Tuple[str, str]],
    count: int,
    jobs: int,
) -> List[FileCheck]:
    """``work(name, expected)`` for each of ``count`` items on up to ``jobs`` threads, the
    results in item order.

    The threads take turns drawing from one iterator rather than being handed a future per
    item: ThreadPoolExecutor.map submits every item at once, about 2 KB each, which made a
    million-line list cost 2 GB and most of the run's time. The first exception raised by
    ``work`` stops the others taking items and is raised here once they are done.
    """
    results: List[Optional[FileCheck]] = [None] * count
    numbered = enumerate(items)
    draw = threading.Lock()
    stop = threading.Event()
    raised: List[BaseException] = []

    def run() -> None:
        while not stop.is_set():
            with draw:
                item = next(numbered, None)
            if item is None:
                return
            index, (name, expected) = item
            try:
                results[index] = work(name, expected)
            except BaseException as exc:  # re-raised in the calling thread
                raised.append(exc)
                stop.set()
                return

    threads = [
        threading.Thread(target=run, name=f"belle-patch-check-{n}")
        for n in range(min(max(1, jobs), count))
    ]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            thread.join()
    except BaseException:
        # Ctrl-C in the calling thread: no new file is started; those being read finish, as
        # they did under ThreadPoolExecutor.
        stop.set()
        for thread in threads:
            thread.join()
        raise
    if raised:
        raise raised[0]
    if any(check is None for check in results):
        raise RuntimeError("a check did not run")
    # Every slot is filled: the list is returned as it is rather than copied.
    return cast(List[FileCheck], results)


# ------------------------------------------------------------------ which release
