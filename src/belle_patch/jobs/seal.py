"""Create a patch from a fine-tuned file, byte-identical to the publishers' format."""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import BinaryIO, Callable, List, Optional

from belle_patch.errors import InputError, UsageError
from belle_patch.formats.families import BELLE, KeyMaterial, XorFormat
from belle_patch.formats.header import HEADER_SIZE
from belle_patch.output.staging import StagedFile
from belle_patch.stream.engine import INPUT, OUTPUT, Consumer, ProgressCallback, pump_file
from belle_patch.stream.hashing import Hasher, new_hasher
from belle_patch.stream.keystream import ChunkKey
from belle_patch.vocabulary import DigestKind


@dataclass(frozen=True)
class SealResult:
    """A patch written under its final name, with the digests of the file it restores to."""

    source: Path
    output: Path
    size: int
    sha256: str  # empty for header-less formats
    md5: str
    seconds: float
    enc_md5: str = ""  # MD5 of the patch as a user downloads it, when asked for


def seal_file(
    source_path: Path,
    key: KeyMaterial,
    out_dir: Path,
    *,
    format: XorFormat = BELLE,
    download_md5: bool = False,
    on_progress: Optional[ProgressCallback] = None,
) -> SealResult:
    """Write the patch of ``source_path`` into ``out_dir``, named and keyed as ``format`` says.

    BELLE: ``<name>.<sha256>.enc``. In one pass, the header is unknown until the end, so a
    placeholder is written first and the SHA-256 is put in its place once the data has
    streamed through. The MD5 of the patch as published (``download_md5``) starts with that
    header, so it needs the SHA-256 first: then a first pass computes the SHA-256 of the
    source, and a second one writes the header and the XORed data while hashing both sides
    with MD5; both passes also take the size and xxh3 of the source, so a file changed
    between them fails instead of giving a patch named for the old bytes holding the new.

    Header-less formats (OpenBuddy ``<name>.enc``, Open-Assistant's payload under the same
    name) take one pass: MD5 of the source and, with ``download_md5``, of the patch.
    """
    if format.compressed:
        raise UsageError(
            f"writing the {format.description} variant is not supported",
            hint="write the plain payload, which is what the published releases use",
        )
    started = time.monotonic()
    try:
        source = source_path.open("rb", buffering=0)
    except OSError as exc:
        raise InputError(f"cannot open the file: {exc.strerror}", path=source_path) from None
    with source, StagedFile(out_dir, source_path.name) as staged:
        size = os.fstat(source.fileno()).st_size
        keyed_pass = partial(_keyed_pass, source, source_path, key, format, size, on_progress)
        if format.header:
            size, sha256, md5, enc_md5 = _seal_with_header(
                source, source_path, staged, size, download_md5, keyed_pass
            )
        else:
            sha256 = ""
            size, md5, enc_md5 = _seal_headerless(staged, download_md5, keyed_pass)
        staged.sync()
        output = staged.commit(format.patch_name(source_path.name, sha256))
    return SealResult(source_path, output, size, sha256, md5, time.monotonic() - started, enc_md5)


# The pass that XORs the source with its key into the consumers; it returns the size read.
_KeyedPass = Callable[[List[Consumer]], int]


def _keyed_pass(
    source: BinaryIO,
    source_path: Path,
    key: KeyMaterial,
    fmt: XorFormat,
    size: int,
    on_progress: Optional[ProgressCallback],
    consumers: List[Consumer],
) -> int:
    """Stream the source through ``consumers``, XORed with its key (opened here, and not at
    all for a file the format copies as is), reporting progress."""
    with contextlib.ExitStack() as stack:
        key_stream: Optional[ChunkKey] = None
        if not fmt.copies_as_is(key, source_path.name):
            key_stream = stack.enter_context(
                contextlib.closing(fmt.open_key(key, source_path.name))
            )
        return pump_file(
            source, source_path, consumers, key=key_stream, expected_size=size,
            on_progress=on_progress,
        )  # fmt: skip


def _seal_with_header(
    source: BinaryIO,
    source_path: Path,
    staged: StagedFile,
    size: int,
    download_md5: bool,
    keyed_pass: _KeyedPass,
) -> tuple[int, str, str, str]:
    sha256, md5 = new_hasher(DigestKind.SHA256), new_hasher(DigestKind.MD5)
    enc_md5: Optional[Hasher] = None
    first_pass: Optional[tuple[int, str]] = None
    second_xxh3 = new_hasher(DigestKind.XXH3_128)
    if download_md5:
        # SHA-256 alone first: the two MD5s then run side by side in the second pass.
        first_xxh3 = new_hasher(DigestKind.XXH3_128)
        first_size = pump_file(
            source, source_path, [Consumer(sha256.update), Consumer(first_xxh3.update)],
            expected_size=size,
        )  # fmt: skip
        first_pass = (first_size, first_xxh3.hexdigest())
        source.seek(0)
        enc_md5 = new_hasher(DigestKind.MD5)
        header = memoryview(sha256.digest())
        enc_md5.update(header)
        staged.write(header)
        consumers = [
            Consumer(md5.update, INPUT),
            Consumer(second_xxh3.update, INPUT),
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
    size = keyed_pass(consumers)
    if first_pass is not None and first_pass != (size, second_xxh3.hexdigest()):
        raise InputError(
            "the file changed while it was being read (its two reads differ)",
            path=source_path,
            hint="wait until nothing writes to it, then encrypt it again",
        )
    if enc_md5 is None:
        staged.file.seek(0)
        staged.write(memoryview(sha256.digest()))
    return size, sha256.hexdigest(), md5.hexdigest(), enc_md5.hexdigest() if enc_md5 else ""


def _seal_headerless(
    staged: StagedFile, download_md5: bool, keyed_pass: _KeyedPass
) -> tuple[int, str, str]:
    md5 = new_hasher(DigestKind.MD5)
    enc_md5 = new_hasher(DigestKind.MD5) if download_md5 else None
    consumers = [Consumer(md5.update, INPUT)]
    if enc_md5 is not None:
        consumers.append(Consumer(enc_md5.update, OUTPUT))
    consumers.append(Consumer(staged.write, OUTPUT))
    size = keyed_pass(consumers)
    return size, md5.hexdigest(), enc_md5.hexdigest() if enc_md5 else ""
