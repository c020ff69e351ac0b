"""Restore one patch file: stream, verify, and only then put it under its final name."""

from __future__ import annotations

import contextlib
import gzip
import os
import time
import zlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO, Dict, List, Optional, cast

from belle_patch.check.structure import Capture, check_capture, check_label
from belle_patch.errors import InputError, PatchFormatError
from belle_patch.formats.basestream import BaseStream
from belle_patch.formats.families import BELLE, TECHGPT, KeyMaterial, XorFormat
from belle_patch.formats.header import PROBE_SIZE, check_header, check_lfs, parse_patch_name
from belle_patch.hub.address import new_digest_hasher
from belle_patch.jobs.restore_checks import check_base, check_copied, check_restored
from belle_patch.jobs.restore_existing import existing_output
from belle_patch.jobs.restore_types import (
    ALREADY_RESTORED,
    DOWNLOAD_ADDRESS,
    DOWNLOAD_MD5,
    RESTORED,
    RestoreOptions,
    RestoreResult,
)
from belle_patch.output import state
from belle_patch.output.guards import output_lock
from belle_patch.output.staging import StagedFile
from belle_patch.stream.engine import INPUT, Consumer, ProgressCallback, pump_file
from belle_patch.stream.hashing import Hasher, new_hasher
from belle_patch.stream.keystream import ChunkKey
from belle_patch.vocabulary import AddressKind, CheckKind, DigestKind

_DOWNLOAD_CHECKS: Dict[str, CheckKind] = {
    AddressKind.SHA256_LFS: CheckKind.DOWNLOAD_SHA256_LFS,
    AddressKind.GIT_BLOB_ID: CheckKind.DOWNLOAD_GIT_BLOB_ID,
}


def restore_patch(
    patch: Path,
    key: KeyMaterial,
    out_dir: Path,
    options: RestoreOptions = RestoreOptions(),  # noqa: B008 (a frozen dataclass)
    *,
    format: XorFormat = BELLE,
    on_progress: Optional[ProgressCallback] = None,
) -> RestoreResult:
    """Restore ``patch`` into ``out_dir`` with the key; raise a BellePatchError on failure.

    ``format`` says how the patch is named, headed and keyed: a KeySource for the formats
    keyed by a file, a BaseFolder for Open-Assistant's. The restored bytes are hashed while
    they are written to a staged file, which gets its final name only once it verified: by
    the SHA-256 header, the expected MD5, or (header-less, no MD5 known) by the structure its
    file type must have; a file of unknown type is then reported as "not verified". An
    existing output that verifies is kept as it is.
    """
    started = time.monotonic()
    fmt = TECHGPT if options.headerless and format is BELLE else format
    restored_name = fmt.restored_name(patch.name)
    if fmt.needs_md5 and options.expected_md5 is None:
        raise PatchFormatError(
            "this patch has no header, and no MD5 is known to verify it",
            path=patch,
            hint="pass the release's MD5 list with --manifest",
        )
    try:
        source = patch.open("rb", buffering=0)
    except OSError as exc:
        raise InputError(f"cannot open the patch: {exc.strerror}", path=patch) from None
    with source:
        patch_size = _size_of(source, patch)
        probe = source.read(PROBE_SIZE)
        if fmt.header:
            header = check_header(probe, patch_size, parse_patch_name(patch.name), path=str(patch))
        else:
            check_lfs(probe, path=str(patch))
            header = b""
        opened = _OpenPatch(patch, source, restored_name, header, patch_size)
        with output_lock(
            out_dir,
            restored_name,
            waiting=None if on_progress is None else lambda: on_progress(0),
        ):
            result = _restore_locked(opened, key, fmt, out_dir, options, on_progress)
    return replace(result, seconds=time.monotonic() - started)


@dataclass(frozen=True)
class _OpenPatch:
    path: Path
    source: BinaryIO
    restored_name: str
    header: bytes  # empty for header-less patches
    size: int

    @property
    def data_size(self) -> int:
        return self.size - len(self.header)


def _restore_locked(
    patch: _OpenPatch,
    key: KeyMaterial,
    fmt: XorFormat,
    out_dir: Path,
    options: RestoreOptions,
    on_progress: Optional[ProgressCallback],
) -> RestoreResult:
    final_path = out_dir / patch.restored_name
    expected_sha = patch.header.hex() or options.expected_sha256
    copy_as_is = fmt.copies_as_is(key, patch.restored_name)
    base_algorithm = (
        DigestKind.of_listed(options.expected_base)
        if options.expected_base is not None and not copy_as_is
        else None
    )
    # Header-less and no MD5: only the structure of the restored bytes can be checked.
    capture = Capture(patch.restored_name) if _by_structure(fmt, options) else None
    planned = _checks_done(fmt, options, patch.restored_name, base_algorithm)
    existing = existing_output(
        final_path, expected_sha, options, on_progress, recorded_only=capture is not None
    )
    if existing is not None:
        return RestoreResult(
            patch.path, final_path, ALREADY_RESTORED, final_path.stat().st_size,
            expected_sha or "", existing, 0.0, planned,
        )  # fmt: skip
    patch.source.seek(len(patch.header))
    hashers = _restore_hashers(options, patch.header, fmt, patch.size)
    with contextlib.ExitStack() as stack:
        # The key (or base file) opens first: a missing one leaves not even a temporary file.
        key_stream: Optional[ChunkKey] = None
        if not copy_as_is:
            key_stream = stack.enter_context(
                contextlib.closing(
                    fmt.open_key(key, patch.restored_name, base_algorithm=base_algorithm)
                )
            )
        staged = stack.enter_context(StagedFile(out_dir, patch.restored_name))
        size = _stream_patch(patch, fmt, key_stream, hashers, capture, staged, on_progress)
        if base_algorithm is not None and isinstance(key_stream, BaseStream):
            check_base(key_stream, options)
        staged.sync()
        digests = {k: h.hexdigest() for k, h in hashers.items()}
        if copy_as_is:
            check_copied(patch.path, digests, options)
        check_restored(patch.path, patch.header.hex(), digests, options, fmt)
        if capture is not None:
            check_capture(capture, path=str(patch.path), key_noun=fmt.key_noun)
        output = staged.commit(patch.restored_name)
    state.record(
        out_dir,
        patch.restored_name,
        xxh3_128=digests[DigestKind.XXH3_128],
        sha256=digests.get(DigestKind.SHA256, ""),
        md5=digests.get(DigestKind.MD5, ""),
    )
    return RestoreResult(
        patch.path,
        output,
        RESTORED,
        size,
        digests.get(DigestKind.SHA256, ""),
        digests.get(DigestKind.MD5, ""),
        0.0,
        planned,
        digests[DigestKind.XXH3_128],
    )


def _stream_patch(
    patch: _OpenPatch,
    fmt: XorFormat,
    key_stream: Optional[ChunkKey],
    hashers: dict[str, Hasher],
    capture: Optional[Capture],
    staged: StagedFile,
    on_progress: Optional[ProgressCallback],
) -> int:
    """The one read of the patch: XORed, hashed, captured and staged; returns the size."""
    downloads = (DOWNLOAD_MD5, DOWNLOAD_ADDRESS)
    consumers = [Consumer(h.update) for k, h in hashers.items() if k not in downloads]
    consumers += [Consumer(hashers[k].update, INPUT) for k in downloads if k in hashers]
    if capture is not None:
        consumers.append(Consumer(capture.feed))
    consumers.append(Consumer(staged.write))
    source = patch.source
    if fmt.compressed:
        source = cast(BinaryIO, _Gunzip(patch.source, patch.path))
    size = pump_file(
        source, patch.path, consumers, key=key_stream, expected_size=patch.data_size,
        on_progress=on_progress,
    )  # fmt: skip
    # A patch that grew or shrank under the read fails as such, before any checksum
    # could blame the key for it.
    changed = (
        _size_of(patch.source, patch.path) != patch.size
        if fmt.compressed
        else size != patch.data_size
    )
    if changed:
        raise InputError(
            "the patch changed while it was being read",
            path=patch.path,
            hint="wait until the download has finished, then run again",
        )
    return size


class _Gunzip:
    """The publisher's gzip variant, inflated as it is read; a bad stream is a format error."""

    def __init__(self, raw: BinaryIO, path: Path) -> None:
        self._file = gzip.GzipFile(fileobj=raw, mode="rb")
        self._path = path

    def readinto(self, view: memoryview) -> int:
        try:
            return self._file.readinto(view)
        except (gzip.BadGzipFile, EOFError, zlib.error):
            raise PatchFormatError(
                "the payload is not a complete gzip stream",
                path=self._path,
                hint="download it again, or leave out the gzip option for plain payloads",
            ) from None


def _by_structure(fmt: XorFormat, options: RestoreOptions) -> bool:
    return not fmt.header and options.expected_md5 is None and options.expected_sha256 is None


def _checks_address(options: RestoreOptions) -> bool:
    """--check-downloads falls back on the download's content address without a list."""
    return (
        options.check_download
        and options.expected_enc_md5 is None
        and options.download_address is not None
    )


def _restore_hashers(
    options: RestoreOptions, header: bytes, fmt: XorFormat, patch_size: int
) -> dict[str, Hasher]:
    hashers: dict[str, Hasher] = {DigestKind.XXH3_128: new_hasher(DigestKind.XXH3_128)}
    if fmt.header or options.expected_sha256 is not None:
        hashers[DigestKind.SHA256] = new_hasher(DigestKind.SHA256)
    if options.compute_md5 or options.expected_md5 is not None:
        hashers[DigestKind.MD5] = new_hasher(DigestKind.MD5)
    if options.check_download and options.expected_enc_md5 is not None:
        download = new_hasher(DigestKind.MD5)
        download.update(header)
        hashers[DOWNLOAD_MD5] = download
    if _checks_address(options) and options.download_address is not None:
        addressed = new_digest_hasher(options.download_address.algorithm, patch_size)
        addressed.update(header)
        hashers[DOWNLOAD_ADDRESS] = addressed
    return hashers


def _checks_done(
    fmt: XorFormat, options: RestoreOptions, restored_name: str, base_algorithm: Optional[str]
) -> List[CheckKind]:
    checks: List[CheckKind] = []
    if fmt.header or options.expected_sha256 is not None:
        checks.append(CheckKind.SHA256)
    if options.expected_md5 is not None:
        checks.append(CheckKind.MD5)
    if options.check_download and options.expected_enc_md5 is not None:
        checks.append(CheckKind.DOWNLOAD_MD5)
    if _checks_address(options) and options.download_address is not None:
        checks.append(_DOWNLOAD_CHECKS[options.download_address.kind])
    if _by_structure(fmt, options):
        checks.append(check_label(restored_name))
    if base_algorithm is not None:
        checks.append(
            CheckKind.BASE_SHA256 if base_algorithm == DigestKind.SHA256 else CheckKind.BASE_MD5
        )
    return checks


def _size_of(source: BinaryIO, patch: Path) -> int:
    try:
        return os.fstat(source.fileno()).st_size
    except OSError as exc:
        raise InputError(f"cannot read the patch: {exc.strerror}", path=patch) from None
