"""The one read loop: read a chunk, XOR it with the key stream, hand it to every consumer.

Consumers are hashers' ``update`` and a writer's ``write``. Each one sees every chunk,
in order, either as read (``INPUT``) or after the XOR (``OUTPUT``). Buffers are
allocated once per pass; reads go straight into them with ``readinto`` and the XOR is
done in place by numpy.

For large inputs the consumers run in their own threads, fed through a small ring of
buffers: hashlib, numpy and file I/O release the GIL on large buffers, so reading,
hashing and writing overlap on all cores. Memory stays bounded by the ring whatever
the file size. A failure in any stage (or Ctrl-C in the caller's thread) stops every
stage: no queue operation can block forever, because every queue is unbounded and
holds at most one item per buffer, and an aborting stage wakes all the others.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Callable, List, Optional, Sequence, Union

import numpy as np

from belle_patch.errors import InputError
from belle_patch.stream.keystream import CHUNK_SIZE, ChunkKey

if TYPE_CHECKING:
    from belle_patch.stream.keystream import ByteArray

INPUT = "input"
OUTPUT = "output"
# Buffers in flight when the stages run in threads; enough to absorb jitter between
# stages, small enough that memory does not depend on the file size.
PIPELINE_SLOTS = 4
# Below this many chunks, threads cost more than they save.
PIPELINE_MIN_CHUNKS = 3

ProgressCallback = Callable[[int], None]


@dataclass(frozen=True)
class Consumer:
    """A stage fed with every chunk: ``feed`` gets a memoryview valid only during the call."""

    feed: Callable[[memoryview], object]
    side: str = OUTPUT


@dataclass
class _Slot:
    data: ByteArray
    out: ByteArray
    views: dict[str, memoryview]
    pending: int = 0
    length: int = 0


class _Abort:
    """Queue marker: stop now."""


class _End:
    """Queue marker: no more chunks."""


_ABORT = _Abort()
_END = _End()
_Item = Union[_Slot, _Abort, _End]


def _make_slot(chunk_size: int, separate_output: bool) -> _Slot:
    data = np.empty(chunk_size, dtype=np.uint8)
    out = np.empty(chunk_size, dtype=np.uint8) if separate_output else data
    views = {INPUT: memoryview(data), OUTPUT: memoryview(out)}  # type: ignore[arg-type, unused-ignore]
    return _Slot(data, out, views)


def _read_full(source: BinaryIO, view: memoryview) -> int:
    """Fill ``view`` unless the input ends first; chunk boundaries must stay aligned."""
    filled = 0
    while filled < len(view):
        count = source.readinto(view[filled:])  # type: ignore[attr-defined]
        if not count:
            break
        filled += count
    return filled


def pump(
    source: BinaryIO,
    consumers: Sequence[Consumer],
    *,
    key: Optional[ChunkKey] = None,
    chunk_size: int = CHUNK_SIZE,
    expected_size: int = 0,
    on_progress: Optional[ProgressCallback] = None,
    threaded: Optional[bool] = None,
) -> int:
    """Stream ``source`` to its end through the consumers; return the bytes read.

    ``key`` XORs every chunk (``OUTPUT`` consumers see the result); without a key both
    sides see the bytes as read. ``threaded`` defaults to running stages in threads when
    ``expected_size`` spans several chunks.
    """
    if threaded is None:
        threaded = expected_size >= PIPELINE_MIN_CHUNKS * chunk_size
    separate_output = key is not None and any(c.side == INPUT for c in consumers)
    runner: _Runner = (
        _ThreadedRunner(consumers, chunk_size, separate_output)
        if threaded
        else _InlineRunner(consumers, chunk_size, separate_output)
    )
    total = 0
    index = 0
    try:
        while True:
            slot = runner.acquire()
            count = _read_full(source, slot.views[INPUT][:chunk_size])
            if count == 0:
                runner.give_back(slot)
                break
            if key is not None:
                np.bitwise_xor(slot.data[:count], key.chunk(index, count), out=slot.out[:count])
            runner.dispatch(slot, count)
            total += count
            index += 1
            if on_progress is not None:
                on_progress(count)
            if count < chunk_size:
                break
        runner.finish()
    finally:
        runner.close()
    return total


class _Runner:
    def acquire(self) -> _Slot:
        raise NotImplementedError

    def give_back(self, slot: _Slot) -> None:
        """Return a slot that carried no data."""

    def dispatch(self, slot: _Slot, length: int) -> None:
        raise NotImplementedError

    def finish(self) -> None:
        """Wait until every consumer has seen every chunk; raise a stage's error."""

    def close(self) -> None:
        """Stop and join everything; safe to call after an error."""


class _InlineRunner(_Runner):
    def __init__(self, consumers: Sequence[Consumer], chunk_size: int, separate: bool) -> None:
        self._consumers = consumers
        self._slot = _make_slot(chunk_size, separate)

    def acquire(self) -> _Slot:
        return self._slot

    def dispatch(self, slot: _Slot, length: int) -> None:
        for consumer in self._consumers:
            consumer.feed(slot.views[consumer.side][:length])


class _ThreadedRunner(_Runner):
    def __init__(self, consumers: Sequence[Consumer], chunk_size: int, separate: bool) -> None:
        self._free: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        for _ in range(PIPELINE_SLOTS):
            self._free.put(_make_slot(chunk_size, separate))
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._errors: List[BaseException] = []
        self._inboxes: List[queue.SimpleQueue[_Item]] = []
        self._threads: List[threading.Thread] = []
        for consumer in consumers:
            inbox: queue.SimpleQueue[_Item] = queue.SimpleQueue()
            thread = threading.Thread(
                target=self._serve, args=(consumer, inbox), name="belle-patch-stage", daemon=True
            )
            self._inboxes.append(inbox)
            self._threads.append(thread)
            thread.start()

    def _serve(self, consumer: Consumer, inbox: queue.SimpleQueue[_Item]) -> None:
        try:
            while True:
                item = inbox.get()
                if not isinstance(item, _Slot) or self._stopping.is_set():
                    return
                consumer.feed(item.views[consumer.side][: item.length])
                self._release(item)
        except BaseException as exc:  # any stage failure must stop the others
            self._fail(exc)

    def _release(self, slot: _Slot) -> None:
        with self._lock:
            slot.pending -= 1
            done = slot.pending == 0
        if done:
            self._free.put(slot)

    def _fail(self, exc: BaseException) -> None:
        with self._lock:
            self._errors.append(exc)
        self._stop()

    def _stop(self) -> None:
        self._stopping.set()
        self._free.put(_ABORT)
        for inbox in self._inboxes:
            inbox.put(_ABORT)

    def _raise_first_error(self) -> None:
        with self._lock:
            first = self._errors[0] if self._errors else None
        if first is not None:
            raise first

    def acquire(self) -> _Slot:
        item = self._free.get()
        if not isinstance(item, _Slot):
            self._raise_first_error()
            raise RuntimeError("pipeline stopped without an error")
        return item

    def give_back(self, slot: _Slot) -> None:
        self._free.put(slot)

    def dispatch(self, slot: _Slot, length: int) -> None:
        slot.length = length
        slot.pending = len(self._inboxes)
        for inbox in self._inboxes:
            inbox.put(slot)

    def finish(self) -> None:
        for inbox in self._inboxes:
            inbox.put(_END)
        for thread in self._threads:
            thread.join()
        self._raise_first_error()

    def close(self) -> None:
        if any(thread.is_alive() for thread in self._threads):
            self._stop()
            for thread in self._threads:
                thread.join()


def pump_file(
    source: BinaryIO,
    source_path: Path,
    consumers: Sequence[Consumer],
    *,
    key: Optional[ChunkKey] = None,
    expected_size: int = 0,
    on_progress: Optional[ProgressCallback] = None,
) -> int:
    """:func:`pump` over an open file, with read errors reported against its path."""
    try:
        return pump(
            source,
            consumers,
            key=key,
            chunk_size=key.chunk_size if key is not None else CHUNK_SIZE,
            expected_size=expected_size,
            on_progress=on_progress,
        )
    except OSError as exc:
        raise InputError(f"reading failed: {exc.strerror}", path=source_path) from None
