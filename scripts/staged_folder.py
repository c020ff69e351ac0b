"""Write a generated folder next to its target and put it in place only once it is complete.

The scripts regenerate data shipped in the package; a run that fails half way (bad input,
a crash, Ctrl-C) must leave the shipped folder as it was.
"""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


def check_target(target: Path) -> None:
    """Raise ValueError when target exists and is not a folder (nothing is changed)."""
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        raise ValueError(f"{target}: exists and is not a folder")


@contextmanager
def staged_folder(target: Path) -> Iterator[Path]:
    """Yield a new empty folder beside target; on a normal exit it replaces target.

    On an exception the new folder is removed and target is left untouched.
    """
    check_target(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.new-{os.getpid()}")
    retired = target.with_name(f".{target.name}.old-{os.getpid()}")
    for stale in (staging, retired):
        shutil.rmtree(stale, ignore_errors=True)
    staging.mkdir()
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    # Two renames: the old folder stays complete until the new one is in place.
    if target.exists():
        target.rename(retired)
    try:
        staging.rename(target)
    except OSError:
        if retired.exists():
            retired.rename(target)
        shutil.rmtree(staging, ignore_errors=True)
        raise
    shutil.rmtree(retired, ignore_errors=True)
