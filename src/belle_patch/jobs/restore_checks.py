"""What a restored file is held to once it is streamed: the header and the lists, the
download's own checksum, the base file; and which stage a mismatch blames."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from belle_patch.errors import ChecksumMismatch
from belle_patch.formats.basestream import BaseStream
from belle_patch.formats.families import XorFormat
from belle_patch.hub.address import ContentAddress, check_file_against, content_digests
from belle_patch.jobs.restore_types import (
    DOWNLOAD_ADDRESS,
    DOWNLOAD_MD5,
    BaseMismatch,
    DownloadDamaged,
    KeyMismatch,
    ListMismatch,
    RestoreOptions,
)
from belle_patch.stream.hashing import hash_file
from belle_patch.vocabulary import CheckKind, DigestKind


def _reference(fmt: XorFormat, options: RestoreOptions) -> tuple[str, str]:
    """The hash a restored file is held to first, and how a message names it."""
    if fmt.header:
        return DigestKind.SHA256, "SHA-256 in the header"
    if options.expected_md5 is None and options.expected_sha256 is not None:
        return DigestKind.SHA256, "SHA-256 in the list"
    return DigestKind.MD5, "MD5 in the list"


def check_base(base: BaseStream, options: RestoreOptions) -> None:
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


def check_restored(
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


def check_copied(patch: Path, digests: dict[str, str], options: RestoreOptions) -> None:
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
    published = options.expected_enc_md5
    if published is not None:
        damaged, intact = _download_by_md5(patch, published, digests)
    elif options.download_address is not None:
        damaged, intact = _download_by_address(patch, options.download_address, digests)
    else:
        algorithm, what = _reference(fmt, options)
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
    return _download_or_key(patch, fmt, options, expected, actual, damaged=damaged, intact=intact)


def _download_by_md5(
    patch: Path, published: str, digests: dict[str, str]
) -> tuple[Optional[str], str]:
    """What the download's published MD5 says of it: how it is damaged (None if it is not),
    and how it is known intact."""
    download = digests.get(DOWNLOAD_MD5) or hash_file(patch, [DigestKind.MD5])[DigestKind.MD5]
    damaged = (
        None
        if download == published
        else f"the download's MD5 {download} differs from the published {published}"
    )
    return damaged, "the download matches the published MD5"


def _download_by_address(
    patch: Path, address: ContentAddress, digests: dict[str, str]
) -> tuple[Optional[str], str]:
    """What the download's own hash (Hugging Face) says of it: how it is damaged (None if it
    is not), and how it is known intact."""
    computed = digests.get(DOWNLOAD_ADDRESS)
    if computed is None:
        computed = content_digests(patch, [address.algorithm])[address.algorithm]
    verdict = check_file_against(address, {address.algorithm: computed})
    damaged = (
        None
        if verdict.ok
        else f"the download does not match its content address ({address.kind} "
        f"{address.hexdigest[:12]}..., from the Hugging Face download)"
    )
    return damaged, f"the download matches its content address ({address.kind})"


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
