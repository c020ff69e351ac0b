"""Reading the small files a download keeps about itself, as if an attacker wrote them.

Everything inside a downloaded folder may have been made by someone else: a metadata file can
be a FIFO (opening it blocks for ever), a device (``/dev/zero`` never ends), a link out of the
folder, or a gigabyte of text. :func:`read_small_file` opens without following a final link and
without blocking, accepts only a regular file, and never reads past its cap.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import Dict, Optional, Union

# What a ``--local-dir`` metadata file or a ``refs/`` file holds: a few short lines.
SMALL_FILE_LIMIT = 4096


class RefusedFile(OSError):
    """A file inside a download that is not read: not a regular file, a link, or too large."""

    def __init__(self, path: Union[str, Path], reason: str, *, too_large: bool = False) -> None:
        super().__init__(errno.EINVAL, reason, str(path))
        self.reason = reason
        self.too_large = too_large


def is_inside(path: Union[str, Path], root: Union[str, Path]) -> bool:
    """True if ``path``, every link resolved, lies inside ``root`` (also resolved)."""
    real_root = os.path.realpath(root)
    real = os.path.realpath(path)
    return real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep)


def realpath_from(real_start: str, relative: str) -> str:
    """``realpath(join(START, relative))`` given ``real_start``, the realpath of START: the
    same answer without looking at every part of START again (each part of ``relative`` is
    looked at, and a link met there is resolved by ``realpath`` itself)."""
    if os.name != "posix" or os.path.isabs(relative):
        return os.path.realpath(os.path.join(real_start, relative))
    path = real_start
    parts = relative.split("/")
    for index, part in enumerate(parts):
        if part in ("", "."):
            continue
        if part == "..":  # path holds no link (it is real_start's): ".." is its parent
            path = path.rpartition("/")[0] or "/"
            continue
        step = os.path.join(path, part)
        if os.path.islink(step):
            return os.path.realpath(os.path.join(step, *parts[index + 1 :]))
        path = step
    return path


class LinkFolders:
    """Where the links of one walk of a download lead: the realpath of each folder links are
    read from is looked at once, each link's own text per link, part by part."""

    def __init__(self) -> None:
        self._known: Dict[str, str] = {}

    def parent_of(self, link: Union[str, Path], target: str) -> str:
        """The folder a link with text ``target`` leads into as the system resolves it (``..``
        after a linked folder included), the last part not followed."""
        folder = os.path.dirname(os.fspath(link))
        real = self._known.get(folder)
        if real is None:
            real = self._known[folder] = os.path.realpath(folder)
        return realpath_from(real, os.path.dirname(target) or ".")


def is_marked_folder(folder: Union[str, Path], marker: str, text: bytes) -> bool:
    """``folder`` is a folder itself (not a link) holding a small regular file ``marker`` that
    says exactly ``text``."""
    try:
        if not stat.S_ISDIR(os.lstat(folder).st_mode):
            return False
        return read_small_file(os.path.join(folder, marker), 64) == text
    except OSError:
        return False


def regular_file_size(path: Union[str, Path]) -> Optional[int]:
    """The size of ``path`` if it is a regular file itself (a link is not), else None."""
    try:
        info = os.lstat(path)
    except (OSError, ValueError):
        return None
    return info.st_size if stat.S_ISREG(info.st_mode) else None


def read_small_file(
    path: Union[str, Path], limit: int = SMALL_FILE_LIMIT, *, root: Union[str, Path, None] = None
) -> bytes:
    """The bytes of ``path``, a regular file of at most ``limit`` bytes.

    Raises :class:`RefusedFile` (an ``OSError``) for a link, a FIFO, a device, a folder, a file
    over ``limit`` or, with ``root``, a file whose parent folders lead out of ``root``; other
    ``OSError`` as the system reports it. Opening never blocks.
    """
    if root is not None and not is_inside(os.path.dirname(os.path.abspath(path)), root):
        raise RefusedFile(path, "its folder leads out of the download, not read")
    if regular_file_size(path) is None and os.path.lexists(path):
        # Checked before opening too, for systems without O_NOFOLLOW.
        raise RefusedFile(path, "not a regular file, not read")
    flags = os.O_RDONLY
    for name in ("O_NOFOLLOW", "O_NONBLOCK", "O_CLOEXEC", "O_BINARY", "O_NOCTTY"):
        flags |= getattr(os, name, 0)
    try:
        descriptor = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise RefusedFile(path, "a link, not read") from None
        raise
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            raise RefusedFile(path, "not a regular file, not read")
        if info.st_size > limit:
            raise RefusedFile(
                path, f"{info.st_size} bytes, over the {limit} such a file holds", too_large=True
            )
        chunks = []
        remaining = limit + 1
        while remaining > 0:
            chunk = os.read(descriptor, remaining)
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
        data = b"".join(chunks)
    finally:
        os.close(descriptor)
    if len(data) > limit:
        raise RefusedFile(path, f"over the {limit} bytes such a file holds", too_large=True)
    return data
