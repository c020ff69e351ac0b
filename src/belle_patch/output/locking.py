"""Exclusive advisory locks on open files: flock on POSIX, msvcrt.locking on Windows.

Both modules are looked up when a lock is taken, never at import time, so belle-patch
imports everywhere; a system with neither takes no locks (see :data:`UNSUPPORTED`).
Waiting is a loop of non-blocking attempts, so a caller can cancel between two of them.
"""

from __future__ import annotations

import contextlib
import errno
import importlib
import os
import stat
import time
from enum import Enum
from pathlib import Path
from types import ModuleType
from typing import Callable, Iterator, Optional

# Between two attempts the wait grows from the first to the last value.
FIRST_POLL_SECONDS = 0.002
LAST_POLL_SECONDS = 0.05

_REOPEN_ATTEMPTS = 1000
_BUSY_ERRNOS = {errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES, getattr(errno, "EDEADLOCK", -1)}


class Outcome(Enum):
    LOCKED = "locked"
    BUSY = "busy"  # someone else holds it
    UNSUPPORTED = "unsupported"  # this system or file system takes no locks


LOCKED = Outcome.LOCKED
BUSY = Outcome.BUSY
UNSUPPORTED = Outcome.UNSUPPORTED


def _module(name: str) -> Optional[ModuleType]:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def try_lock(fd: int) -> Outcome:
    """Take the exclusive lock of the open file ``fd`` if nobody holds it; never wait."""
    fcntl = _module("fcntl")
    if fcntl is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            return BUSY if exc.errno in _BUSY_ERRNOS else UNSUPPORTED
        return LOCKED
    msvcrt = _module("msvcrt")
    if msvcrt is not None:
        # Windows locks byte ranges; the first byte stands for the file (beyond its end works).
        try:
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError as exc:
            return BUSY if exc.errno in _BUSY_ERRNOS else UNSUPPORTED
        return LOCKED
    return UNSUPPORTED


def unlock(fd: int) -> None:
    """Release a lock taken with :func:`try_lock` (closing the file releases it too)."""
    fcntl = _module("fcntl")
    with contextlib.suppress(OSError):
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            return
        msvcrt = _module("msvcrt")
        if msvcrt is not None:
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)


def wait_for_lock(fd: int, waiting: Optional[Callable[[], None]] = None) -> Outcome:
    """Take the lock of ``fd``, waiting as long as it takes; ``waiting`` may raise to give up."""
    pause = FIRST_POLL_SECONDS
    while True:
        outcome = try_lock(fd)
        if outcome is not BUSY:
            return outcome
        if waiting is not None:
            waiting()
        time.sleep(pause)
        pause = min(pause * 2, LAST_POLL_SECONDS)


def open_regular(path: Path, flags: int, mode: int = 0o666) -> int:
    """Open ``path`` only if it is a regular file that is not a symlink; never block.

    O_NOFOLLOW refuses a symlink where the system has it (elsewhere an lstat checks first),
    O_NONBLOCK keeps a FIFO from hanging the open, and fstat then refuses anything that is
    not a regular file. Raises OSError (ELOOP for a symlink, EINVAL for another kind).
    """
    nofollow = getattr(os, "O_NOFOLLOW", 0)
    if not nofollow:
        with contextlib.suppress(FileNotFoundError):
            if is_link(os.lstat(path)):
                raise OSError(errno.ELOOP, "is a symbolic link", str(path))
    flags |= nofollow | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags, mode)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "is not a regular file", str(path))
    except BaseException:
        os.close(fd)
        raise
    return fd


def is_link(info: os.stat_result) -> bool:
    """A symlink, or on Windows any reparse point (a junction included)."""
    reparse_point = 0x400  # FILE_ATTRIBUTE_REPARSE_POINT
    return stat.S_ISLNK(info.st_mode) or bool(
        getattr(info, "st_file_attributes", 0) & reparse_point
    )


def _names_same_file(path: Path, fd: int) -> bool:
    try:
        named = os.lstat(path)
    except OSError:
        return False
    held = os.fstat(fd)
    return (named.st_dev, named.st_ino) == (held.st_dev, held.st_ino)


@contextlib.contextmanager
def lock_file(
    path: Path,
    *,
    waiting: Optional[Callable[[], None]] = None,
    remove: bool = False,
) -> Iterator[Outcome]:
    """Hold the lock of the lock file ``path`` (created if missing) for the ``with`` block.

    With ``remove`` the file is deleted before the lock is released, so it does not outlive
    the run. A run that waited may then hold the lock of a deleted file while a third run
    created a new one; so after taking a lock the path must still name the locked file,
    and the run starts over otherwise. Yields UNSUPPORTED where nothing could be locked.
    Raises OSError if the file cannot be opened (a symlink, a FIFO, no permission).
    """
    for attempt in range(_REOPEN_ATTEMPTS):
        fd = open_regular(path, os.O_RDWR | os.O_CREAT)
        try:
            outcome = wait_for_lock(fd, waiting)
        except BaseException:
            os.close(fd)
            raise
        # A file system whose inode numbers do not compare ends up keeping the last lock.
        if outcome is not LOCKED or _names_same_file(path, fd) or attempt + 1 == _REOPEN_ATTEMPTS:
            break
        os.close(fd)
    try:
        yield outcome
    finally:
        if remove and os.name == "posix" and _names_same_file(path, fd):
            with contextlib.suppress(OSError):
                os.unlink(path)
        unlock(fd)
        os.close(fd)
        if remove and os.name != "posix":
            # Windows deletes no file that is open, so this fails while another run waits
            # on it, and a run that opens it later makes a new one.
            with contextlib.suppress(OSError):
                os.unlink(path)
