"""Reading each distinct blob of a cache once, several at a time.

Large blobs are read two (or ``--jobs``) at once from the front of a largest-first queue;
small ones by the calling thread from the back, one after the other: a small file's read is
mostly Python, which two threads only fight over.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from belle_patch.check.filecheck import CheckHooks
from belle_patch.errors import BellePatchError
from belle_patch.hub import address as hub_address
from belle_patch.hub.book import PlannedFile
from belle_patch.stream.keystream import CHUNK_SIZE

# Small files are read with a buffer their size, not a 10 MiB one each.
SMALL_READ = 64 * 1024
# Blobs from this size on are read two (or --jobs) at once.
PARALLEL_READ = 1024 * 1024


@dataclass(slots=True)
class Blob:
    """One distinct file to read, and every planned entry whose read reaches it (dropped
    once they are judged: a cache can hold a million)."""

    path: Path
    size: int
    members: List[Tuple[int, int, PlannedFile]] = field(default_factory=list)
    read: bool = False

    def algorithms(self) -> Tuple[str, ...]:
        wanted: Dict[str, None] = {}
        for _, _, entry in self.members:
            wanted.update(dict.fromkeys(hub_address.algorithms_for(entry.address)))
        return tuple(wanted)


def run_in_threads(
    step: Callable[[], bool], threads: int, helper_step: Optional[Callable[[], bool]] = None
) -> None:
    """Call ``step`` in this thread and ``helper_step`` (default: ``step``) in ``threads - 1``
    more, each until it returns False. The first error (Ctrl-C included) stops every thread
    at its next step and is raised here at once: a helper in the middle of a long read is not
    waited for (it only reads, and it is a daemon)."""
    failures: List[BaseException] = []

    def work(take: Callable[[], bool]) -> None:
        try:
            while not failures and take():
                pass
        except BaseException as exc:  # an unexpected error must stop every worker
            failures.append(exc)

    helpers = [
        threading.Thread(target=work, args=(helper_step or step,), daemon=True)
        for _ in range(threads - 1)
    ]
    for thread in helpers:
        thread.start()
    work(step)
    if not failures:
        for thread in helpers:
            thread.join()
    if failures:
        raise failures[0]


class _Queue:
    """The blobs, largest first. Helper threads take from the front, and only blobs large
    enough for two reads at once to pay (a small file's read is mostly Python, which two
    threads only fight over); the caller's thread takes from the back, small ones first."""

    def __init__(self, blobs: Sequence[Blob]) -> None:
        self._blobs = blobs
        self._front = 0
        self._back = len(blobs)
        self._lock = threading.Lock()

    def front(self) -> Optional[Blob]:
        with self._lock:
            if self._front < self._back and self._blobs[self._front].size >= PARALLEL_READ:
                self._front += 1
                return self._blobs[self._front - 1]
            return None

    def back(self) -> Optional[Blob]:
        with self._lock:
            if self._front < self._back:
                self._back -= 1
                return self._blobs[self._back]
            return None


def read_all(blobs: Sequence[Blob], workers: int, judge: Callable[[Blob], None]) -> None:
    """Read every blob once and judge its members at once, ``workers`` reads at a time."""
    queue = _Queue(blobs)

    def step(take: Callable[[], Optional[Blob]]) -> bool:
        blob = take()
        if blob is None:
            return False
        judge(blob)
        return True

    run_in_threads(lambda: step(queue.back), max(1, workers), helper_step=lambda: step(queue.front))


def read_blob(blob: Blob, hooks: CheckHooks) -> Tuple[Dict[str, str], str]:
    """Every digest the blob's addresses need, from one read, or why it could not be read."""
    hooks.on_start(blob.path, blob.size)
    chunk = CHUNK_SIZE if blob.size >= CHUNK_SIZE else max(SMALL_READ, 1 << blob.size.bit_length())
    try:
        digests = hub_address.content_digests(
            blob.path, blob.algorithms(), on_progress=hooks.on_progress, chunk_size=chunk
        )
    except OSError as exc:
        return {}, exc.strerror or str(exc)
    except BellePatchError as exc:
        return {}, exc.problem
    blob.read = True
    return digests, ""


__all__ = ["Blob", "read_all", "read_blob", "run_in_threads"]
