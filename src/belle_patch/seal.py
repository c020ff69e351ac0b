"""Create a patch from a fine-tuned file, byte-identical to the publishers' format."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from .engine import INPUT, OUTPUT, Consumer, ProgressCallback, pump
from .errors import InputError
from .hashing import MD5, SHA256, new_hasher
from .keystream import KeySource
from .patchformat import HEADER_SIZE, patch_name
from .staging import StagedFile


@dataclass(frozen=True)
class SealResult:
    """A patch written under its final name, with the digests of the file it restores to."""

    source: Path
    output: Path
    size: int
    sha256: str
    md5: str
    seconds: float


def seal_file(
    source_path: Path,
    key: KeySource,
    out_dir: Path,
    *,
    on_progress: Optional[ProgressCallback] = None,
) -> SealResult:
    """Write ``<name>.<sha256>.enc`` for ``source_path`` into ``out_dir`` in one pass.

    The header is unknown until the end, so a placeholder is written first and the
    SHA-256 is put in its place once the data has streamed through.
    """
    started = time.monotonic()
    sha256, md5 = new_hasher(SHA256), new_hasher(MD5)
    try:
        source = source_path.open("rb", buffering=0)
    except OSError as exc:
        raise InputError(f"cannot open the file: {exc.strerror}", path=source_path) from None
    with source, StagedFile(out_dir, source_path.name) as staged:
        staged.write(memoryview(bytes(HEADER_SIZE)))
        try:
            with key.open() as key_stream:
                size = pump(
                    source,
                    [
                        Consumer(sha256.update, INPUT),
                        Consumer(md5.update, INPUT),
                        Consumer(staged.write, OUTPUT),
                    ],
                    key=key_stream,
                    chunk_size=key.chunk_size,
                    expected_size=source_path.stat().st_size,
                    on_progress=on_progress,
                )
        except OSError as exc:
            raise InputError(f"reading failed: {exc.strerror}", path=source_path) from None
        staged.file.seek(0)
        staged.write(memoryview(sha256.digest()))
        staged.sync()
        output = staged.commit(patch_name(source_path.name, sha256.hexdigest()))
    return SealResult(
        source_path, output, size, sha256.hexdigest(), md5.hexdigest(), time.monotonic() - started
    )
