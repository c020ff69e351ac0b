"""The hashers belle-patch feeds from its read loop, built in one place."""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path
from typing import Dict, Optional, Protocol, Sequence

import xxhash

from .engine import Consumer, ProgressCallback, pump
from .keystream import CHUNK_SIZE
from .vocabulary import DigestKind


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


def hash_file(
    path: Path,
    algorithms: Sequence[str],
    *,
    on_progress: Optional[ProgressCallback] = None,
    chunk_size: int = CHUNK_SIZE,
) -> Dict[str, str]:
    """Hex digests of a file's content, all computed in one read."""
    hashers = {name: new_hasher(name) for name in algorithms}
    with path.open("rb", buffering=0) as source:
        pump(
            source,
            [Consumer(hasher.update) for hasher in hashers.values()],
            chunk_size=chunk_size,
            expected_size=os.fstat(source.fileno()).st_size,
            on_progress=on_progress,
        )
    return {name: hasher.hexdigest() for name, hasher in hashers.items()}
