"""The shards a sharded checkpoint needs: the files its ``*.index.json`` ``weight_map`` names.

A download without one of them cannot load, whether or not anything lists the revision's files.
The index is a file of the download, so it is read as untrusted: a regular file, capped, and
only names that stay inside its folder's download count.
"""

from __future__ import annotations

import json
import os
import posixpath
from pathlib import Path
from typing import Dict, List, Mapping, Tuple

from belle_patch.hub.untrusted import RefusedFile, read_small_file

# A 1,000-shard index of a large model is a few hundred KiB.
INDEX_LIMIT = 16 * 1024 * 1024


def _shard_names(data: bytes, index_name: str) -> Dict[str, str]:
    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return {}
    weight_map = document.get("weight_map") if isinstance(document, dict) else None
    if not isinstance(weight_map, dict):
        return {}
    folder = posixpath.dirname(index_name)
    shards: Dict[str, str] = {}
    for value in weight_map.values():
        if not isinstance(value, str) or not value or value.startswith("/") or "\0" in value:
            continue
        name = posixpath.normpath(posixpath.join(folder, value))
        if name == "." or name.startswith("../") or name == "..":
            continue
        shards[name] = index_name
    return shards


def shards_named(indexes: Mapping[str, Path], root: Path) -> Tuple[Dict[str, str], List[str]]:
    """Each shard named by the indexes (relative POSIX name -> the index naming it).

    ``indexes`` maps an index's name to its path: a link is read only when it was checked to
    lead into the download's blobs (a cache snapshot), so its resolved target is read; a file
    of any other download is read only as a regular file inside ``root``. An index that
    cannot be read or parsed names nothing (its own check reports it); one over
    :data:`INDEX_LIMIT` is returned among the oversized, so that it cannot hide a shard.
    """
    shards: Dict[str, str] = {}
    oversized: List[str] = []
    for index_name, path in sorted(indexes.items()):
        try:
            if os.path.islink(path):
                data = read_small_file(os.path.realpath(path), INDEX_LIMIT)
            else:
                data = read_small_file(path, INDEX_LIMIT, root=root)
        except RefusedFile as exc:
            if exc.too_large:
                oversized.append(index_name)
            continue
        except OSError:
            continue
        for shard, named_by in _shard_names(data, index_name).items():
            shards.setdefault(shard, named_by)
    return shards, oversized
