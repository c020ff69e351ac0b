"""Content addresses of Hugging Face downloads: what they are, how to compute them, the verdict.

Two kinds, told apart by length: 64 hex digits are the SHA-256 of the content (files kept with
LFS or Xet), 40 hex digits are the git blob id (SHA-1 of ``b"blob <size>\\0" + content``, files
kept in git itself). Both are computed from the same read as every other digest.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Mapping, Optional, Sequence, Tuple

from belle_patch.engine import Consumer, ProgressCallback, pump
from belle_patch.errors import InputError
from belle_patch.hashing import SHA256, Hasher, new_hasher
from belle_patch.keystream import CHUNK_SIZE

SHA256_LFS = "sha256 (LFS)"
GIT_BLOB_ID = "git blob id"
# The algorithm name under which a git blob id appears among computed digests.
GIT_BLOB = "git-blob-sha1"

OK = "OK"
FAILED = "FAILED"
MISSING = "MISSING"
NOT_VERIFIED = "NOT VERIFIED"

# What git may do to a file between its blob and the work tree (ContentAddress.conversion).
EOL_CONVERSION = "line endings"
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
        return SHA256 if self.kind == SHA256_LFS else GIT_BLOB


def address_from_hex(
    text: str, *, size: Optional[int] = None, source: str = ""
) -> Optional[ContentAddress]:
    """The address spelled by ``text`` (64 hex: SHA-256, 40 hex: git blob id), else None."""
    digest = text.strip().strip('"').lower()
    if _HEX64.fullmatch(digest):
        return ContentAddress(SHA256_LFS, digest, size, source)
    if _HEX40.fullmatch(digest):
        return ContentAddress(GIT_BLOB_ID, digest, size, source)
    return None


def parse_lfs_pointer(data: bytes) -> Optional[Tuple[str, int]]:
    """(sha256 hex, size) of a Git LFS pointer, or None if ``data`` is not one."""
    if len(data) >= LFS_POINTER_MAX or not data.startswith(LFS_VERSION_LINE):
        return None
    match = _LFS_POINTER.fullmatch(data)
    if match is None:
        return None
    return match.group("oid").decode(), int(match.group("size"))


class GitBlobHasher:
    """Git's blob id, fed like a hashlib object: SHA-1 of ``b"blob <size>\\0"`` + content.

    The header needs the size before the content, so it is given up front (the file's size
    from ``fstat``). If a different number of bytes was fed, the file changed while it was
    read and no id is given.
    """

    name = GIT_BLOB

    def __init__(self, size: int) -> None:
        self._size = size
        self._fed = 0
        self._sha1: Hasher = hashlib.sha1(b"blob %d\0" % size, usedforsecurity=False)

    def update(self, data: bytes | memoryview, /) -> None:
        self._fed += len(data)
        self._sha1.update(data)

    def _checked(self) -> Hasher:
        if self._fed != self._size:
            raise InputError(
                f"read {self._fed} bytes where the file had {self._size}",
                hint="the file changed while it was read; check it again",
            )
        return self._sha1

    def digest(self) -> bytes:
        return self._checked().digest()

    def hexdigest(self) -> str:
        return self._checked().hexdigest()


def git_blob_id(data: bytes) -> str:
    """The git blob id of ``data`` (as ``git hash-object`` prints it)."""
    hasher = GitBlobHasher(len(data))
    hasher.update(data)
    return hasher.hexdigest()


def new_digest_hasher(algorithm: str, size: int) -> Hasher:
    """A hasher for ``algorithm``: :data:`GIT_BLOB` (which needs the size) or any of hashing's."""
    if algorithm == GIT_BLOB:
        return GitBlobHasher(size)
    return new_hasher(algorithm)


def algorithms_for(address: Optional[ContentAddress]) -> Tuple[str, ...]:
    """The digests :func:`check_file_against` needs for ``address``."""
    if address is None:
        return ()
    if address.pointer_blob_id is not None:
        return (address.algorithm, GIT_BLOB)
    return (address.algorithm,)


def content_digests(
    path: Path,
    algorithms: Sequence[str] = (SHA256, GIT_BLOB),
    *,
    on_progress: Optional[ProgressCallback] = None,
    chunk_size: int = CHUNK_SIZE,
) -> Dict[str, str]:
    """Hex digests of a file (SHA-256, git blob id, MD5, ...), all from one read."""
    with path.open("rb", buffering=0) as source:
        size = os.fstat(source.fileno()).st_size
        hashers = {name: new_digest_hasher(name, size) for name in dict.fromkeys(algorithms)}
        pump(
            source,
            [Consumer(hasher.update) for hasher in hashers.values()],
            chunk_size=chunk_size,
            expected_size=size,
            on_progress=on_progress,
        )
    return {name: hasher.hexdigest() for name, hasher in hashers.items()}


def git_stored_blob_id(path: Path) -> str:
    """The blob id of a text file as git stores it: CRLF turned into LF (as ``text`` does)."""
    return git_blob_id(path.read_bytes().replace(b"\r\n", b"\n"))


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
        return self.status == OK


def check_file_against(
    address: ContentAddress,
    digests: Mapping[str, str],
    *,
    size: Optional[int] = None,
    path: Optional[Path] = None,
) -> AddressCheck:
    """Turn computed digests (from :func:`content_digests`) into a verdict with a one-line detail.

    ``size`` (the file's size) lets a known expected size explain a mismatch. ``path`` lets a
    file git converts on checkout be compared as git does (CRLF read as LF); without it such
    a file that differs is "not verified", never FAILED.
    """
    actual = digests.get(address.algorithm)
    if actual is None:
        raise ValueError(f"no {address.algorithm} digest computed for a {address.kind} address")
    if actual == address.hexdigest:
        return AddressCheck(OK, address.kind, address.hexdigest, actual)
    if address.pointer_blob_id is not None and digests.get(GIT_BLOB) == address.pointer_blob_id:
        return AddressCheck(
            FAILED,
            address.kind,
            address.hexdigest,
            actual,
            "the work tree holds the Git LFS pointer, not the file; run git lfs pull",
        )
    if address.conversion is not None:
        if address.conversion == EOL_CONVERSION and path is not None:
            try:
                if git_stored_blob_id(path) == address.hexdigest:
                    detail = "line endings converted by git, content as committed"
                    return AddressCheck(OK, address.kind, address.hexdigest, actual, detail)
            except OSError:
                pass
        return AddressCheck(
            NOT_VERIFIED,
            address.kind,
            address.hexdigest,
            actual,
            f"not verified ({address.conversion}): git changes this file on checkout",
        )
    return AddressCheck(
        FAILED, address.kind, address.hexdigest, actual, _mismatch_detail(address, size)
    )


def _mismatch_detail(address: ContentAddress, size: Optional[int]) -> str:
    what = f"does not match its {address.kind} ({address.source})"
    if address.size is not None and size is not None and size != address.size:
        what += f", {size} bytes where {address.size} were downloaded"
    if address.modified_after_download is not None:
        seconds = round(address.modified_after_download)
        what += f"; modified {seconds} s after its download"
        return what + ", so it is not the downloaded file any more: download it again"
    return what + ": download it again"
