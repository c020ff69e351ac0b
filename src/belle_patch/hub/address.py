"""Content addresses of Hugging Face downloads: what they are, how to compute them, the verdict.

Two kinds, told apart by length: 64 hex digits are the SHA-256 of the content (files kept with
LFS or Xet), 40 hex digits are the git blob id (SHA-1 of ``b"blob <size>\\0" + content``, files
kept in git itself). Both are computed from the same read as every other digest (git's
blob hashers are in :mod:`belle_patch.hub.gitblob`).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Mapping, Optional, Sequence, Tuple

from belle_patch.errors import InputError
from belle_patch.hub.gitblob import (
    _STORED_BLOB_NAME,
    GIT_BLOB,
    STORED_AS_IS,
    GitBlobHasher,
    GitStoredBlobHasher,
    stored_blob_name,
)
from belle_patch.stream.engine import Consumer, ProgressCallback, pump
from belle_patch.stream.hashing import Hasher, hash_file, new_hasher
from belle_patch.stream.keystream import CHUNK_SIZE
from belle_patch.vocabulary import AddressKind, DigestKind, Status

# What git may do to a file between its blob and the work tree (ContentAddress.conversion).
# EOL_CONVERSION: git stores the file with every CRLF read as LF (``text``, ``eol``).
# EOL_AUTO_CONVERSION: the same, unless git's own test calls the file binary (``text=auto``,
# ``core.autocrlf``). For both, ``ContentAddress.size`` is the committed blob's size.
EOL_CONVERSION = "line endings"
EOL_AUTO_CONVERSION = "line endings (text=auto)"
OTHER_CONVERSION = "converted by git on checkout"

_HEX40 = re.compile(r"[0-9a-f]{40}")
_HEX64 = re.compile(r"[0-9a-f]{64}")

LFS_VERSION_LINE = b"version https://git-lfs.github.com/spec/v1\n"
# A pointer is a few hundred bytes at most; anything this size or larger is content.
LFS_POINTER_MAX = 1024
_LFS_POINTER = re.compile(
    rb"version https://git-lfs\.github\.com/spec/v1\n"
    rb"(?:[a-z0-9.-]+ [^\n]*\n)*?"
    rb"oid sha256:(?P<oid>[0-9a-f]{64})\n"
    rb"(?:[a-z0-9.-]+ [^\n]*\n)*?"
    rb"size (?P<size>0|[1-9][0-9]*)\n"
    rb"(?:[a-z0-9.-]+ [^\n]*\n)*"
)


@dataclass(frozen=True)
class ContentAddress:
    """The expected hash of one file, and where belle-patch read it.

    ``kind`` is :data:`SHA256_LFS` or :data:`GIT_BLOB_ID`; ``size`` is the expected size in
    bytes when the source records it. ``source`` says where the address was found, for
    messages ("blobs/ID link", "git index (LFS pointer)", ".cache/huggingface/download/...").
    ``pointer_blob_id`` is the git blob id of the LFS pointer the index holds, so that a work
    tree still holding the pointer is told apart from damaged content. ``conversion`` names
    what git may change at checkout (line endings, ...): then a mismatch is "not verified",
    never FAILED. ``modified_after_download`` is how many seconds the file's mtime lies past
    its recorded download time (more than huggingface_hub's 1 s tolerance), else None.
    """

    kind: str
    hexdigest: str
    size: Optional[int] = None
    source: str = ""
    pointer_blob_id: Optional[str] = None
    conversion: Optional[str] = None
    modified_after_download: Optional[float] = None

    @property
    def algorithm(self) -> str:
        """The digest (:data:`hashing.SHA256` or :data:`GIT_BLOB`) this address compares with."""
        return DigestKind.SHA256 if self.kind == AddressKind.SHA256_LFS else GIT_BLOB


def address_from_hex(
    text: str, *, size: Optional[int] = None, source: str = ""
) -> Optional[ContentAddress]:
    """The address spelled by ``text`` (64 hex: SHA-256, 40 hex: git blob id), else None."""
    digest = text.strip().strip('"').lower()
    if _HEX64.fullmatch(digest):
        return ContentAddress(AddressKind.SHA256_LFS, digest, size, source)
    if _HEX40.fullmatch(digest):
        return ContentAddress(AddressKind.GIT_BLOB_ID, digest, size, source)
    return None


def parse_lfs_pointer(data: bytes) -> Optional[Tuple[str, int]]:
    """(sha256 hex, size) of a Git LFS pointer, or None if ``data`` is not one."""
    if len(data) >= LFS_POINTER_MAX or not data.startswith(LFS_VERSION_LINE):
        return None
    match = _LFS_POINTER.fullmatch(data)
    if match is None:
        return None
    return match.group("oid").decode(), int(match.group("size"))


def stored_blob_algorithm(address: ContentAddress) -> Optional[str]:
    """The digest comparing a file git converts with ``address`` as git would, if there is one."""
    if address.kind != AddressKind.GIT_BLOB_ID or address.size is None or address.size < 0:
        return None
    if address.conversion == EOL_CONVERSION:
        return stored_blob_name(address.size, auto=False)
    if address.conversion == EOL_AUTO_CONVERSION:
        return stored_blob_name(address.size, auto=True)
    return None


def new_digest_hasher(algorithm: str, size: int) -> Hasher:
    """A hasher for ``algorithm``: :data:`GIT_BLOB` (which needs the size), a stored-blob name
    (:func:`stored_blob_name`, which carries its own) or any of hashing's."""
    if algorithm == GIT_BLOB:
        return GitBlobHasher(size)
    stored = _STORED_BLOB_NAME.fullmatch(algorithm)
    if stored is not None:
        return GitStoredBlobHasher(int(stored.group(2)), auto=stored.group(1) == "auto")
    return new_hasher(algorithm)


def algorithms_for(address: Optional[ContentAddress]) -> Tuple[str, ...]:
    """The digests :func:`check_file_against` needs for ``address``, all from the one read."""
    if address is None:
        return ()
    wanted = [address.algorithm]
    if address.pointer_blob_id is not None:
        wanted.append(GIT_BLOB)
    stored = stored_blob_algorithm(address)
    if stored is not None:
        wanted.append(stored)
    return tuple(dict.fromkeys(wanted))


def content_digests(
    path: Path,
    algorithms: Sequence[str],
    *,
    on_progress: Optional[ProgressCallback] = None,
    chunk_size: int = CHUNK_SIZE,
) -> Dict[str, str]:
    """Hex digests of a file (SHA-256, git blob id, MD5, ...), all from one read."""
    # Regular files only, opened without blocking: a download's file may have been swapped
    # for a FIFO or a device since it was planned.
    return hash_file(
        path,
        algorithms,
        on_progress=on_progress,
        chunk_size=chunk_size,
        new=new_digest_hasher,
        regular_only=True,
    )


def git_stored_blob_id(path: Path, stored_size: Optional[int] = None, *, auto: bool = False) -> str:
    """The blob id of a file as git stores it with ``text`` (CRLF read as LF), streamed.

    With the committed blob's ``stored_size`` this is one read, and a file whose converted size
    differs gives ``"size N"``; without it, a first read counts the converted bytes. With
    ``auto``, a file git's ``text=auto`` test calls binary gives :data:`STORED_AS_IS`.
    """
    if stored_size is None:
        counter = _ConvertedCounter()
        with path.open("rb", buffering=0) as source:
            size = os.fstat(source.fileno()).st_size
            pump(source, [Consumer(counter.update)], expected_size=size)
        stored_size = counter.finish()
    name = stored_blob_name(stored_size, auto=auto)
    return content_digests(path, [name])[name]


class _ConvertedCounter:
    """How many bytes a file has once every CRLF is read as LF."""

    def __init__(self) -> None:
        self._count = 0
        self._held_cr = False

    def update(self, data: memoryview) -> None:
        chunk = (b"\r" if self._held_cr else b"") + bytes(data)
        self._held_cr = chunk.endswith(b"\r")
        self._count += len(chunk) - chunk.count(b"\r\n") - (1 if self._held_cr else 0)

    def finish(self) -> int:
        return self._count + (1 if self._held_cr else 0)


@dataclass(frozen=True)
class AddressCheck:
    """The verdict on one file against its content address."""

    status: str
    method: str
    expected: str
    actual: Optional[str] = None
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status == Status.OK


def check_file_against(
    address: ContentAddress,
    digests: Mapping[str, str],
    *,
    size: Optional[int] = None,
    path: Optional[Path] = None,
) -> AddressCheck:
    """Turn computed digests (from :func:`content_digests`) into a verdict with a one-line detail.

    ``size`` (the file's size) lets a known expected size explain a mismatch. A file git
    converts on checkout (line endings) is compared as git would store it: OK when git would
    call it unchanged, FAILED when the content differs, given the committed blob's size in the
    address and the stored-blob digest from :func:`algorithms_for` (or ``path`` to read it
    again). Without the committed size, or for other conversions, a file that differs is "not
    verified", never FAILED.
    """
    actual = digests.get(address.algorithm)
    if actual is None:
        raise ValueError(f"no {address.algorithm} digest computed for a {address.kind} address")
    if address.kind == AddressKind.GIT_BLOB_ID and address.conversion in (
        EOL_CONVERSION,
        EOL_AUTO_CONVERSION,
    ):
        return _line_endings_verdict(address, digests, actual, path)
    if actual == address.hexdigest:
        return AddressCheck(Status.OK, address.kind, address.hexdigest, actual)
    if address.pointer_blob_id is not None and digests.get(GIT_BLOB) == address.pointer_blob_id:
        return AddressCheck(
            Status.FAILED,
            address.kind,
            address.hexdigest,
            actual,
            "the work tree holds the Git LFS pointer, not the file; run git lfs pull",
        )
    if address.conversion is not None:
        return AddressCheck(
            Status.NOT_VERIFIED,
            address.kind,
            address.hexdigest,
            actual,
            f"not verified ({address.conversion}): git changes this file on checkout",
        )
    return AddressCheck(
        Status.FAILED, address.kind, address.hexdigest, actual, _mismatch_detail(address, size)
    )


def _line_endings_verdict(
    address: ContentAddress, digests: Mapping[str, str], actual: str, path: Optional[Path]
) -> AddressCheck:
    """OK exactly when git would call the file unchanged: its content, converted as git
    converts it on commit, is the committed blob."""
    auto = address.conversion == EOL_AUTO_CONVERSION
    expected = address.hexdigest

    def verdict(status: str, detail: str) -> AddressCheck:
        return AddressCheck(status, address.kind, expected, actual, detail)

    if auto and actual == expected:
        # With text=auto git leaves binary files and files committed with CRLF as they are.
        return verdict(Status.OK, "")
    name = stored_blob_algorithm(address)
    stored = digests.get(name) if name is not None else None
    if stored is None and path is not None:
        try:
            stored = git_stored_blob_id(path, address.size, auto=auto)
        except (OSError, InputError):
            stored = None
    if stored == expected:
        converted = "line endings converted by git, content as committed"
        return verdict(Status.OK, "" if actual == expected else converted)
    if actual == expected:
        return verdict(
            Status.NOT_VERIFIED,
            "the committed content, but committed with CRLF line endings that git's text "
            "attribute reads as LF: git calls it modified",
        )
    if stored is None or address.size is None:
        return verdict(
            Status.NOT_VERIFIED,
            f"not verified ({address.conversion}): git changes this file on checkout",
        )
    what = f"does not match its {address.kind} ({address.source})"
    if stored == STORED_AS_IS:
        what += " as is, and git does not convert its line endings: binary to git (text=auto)"
    elif stored.startswith("size "):
        what += (
            f", even with CRLF read as LF as git stores it: {stored[5:]} bytes where the "
            f"commit has {address.size}"
        )
    else:
        what += ", even with CRLF read as LF as git stores it"
    return verdict(Status.FAILED, what + ": download it again")


def _mismatch_detail(address: ContentAddress, size: Optional[int]) -> str:
    what = f"does not match its {address.kind} ({address.source})"
    if address.size is not None and size is not None and size != address.size:
        what += f", {size} bytes where {address.size} were downloaded"
    if address.modified_after_download is not None:
        seconds = round(address.modified_after_download)
        what += f"; modified {seconds} s after its download"
        return what + ", so it is not the downloaded file any more: download it again"
    return what + ": download it again"
