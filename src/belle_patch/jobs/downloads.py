"""Patches downloaded from the Hugging Face Hub: inputs named by repo, and their addresses.

A download carries its own hash on disk (see :mod:`belle_patch.hub`). decrypt uses it to
tell a damaged download from a wrong key where the publisher printed no download MD5.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, List, Optional

from belle_patch.errors import BellePatchError
from belle_patch.hub.address import ContentAddress
from belle_patch.hub.book import CACHE_SNAPSHOT, AddressBook
from belle_patch.hub.cache import (
    is_hub_spec,
    is_repo_folder,
    resolve_hub_spec,
    snapshot_link_address,
)
from belle_patch.hub.detect import detect_layout, download_root


def resolve_download_inputs(inputs: List[Path]) -> List[Path]:
    """``hf:ORG/NAME`` and cache repo folders (``models--ORG--NAME``) name their snapshot."""
    resolved = []
    for item in inputs:
        if is_hub_spec(str(item)):
            resolved.append(resolve_hub_spec(str(item)))
        elif item.is_dir() and is_repo_folder(Path(os.path.abspath(item))):
            book = detect_layout(item)
            resolved.append(book.root if book and book.layout == CACHE_SNAPSHOT else item)
        else:
            resolved.append(item)
    return resolved


class DownloadAddresses:
    """The content address of each input, from one address book per download folder.

    Only with ``read_metadata`` (``decrypt --check-downloads``) are git and a download's
    metadata read, and only then is a folder above an input looked at: otherwise a cache
    snapshot's link is the one thing read, so that a decrypt below a hostile clone (or a home
    folder under git) runs nothing.
    """

    def __init__(self, *, read_metadata: bool = False) -> None:
        self._books: Dict[Path, Optional[AddressBook]] = {}
        self._read_metadata = read_metadata

    def address_of(self, path: Path) -> Optional[ContentAddress]:
        absolute = Path(os.path.abspath(path))  # not resolved: a snapshot link stays a link
        if not self._read_metadata:
            return snapshot_link_address(absolute)
        root = download_root(absolute)
        if root is None:
            return None
        if root not in self._books:
            try:
                self._books[root] = detect_layout(root)
            except (BellePatchError, OSError):  # an unreadable download costs the diagnosis
                self._books[root] = None
        book = self._books[root]
        return book.address_of(absolute.relative_to(root).as_posix()) if book else None
