"""What a download's layout says about its files, and the list of checks that follows from it."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from types import MappingProxyType
from typing import Dict, List, Mapping, Optional, Tuple

from .address import FAILED, MISSING, NOT_VERIFIED, ContentAddress

CACHE_SNAPSHOT = "cache snapshot"
LOCAL_DIR = "--local-dir download"
GIT_CLONE = "git clone"

# Folders a layout keeps its own bookkeeping in: never files of the download.
BOOKKEEPING = (".git", ".cache/huggingface")

NO_ADDRESS = "not part of the download: no content address"


@dataclass(frozen=True)
class EntryFailure:
    """A file that fails before any hashing: ``status`` is FAILED or MISSING."""

    status: str
    problem: str
    hint: str = ""

    @property
    def detail(self) -> str:
        return f"{self.problem}; {self.hint}" if self.hint else self.problem


def _frozen(mapping: Optional[Mapping[str, object]]) -> Mapping[str, object]:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True)
class AddressBook:
    """Every file a download's layout knows about, by relative POSIX path.

    ``addresses``: files with a content address. ``unaddressed``: files the layout knows but
    cannot give an address for, with the reason (they are "not verified"). ``failed``: files
    that fail before any hashing (a link out of the cache, a missing blob). ``notes``: one-line
    remarks for the user (git missing, a repository git refuses, ...).
    """

    layout: str
    root: Path
    revision: Optional[str] = None
    repo_id: Optional[str] = None
    addresses: Mapping[str, ContentAddress] = field(default_factory=dict)
    unaddressed: Mapping[str, str] = field(default_factory=dict)
    failed: Mapping[str, EntryFailure] = field(default_factory=dict)
    notes: Tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # Read-only views, so a shared book cannot be changed by one of its users.
        object.__setattr__(self, "addresses", _frozen(self.addresses))
        object.__setattr__(self, "unaddressed", _frozen(self.unaddressed))
        object.__setattr__(self, "failed", _frozen(self.failed))

    def address_of(self, name: str) -> Optional[ContentAddress]:
        return self.addresses.get(name)

    @property
    def description(self) -> str:
        """Which download this is: layout, repo and revision when known."""
        what = self.layout
        if self.repo_id:
            what += f" of {self.repo_id}"
        if self.revision:
            what += f" at {self.revision[:12]}"
        return what

    @property
    def summary(self) -> str:
        """One line for the user: which download this is and how many files have an address."""
        count = len(self.addresses)
        return f"{self.description}: {count} file{'' if count == 1 else 's'} with a content address"


@dataclass(frozen=True)
class PlannedFile:
    """One file to check: hash it against ``address`` when ``status`` is empty; otherwise
    ``status`` (FAILED, MISSING, NOT VERIFIED) and ``detail`` are its verdict already and the
    file must not be read."""

    name: str
    path: Path
    address: Optional[ContentAddress] = None
    status: str = ""
    detail: str = ""

    @property
    def to_hash(self) -> bool:
        return not self.status


def is_bookkeeping(name: str) -> bool:
    """True for paths inside ``.git/`` or ``.cache/huggingface/``."""
    return any(name == folder or name.startswith(folder + "/") for folder in BOOKKEEPING)


def files_under(root: Path) -> Dict[str, Path]:
    """Every file under ``root`` by relative POSIX path, links included but not followed,
    bookkeeping folders left out. Links to folders are listed as files (and not entered)."""
    found: Dict[str, Path] = {}
    for folder, dirnames, filenames in os.walk(root, followlinks=False):
        base = Path(folder)
        relative = PurePosixPath(base.relative_to(root).as_posix())
        kept = []
        for dirname in sorted(dirnames):
            name = (relative / dirname).as_posix()
            if is_bookkeeping(name):
                continue
            if (base / dirname).is_symlink():
                found[name] = base / dirname
            else:
                kept.append(dirname)
        dirnames[:] = kept
        for filename in sorted(filenames):
            name = (relative / filename).as_posix()
            if not is_bookkeeping(name):  # .git is a file in worktrees and submodules
                found[name] = base / filename
    return dict(sorted(found.items()))


def plan_checks(book: AddressBook, folder: Optional[Path] = None) -> List[PlannedFile]:
    """Every file to report on: the book's entries and every other file in the folder.

    Files in the folder the book does not know are "not verified", never OK; files the book
    gives an address for that are not in the folder are MISSING.
    """
    root = folder if folder is not None else book.root
    present = files_under(root)
    planned: Dict[str, PlannedFile] = {}
    for name, failure in book.failed.items():
        planned[name] = PlannedFile(name, root / name, None, failure.status, failure.detail)
    for name, reason in book.unaddressed.items():
        if name in present or os.path.lexists(root / name):
            planned[name] = PlannedFile(name, root / name, None, NOT_VERIFIED, reason)
    for name, address in book.addresses.items():
        path = present.get(name, root / name)
        if not os.path.lexists(path):
            detail = f"named by the {book.layout} but not in the folder; download it again"
            planned[name] = PlannedFile(name, path, address, MISSING, detail)
        elif not path.is_file():
            detail = "not a regular file"
            planned[name] = PlannedFile(name, path, address, FAILED, detail)
        else:
            planned[name] = PlannedFile(name, path, address)
    for name, path in present.items():
        if name not in planned:
            planned[name] = PlannedFile(name, path, None, NOT_VERIFIED, NO_ADDRESS)
    return [planned[name] for name in sorted(planned)]
