"""The rules of the ``.belle-patch`` state folder: a real folder, never a symbolic link, entered
under a lock; and, per output folder, the one-line problem that made its state be ignored.

:func:`last_problem` tells what went wrong, in one line; :func:`created_here` whether this
process made a folder.
"""

from __future__ import annotations

import contextlib
import os
import stat
import threading
import time
from pathlib import Path
from typing import Dict, Iterator, Optional, Set

from belle_patch.output.locking import is_link, lock_file

STATE_FOLDER = ".belle-patch"


class StateProblem(Exception):
    """Something in the state folder is not as belle-patch leaves it; the text says what."""


_guard = threading.RLock()
_problems: Dict[str, str] = {}
_created: Set[str] = set()


def _key(folder: Path) -> str:
    return os.path.abspath(folder)


def last_problem(folder: Path, *, forget: bool = False) -> Optional[str]:
    """One line on why the state of ``folder`` was last ignored or left unchanged, or None.

    Kept until asked for with ``forget``, so a caller can show it once at the end of a run.
    """
    with _guard:
        if forget:
            return _problems.pop(_key(folder), None)
        return _problems.get(_key(folder))


def _note(folder: Path, problem: str) -> None:
    with _guard:
        _problems[_key(folder)] = problem


def _describe(exc: BaseException, path: Path) -> str:
    if isinstance(exc, StateProblem):
        return str(exc)
    if isinstance(exc, OSError):
        return f"{exc.filename or path}: {exc.strerror or exc}"
    return f"{path}: {exc}"


def plain_folder(path: Path, *, create: bool) -> bool:
    """True if ``path`` is a folder and not a symlink (created first if ``create``).

    False if it is missing and not to be created; StateProblem if something else is there.
    """
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        if not create:
            return False
        try:
            os.mkdir(path)
            with _guard:
                _created.add(_key(path))
        except FileExistsError:
            pass
        info = os.lstat(path)
    if is_link(info):
        raise StateProblem(f"{path} is a symbolic link, which belle-patch does not follow")
    if not stat.S_ISDIR(info.st_mode):
        raise StateProblem(f"{path} is not a folder")
    return True


def created_here(path: Path) -> bool:
    """Whether this process created the folder ``path`` (through :func:`plain_folder`)."""
    with _guard:
        return _key(path) in _created


def state_folder(folder: Path, *, create: bool) -> Optional[Path]:
    """``folder/.belle-patch`` if it is a real folder; None if it is missing."""
    state_dir = folder / STATE_FOLDER
    return state_dir if plain_folder(state_dir, create=create) else None


@contextlib.contextmanager
def exclusive_lock(lock_path: Path, *, patience: Optional[float] = None) -> Iterator[None]:
    """Hold an exclusive lock on ``lock_path`` (created if missing); others wait.

    With ``patience`` (seconds), a wait that lasts longer raises StateProblem.
    """
    waiting = None
    if patience is not None:
        deadline = time.monotonic() + patience

        def waiting() -> None:
            if time.monotonic() > deadline:
                raise StateProblem(f"{lock_path} stayed locked by another run")

    with lock_file(lock_path, waiting=waiting):
        yield
