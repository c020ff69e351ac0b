"""Write large outputs behind the data: start writeback early, then drop the written pages.

Linux's sync_file_range(SYNC_FILE_RANGE_WRITE) queues the writeback of a range and returns
without waiting; the disk then works while the CPU hashes the next chunks, and the final
fsync has little left to wait for. One step later the range is on its way to the disk:
waiting for it and dropping its pages from the page cache (posix_fadvise DONTNEED) keeps
the file's footprint in memory to a few steps, whatever its size. The next writes then
reuse pages the system already holds instead of claiming fresh ones, which on virtual
machines costs up to several times the copy itself, and a 26 GB model does not push
everything else out of the cache. Elsewhere this is a no-op and the final fsync does all
the waiting.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import sys
from typing import Callable, Optional

_SYNC_FILE_RANGE_WAIT_BEFORE = 1
_SYNC_FILE_RANGE_WRITE = 2
_SYNC_FILE_RANGE_WAIT_AFTER = 4
_WAIT_FOR_RANGE = (
    _SYNC_FILE_RANGE_WAIT_BEFORE | _SYNC_FILE_RANGE_WRITE | _SYNC_FILE_RANGE_WAIT_AFTER
)
# Large enough to keep the number of system calls negligible, small enough to overlap well.
WRITEBACK_STEP = 32 * 1024 * 1024

SyncRange = Callable[[int, int, int, int], int]


def _load() -> Optional[SyncRange]:
    if not sys.platform.startswith("linux"):
        return None
    try:
        # The process's own symbols include libc's: no library search (ldconfig) at start-up.
        libc = ctypes.CDLL(None, use_errno=True)
        function = libc.sync_file_range
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    function.restype = ctypes.c_int

    def sync_range(fd: int, offset: int, length: int, flags: int) -> int:
        """0, or the errno of the failure."""
        if function(fd, offset, length, flags) == 0:
            return 0
        return ctypes.get_errno() or errno.EIO

    return sync_range


def _drop_pages(fd: int, offset: int, length: int) -> None:
    with contextlib.suppress(OSError):  # advice only: on failure the pages stay cached
        os.posix_fadvise(fd, offset, length, os.POSIX_FADV_DONTNEED)


_sync_range = _load()
_can_drop = hasattr(os, "posix_fadvise") and hasattr(os, "POSIX_FADV_DONTNEED")


class WritebackTracker:
    """Counts bytes written to a file; every ``step`` bytes queues their writeback, and
    waits for and drops the range queued the step before."""

    def __init__(
        self, fd: int, step: Optional[int] = None, sync_range: Optional[SyncRange] = None
    ) -> None:
        self._fd = fd
        self._step = step or WRITEBACK_STEP
        self._sync_range = sync_range or _sync_range
        self._written = 0
        self._queued = 0
        self._settled = 0  # bytes known to be on the disk and out of the page cache
        self._drop = _can_drop

    def wrote(self, count: int) -> None:
        """Raise OSError when waiting for a range showed that writing it failed."""
        self._written += count
        if self._sync_range is None or self._written - self._queued < self._step:
            return
        refused = self._sync_range(
            self._fd, self._queued, self._written - self._queued, _SYNC_FILE_RANGE_WRITE
        )
        if refused:
            # Queueing never takes the file's recorded write error from fsync, so its failure
            # only says this file or system (a seccomp filter, an emulator) will not do it.
            # Waiting is never tried then: its errors could not be told from write errors.
            self._sync_range = None
            return
        if self._drop and self._queued > self._settled:
            self._settle(self._settled, self._queued - self._settled)
            self._settled = self._queued
        self._queued = self._written

    def _settle(self, offset: int, length: int) -> None:
        assert self._sync_range is not None
        failure = self._sync_range(self._fd, offset, length, _WAIT_FOR_RANGE)
        if failure:
            # Waiting consumed the error: a later fsync would not report it again. Whatever
            # its errno: a FUSE daemon or an NFS server may fail a write with EINVAL or ENOSYS.
            raise OSError(failure, os.strerror(failure))
        _drop_pages(self._fd, offset, length)
