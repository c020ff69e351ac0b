"""The words belle-patch's reports are made of, each defined once.

Every member is also the plain string users see (in a status line, ``--json``, a report's
fields), so a member compares equal to its text and prints as it: ``Status.OK == "OK"``.
"""

from __future__ import annotations

from enum import Enum


class _Word(str, Enum):
    """A member that is its text: printed, formatted and encoded as JSON as that text."""

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)


class Status(_Word):
    """The verdict on one file."""

    OK = "OK"
    FAILED = "FAILED"  # the content differs, or the name is listed with different checksums
    MISSING = "MISSING"
    UNREADABLE = "UNREADABLE"  # cannot be opened or read, or not a regular file
    REFUSED = "REFUSED"  # not read: the name or link would lead out of what is checked
    # A downloaded folder's file with no content address and no listed checksum: never OK.
    NOT_VERIFIED = "NOT VERIFIED"


class CheckKind(_Word):
    """What a restored file was checked against (``RestoreResult.checks``, ``--json``)."""

    SHA256 = "SHA-256"  # the patch header's, or a list's where it gives SHA-256s
    MD5 = "MD5"  # the list's
    DOWNLOAD_MD5 = "download MD5"
    DOWNLOAD_SHA256_LFS = "download sha256 (LFS)"
    DOWNLOAD_GIT_BLOB_ID = "download git blob id"
    BASE_MD5 = "base MD5"  # an Open-Assistant base file's, hashed as it was XORed
    BASE_SHA256 = "base SHA-256"
    # Nothing published a checksum: the first bytes were checked to be the file type's.
    STRUCTURE_ONLY = "structure only"
    NOT_VERIFIED = "not verified"


class DigestKind(_Word):
    """A hash computed in the read loop, by the name its hasher is made with."""

    MD5 = "md5"
    SHA256 = "sha256"
    XXH3_128 = "xxh3_128"  # what belle-patch records of a file it restored
    STRUCTURE = "structure"  # not a hash: the file's first bytes, checked by their type

    @classmethod
    def of_listed(cls, digest: str) -> DigestKind:
        """The hash a published digest is: SHA-256 when it has 64 hex digits, else MD5.

        The lists belle-patch reads (md5sum lists, the bundled releases) name no algorithm;
        the two lengths cannot be confused."""
        return cls.SHA256 if len(digest) == 64 else cls.MD5


class AddressKind(_Word):
    """The kind of content address a Hugging Face download keeps for a file."""

    SHA256_LFS = "sha256 (LFS)"
    GIT_BLOB_ID = "git blob id"


class Side(_Word):
    """Which files of a release a set of expected checksums is about."""

    RESTORED = "restored"  # the files a decrypt writes
    DOWNLOADS = "downloads"  # the payload as downloaded, by MD5 or SHA-256
    BASE = "base"  # the converted LLaMA folder an Open-Assistant payload was made against


class ReleaseFormat(_Word):
    """The format a release list records (``"format"`` in the bundled and written manifests).

    Each names one XOR format of formats.py (``XorFormat.listed_as``); Open-Assistant's gzip
    variant is a way to read its payloads, not a format a list records.
    """

    HEADER = "header"  # BELLE / point-alpaca
    NO_HEADER = "no-header"  # TechGPT
    OPENBUDDY = "openbuddy"
    OASST = "oasst"  # Open-Assistant and PygmalionAI
