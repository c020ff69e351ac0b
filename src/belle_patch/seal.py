"""Create a patch from a fine-tuned file, byte-identical to the publishers' format."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from .engine import INPUT, OUTPUT, Consumer, ProgressCallback, pump_file
from .errors import InputError
from .hashing import MD5, SHA256, Hasher, new_hasher
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
    enc_md5: str = ""  # MD5 of the patch as a user downloads it, when asked for


def seal_file(
    source_path: Path,
    key: KeySource,
    out_dir: Path,
    *,
    download_md5: bool = False,
    on_progress: Optional[ProgressCallback] = None,
) -> SealResult:
    """Write ``<name>.<sha256>.enc`` for ``source_path`` into ``out_dir``.

    In one pass, the header is unknown until the end, so a placeholder is written first and
    the SHA-256 is put in its place once the data has streamed through. The MD5 of the
    patch as published (``download_md5``) starts with that header, so it needs the SHA-256
    first: then a first pass computes the SHA-256 of the source, and a second one writes the
    header and the XORed data while hashing both sides with MD5.
    """
    started = time.monotonic()
    try:
        source = source_path.open("rb", buffering=0)
    except OSError as exc:
        raise InputError(f"cannot open the file: {exc.strerror}", path=source_path) from None
    with source, StagedFile(out_dir, source_path.name) as staged:
        size = os.fstat(source.fileno()).st_size
        sha256, md5 = new_hasher(SHA256), new_hasher(MD5)
        enc_md5: Optional[Hasher] = None
        if download_md5:
            # SHA-256 alone first: the two MD5s then run side by side in the second pass.
            pump_file(source, source_path, [Consumer(sha256.update)], expected_size=size)
            source.seek(0)
            enc_md5 = new_hasher(MD5)
            header = memoryview(sha256.digest())
            enc_md5.update(header)
            staged.write(header)
            consumers = [
                Consumer(md5.update, INPUT),
                Consumer(enc_md5.update, OUTPUT),
                Consumer(staged.write, OUTPUT),
            ]
        else:
            staged.write(memoryview(bytes(HEADER_SIZE)))
            consumers = [
                Consumer(sha256.update, INPUT),
                Consumer(md5.update, INPUT),
                Consumer(staged.write, OUTPUT),
            ]
        with key.open() as key_stream:
            size = pump_file(
                source, source_path, consumers, key=key_stream, expected_size=size,
                on_progress=on_progress,
            )  # fmt: skip
        if enc_md5 is None:
            staged.file.seek(0)
            staged.write(memoryview(sha256.digest()))
        staged.sync()
        output = staged.commit(patch_name(source_path.name, sha256.hexdigest()))
    return SealResult(
        source_path, output, size, sha256.hexdigest(), md5.hexdigest(),
        time.monotonic() - started, enc_md5.hexdigest() if enc_md5 else "",
    )  # fmt: skip
