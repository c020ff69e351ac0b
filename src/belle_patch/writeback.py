"""Start writing dirty pages to disk early, so the final fsync has little left to wait for.

Linux's sync_file_range(SYNC_FILE_RANGE_WRITE) queues the writeback of a range and returns
without waiting; the disk then works while the CPU hashes the next chunks. Elsewhere this
is a no-op and the final fsync does all the waiting.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from typing import Callable, Optional

_SYNC_FILE_RANGE_WRITE = 2
# Large enough to keep the number of system calls negligible, small enough to overlap well.
WRITEBACK_STEP = 32 * 1024 * 1024

StartWriteback = Callable[[int, int, int], None]


def _load() -> Optional[StartWriteback]:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        function = libc.sync_file_range
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    function.restype = ctypes.c_int

    def start(fd: int, offset: int, length: int) -> None:
        # A failure here only loses the head start; fsync reports real write errors.
        function(fd, offset, length, _SYNC_FILE_RANGE_WRITE)

    return start


_start_writeback = _load()


class WritebackTracker:
    """Counts bytes written to a file and queues their writeback every ``step`` bytes."""

    def __init__(self, fd: int, step: int = WRITEBACK_STEP) -> None:
        self._fd = fd
        self._step = step
        self._written = 0
        self._queued = 0

    def wrote(self, count: int) -> None:
        self._written += count
        if _start_writeback is not None and self._written - self._queued >= self._step:
            _start_writeback(self._fd, self._queued, self._written - self._queued)
            self._queued = self._written
