"""What a download's layout says about its files, and the list of checks that follows from it."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from types import MappingProxyType
from typing import Dict, Iterator, List, Mapping, MutableMapping, Optional, Tuple

from belle_patch.hub.address import ContentAddress
from belle_patch.hub.listing import ListedFile, Listing
from belle_patch.hub.shards import INDEX_LIMIT, shards_named
from belle_patch.vocabulary import Status

CACHE_SNAPSHOT = "cache snapshot"
LOCAL_DIR = "--local-dir download"
GIT_CLONE = "git clone"

# Folders a layout keeps its own bookkeeping in: never files of the download.
BOOKKEEPING = (".git", ".cache/huggingface")

NO_ADDRESS = "not part of the download: no content address"

# What walk_download finds at a path (links are never followed).
REGULAR = "regular file"
LINK = "link"
FOLDER_LINK = "link to a folder"
OTHER = "not a regular file"


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
class Walk:
    """What the walk a book was made from found under ``root``: every file by relative POSIX
    path (links included, not followed; bookkeeping folders left out), as :func:`files_under`
    gives them, and the folders that could not be listed. :func:`plan_checks` uses it rather
    than walking the same folder a second time."""

    root: Path
    files: Mapping[str, Path]
    unreadable: Mapping[str, EntryFailure] = field(default_factory=dict)

    @classmethod
    def of(cls, root: Path, walked: Mapping[str, Path], failed: Mapping[str, EntryFailure]) -> Walk:
        """From everything :func:`walk_download` gave (``walked``) and recorded in ``failed``
        (the folders it could not list, and any file's failure): bookkeeping left out."""
        files = {name: walked[name] for name in sorted(walked) if not is_bookkeeping(name)}
        unreadable = {
            name: failure
            for name, failure in failed.items()
            if name not in walked and not is_bookkeeping(name)
        }
        return cls(root, files, unreadable)


@dataclass(frozen=True)
class AddressBook:
    """Every file a download's layout knows about, by relative POSIX path.

    ``addresses``: files with a content address. ``unaddressed``: files the layout knows but
    cannot give an address for, with the reason (they are "not verified"). ``failed``: files
    that fail before any hashing (a link out of the cache, a missing blob). ``notes``: one-line
    remarks for the user (git missing, a repository git refuses, ...). ``walk``: what the walk
    the book was made from found under ``root``, when it walked all of it (else None).
    """

    layout: str
    root: Path
    revision: Optional[str] = None
    repo_id: Optional[str] = None
    addresses: Mapping[str, ContentAddress] = field(default_factory=dict)
    unaddressed: Mapping[str, str] = field(default_factory=dict)
    failed: Mapping[str, EntryFailure] = field(default_factory=dict)
    notes: Tuple[str, ...] = ()
    listing: Optional[Listing] = None
    walk: Optional[Walk] = field(default=None, compare=False, repr=False)

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


def folder_entries(folder: Path) -> List[Tuple[str, int]]:
    """``(name, lstat mode)`` of a folder's entries, sorted by name; 0 for an entry that
    cannot be looked at (it is then neither a file nor a folder to enter)."""
    found = []
    with os.scandir(folder) as listing:
        for entry in listing:
            try:
                mode = entry.stat(follow_symlinks=False).st_mode
            except OSError:
                mode = 0
            found.append((entry.name, mode))
    return sorted(found)


def walk_download(
    root: Path, unreadable: MutableMapping[str, EntryFailure], *, skip_bookkeeping: bool = False
) -> Iterator[Tuple[str, Path, str]]:
    """``(relative POSIX name, path, kind)`` of everything under ``root``, sorted, links never
    followed (a link to a folder is reported as :data:`FOLDER_LINK`, not entered).

    A folder that cannot be listed (unreadable, too deep for the system's path limit) is
    recorded in ``unreadable`` as FAILED rather than silently left out. The walk keeps its
    own stack: a folder thousands of levels deep costs memory, never Python's recursion.
    """
    # Relative names are built as strings: an entry's name never holds "/" nor is "." or "..".
    pending: List[Tuple[str, Path]] = [(".", root)]
    while pending:
        relative, folder = pending.pop()
        try:
            entries = folder_entries(folder)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            unreadable[relative] = EntryFailure(
                Status.FAILED, f"this folder cannot be listed ({reason})"
            )
            continue
        subfolders = []
        prefix = "" if relative == "." else relative + "/"
        for entry_name, mode in entries:
            name = prefix + entry_name
            if skip_bookkeeping and is_bookkeeping(name):  # .git is a file in worktrees too
                continue
            path = folder / entry_name
            if stat.S_ISDIR(mode):
                subfolders.append((name, path))
            elif stat.S_ISLNK(mode):
                yield name, path, FOLDER_LINK if os.path.isdir(path) else LINK
            elif stat.S_ISREG(mode):
                yield name, path, REGULAR
            else:
                yield name, path, OTHER
        pending.extend(reversed(subfolders))


def files_under(
    root: Path, unreadable: Optional[MutableMapping[str, EntryFailure]] = None
) -> Dict[str, Path]:
    """Every file under ``root`` by relative POSIX path, links included but not followed,
    bookkeeping folders left out. Links to folders are listed as files (and not entered).
    Folders that cannot be listed go to ``unreadable``."""
    failures: MutableMapping[str, EntryFailure] = {} if unreadable is None else unreadable
    found = {name: path for name, path, _ in walk_download(root, failures, skip_bookkeeping=True)}
    return dict(sorted(found.items()))


def _parents_are_folders(root: Path, name: str) -> bool:
    """True if every folder between ``root`` and ``name`` is a real folder, not a link (which
    would lead the file's read anywhere)."""
    parent = PurePosixPath(name).parent
    if parent == PurePosixPath("."):
        return True
    return os.path.realpath(root / parent) == os.path.join(os.path.realpath(root), *parent.parts)


class _ParentFolders:
    """:func:`_parents_are_folders` for the files of one plan: the realpath of ``root`` and
    the answer for each parent folder looked at once per plan, not once per file (each
    file's own link is still looked at by its own checks)."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self._root_real: Optional[str] = None
        self._known: Dict[str, bool] = {}

    def __call__(self, name: str) -> bool:
        if "/" not in name:
            return True  # its parent is root itself
        head, _, tail = name.rpartition("/")
        if name.startswith("/") or tail in ("", "."):
            # Rare names whose parent is not simply what precedes the last "/".
            return _parents_are_folders(self._root, name)
        known = self._known.get(head)
        if known is None:
            parent = PurePosixPath(head)
            if parent == PurePosixPath("."):
                known = True
            else:
                if self._root_real is None:
                    self._root_real = os.path.realpath(self._root)
                real = os.path.realpath(self._root / parent)
                known = real == os.path.join(self._root_real, *parent.parts)
            self._known[head] = known
        return known


def _absent(path: Path) -> bool:
    """Nothing stands at ``path`` that could be the file (a folder of that name is not it)."""
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return True


def _listing_conflict(
    name: str, address: ContentAddress, listed: ListedFile, listing: Listing
) -> Optional[str]:
    """Why a file's own address is not the one the revision's listing gives its path, if so."""
    # A path is listed with one kind of address (the SHA-256 of an LFS or Xet file, the git
    # blob id of any other): another kind, like another value, is another file.
    if address.kind == listed.address.kind and address.hexdigest == listed.address.hexdigest:
        return None
    return (
        f"its {address.source} names {address.hexdigest}, but {listing.source} gives "
        f"{listed.address.hexdigest} for {name}: this is another file's content; "
        "download it again"
    )


def plan_checks(
    book: AddressBook, folder: Optional[Path] = None, *, complete: bool = False
) -> List[PlannedFile]:
    """Every file to report on: the book's entries and every other file in the folder.

    Files in the folder the book does not know are "not verified", never OK; files the book
    gives an address for that are not in the folder are MISSING, and so are the shards a
    present checkpoint index (``*.index.json``) names that are absent, and, with
    ``complete``, every file of the revision's listing that was not downloaded. A file whose
    address is not the one the listing gives its path fails unread.
    """
    root = folder if folder is not None else book.root
    walk = book.walk if book.walk is not None and book.walk.root == root else None
    unreadable: Dict[str, EntryFailure] = {}
    if walk is not None:  # the book's own walk of this folder: not walked a second time
        present: Mapping[str, Path] = walk.files
        unreadable.update(walk.unreadable)
    else:
        present = files_under(root, unreadable)
    parents_are_folders = _ParentFolders(root)
    planned: Dict[str, PlannedFile] = {}
    for name, failure in {**book.failed, **unreadable}.items():
        planned[name] = PlannedFile(name, root / name, None, failure.status, failure.detail)
    for name, reason in book.unaddressed.items():
        if name not in planned and (name in present or os.path.lexists(root / name)):
            planned[name] = PlannedFile(name, root / name, None, Status.NOT_VERIFIED, reason)
    listing = book.listing
    for name, address in book.addresses.items():
        path = present.get(name, root / name)
        listed = listing.files.get(name) if listing is not None else None
        conflict = _listing_conflict(name, address, listed, listing) if listed and listing else None
        if name in planned:
            continue
        if not parents_are_folders(name):
            detail = "under a link to a folder: not read; download it again"
            planned[name] = PlannedFile(name, path, address, Status.FAILED, detail)
        elif not os.path.lexists(path):
            detail = f"named by the {book.layout} but not in the folder; download it again"
            planned[name] = PlannedFile(name, path, address, Status.MISSING, detail)
        elif conflict is not None:
            planned[name] = PlannedFile(name, path, address, Status.FAILED, conflict)
        elif book.layout != CACHE_SNAPSHOT and os.path.islink(path):
            # Only a cache snapshot is made of links; elsewhere a link was put there by hand.
            detail = "a link, not the downloaded file: not read; download it again"
            planned[name] = PlannedFile(name, path, address, Status.FAILED, detail)
        elif not path.is_file():
            detail = "not a regular file"
            planned[name] = PlannedFile(name, path, address, Status.FAILED, detail)
        else:
            if listed is not None and address.size is None:
                address = ContentAddress(
                    address.kind,
                    address.hexdigest,
                    listed.size,
                    address.source,
                    address.pointer_blob_id,
                    address.conversion,
                    address.modified_after_download,
                )
            planned[name] = PlannedFile(name, path, address)
    for name, path in present.items():
        if name not in planned:
            planned[name] = PlannedFile(name, path, None, Status.NOT_VERIFIED, NO_ADDRESS)
    shards, oversized = _absent_shards(planned, root)
    for name, detail in shards.items():
        planned[name] = PlannedFile(name, root / name, None, Status.MISSING, detail)
    for name in oversized:
        detail = (
            f"over {INDEX_LIMIT >> 20} MiB, far more than a checkpoint index holds: its shards "
            "cannot be checked; download it again"
        )
        planned[name] = PlannedFile(name, planned[name].path, None, Status.FAILED, detail)
    if complete and listing is not None:
        for listed in not_downloaded(book, root):
            if listed.name in planned:
                continue
            detail = (
                f"in {listing.source} but not downloaded (the whole revision was asked for); "
                "download it"
            )
            planned[listed.name] = PlannedFile(
                listed.name, root / listed.name, None, Status.MISSING, detail
            )
    return [planned[name] for name in sorted(planned)]


def _unaddressed_regular(entry: PlannedFile) -> bool:
    """A file with no address that is itself a regular file (never a link to follow)."""
    return (
        entry.status == Status.NOT_VERIFIED
        and entry.address is None
        and not os.path.islink(entry.path)
        and entry.path.is_file()
    )


def _absent_shards(
    planned: Mapping[str, PlannedFile], root: Path
) -> Tuple[Dict[str, str], List[str]]:
    """The shards named by the present checkpoint indexes that are not in the folder, and
    the indexes too large to be read."""
    indexes = {
        name: entry.path
        for name, entry in planned.items()
        if name.endswith(".index.json") and (entry.to_hash or _unaddressed_regular(entry))
    }
    absent: Dict[str, str] = {}
    named, oversized = shards_named(indexes, root)
    for shard, index in named.items():
        if shard not in planned:
            absent[shard] = (
                f"named by the weight_map of {index} but not downloaded: the model cannot "
                "load; download it"
            )
    return absent, oversized


def not_downloaded(book: AddressBook, folder: Optional[Path] = None) -> List[ListedFile]:
    """The files of the revision's listing that are not in the folder (whether or not a check
    also fails them: an absent shard is both)."""
    if book.listing is None:
        return []
    root = folder if folder is not None else book.root
    return [
        listed
        for name, listed in sorted(book.listing.files.items())
        if not is_bookkeeping(name) and _absent(root / name)
    ]
