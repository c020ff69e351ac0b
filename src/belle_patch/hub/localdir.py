"""A ``hf download --local-dir DIR`` folder: the addresses in ``DIR/.cache/huggingface/download``.

Each downloaded ``PATH`` has ``PATH.metadata`` there: the commit, the etag (the content address)
and the download time. huggingface_hub trusts it only while the file's mtime is at most 1 s
later; belle-patch still compares the content, and records how much later the file changed.

Everything there is read as untrusted (see :mod:`belle_patch.hub.untrusted`): a metadata file
is read only if it is a small regular file, never through a link, a FIFO or a device; the
walk never follows a link, and says what it could not list. A metadata file whose commit is
not 40 hex digits or whose download time is not a plausible time is unreadable: its file
has no content address.
"""

from __future__ import annotations

import math
import os
import re
import stat
from pathlib import Path, PurePosixPath
from typing import Dict, List, Optional, Set, Tuple

from belle_patch.hub.address import ContentAddress, address_from_hex
from belle_patch.hub.book import LOCAL_DIR, AddressBook
from belle_patch.hub.untrusted import RefusedFile, is_inside, read_small_file

METADATA_FOLDER = PurePosixPath(".cache/huggingface/download")
METADATA_SUFFIX = ".metadata"
# huggingface_hub's own tolerance between a file's mtime and its recorded download time.
MTIME_TOLERANCE = 1.0
# Three short lines: a 40-hex commit, an etag of at most 66 characters, a float time.
METADATA_LIMIT = 512
# Download times outside 1970..9999 are not times a download was made at.
LATEST_TIMESTAMP = 253_402_300_799.0
_COMMIT = re.compile(r"[0-9a-f]{40}")


def is_local_dir(folder: Path) -> bool:
    return (folder / METADATA_FOLDER).is_dir()


class _Unreadable(Exception):
    """Why a metadata file gives no address, in a few words."""


def _parse_metadata(data: bytes) -> Tuple[str, str, float]:
    try:
        lines = data.decode("utf-8").splitlines()
    except UnicodeDecodeError:
        raise _Unreadable("not UTF-8 text") from None
    if len(lines) < 3:
        raise _Unreadable("fewer than three lines")
    commit, etag, when = (line.strip() for line in lines[:3])
    if not _COMMIT.fullmatch(commit.lower()):
        raise _Unreadable("its first line is not a 40-hex commit")
    try:
        timestamp = float(when)
    except ValueError:
        raise _Unreadable("its third line is not a download time") from None
    # inf, nan and 1e999 parse as floats, and would reach round() and datetime later.
    if not math.isfinite(timestamp) or not 0 <= timestamp <= LATEST_TIMESTAMP:
        raise _Unreadable("its download time is not a plausible time")
    return commit.lower(), etag, timestamp


def _read_metadata(path: Path, root: Path) -> Tuple[str, str, float]:
    try:
        data = read_small_file(path, METADATA_LIMIT, root=root)
    except RefusedFile as exc:
        raise _Unreadable(exc.reason) from None
    except OSError as exc:
        raise _Unreadable(exc.strerror or str(exc)) from None
    return _parse_metadata(data)


def _seconds_modified_after(path: Path, timestamp: float) -> Optional[float]:
    try:
        late = path.stat().st_mtime - timestamp
    except (OSError, ValueError):
        return None
    return late if late > MTIME_TOLERANCE else None


def _metadata_files(metadata_root: Path, notes: List[str]) -> List[Tuple[str, Path, bool]]:
    """``(name relative to the root, path, is a link)`` of every ``*.metadata`` entry under
    the root, links included (they are refused by name, not followed); what cannot be
    listed, and linked folders, go to ``notes``."""
    found: List[Tuple[str, Path, bool]] = []
    pending = [""]
    while pending:
        relative = pending.pop()
        folder = metadata_root / relative if relative else metadata_root
        try:
            with os.scandir(folder) as listing:
                entries = sorted(listing, key=lambda entry: entry.name)
        except OSError as exc:
            notes.append(
                f"{METADATA_FOLDER}/{relative or '.'} cannot be listed "
                f"({exc.strerror or exc}): files under it have no content address"
            )
            continue
        for entry in entries:
            name = f"{relative}/{entry.name}" if relative else entry.name
            try:
                is_link = entry.is_symlink()
                is_folder = not is_link and entry.is_dir(follow_symlinks=False)
            except OSError:
                is_link, is_folder = False, False
            if is_folder:
                pending.append(name)
            elif name.endswith(METADATA_SUFFIX):
                found.append((name[: -len(METADATA_SUFFIX)], Path(entry.path), is_link))
            elif is_link and _links_to_folder(Path(entry.path)):
                notes.append(
                    f"{METADATA_FOLDER}/{name} is a link, not followed: "
                    "files under it have no content address"
                )
    return found


def _links_to_folder(path: Path) -> bool:
    try:
        return stat.S_ISDIR(path.stat().st_mode)
    except (OSError, ValueError):
        return False


def local_dir_book(folder: Path) -> AddressBook:
    """The addresses of a ``--local-dir`` download, from its metadata files."""
    metadata_root = folder / METADATA_FOLDER
    addresses: Dict[str, ContentAddress] = {}
    unaddressed: Dict[str, str] = {}
    commits: Set[str] = set()
    notes: List[str] = []
    if not is_inside(metadata_root, folder):
        notes.append(
            f"{METADATA_FOLDER} leads out of the download, so it was not read: "
            "no file has a content address from it"
        )
        found: List[Tuple[str, Path, bool]] = []
    else:
        found = _metadata_files(metadata_root, notes)
    for name, metadata, is_link in found:
        source = f"{METADATA_FOLDER}/{name}{METADATA_SUFFIX}"
        try:
            if is_link:
                raise _Unreadable("a link, not read")
            commit, etag, timestamp = _read_metadata(metadata, folder)
        except _Unreadable as exc:
            unaddressed[name] = f"{source} cannot be read ({exc}): no content address"
            continue
        address = address_from_hex(etag, source=source)
        if address is None:
            unaddressed[name] = f"the etag in {source} is not a content address"
            continue
        late = _seconds_modified_after(folder / name, timestamp)
        if late is not None:
            address = ContentAddress(
                address.kind, address.hexdigest, source=source, modified_after_download=late
            )
        addresses[name] = address
        commits.add(commit)
    if len(commits) > 1:
        notes.append(f"files from {len(commits)} different commits")
    return AddressBook(
        layout=LOCAL_DIR,
        root=folder,
        revision=next(iter(commits)) if len(commits) == 1 else None,
        addresses=addresses,
        unaddressed=unaddressed,
        notes=tuple(notes),
    )
