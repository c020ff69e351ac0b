"""The read loop: threaded and inline stages agree, and a failing stage stops everything."""

from __future__ import annotations

import hashlib
import io
import threading
import time
from pathlib import Path

import pytest

from belle_patch.stream.engine import INPUT, OUTPUT, PIPELINE_SLOTS, Consumer, pump
from belle_patch.stream.keystream import KeySource

from conftest import generated, naive_xor

CHUNK = 64


class Collector:
    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def feed(self, view: memoryview) -> None:
        self.parts.append(bytes(view))

    @property
    def data(self) -> bytes:
        return b"".join(self.parts)


@pytest.mark.parametrize("threaded", [False, True])
@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 7 * CHUNK + 3, 40 * CHUNK])
def test_both_sides_and_order(threaded: bool, size: int, tmp_path: Path) -> None:
    key_path = tmp_path / "key"
    key_path.write_bytes(generated("engine key", 150))  # 2 chunks + a 22-byte tail
    data = generated("engine data", size)
    plain_side, xored_side = Collector(), Collector()
    sha = hashlib.sha256()
    with KeySource(key_path, chunk_size=CHUNK).open() as key:
        total = pump(
            io.BytesIO(data),
            [
                Consumer(plain_side.feed, INPUT),
                Consumer(xored_side.feed, OUTPUT),
                Consumer(sha.update),
            ],
            key=key,
            chunk_size=CHUNK,
            threaded=threaded,
        )
    assert total == size
    assert plain_side.data == data
    expected = naive_xor(data, key_path.read_bytes(), CHUNK)
    assert xored_side.data == expected
    assert sha.hexdigest() == hashlib.sha256(expected).hexdigest()
    assert all(len(part) == CHUNK for part in xored_side.parts[:-1])


def test_without_key_both_sides_see_the_input() -> None:
    data = generated("plain", 10 * CHUNK)
    seen = Collector()
    pump(io.BytesIO(data), [Consumer(seen.feed, OUTPUT)], chunk_size=CHUNK, threaded=True)
    assert seen.data == data


class TrickleReader(io.RawIOBase):
    """Returns fewer bytes than asked, like a pipe or a network file system."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        return self._data.readinto(memoryview(buffer)[:7])


def test_short_reads_keep_chunks_aligned(tmp_path: Path) -> None:
    key_path = tmp_path / "key"
    key_path.write_bytes(generated("k", 100))
    data = generated("d", 5 * CHUNK + 9)
    out = Collector()
    with KeySource(key_path, chunk_size=CHUNK).open() as key:
        pump(TrickleReader(data), [Consumer(out.feed)], key=key, chunk_size=CHUNK)  # type: ignore[arg-type]
    assert out.data == naive_xor(data, key_path.read_bytes(), CHUNK)


def test_failing_stage_stops_the_pipeline_without_hanging(tmp_path: Path) -> None:
    data = generated("big", 200 * CHUNK)
    calls = {"slow": 0}

    def slow(view: memoryview) -> None:
        calls["slow"] += 1
        time.sleep(0.001)

    def broken(view: memoryview) -> None:
        raise OSError(28, "No space left on device")

    before = threading.active_count()
    started = time.monotonic()
    with pytest.raises(OSError, match="No space left"):
        pump(io.BytesIO(data), [Consumer(slow), Consumer(broken)], chunk_size=CHUNK, threaded=True)
    assert time.monotonic() - started < 5
    # The reader cannot run ahead of the failed stage by more than the ring of buffers.
    assert calls["slow"] <= PIPELINE_SLOTS + 1
    assert threading.active_count() == before


def test_reader_failure_stops_the_stages() -> None:
    class Failing(io.RawIOBase):
        def __init__(self) -> None:
            self.reads = 0

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
            self.reads += 1
            if self.reads > 3:
                raise OSError(5, "Input/output error")
            memoryview(buffer)[:CHUNK] = bytes(CHUNK)
            return CHUNK

    before = threading.active_count()
    seen = Collector()
    with pytest.raises(OSError, match="Input/output error"):
        pump(Failing(), [Consumer(seen.feed), Consumer(seen.feed)], chunk_size=CHUNK, threaded=True)  # type: ignore[arg-type]
    assert threading.active_count() == before
