"""The revision's file listing huggingface_hub keeps beside a download: what was not downloaded.

``snapshot_download`` (huggingface_hub 2.4 and newer) writes every file of the revision to
``trees/COMMIT.json`` in the cache's repo folder, or ``.cache/huggingface/trees/COMMIT.json`` in a
``--local-dir`` download::

    {"format_version": 1,
     "files": {"config.json": {"size": 519, "blob_id": "<git blob id>"},
               "model.safetensors": {"size": 1234, "blob_id": "...", "lfs_sha256": "<sha256>",
                                     "lfs_size": 1234, "xet_hash": "..."}}}

The listing is read like everything else in a download: a regular file, capped, every field
checked. A listing that is not exactly of this form is not used at all (one note), so that a
damaged one can neither hide a file nor invent one.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Dict, Mapping, Optional, Tuple

from belle_patch.hub.address import ContentAddress
from belle_patch.hub.untrusted import RefusedFile, read_small_file
from belle_patch.vocabulary import AddressKind

LISTING_FORMAT_VERSION = 1
# Where a ``--local-dir`` download keeps its listings (a cache repo folder keeps trees/ itself).
LOCAL_DIR_LISTING_FOLDER = ".cache/huggingface"
# About 100,000 files' entries; the parsed listing costs several times its size in memory.
LISTING_LIMIT = 32 * 1024 * 1024
MAX_FILE_SIZE = 2**63 - 1
_HEX40 = re.compile(r"[0-9a-f]{40}")
_HEX64 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class ListedFile:
    """One file of the revision: its size and content address (the SHA-256 for LFS and Xet
    files, the git blob id for the others)."""

    name: str
    size: int
    address: ContentAddress


@dataclass(frozen=True)
class Listing:
    """Every file of one revision, by relative POSIX path; ``source`` names the listing file."""

    source: str
    files: Mapping[str, ListedFile]

    def __post_init__(self) -> None:
        object.__setattr__(self, "files", MappingProxyType(dict(self.files)))


class _Malformed(ValueError):
    """The listing is not of the form huggingface_hub writes; the message says where."""


def _size(value: Any, what: str) -> int:
    # bool is an int in Python; a float (1e999 parses as inf) is never a size.
    if type(value) is not int or not 0 <= value <= MAX_FILE_SIZE:
        raise _Malformed(f"{what} is not a file size")
    return value


def _hex(value: Any, pattern: re.Pattern[str], what: str) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise _Malformed(f"{what} is not a hash")
    return value


def _safe_name(name: Any) -> str:
    if not isinstance(name, str) or not name or "\0" in name or name.startswith("/"):
        raise _Malformed("a path is not a relative name")
    if any(part in ("", ".", "..") for part in name.split("/")):
        raise _Malformed(f"the path {name!r} is not a plain relative name")
    return name


def _listed_file(name: str, info: Any, source: str) -> ListedFile:
    if not isinstance(info, dict):
        raise _Malformed(f"the entry of {name!r} is not an object")
    size = _size(info.get("size"), f"the size of {name!r}")
    blob_id = _hex(info.get("blob_id"), _HEX40, f"the blob_id of {name!r}")
    if info.get("xet_hash") is not None:
        _hex(info["xet_hash"], _HEX64, f"the xet_hash of {name!r}")
    if info.get("lfs_sha256") is None:
        return ListedFile(
            name, size, ContentAddress(AddressKind.GIT_BLOB_ID, blob_id, size, source)
        )
    sha256 = _hex(info["lfs_sha256"], _HEX64, f"the lfs_sha256 of {name!r}")
    lfs_size = _size(info.get("lfs_size", size), f"the lfs_size of {name!r}")
    return ListedFile(
        name, lfs_size, ContentAddress(AddressKind.SHA256_LFS, sha256, lfs_size, source)
    )


def parse_listing(data: bytes, source: str) -> Listing:
    """The listing held by ``data``; raises ValueError, naming the fault, for anything else."""
    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise _Malformed("not JSON") from exc
    if not isinstance(document, dict) or document.get("format_version") != LISTING_FORMAT_VERSION:
        raise _Malformed(f"not format_version {LISTING_FORMAT_VERSION}")
    files = document.get("files")
    if not isinstance(files, dict):
        raise _Malformed("no files object")
    listed: Dict[str, ListedFile] = {}
    for name, info in files.items():
        listed[_safe_name(name)] = _listed_file(name, info, source)
    return Listing(source, listed)


def read_listing(
    folder: Path, commit: str, *, root: Path, shown_as: str
) -> Tuple[Optional[Listing], Tuple[str, ...]]:
    """The listing ``folder/trees/COMMIT.json`` (None when there is none), and a note when
    one exists but cannot be used. ``root`` is the download folder nothing is read outside
    of; ``shown_as`` is the listing's folder as messages name it."""
    path = folder / "trees" / f"{commit}.json"
    source = f"{shown_as}trees/{commit}.json"
    try:
        data = read_small_file(path, LISTING_LIMIT, root=root)
    except FileNotFoundError:
        return None, ()
    except RefusedFile as exc:
        reason = exc.reason
    except OSError as exc:
        reason = exc.strerror or str(exc)
    else:
        try:
            return parse_listing(data, source), ()
        except ValueError as exc:
            reason = str(exc)
    note = (
        f"the revision's file listing {source} is not used ({reason}): "
        "files that were not downloaded cannot be told"
    )
    return None, (note,)


def repo_listing(repo_folder: Path, commit: str) -> Tuple[Optional[Listing], Tuple[str, ...]]:
    """The listing of ``commit`` in a cache repo folder."""
    return read_listing(repo_folder, commit, root=repo_folder, shown_as="")
