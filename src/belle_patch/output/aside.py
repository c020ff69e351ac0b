"""Moving a file out of a download's reach without following a link, never over anything.

Every path inside a download is taken as written by an attacker. Each folder on the way is
opened from its parent's descriptor with ``O_NOFOLLOW`` (a linked one stops the move), an
entry is renamed by its name within folders opened so (a link is moved as a link, never
followed), and it goes into a ``RUN`` folder made new for the run (``YYYYMMDDTHHMMSSZ-RANDOM``),
where nothing can already stand: nothing is overwritten, nothing deleted. On Linux the rename
itself refuses to replace anything (``renameat2`` with ``RENAME_NOREPLACE``); elsewhere, and on
file systems without that flag, the name is checked free just before the rename.
"""

from __future__ import annotations

import ctypes
import errno
import os
import secrets
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, List, Optional, Sequence, Tuple, cast

_FOLDER_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_DIRECTORY", 0)
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
)
# Every step works on folders opened without following links: a system that cannot open,
# make, look up and rename relative to a folder descriptor (Windows) moves nothing.
_BY_DESCRIPTOR = {os.open, os.mkdir, os.stat, os.rename, os.readlink} <= os.supports_dir_fd


class NotMovedError(Exception):
    """Why one path is left where it is, in a few words."""


class Folders:
    """Open folder descriptors, each reached from its parent without following a link. Those
    opened inside :meth:`scope` are closed when it ends (one file's folders at a time: a
    thousand failed files must not hold a thousand descriptors)."""

    def __init__(self) -> None:
        self._scopes: List[List[int]] = [[]]

    def __enter__(self) -> Folders:
        return self

    def __exit__(self, *exc: object) -> None:
        while self._scopes:
            self._close(self._scopes.pop())

    @staticmethod
    def _close(descriptors: List[int]) -> None:
        for descriptor in reversed(descriptors):
            os.close(descriptor)

    @contextmanager
    def scope(self) -> Iterator[None]:
        self._scopes.append([])
        try:
            yield
        finally:
            self._close(self._scopes.pop())

    def _keep(self, descriptor: int) -> int:
        self._scopes[-1].append(descriptor)
        return descriptor

    def top(self, path: Path) -> int:
        """The folder the user named (a link to it is the user's own choice)."""
        if not _BY_DESCRIPTOR:
            raise NotMovedError("this system cannot move files without following links: not moved")
        try:
            return self._keep(os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)))
        except OSError as exc:
            raise NotMovedError(f"{path} cannot be opened ({exc.strerror or exc})") from None

    def child(self, parent: int, name: str) -> int:
        """``name`` in ``parent``: a real folder, never a link."""
        try:
            return self._keep(os.open(name, _FOLDER_FLAGS, dir_fd=parent))
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
                raise NotMovedError(f"{name} is a link or not a folder: not followed") from None
            raise NotMovedError(f"{name} cannot be opened ({exc.strerror or exc})") from None

    def made(self, parent: int, name: str) -> int:
        """``name`` in ``parent``, made when absent; an existing link is refused."""
        try:
            os.mkdir(name, 0o700, dir_fd=parent)
        except FileExistsError:
            pass
        except OSError as exc:
            raise NotMovedError(f"{name} cannot be made ({exc.strerror or exc})") from None
        return self.child(parent, name)

    def walk(self, start: int, names: Sequence[str], *, make: bool = False) -> int:
        """The folder ``start/NAMES...``, each part a real folder (made when absent)."""
        folder = start
        for name in names:
            folder = self.made(folder, name) if make else self.child(folder, name)
        return folder

    def fresh(self, parent: int) -> Tuple[str, int]:
        """A new folder no earlier run used: ``YYYYMMDDTHHMMSSZ-RANDOM``."""
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        for _ in range(8):
            name = f"{stamp}-{secrets.token_hex(4)}"
            try:
                os.mkdir(name, 0o700, dir_fd=parent)
            except FileExistsError:
                continue
            except OSError as exc:
                raise NotMovedError(f"no folder can be made to keep it ({exc.strerror})") from None
            return name, self.child(parent, name)
        raise NotMovedError("no new folder could be made to keep it")


@dataclass
class Place:
    """A kept-aside folder ``TOP/NAMES.../RUN``: ``RUN`` is made on the first move into it,
    and the folders are opened again, from ``top``, for each move (inside its scope)."""

    top: int
    top_path: Path
    names: Tuple[str, ...]
    gitignore: bool = False
    run_name: Optional[str] = None

    def open(self, folders: Folders) -> Tuple[int, Path]:
        folder = folders.walk(self.top, self.names, make=True)
        if self.run_name is None:
            if self.gitignore:
                write_gitignore(folder)
            self.run_name, run = folders.fresh(folder)
        else:
            run = folders.child(folder, self.run_name)
        return run, self.top_path.joinpath(*self.names, self.run_name)


def write_gitignore(folder: int) -> None:
    """``*`` in a new ``.gitignore``, so that git status stays clean; an existing one (or
    anything by that name) is left as it is."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        descriptor = os.open(".gitignore", flags, 0o644, dir_fd=folder)
    except OSError:
        return
    try:
        os.write(descriptor, b"*\n")
    finally:
        os.close(descriptor)


def _exists(name: str, folder: int) -> bool:
    try:
        os.stat(name, dir_fd=folder, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


def _renameat2() -> Optional[Callable[..., int]]:
    """Linux's ``renameat2`` (glibc 2.28 and newer), which the standard library lacks."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        found = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return None
    found.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    found.restype = ctypes.c_int
    return cast("Callable[..., int]", found)


_RENAMEAT2 = _renameat2()
_RENAME_NOREPLACE = 1


def _rename_no_replace(name: str, source: int, new_name: str, target: int) -> None:
    """Rename, failing with FileExistsError if ``new_name`` is there, even when it appears
    between the check and the rename where the system can say so (``RENAME_NOREPLACE``)."""
    if _RENAMEAT2 is not None:
        done = _RENAMEAT2(
            source, os.fsencode(name), target, os.fsencode(new_name), _RENAME_NOREPLACE
        )
        if done == 0:
            return
        code = ctypes.get_errno()
        if code not in (errno.EINVAL, errno.ENOSYS, errno.EPERM):  # flag not supported here
            raise OSError(code, os.strerror(code))
    if _exists(new_name, target):
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST))
    os.rename(name, new_name, src_dir_fd=source, dst_dir_fd=target)


def move_entry(folders: Folders, source: int, name: str, place: Place, kept_name: str) -> Path:
    """Move the entry ``name`` of folder ``source`` (itself, never what a link names) to
    ``kept_name`` in the place's run folder; never over anything."""
    run_fd, run_path = place.open(folders)
    parts = kept_name.split("/")
    target = folders.walk(run_fd, parts[:-1], make=True)
    try:
        _rename_no_replace(name, source, parts[-1], target)
    except FileExistsError:
        raise NotMovedError(f"{run_path / kept_name} is already there: never overwritten") from None
    except OSError as exc:
        raise NotMovedError(f"it cannot be moved ({exc.strerror or exc})") from None
    return run_path / kept_name


def entry_mode(name: str, folder: int) -> int:
    """The ``lstat`` mode of ``name`` in ``folder`` (0 when there is none)."""
    try:
        return os.stat(name, dir_fd=folder, follow_symlinks=False).st_mode
    except FileNotFoundError:
        return 0
    except OSError as exc:
        raise NotMovedError(f"{name} cannot be looked at ({exc.strerror or exc})") from None


__all__ = ["Folders", "NotMovedError", "Place", "entry_mode", "move_entry", "write_gitignore"]
