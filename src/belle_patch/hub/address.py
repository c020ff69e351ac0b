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

from belle_patch.errors import InputError
from belle_patch.stream.engine import Consumer, ProgressCallback, pump
from belle_patch.stream.hashing import Hasher, hash_file, new_hasher
from belle_patch.stream.keystream import CHUNK_SIZE
from belle_patch.vocabulary import AddressKind, DigestKind, Status

# The algorithm name under which a git blob id appears among computed digests.
GIT_BLOB = "git-blob-sha1"

# What git may do to a file between its blob and the work tree (ContentAddress.conversion).
# EOL_CONVERSION: git stores the file with every CRLF read as LF (``text``, ``eol``).
# EOL_AUTO_CONVERSION: the same, unless git's own test calls the file binary (``text=auto``,
# ``core.autocrlf``). For both, ``ContentAddress.size`` is the committed blob's size.
EOL_CONVERSION = "line endings"
EOL_AUTO_CONVERSION = "line endings (text=auto)"
OTHER_CONVERSION = "converted by git on checkout"
# The digest name prefix of a file's blob id as git would store it (CRLF read as LF): the
# full name also carries the mode and the committed size, which the blob header needs first.
GIT_STORED_BLOB = "git-blob-sha1-stored"
_STORED_BLOB_NAME = re.compile(rf"{GIT_STORED_BLOB}:(text|auto):(0|[1-9][0-9]{{0,17}})")
# What a stored-blob digest holds instead of an id: git would not convert this file, or the
# converted content has another size than the commit's blob (then no id can match).
STORED_AS_IS = "binary to git: stored as is"

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


# Control bytes git's text test counts as printable: backspace, tab, escape, form feed. CR and
# LF count as neither; every other byte below 32, and DEL, is non-printable.
_PRINTABLE_CONTROLS = b"\b\t\x1b\x0c"
_NONPRINTABLE = bytes(
    1 if (byte < 32 and byte not in _PRINTABLE_CONTROLS + b"\r\n") or byte == 127 else 0
    for byte in range(256)
)


class GitStoredBlobHasher:
    """The blob id of a file as git would store it with CRLF read as LF, fed chunk by chunk.

    ``stored_size`` is the committed blob's size: the header needs a size before the content,
    and a converted file of any other size cannot match, whatever its id. With ``auto``, git's
    own test for ``text=auto`` runs on the same bytes (NUL bytes, a CR not followed by LF, or
    more than one non-printable byte per 128 printable ones make a file binary) and a binary
    file is not converted: the digest is then :data:`STORED_AS_IS`. A size that differs gives
    ``"size N"`` instead of an id. Memory stays at a few chunks whatever the file size.
    """

    def __init__(self, stored_size: int, *, auto: bool) -> None:
        self._stored_size = stored_size
        self._auto = auto
        self._sha1: Hasher = hashlib.sha1(b"blob %d\0" % stored_size, usedforsecurity=False)
        self._written = 0
        self._held_cr = False  # a CR ending the last chunk: a CRLF may straddle the boundary
        self._binary = False
        self._read = 0
        self._carriage_returns = 0
        self._line_feeds = 0
        self._nonprintable = 0
        self._last = -1

    def update(self, data: bytes | memoryview, /) -> None:
        if self._binary or not data:
            return
        chunk = bytes(data)
        if self._auto:
            self._gather(chunk)
            if self._binary:
                return
        if self._held_cr:
            chunk = b"\r" + chunk
        self._held_cr = chunk.endswith(b"\r")
        converted = chunk.replace(b"\r\n", b"\n")
        if self._held_cr:
            converted = converted[:-1]
        if self._auto and b"\r" in converted:
            # Every CR left was not followed by LF: binary to git, whatever follows.
            self._binary = True
            return
        self._write(converted)

    def _gather(self, chunk: bytes) -> None:
        self._read += len(chunk)
        self._carriage_returns += chunk.count(b"\r")
        self._line_feeds += chunk.count(b"\n")
        self._nonprintable += chunk.translate(_NONPRINTABLE).count(1)
        self._last = chunk[-1]
        if b"\0" in chunk:
            self._binary = True

    def _write(self, converted: bytes) -> None:
        self._written += len(converted)
        if self._written <= self._stored_size:
            self._sha1.update(converted)

    def _finish(self) -> None:
        if self._binary:
            return
        if self._held_cr:
            self._held_cr = False
            self._write(b"\r")
            if self._auto:
                self._binary = True  # the file ends in a CR: a lone one
                return
        if not self._auto:
            return
        nonprintable = self._nonprintable - (1 if self._last == 0x1A else 0)  # DOS EOF mark
        printable = self._read - self._nonprintable - self._carriage_returns - self._line_feeds
        if (printable >> 7) < nonprintable:
            self._binary = True

    def hexdigest(self) -> str:
        self._finish()
        if self._binary:
            return STORED_AS_IS
        if self._written != self._stored_size:
            return f"size {self._written}"
        return self._sha1.hexdigest()

    def digest(self) -> bytes:
        return self.hexdigest().encode()


def stored_blob_name(stored_size: int, *, auto: bool) -> str:
    """The digest name of a file's blob id as git would store it (:class:`GitStoredBlobHasher`)."""
    return f"{GIT_STORED_BLOB}:{'auto' if auto else 'text'}:{stored_size}"


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
    return hash_file(
        path, algorithms, on_progress=on_progress, chunk_size=chunk_size, new=new_digest_hasher
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
