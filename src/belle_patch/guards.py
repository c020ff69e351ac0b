"""Checks and locks around output folders: free space, and one writer per output file."""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path
from typing import Iterator

from .errors import OutputError
from .state import STATE_FOLDER, exclusive_lock
from .units import format_bytes

LOCK_FOLDER = "locks"


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
def output_lock(folder: Path, name: str) -> Iterator[None]:
    """Hold the lock on ``folder/name``; a second run waits here until the first is done."""
    locks = folder / STATE_FOLDER / LOCK_FOLDER
    with contextlib.ExitStack() as held:
        # A folder that takes no lock files still takes outputs; the rename stays atomic.
        with contextlib.suppress(OSError):
            locks.mkdir(parents=True, exist_ok=True)
            held.enter_context(exclusive_lock(locks / f"{name}.lock"))
        yield
