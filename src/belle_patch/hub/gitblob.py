"""Git's blob ids, computed chunk by chunk like a hashlib object, and the digest names they go by.

:class:`GitBlobHasher` gives the id of a file as it is (SHA-1 of ``b"blob <size>\\0"`` +
content); :class:`GitStoredBlobHasher` the id of a file as git would store it with CRLF read
as LF, with git's own binary test for ``text=auto``.
"""

from __future__ import annotations

import hashlib
import re

from belle_patch.errors import InputError
from belle_patch.stream.hashing import Hasher

# The algorithm name under which a git blob id appears among computed digests.
GIT_BLOB = "git-blob-sha1"
# The digest name prefix of a file's blob id as git would store it (CRLF read as LF): the
# full name also carries the mode and the committed size, which the blob header needs first.
GIT_STORED_BLOB = "git-blob-sha1-stored"
_STORED_BLOB_NAME = re.compile(rf"{GIT_STORED_BLOB}:(text|auto):(0|[1-9][0-9]{{0,17}})")
# What a stored-blob digest holds instead of an id: git would not convert this file, or the
# converted content has another size than the commit's blob (then no id can match).
STORED_AS_IS = "binary to git: stored as is"


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
