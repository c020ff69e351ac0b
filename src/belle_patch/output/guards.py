"""Checks and locks around output folders: free space, and one writer per output file."""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import Callable, Iterator, Optional

from belle_patch.errors import OutputError
from belle_patch.output import state_rules
from belle_patch.output.locking import lock_file
from belle_patch.units import format_bytes

LOCK_FOLDER = "locks"
# Another run may remove an empty locks folder between our mkdir and our open.
_LOCK_ATTEMPTS = 100


def check_free_space(folder: Path, needed: int) -> None:
    """Refuse a batch that cannot fit, before it writes anything."""
    free = shutil.disk_usage(folder).free
    if needed > free:
        raise OutputError(
            f"not enough free space: the batch writes {format_bytes(needed)} "
            f"and the folder's file system has {format_bytes(free)} free",
            path=folder,
            hint="free some space or choose another folder with --out "
            "(--no-space-check skips this check)",
        )


@contextlib.contextmanager
def output_lock(
    folder: Path, name: str, *, waiting: Optional[Callable[[], None]] = None
) -> Iterator[None]:
    """Hold the lock on ``folder/name``; a second run waits here until the first is done.

    ``waiting`` is called about every 50 ms while another run holds the lock; an exception
    it raises ends the wait (and leaves this block). The lock file is removed on release
    where the system allows (:func:`remove_empty_state_folders` then tidies up at the end of
    a run). A folder that takes no lock files (or whose state folder is a symlink or
    otherwise odd) still takes outputs: the staged rename stays atomic.
    """
    with contextlib.ExitStack() as held:
        for attempt in range(_LOCK_ATTEMPTS):
            try:
                state_dir = state_rules.state_folder(folder, create=True)
                assert state_dir is not None
                locks = state_dir / LOCK_FOLDER
                state_rules.plain_folder(locks, create=True)
                held.enter_context(lock_file(locks / f"{name}.lock", waiting=waiting, remove=True))
            except FileNotFoundError:
                if attempt + 1 < _LOCK_ATTEMPTS:
                    continue
            except (OSError, state_rules.StateProblem):
                pass
            break
        yield


def remove_empty_state_folders(folder: Path) -> None:
    """Remove ``.belle-patch/locks`` if empty, and ``.belle-patch`` if empty and made here.

    For the end of a run, so that a run that restored nothing leaves no trace ("made here"
    means by this process). Never raises.
    """
    state_dir = folder / state_rules.STATE_FOLDER
    with contextlib.suppress(OSError, state_rules.StateProblem):
        if state_rules.plain_folder(state_dir, create=False):
            locks = state_dir / LOCK_FOLDER
            if state_rules.plain_folder(locks, create=False):
                os.rmdir(locks)  # fails unless empty
            if state_rules.created_here(state_dir):
                os.rmdir(state_dir)
