"""What a restore is given and returns, and the ways its checksums fail."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional

from belle_patch.errors import ChecksumMismatch
from belle_patch.hub.address import ContentAddress
from belle_patch.vocabulary import CheckKind

RESTORED = "restored"
ALREADY_RESTORED = "already restored"
DOWNLOAD_MD5 = "md5 of the download"
DOWNLOAD_ADDRESS = "content address of the download"


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
