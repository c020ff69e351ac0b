"""A ``hf download --local-dir DIR`` folder: the addresses in ``DIR/.cache/huggingface/download``.

Each downloaded ``PATH`` has ``PATH.metadata`` there: the commit, the etag (the content address)
and the download time. huggingface_hub trusts it only while the file's mtime is at most 1 s
later; belle-patch still compares the content, and records how much later the file changed.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from typing import Dict, Optional, Set, Tuple

from .address import ContentAddress, address_from_hex
from .book import LOCAL_DIR, AddressBook

METADATA_FOLDER = PurePosixPath(".cache/huggingface/download")
METADATA_SUFFIX = ".metadata"
# huggingface_hub's own tolerance between a file's mtime and its recorded download time.
MTIME_TOLERANCE = 1.0


def is_local_dir(folder: Path) -> bool:
    return (folder / METADATA_FOLDER).is_dir()


def _read_metadata(path: Path) -> Optional[Tuple[str, str, float]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
        return lines[0].strip(), lines[1].strip(), float(lines[2].strip())
    except (OSError, UnicodeDecodeError, IndexError, ValueError):
        return None


def _seconds_modified_after(path: Path, timestamp: float) -> Optional[float]:
    try:
        late = path.stat().st_mtime - timestamp
    except OSError:
        return None
    return late if late > MTIME_TOLERANCE else None


def local_dir_book(folder: Path) -> AddressBook:
    """The addresses of a ``--local-dir`` download, from its metadata files."""
    metadata_root = folder / METADATA_FOLDER
    addresses: Dict[str, ContentAddress] = {}
    unaddressed: Dict[str, str] = {}
    commits: Set[str] = set()
    for base, _dirnames, filenames in os.walk(metadata_root, followlinks=False):
        for filename in sorted(filenames):
            if not filename.endswith(METADATA_SUFFIX):
                continue
            metadata = Path(base) / filename
            relative = metadata.relative_to(metadata_root).as_posix()
            name = relative[: -len(METADATA_SUFFIX)]
            source = f"{METADATA_FOLDER}/{relative}"
            record = _read_metadata(metadata)
            if record is None:
                unaddressed[name] = f"{source} cannot be read: no content address"
                continue
            commit, etag, timestamp = record
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
    notes: Tuple[str, ...] = ()
    if len(commits) > 1:
        notes = (f"files from {len(commits)} different commits",)
    return AddressBook(
        layout=LOCAL_DIR,
        root=folder,
        revision=next(iter(commits)) if len(commits) == 1 else None,
        addresses=addresses,
        unaddressed=unaddressed,
        notes=notes,
    )
