"""Restore one patch file: stream, verify, and only then put it under its final name."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import BinaryIO, List, Optional

from . import state
from .engine import INPUT, Consumer, ProgressCallback, pump_file
from .errors import ChecksumMismatch, InputError, OutputExistsError, PatchFormatError
from .guards import output_lock
from .hashing import MD5, SHA256, XXH3_128, Hasher, hash_file, new_hasher
from .keystream import KeySource
from .patchformat import PROBE_SIZE, check_header, check_lfs, parse_patch_name
from .staging import StagedFile

RESTORED = "restored"
ALREADY_RESTORED = "already restored"
DOWNLOAD_MD5 = "md5 of the download"


class ListMismatch(ChecksumMismatch):
    """The patch verified, but the MD5 list says otherwise: a list for something else."""


class DownloadDamaged(ChecksumMismatch):
    """The patch as downloaded differs from the published list."""


class KeyMismatch(ChecksumMismatch):
    """The download is intact, so the key file is what is wrong."""


@dataclass(frozen=True)
class RestoreOptions:
    """What is known about one patch beyond its bytes, and how careful to be."""

    expected_md5: Optional[str] = None
    expected_enc_md5: Optional[str] = None
    headerless: bool = False
    compute_md5: bool = True
    check_download: bool = False
    force: bool = False
    key_hint: str = ""


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
    checks: List[str] = field(default_factory=list)
    xxh3: str = ""


def restore_patch(
    patch: Path,
    key: KeySource,
    out_dir: Path,
    options: RestoreOptions = RestoreOptions(),
    *,
    on_progress: Optional[ProgressCallback] = None,
) -> RestoreResult:
    """Restore ``patch`` into ``out_dir`` with the key; raise a BellePatchError on failure.

    The restored bytes are hashed while they are written to a staged file, which gets its
    final name only if the SHA-256 equals the header and the MD5 equals the expected one
    (when known). A header-less patch (TechGPT's variant) is verified by its MD5 alone. An
    existing output that verifies is kept as it is.
    """
    started = time.monotonic()
    name = parse_patch_name(patch.name)
    if options.headerless and options.expected_md5 is None:
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
        if options.headerless:
            check_lfs(probe, path=str(patch))
            header = b""
        else:
            header = check_header(probe, patch_size, name, path=str(patch))
        opened = _OpenPatch(patch, source, name.restored_name, header, patch_size)
        with output_lock(
            out_dir,
            name.restored_name,
            waiting=None if on_progress is None else lambda: on_progress(0),
        ):
            result = _restore_locked(opened, key, out_dir, options, on_progress)
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
    key: KeySource,
    out_dir: Path,
    options: RestoreOptions,
    on_progress: Optional[ProgressCallback],
) -> RestoreResult:
    final_path = out_dir / patch.restored_name
    expected_sha = patch.header.hex() or None
    existing = _existing_output(final_path, expected_sha, options, on_progress)
    if existing is not None:
        return RestoreResult(
            patch.path, final_path, ALREADY_RESTORED, patch.data_size, expected_sha or "",
            existing, 0.0, _checks_done(options),
        )  # fmt: skip
    patch.source.seek(len(patch.header))
    hashers = _restore_hashers(options, patch.header)
    with StagedFile(out_dir, patch.restored_name) as staged:
        consumers = [Consumer(h.update) for k, h in hashers.items() if k != DOWNLOAD_MD5]
        if DOWNLOAD_MD5 in hashers:
            consumers.append(Consumer(hashers[DOWNLOAD_MD5].update, INPUT))
        consumers.append(Consumer(staged.write))
        size = _stream(patch.source, patch.path, key, consumers, patch.data_size, on_progress)
        staged.sync()
        digests = {k: h.hexdigest() for k, h in hashers.items()}
        _check_restored(patch.path, patch.header.hex(), digests, options)
        if size != patch.data_size:
            raise InputError(
                "the patch changed size while it was being read",
                path=patch.path,
                hint="wait until the download has finished",
            )
        output = staged.commit(patch.restored_name)
    state.record(
        out_dir,
        patch.restored_name,
        xxh3_128=digests[XXH3_128],
        sha256=digests.get(SHA256, ""),
        md5=digests.get(MD5, ""),
    )
    return RestoreResult(
        patch.path, output, RESTORED, size, digests.get(SHA256, ""), digests.get(MD5, ""),
        0.0, _checks_done(options), digests[XXH3_128],
    )  # fmt: skip


def _restore_hashers(options: RestoreOptions, header: bytes) -> dict[str, Hasher]:
    hashers = {XXH3_128: new_hasher(XXH3_128)}
    if not options.headerless:
        hashers[SHA256] = new_hasher(SHA256)
    if options.compute_md5 or options.expected_md5 is not None:
        hashers[MD5] = new_hasher(MD5)
    if options.check_download and options.expected_enc_md5 is not None:
        download = new_hasher(MD5)
        download.update(header)
        hashers[DOWNLOAD_MD5] = download
    return hashers


def _stream(
    source: BinaryIO,
    patch: Path,
    key: KeySource,
    consumers: List[Consumer],
    data_size: int,
    on_progress: Optional[ProgressCallback],
) -> int:
    with key.open() as key_stream:
        return pump_file(
            source, patch, consumers, key=key_stream, expected_size=data_size,
            on_progress=on_progress,
        )  # fmt: skip


def _checks_done(options: RestoreOptions) -> List[str]:
    checks = [] if options.headerless else ["SHA-256"]
    if options.expected_md5 is not None:
        checks.append("MD5")
    if options.check_download and options.expected_enc_md5 is not None:
        checks.append("download MD5")
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
) -> None:
    sha256 = digests.get(SHA256)
    if sha256 is not None and sha256 != header_hex:
        raise _diagnose_mismatch(patch, header_hex, sha256, digests, options)
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
    md5 = digests.get(MD5)
    if options.expected_md5 is not None and md5 != options.expected_md5:
        if options.headerless:
            raise _diagnose_mismatch(patch, options.expected_md5, md5 or "", digests, options)
        raise ListMismatch(
            f"the restored file's MD5 {md5} differs from the list's {options.expected_md5}",
            path=patch,
            hint="the patch itself verified, so the list is for another release or version",
            algorithm=MD5,
            expected=options.expected_md5,
            actual=md5 or "",
        )


def _diagnose_mismatch(
    patch: Path,
    expected: str,
    actual: str,
    digests: dict[str, str],
    options: RestoreOptions,
) -> ChecksumMismatch:
    """Say which stage failed: the download, the key, or (unknown) either."""
    algorithm = MD5 if options.headerless else SHA256
    what = "MD5 in the list" if options.headerless else "SHA-256 in the header"
    published = options.expected_enc_md5
    if published is None:
        return ChecksumMismatch(
            f"the restored data does not match the {what}",
            path=patch,
            hint="most likely a wrong key file (the original LLaMA consolidated.00.pth is "
            "needed), or a damaged download: compare the download's MD5 with the published list",
            algorithm=algorithm,
            expected=expected,
            actual=actual,
        )
    download = digests.get(DOWNLOAD_MD5) or hash_file(patch, [MD5])[MD5]
    if download != published:
        return DownloadDamaged(
            f"the restored data does not match the {what}, and the download's MD5 {download} "
            f"differs from the published {published}",
            path=patch,
            hint="the download is damaged or incomplete: download this file again",
            algorithm=algorithm,
            expected=expected,
            actual=actual,
        )
    needs = f": {options.key_hint}" if options.key_hint else ""
    return KeyMismatch(
        f"the restored data does not match the {what}, but the download matches the published "
        "MD5, so the key file is wrong",
        path=patch,
        hint=f"pass the key this release was made with{needs}",
        algorithm=algorithm,
        expected=expected,
        actual=actual,
    )


def _existing_output(
    final_path: Path,
    sha256: Optional[str],
    options: RestoreOptions,
    on_progress: Optional[ProgressCallback],
) -> Optional[str]:
    """The MD5 of an existing output that already verifies; None when there is work to do."""
    # A symlink in the way is replaced by the restored file, never written through.
    if options.force or final_path.is_symlink() or not final_path.exists():
        return None
    if final_path.is_file() and not final_path.is_symlink():
        recorded = _recorded_digests(final_path, on_progress)
        try:
            digests = recorded or hash_file(final_path, [SHA256, MD5], on_progress=on_progress)
        except OSError:
            digests = {}
        sha_ok = sha256 is None or digests.get(SHA256) == sha256
        md5_ok = options.expected_md5 in (None, digests.get(MD5))
        if digests and sha_ok and md5_ok:
            return digests[MD5]
    raise OutputExistsError(
        "an output that does not verify is in the way; it was left untouched",
        path=final_path,
        hint="run again with --force to replace it",
    )


def _recorded_digests(
    path: Path, on_progress: Optional[ProgressCallback]
) -> Optional[dict[str, str]]:
    """SHA-256 and MD5 from the state file, if the file still hashes to the recorded xxh3."""
    recorded = state.lookup(path.parent, path.name)
    if recorded is None or not recorded.md5:
        return None
    try:
        current = hash_file(path, [XXH3_128], on_progress=on_progress)[XXH3_128]
    except OSError:
        return None
    if current != recorded.xxh3_128:
        return None
    return {SHA256: recorded.sha256, MD5: recorded.md5}
