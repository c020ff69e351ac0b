"""The key stream of the XOR patch format.

The key file is cut into chunks of ``chunk_size`` bytes, the last one possibly shorter.
Data chunk ``i`` is XORed with key chunk ``i mod n``; a key chunk shorter than its data
chunk is repeated end to end, restarting at the start of every data chunk. This is not a
cyclic key stream: the publishers' files depend on the exact tiling.
"""

from __future__ import annotations

from io import FileIO
from pathlib import Path
from typing import TYPE_CHECKING, Optional, Protocol

import numpy as np

from belle_patch.errors import KeyFileError

CHUNK_SIZE = 10 * 1024 * 1024

if TYPE_CHECKING:  # numpy.typing costs import time; only the type checker needs it
    import numpy.typing as npt

    ByteArray = npt.NDArray[np.uint8]


class ChunkKey(Protocol):
    """Key bytes for each data chunk of one pass: what the read loop XORs with."""

    chunk_size: int

    def chunk(self, data_chunk: int, length: int) -> ByteArray: ...

    def close(self) -> None: ...


class KeySource:
    """A key file checked once; every pass opens its own stream on it."""

    def __init__(self, path: Path, *, chunk_size: int = CHUNK_SIZE) -> None:
        self.path = path
        self.chunk_size = chunk_size
        try:
            if path.is_dir():
                raise KeyFileError(
                    "the key is a folder",
                    path=path,
                    hint="pass the consolidated.00.pth file itself",
                )
            self.size = path.stat().st_size
        except FileNotFoundError:
            raise KeyFileError(
                "the key file does not exist",
                path=path,
                hint="pass the original LLaMA consolidated.00.pth with --key",
            ) from None
        except OSError as exc:
            raise KeyFileError(f"cannot read the key file: {exc.strerror}", path=path) from None
        if self.size == 0:
            raise KeyFileError(
                "the key file is empty",
                path=path,
                hint="pass the original LLaMA consolidated.00.pth, not a placeholder",
            )

    def open(self, *, chunk_size: Optional[int] = None, limit: Optional[int] = None) -> KeyStream:
        """A stream tiling the key over chunks of ``chunk_size`` (default: the source's).

        ``limit`` cuts the key to its first bytes (OpenBuddy's seed); such a short key is
        read once and kept in memory.
        """
        try:
            handle = self.path.open("rb", buffering=0)
        except OSError as exc:
            raise KeyFileError(
                f"cannot open the key file: {exc.strerror}", path=self.path
            ) from None
        chunk = chunk_size or self.chunk_size
        if limit is None:
            return KeyStream(handle, self.size, chunk)
        return ResidentKeyStream(handle, min(self.size, limit), chunk)


class KeyStream:
    """Produces the key bytes for each data chunk, in a buffer it owns."""

    def __init__(self, handle: FileIO, size: int, chunk_size: int) -> None:
        self._handle = handle
        self._size = size
        self.chunk_size = chunk_size
        self._chunk_count = -(-size // chunk_size)
        self._buffer: ByteArray = np.empty(chunk_size, dtype=np.uint8)
        # Which key chunk the buffer holds, tiled to how many bytes: a key of one chunk
        # is then read once for a whole file.
        self._held_chunk = -1
        self._held_length = 0

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> KeyStream:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def chunk(self, data_chunk: int, length: int) -> ByteArray:
        """The ``length`` key bytes for data chunk number ``data_chunk``.

        The returned array is a view of the stream's own buffer, valid until the next call.
        """
        key_chunk = data_chunk % self._chunk_count
        out = self._buffer
        if self._held_chunk == key_chunk and self._held_length >= length:
            return out[:length]
        offset = key_chunk * self.chunk_size
        first = min(self.chunk_size, self._size - offset, length)
        self._read_at(offset, out[:first])
        filled = first
        while filled < length:
            step = min(filled, length - filled)
            out[filled : filled + step] = out[:step]
            filled += step
        self._held_chunk, self._held_length = key_chunk, length
        return out[:length]

    def _read_at(self, offset: int, out: ByteArray) -> None:
        self._handle.seek(offset)
        view = memoryview(out)  # type: ignore[arg-type, unused-ignore]
        done = 0
        while done < len(view):
            count = self._handle.readinto(view[done:])
            if not count:
                raise KeyFileError(
                    "the key file became shorter while it was being read",
                    path=str(self._handle.name),
                    hint="make sure nothing writes to the key file during a run",
                )
            done += count


class ResidentKeyStream(KeyStream):
    """The same tiling over a short key held in memory whole: chunks are views, not copies."""

    def __init__(self, handle: FileIO, size: int, chunk_size: int) -> None:
        super().__init__(handle, size, chunk_size)
        self._whole: ByteArray = np.empty(size, dtype=np.uint8)
        try:
            self._read_at(0, self._whole)
        finally:
            handle.close()

    def close(self) -> None:
        """The file was closed once the key was in memory."""

    def chunk(self, data_chunk: int, length: int) -> ByteArray:
        start = (data_chunk % self._chunk_count) * self.chunk_size
        available = min(self.chunk_size, self._size - start)
        if length <= available:
            return self._whole[start : start + length]
        out = self._buffer
        out[:available] = self._whole[start : start + available]
        filled = available
        while filled < length:
            step = min(filled, length - filled)
            out[filled : filled + step] = out[:step]
            filled += step
        return out[:length]
