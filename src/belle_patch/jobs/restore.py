"""Restore one patch file: stream, verify, and only then put it under its final name."""

from __future__ import annotations

import contextlib
import gzip
import os
import time
import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import BinaryIO, Dict, List, Optional, cast

from belle_patch.check.structure import Capture, check_capture, check_label
from belle_patch.errors import ChecksumMismatch, InputError, OutputExistsError, PatchFormatError
from belle_patch.formats.basestream import BaseStream
from belle_patch.formats.families import BELLE, TECHGPT, KeyMaterial, XorFormat
from belle_patch.formats.header import PROBE_SIZE, check_header, check_lfs, parse_patch_name
from belle_patch.hub.address import (
    ContentAddress,
    check_file_against,
    content_digests,
    new_digest_hasher,
)
from belle_patch.output import state
from belle_patch.output.guards import output_lock
from belle_patch.output.staging import StagedFile
from belle_patch.stream.engine import INPUT, Consumer, ProgressCallback, pump_file
from belle_patch.stream.hashing import Hasher, hash_file, new_hasher
from belle_patch.stream.keystream import ChunkKey
from belle_patch.vocabulary import AddressKind, CheckKind, DigestKind

RESTORED = "restored"
ALREADY_RESTORED = "already restored"
DOWNLOAD_MD5 = "md5 of the download"
DOWNLOAD_ADDRESS = "content address of the download"


_DOWNLOAD_CHECKS: Dict[str, CheckKind] = {
    AddressKind.SHA256_LFS: CheckKind.DOWNLOAD_SHA256_LFS,
    AddressKind.GIT_BLOB_ID: CheckKind.DOWNLOAD_GIT_BLOB_ID,
}


class ListMismatch(ChecksumMismatch):
    """The patch verified, but the MD5 list says otherwise: a list for something else."""


class DownloadDamaged(ChecksumMismatch):
    """The patch as downloaded differs from the published list."""


class KeyMismatch(ChecksumMismatch):
    """The download is intact, so the key file is what is wrong."""


class BaseMismatch(ChecksumMismatch):
    """An Open-Assistant base file is not the conversion the release was made against."""


@dataclass(frozen=True)
class RestoreOptions:
    """What is known about one patch beyond its bytes, and how careful to be."""

    expected_md5: Optional[str] = None
    # A header-less file's SHA-256 from a list (PygmalionAI publishes SHA-256s, not MD5s).
    expected_sha256: Optional[str] = None
    expected_enc_md5: Optional[str] = None
    headerless: bool = False  # TechGPT's variant: the same as passing format=TECHGPT
    compute_md5: bool = True
    check_download: bool = False
    force: bool = False
    key_hint: str = ""
    # Open-Assistant: the base file's MD5, or SHA-256 (64 hex digits) where that is listed.
    expected_base: Optional[str] = None
    base_hint: str = ""  # Open-Assistant: the conversion environment the release names
    # Where the patch came from the Hugging Face Hub: the hash its download carries on disk,
    # which tells a damaged download from a wrong key when no download MD5 is published.
    download_address: Optional[ContentAddress] = None


@dataclass(frozen=True)
class RestoreResult:
    """A patch that ended with a verified file under its final name."""

    patch: Path
    output: Path
    status: str
    size: int
    sha256: str  # empty for header-less patches, which carry no SHA-256
    md5: str  # empty when not computed
    seconds: float
    checks: List[CheckKind] = field(default_factory=list)
    xxh3: str = ""

    @property
    def base_checks(self) -> List[CheckKind]:
        """The checks of the base file an Open-Assistant output was XORed with, if any."""
        return [c for c in self.checks if c in (CheckKind.BASE_MD5, CheckKind.BASE_SHA256)]


def restore_patch(
    patch: Path,
    key: KeyMaterial,
    out_dir: Path,
    options: RestoreOptions = RestoreOptions(),
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
    existing = _existing_output(
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
            _check_base(key_stream, options)
        staged.sync()
        digests = {k: h.hexdigest() for k, h in hashers.items()}
        if copy_as_is:
            _check_copied(patch.path, digests, options)
        _check_restored(patch.path, patch.header.hex(), digests, options, fmt)
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


def _reference(fmt: XorFormat, options: RestoreOptions) -> tuple[str, str]:
    """The hash a restored file is held to first, and how a message names it."""
    if fmt.header:
        return DigestKind.SHA256, "SHA-256 in the header"
    if options.expected_md5 is None and options.expected_sha256 is not None:
        return DigestKind.SHA256, "SHA-256 in the list"
    return DigestKind.MD5, "MD5 in the list"


def _check_base(base: BaseStream, options: RestoreOptions) -> None:
    actual = base.digest_of_whole_base()
    if actual != options.expected_base:
        raise base_mismatch(base.path, options.expected_base or "", actual, options.base_hint)


def base_mismatch(path: Path, listed: str, actual: str, base_hint: str) -> BaseMismatch:
    """A base file whose MD5 (or SHA-256) is not the one the release lists."""
    algorithm = DigestKind.of_listed(listed)
    name = "SHA-256" if algorithm == DigestKind.SHA256 else "MD5"
    environment = f" ({base_hint})" if base_hint else ""
    return BaseMismatch(
        "this base file differs from the conversion the release was made against"
        f"{environment}: its {name} is {actual}, the release lists {listed}",
        path=path,
        hint="convert the original LLaMA weights again in the environment the release names",
        algorithm=CheckKind.BASE_SHA256 if algorithm == DigestKind.SHA256 else CheckKind.BASE_MD5,
        expected=listed,
        actual=actual,
    )


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


def _check_restored(
    patch: Path,
    header_hex: str,
    digests: dict[str, str],
    options: RestoreOptions,
    fmt: XorFormat,
) -> None:
    sha256 = digests.get(DigestKind.SHA256)
    if sha256 is not None and header_hex and sha256 != header_hex:
        raise _diagnose_mismatch(patch, header_hex, sha256, digests, options, fmt)
    listed_sha256 = options.expected_sha256
    if sha256 is not None and listed_sha256 is not None and sha256 != listed_sha256:
        if not fmt.header:
            raise _diagnose_mismatch(patch, listed_sha256, sha256, digests, options, fmt)
        raise ListMismatch(
            f"the restored file's SHA-256 {sha256} differs from the list's {listed_sha256}",
            path=patch,
            hint="the patch itself verified, so the list is for another release or version",
            algorithm=DigestKind.SHA256,
            expected=listed_sha256,
            actual=sha256,
        )
    download = digests.get(DOWNLOAD_MD5)
    if download is not None and download != options.expected_enc_md5:
        raise ChecksumMismatch(
            f"the download's MD5 {download} differs from the published {options.expected_enc_md5}",
            path=patch,
            hint="the restored file verified, so the list may be for another version of the file",
            algorithm=DOWNLOAD_MD5,
            expected=options.expected_enc_md5 or "",
            actual=download,
        )
    address = options.download_address
    if address is not None and DOWNLOAD_ADDRESS in digests:
        verdict = check_file_against(address, {address.algorithm: digests[DOWNLOAD_ADDRESS]})
        if not verdict.ok:
            raise ChecksumMismatch(
                f"the download does not match its content address ({verdict.detail})",
                path=patch,
                hint="the restored file verified, so the download may be of another revision",
                algorithm=DOWNLOAD_ADDRESS,
                expected=address.hexdigest,
                actual=digests[DOWNLOAD_ADDRESS],
            )
    md5 = digests.get(DigestKind.MD5)
    if options.expected_md5 is not None and md5 != options.expected_md5:
        if not fmt.header:
            raise _diagnose_mismatch(patch, options.expected_md5, md5 or "", digests, options, fmt)
        raise ListMismatch(
            f"the restored file's MD5 {md5} differs from the list's {options.expected_md5}",
            path=patch,
            hint="the patch itself verified, so the list is for another release or version",
            algorithm=DigestKind.MD5,
            expected=options.expected_md5,
            actual=md5 or "",
        )


def _check_copied(patch: Path, digests: dict[str, str], options: RestoreOptions) -> None:
    """A file copied as is (no base file of its name): only its download can be wrong."""
    for algorithm, listed in (
        (DigestKind.MD5, options.expected_md5),
        (DigestKind.SHA256, options.expected_sha256),
    ):
        if listed is not None and digests.get(algorithm) != listed:
            name = "MD5" if algorithm == DigestKind.MD5 else "SHA-256"
            raise DownloadDamaged(
                f"this file has no base file and is copied as is, but its {name} "
                f"{digests.get(algorithm, '')} differs from the list's {listed}",
                path=patch,
                hint="the download is damaged or of another revision: download this file again",
                algorithm=algorithm,
                expected=listed,
                actual=digests.get(algorithm, ""),
            )


def _diagnose_mismatch(
    patch: Path,
    expected: str,
    actual: str,
    digests: dict[str, str],
    options: RestoreOptions,
    fmt: XorFormat,
) -> ChecksumMismatch:
    """Say which stage failed: the download, the key, or (unknown) either."""
    algorithm, what = _reference(fmt, options)
    published = options.expected_enc_md5
    if published is None and options.download_address is not None:
        return _diagnose_by_address(
            patch, options.download_address, expected, actual, digests, options, fmt
        )
    if published is None:
        needed = (
            "the base folder must be the exact conversion the release was made against"
            if fmt.key_noun == "base file"
            else "the original LLaMA consolidated.00.pth is needed"
        )
        return ChecksumMismatch(
            f"the restored data does not match the {what}",
            path=patch,
            hint=f"most likely a wrong {fmt.key_noun} ({needed}), or a damaged download: "
            "compare the download's MD5 with the published list",
            algorithm=algorithm,
            expected=expected,
            actual=actual,
        )
    download = digests.get(DOWNLOAD_MD5) or hash_file(patch, [DigestKind.MD5])[DigestKind.MD5]
    return _download_or_key(
        patch, fmt, options, expected, actual,
        damaged=None if download == published
        else f"the download's MD5 {download} differs from the published {published}",
        intact="the download matches the published MD5",
    )  # fmt: skip


def _diagnose_by_address(
    patch: Path,
    address: ContentAddress,
    expected: str,
    actual: str,
    digests: dict[str, str],
    options: RestoreOptions,
    fmt: XorFormat,
) -> ChecksumMismatch:
    """The download's own hash (Hugging Face) decides between the download and the key."""
    computed = digests.get(DOWNLOAD_ADDRESS)
    if computed is None:
        computed = content_digests(patch, [address.algorithm])[address.algorithm]
    verdict = check_file_against(address, {address.algorithm: computed})
    return _download_or_key(
        patch, fmt, options, expected, actual,
        damaged=None if verdict.ok
        else f"the download does not match its content address ({address.kind} "
        f"{address.hexdigest[:12]}..., from the Hugging Face download)",
        intact=f"the download matches its content address ({address.kind})",
    )  # fmt: skip


def _download_or_key(
    patch: Path,
    fmt: XorFormat,
    options: RestoreOptions,
    expected: str,
    actual: str,
    *,
    damaged: Optional[str],
    intact: str,
) -> ChecksumMismatch:
    """Blame the download when its own checksum says it is damaged, else the key."""
    algorithm, what = _reference(fmt, options)
    if damaged is not None:
        return DownloadDamaged(
            f"the restored data does not match the {what}, and {damaged}",
            path=patch,
            hint="the download is damaged or incomplete: download this file again",
            algorithm=algorithm,
            expected=expected,
            actual=actual,
        )
    needs = f": {options.key_hint}" if options.key_hint else ""
    return KeyMismatch(
        f"the restored data does not match the {what}, but {intact}, so the {fmt.key_noun} "
        "is wrong",
        path=patch,
        hint=f"pass the {fmt.key_noun} this release was made with{needs}",
        algorithm=algorithm,
        expected=expected,
        actual=actual,
    )


def _existing_output(
    final_path: Path,
    sha256: Optional[str],
    options: RestoreOptions,
    on_progress: Optional[ProgressCallback],
    *,
    recorded_only: bool = False,
) -> Optional[str]:
    """The MD5 of an existing output that already verifies; None when there is work to do.

    With no checksum to compare (``recorded_only``), only a file this tool restored and
    recorded, unchanged since, counts as done: another tool's half-written file would pass
    any check of its first bytes.
    """
    # A symlink in the way is replaced by the restored file, never written through.
    if options.force or final_path.is_symlink() or not final_path.exists():
        return None
    if final_path.is_file() and not final_path.is_symlink():
        recorded = _recorded_digests(
            final_path, on_progress, need_md5=not recorded_only, need_sha256=sha256 is not None
        )
        try:
            if recorded is not None or recorded_only:
                digests = recorded or {}
            else:
                digests = hash_file(
                    final_path, [DigestKind.SHA256, DigestKind.MD5], on_progress=on_progress
                )
        except OSError:
            digests = {}
        sha_ok = sha256 is None or digests.get(DigestKind.SHA256) == sha256
        md5_ok = options.expected_md5 in (None, digests.get(DigestKind.MD5))
        if digests and sha_ok and md5_ok:
            return digests[DigestKind.MD5]
    raise OutputExistsError(
        "an output that does not verify is in the way; it was left untouched",
        path=final_path,
        hint="run again with --force to replace it",
    )


def _recorded_digests(
    path: Path,
    on_progress: Optional[ProgressCallback],
    *,
    need_md5: bool = True,
    need_sha256: bool = False,
) -> Optional[dict[str, str]]:
    """SHA-256 and MD5 from the state file, if the file still hashes to the recorded xxh3.

    A record without a digest that is needed (a header-less file restored before its
    SHA-256 was listed) is not used: the file is hashed instead.
    """
    recorded = state.lookup(path.parent, path.name)
    if recorded is None or (need_md5 and not recorded.md5) or (need_sha256 and not recorded.sha256):
        return None
    try:
        current = hash_file(path, [DigestKind.XXH3_128], on_progress=on_progress)[
            DigestKind.XXH3_128
        ]
    except OSError:
        return None
    if current != recorded.xxh3_128:
        return None
    return {DigestKind.SHA256: recorded.sha256, DigestKind.MD5: recorded.md5}
