"""Which kind of Hugging Face download a folder is, and its address book."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Optional

from belle_patch.errors import UsageError
from belle_patch.hub.address import ContentAddress
from belle_patch.hub.book import AddressBook
from belle_patch.hub.cache import (
    cache_repo_book,
    is_repo_folder,
    is_snapshot_folder,
    snapshot_book,
    snapshot_link_address,
)
from belle_patch.hub.gitindex import git_clone_book, is_git_clone
from belle_patch.hub.listing import LOCAL_DIR_LISTING_FOLDER, read_listing
from belle_patch.hub.localdir import is_local_dir, local_dir_book


def detect_layout(folder: Path, revision: Optional[str] = None) -> Optional[AddressBook]:
    """The address book of a cache repo folder, a cache snapshot, a ``--local-dir`` download
    or a git clone; None for a plain folder. ``revision`` (a branch or a commit) applies to a
    cache repo folder only."""
    folder = Path(os.path.abspath(folder))
    if is_repo_folder(folder):
        return cache_repo_book(folder, revision)
    if revision is not None:
        raise UsageError(
            "a revision can be chosen only for a cache repo folder (models--ORG--NAME) "
            "or hf:ORG/NAME",
            path=folder,
        )
    if is_snapshot_folder(folder):
        return snapshot_book(folder)
    if is_local_dir(folder):
        return _with_listing(local_dir_book(folder))
    if is_git_clone(folder):
        return git_clone_book(folder)
    return None


def _with_listing(book: AddressBook) -> AddressBook:
    """A ``--local-dir`` download's book with the listing of the commit its files came from."""
    if book.revision is None:
        return book
    listing, notes = read_listing(
        book.root / LOCAL_DIR_LISTING_FOLDER,
        book.revision,
        root=book.root,
        shown_as=f"{LOCAL_DIR_LISTING_FOLDER}/",
    )
    return replace(book, listing=listing, notes=book.notes + notes)


def download_root(path: Path) -> Optional[Path]:
    """The download folder (snapshot, ``--local-dir`` or clone) that holds ``path``, if any."""
    for folder in path.parents:
        if is_snapshot_folder(folder) or is_local_dir(folder) or is_git_clone(folder):
            return folder
    return None


def address_for_file(path: Path, *, read_metadata: bool = True) -> Optional[ContentAddress]:
    """The content address of one downloaded file (the nearest download folder holding it
    decides), or None. For a whole folder, build its book once with :func:`detect_layout`.

    Without ``read_metadata`` only a cache snapshot's link is read (one ``readlink``): no git,
    no metadata file, nothing in the folders above is opened.
    """
    path = Path(os.path.abspath(path))  # not resolved: a snapshot link must stay a link
    if not read_metadata:
        return snapshot_link_address(path)
    root = download_root(path)
    if root is None:
        return None
    book = detect_layout(root)
    if book is None:
        return None
    return book.address_of(path.relative_to(root).as_posix())
