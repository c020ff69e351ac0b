"""The verdict on one checked file, as every check reports it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import (
    Optional,
    Tuple,
)

from belle_patch.vocabulary import DigestKind, Status

# What vouched for an OK file (FileCheck.verified_by), besides a content address kind.
BY_MD5 = "MD5"


BY_SHA256 = "SHA-256"


BY_RECORD = "xxh3 (recorded when restored)"


# Shared by every OK check rather than a tuple each: a list can name a million files.
_BY_MD5 = (BY_MD5,)


_BY_SHA256 = (BY_SHA256,)


_BY_RECORD = (BY_RECORD,)


# slots: a million-line list makes a million of these.
@dataclass(frozen=True, slots=True)
class FileCheck:
    """The verdict on one listed file.

    ``status`` is ``OK``, ``FAILED`` (content differs, or the name is listed with different
    MD5s), ``MISSING``, ``UNREADABLE`` (cannot be opened or read, or not a regular file),
    ``REFUSED`` (the name would leave the checked folder, or a cache link leads out of its
    repo's blobs/, so it was not read) or ``NOT VERIFIED`` (a downloaded folder's file with
    neither a content address nor a listed MD5). ``method`` is the hash that decided:
    ``md5``, ``xxh3_128`` against what belle-patch recorded when it restored the file, or a
    content address kind (``sha256 (LFS)``, ``git blob id``). ``detail`` says why a file
    failed, in one line. ``verified_by`` names what vouched for an OK file (``MD5``, a
    content address kind); ``address`` and ``actual_address`` are the expected and computed
    content address of a Hugging Face download's file ("" and None elsewhere).
    """

    name: str
    status: str
    expected: str
    actual: Optional[str] = None
    path: Optional[Path] = None
    detail: str = ""
    method: str = DigestKind.MD5
    verified_by: Tuple[str, ...] = ()
    address: str = ""
    actual_address: Optional[str] = None

    @property
    def ok(self) -> bool:
        return self.status == Status.OK

    @property
    def not_verified(self) -> bool:
        return self.status == Status.NOT_VERIFIED

    @property
    def unread(self) -> bool:
        """The file could not be compared at all (md5sum's "FAILED open or read")."""
        return self.status in (Status.MISSING, Status.UNREADABLE, Status.REFUSED)
