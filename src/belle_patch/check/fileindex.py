"""The files a check may look at: direct entries of folders, names in their subfolders
(``original/params.json``), and files given one by one."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import (
    Dict,
    List,
    Optional,
    Sequence,
    Tuple,
)

from belle_patch.errors import UsageError
from belle_patch.output import state_rules


@dataclass(frozen=True)
class FileIndex:
    """The files a check may look at: direct entries of folders, and files given one by one."""

    folders: Tuple[Path, ...]
    entries: Dict[str, Path] = field(default_factory=dict)

    def find(self, name: str) -> Optional[Path]:
        """The file a listed name stands for (it may not exist as a regular file).

        Raises UsageError when two of the given folders hold different files by this name.
        """
        found = self.entries.get(name)
        if found is not None or "/" not in name:
            return found
        for folder in self.folders:
            candidate = folder / name
            if os.path.lexists(candidate):
                if found is None:
                    found = candidate
                elif not same_file(found, candidate):
                    raise ambiguous_name_error(found, candidate)
        return found

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.find(name) is not None

    def names(self) -> List[str]:
        return list(self.entries)

    def has_files(self) -> bool:
        return any(not _is_folder(path) for path in self.entries.values())


def _is_folder(path: Path) -> bool:
    try:
        return stat.S_ISDIR(path.lstat().st_mode)
    except OSError:
        return False


def same_file(first: Path, second: Path) -> bool:
    return first == second or os.path.realpath(first) == os.path.realpath(second)


def ambiguous_name_error(first: Path, second: Path) -> UsageError:
    """Two given paths hold different files by the same name: which one a list means is
    unknowable, so neither is checked."""
    return UsageError(
        f"{first} and {second} have the same name, so a listed name cannot tell them apart",
        hint="verify them one at a time",
    )


def index_files(paths: Sequence[Path]) -> FileIndex:
    """Index ``paths``: folders by their direct entries, other paths by their own name.

    Two different files by the same name (in two folders, or given one by one) are a
    UsageError; the same file reached twice is indexed once.
    """
    found: Dict[str, Path] = {}
    folders: List[Path] = []

    def add(name: str, path: Path) -> None:
        known = found.setdefault(name, path)
        if not same_file(known, path):
            raise ambiguous_name_error(known, path)

    for path in paths:
        if path.is_dir():
            if any(same_file(path, folder) for folder in folders):
                continue
            folders.append(path)
            for entry in sorted(path.iterdir()):
                if entry.name != state_rules.STATE_FOLDER:
                    add(entry.name, entry)
        elif os.path.lexists(path):
            add(path.name, path)
        else:
            raise UsageError("no such file or folder", path=path)
    return FileIndex(tuple(folders), found)


def regular_size(path: Path) -> Optional[int]:
    """The size of a regular file (links followed); None for anything else or an error."""
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_size if stat.S_ISREG(info.st_mode) else None
