"""Restore one patch file: stream, verify, and only then put it under its final name."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from .engine import Consumer, ProgressCallback, pump
from .errors import ChecksumMismatch, InputError, OutputExistsError
from .hashing import MD5, SHA256, hash_file, new_hasher
from .keystream import KeySource
from .patchformat import HEADER_SIZE, PROBE_SIZE, check_header, parse_patch_name
from .staging import StagedFile

RESTORED = "restored"
ALREADY_RESTORED = "already restored"


@dataclass(frozen=True)
class RestoreResult:
    """A patch that ended with a verified file under its final name."""

    patch: Path
    output: Path
    status: str
    size: int
    sha256: str
    md5: str
    seconds: float
    md5_checked: bool = False


def restore_patch(
    patch: Path,
    key: KeySource,
    out_dir: Path,
    *,
    expected_md5: Optional[str] = None,
    compute_md5: bool = True,
    force: bool = False,
    on_progress: Optional[ProgressCallback] = None,
) -> RestoreResult:
    """Restore ``patch`` into ``out_dir`` with the key; raise a BellePatchError on failure.

    The restored bytes are hashed (SHA-256, and MD5 unless ``compute_md5`` is false and no
    ``expected_md5`` is given) while they are written to a staged file; the file gets its
    final name only if the SHA-256 equals the header (and the MD5 equals ``expected_md5``
    when given). An existing output that verifies is kept as is.
    """
    started = time.monotonic()
    name = parse_patch_name(patch.name)
    try:
        source = patch.open("rb", buffering=0)
    except OSError as exc:
        raise InputError(f"cannot open the patch: {exc.strerror}", path=patch) from None
    with source:
        patch_size = _size_of(source, patch)
        header = check_header(source.read(PROBE_SIZE), patch_size, name, path=str(patch))
        data_size = patch_size - HEADER_SIZE
        final_path = out_dir / name.restored_name
        existing = _existing_output(final_path, name.sha256, expected_md5, force, on_progress)
        if existing is not None:
            return RestoreResult(
                patch,
                final_path,
                ALREADY_RESTORED,
                data_size,
                name.sha256,
                existing,
                time.monotonic() - started,
                expected_md5 is not None,
            )
        source.seek(HEADER_SIZE)
        sha256 = new_hasher(SHA256)
        md5 = new_hasher(MD5) if compute_md5 or expected_md5 is not None else None
        with StagedFile(out_dir, name.restored_name) as staged:
            consumers = [Consumer(sha256.update), Consumer(staged.write)]
            if md5 is not None:
                consumers.append(Consumer(md5.update))
            try:
                with key.open() as key_stream:
                    restored_size = pump(
                        source,
                        consumers,
                        key=key_stream,
                        chunk_size=key.chunk_size,
                        expected_size=data_size,
                        on_progress=on_progress,
                    )
                staged.sync()
            except OSError as exc:
                raise InputError(f"reading failed: {exc.strerror}", path=patch) from None
            md5_hex = md5.hexdigest() if md5 is not None else ""
            _check_restored(patch, header.hex(), sha256.hexdigest(), md5_hex, expected_md5)
            if restored_size != data_size:
                raise InputError(
                    "the patch changed size while it was being read",
                    path=patch,
                    hint="wait until the download has finished",
                )
            output = staged.commit(name.restored_name)
    return RestoreResult(
        patch,
        output,
        RESTORED,
        restored_size,
        sha256.hexdigest(),
        md5_hex,
        time.monotonic() - started,
        expected_md5 is not None,
    )


def _size_of(source: object, patch: Path) -> int:
    try:
        return os.fstat(source.fileno()).st_size  # type: ignore[attr-defined]
    except OSError as exc:
        raise InputError(f"cannot read the patch: {exc.strerror}", path=patch) from None


def _check_restored(
    patch: Path, header_hex: str, sha256: str, md5: str, expected_md5: Optional[str]
) -> None:
    if sha256 != header_hex:
        raise ChecksumMismatch(
            "the restored data does not match the SHA-256 in the header",
            path=patch,
            hint="most likely a wrong key file (the original LLaMA consolidated.00.pth is "
            "needed), or a damaged download: compare the download's MD5 with the published list",
            algorithm=SHA256,
            expected=header_hex,
            actual=sha256,
        )
    if expected_md5 is not None and md5 != expected_md5:
        raise ChecksumMismatch(
            f"the restored file's MD5 {md5} differs from the list's {expected_md5}",
            path=patch,
            hint="the patch itself verified, so the list is for another release or version",
            algorithm=MD5,
            expected=expected_md5,
            actual=md5,
        )


def _existing_output(
    final_path: Path,
    sha256: str,
    expected_md5: Optional[str],
    force: bool,
    on_progress: Optional[ProgressCallback],
) -> Optional[str]:
    """The MD5 of an existing output that already verifies; None when there is work to do."""
    if not final_path.exists() and not final_path.is_symlink():
        return None
    if force:
        return None
    if final_path.is_file() and not final_path.is_symlink():
        try:
            digests = hash_file(final_path, [SHA256, MD5], on_progress=on_progress)
        except OSError:
            digests = {}
        if digests.get(SHA256) == sha256 and expected_md5 in (None, digests.get(MD5)):
            return digests[MD5]
    raise OutputExistsError(
        "an output that does not verify is in the way; it was left untouched",
        path=final_path,
        hint="run again with --force to replace it",
    )
