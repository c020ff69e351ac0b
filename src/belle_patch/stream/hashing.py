"""The hashers belle-patch feeds from its read loop, built in one place."""

from __future__ import annotations

import hashlib
import os
import stat
import sys
from pathlib import Path
from typing import BinaryIO, Callable, Dict, Optional, Protocol, Sequence

import xxhash

from belle_patch.stream.engine import Consumer, ProgressCallback, pump
from belle_patch.stream.keystream import CHUNK_SIZE
from belle_patch.vocabulary import DigestKind


class Hasher(Protocol):
    """What hashlib and xxhash objects have in common."""

    def update(self, data: bytes | memoryview, /) -> None: ...

    def hexdigest(self) -> str: ...

    def digest(self) -> bytes: ...


def new_hasher(algorithm: str) -> Hasher:
    """A fresh hasher; MD5 is marked as not used for security so FIPS builds allow it."""
    if algorithm == DigestKind.XXH3_128:
        hasher: Hasher = xxhash.xxh3_128()
        return hasher
    if algorithm == DigestKind.MD5 and sys.version_info >= (3, 9):
        return hashlib.md5(usedforsecurity=False)
    return hashlib.new(algorithm)


def _sized_hasher(algorithm: str, size: int) -> Hasher:
    return new_hasher(algorithm)


# Makes the hasher for an algorithm name; some (a git blob id) need the file's size first.
HasherFactory = Callable[[str, int], Hasher]

NOT_REGULAR = "not a regular file"


class NotRegularFile(OSError):
    """The path is a FIFO, a device, a folder or a socket: it is not read."""


def open_regular(path: Path) -> BinaryIO:
    """Open a regular file unbuffered; anything else raises :class:`NotRegularFile`."""
    # O_NONBLOCK: a FIFO that replaced the file since it was checked must not block open.
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotRegularFile(NOT_REGULAR)
        return os.fdopen(fd, "rb", buffering=0)
    except BaseException:
        os.close(fd)
        raise


def hash_file(
    path: Path,
    algorithms: Sequence[str],
    *,
    on_progress: Optional[ProgressCallback] = None,
    chunk_size: int = CHUNK_SIZE,
    new: HasherFactory = _sized_hasher,
    regular_only: bool = False,
) -> Dict[str, str]:
    """Hex digests of a file's content, all computed in one read.

    ``new`` makes each hasher from its name and the file's size (the content address
    hashers of a download need the size up front). With ``regular_only``, anything but a
    regular file raises :class:`NotRegularFile` instead of being read: a file a user listed
    may have become a FIFO."""
    with open_regular(path) if regular_only else path.open("rb", buffering=0) as source:
        size = os.fstat(source.fileno()).st_size
        hashers = {name: new(name, size) for name in dict.fromkeys(algorithms)}
        pump(
            source,
            [Consumer(hasher.update) for hasher in hashers.values()],
            chunk_size=chunk_size,
            expected_size=size,
            on_progress=on_progress,
        )
    return {name: hasher.hexdigest() for name, hasher in hashers.items()}
