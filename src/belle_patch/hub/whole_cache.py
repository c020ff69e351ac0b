"""A whole huggingface_hub cache: its repos, every revision of each, and the distinct blobs.

::

    CACHE/
      blobs/                                the shared blob store (when marked)
      models--ORG--NAME/                    one folder per repo (also datasets--, spaces--)
        refs/main, refs/pr/1                commit hashes
        blobs/ETAG, blobs/ETAG.x.incomplete the files, and what interrupted downloads left
        snapshots/COMMIT/                   one folder per revision downloaded

Everything here is read as if an attacker wrote it: entries are looked at with ``lstat``, no
link is followed to find a repo or a revision (a linked one is named, never entered), refs are
small regular files read with :func:`~belle_patch.hub.untrusted.read_small_file`. Each
revision's files are then planned by the existing per-snapshot machinery
(:func:`~belle_patch.hub.cache.snapshot_book`).
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple, Union

from belle_patch.errors import UsageError
from belle_patch.hub.book import REGULAR, EntryFailure, folder_entries, walk_download
from belle_patch.hub.cache import (
    REF_FILE_LIMIT,
    SHARED_STORE,
    STORE_MARKER,
    STORE_MARKER_TEXT,
    is_repo_folder,
    is_snapshot_folder,
    repo_id_of,
)
from belle_patch.hub.gitindex import is_git_clone
from belle_patch.hub.localdir import is_local_dir
from belle_patch.hub.untrusted import RefusedFile, read_small_file

_REPO_FOLDER = re.compile(r"(models|datasets|spaces)--.+", re.DOTALL)
_COMMIT = re.compile(r"[0-9a-f]{40}")
# What huggingface_hub calls each kind of repo (``hf download --repo-type``).
REPO_TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}
# Files the system drops into folders; huggingface_hub's own scan skips them too.
SYSTEM_FILES = frozenset({".DS_Store", "Thumbs.db", "desktop.ini"})
INCOMPLETE_SUFFIX = ".incomplete"
# Where belle-patch keeps what --repair moved aside (see belle_patch.repair): not a repo.
KEPT_ASIDE_FOLDER = ".belle-patch-bad"


@dataclass(frozen=True)
class CachedRevision:
    """One snapshot folder: its commit and the refs that name it."""

    commit: str
    snapshot: Path
    refs: Tuple[str, ...] = ()


@dataclass(frozen=True)
class IncompleteBlob:
    """A ``blobs/ETAG.*.incomplete`` file: a download that was interrupted."""

    name: str
    path: Path
    size: int
    address: str


@dataclass(frozen=True)
class CachedRepo:
    """One repo folder of the cache.

    ``problems`` fail the repo (a ref naming no snapshot, a linked snapshot folder: nothing
    that can be checked); ``notes`` only inform.
    """

    folder: Path
    repo_id: str
    repo_type: str
    revisions: Tuple[CachedRevision, ...]
    incomplete: Tuple[IncompleteBlob, ...] = ()
    problems: Tuple[str, ...] = ()
    notes: Tuple[str, ...] = ()


@dataclass(frozen=True)
class CacheLayout:
    """Every repo of a cache, and the entries that look like repos but cannot be read."""

    root: Path
    repos: Tuple[CachedRepo, ...]
    problems: Tuple[Tuple[str, str], ...] = ()


def _mode(path: Path) -> int:
    """The ``lstat`` mode of ``path``, 0 when there is nothing to look at."""
    try:
        return os.lstat(path).st_mode
    except (OSError, ValueError):
        return 0


def has_marked_store(root: Path) -> bool:
    """The cache-wide shared blob store is there, a real folder with its marker."""
    store = root / SHARED_STORE
    if not stat.S_ISDIR(_mode(store)):
        return False
    try:
        return read_small_file(store / STORE_MARKER, 64) == STORE_MARKER_TEXT
    except OSError:
        return False


def is_hub_cache(folder: Union[str, os.PathLike[str]]) -> bool:
    """``folder`` holds repo folders (``models--ORG--NAME`` ...) or a marked shared store:
    it is a huggingface_hub cache, not a download of its own."""
    folder = Path(folder)
    if _is_download(folder):
        return False
    try:
        entries = folder_entries(folder)
    except OSError:
        return False
    for name, mode in entries:
        if _REPO_FOLDER.fullmatch(name) and stat.S_ISDIR(mode):
            for part in ("snapshots", "refs", "blobs"):
                if stat.S_ISDIR(_mode(folder / name / part)):
                    return True
    return has_marked_store(folder)


def _is_download(folder: Path) -> bool:
    """A repo folder, a snapshot, a ``--local-dir`` download or a git clone: each is checked
    as one download, even when it happens to hold a folder named like a repo."""
    return (
        is_repo_folder(folder)
        or is_snapshot_folder(folder)
        or is_local_dir(folder)
        or is_git_clone(folder)
    )


def repo_type_of(folder_name: str) -> str:
    """``models--ORG--NAME`` -> ``model`` (``dataset``, ``space``)."""
    return REPO_TYPES.get(folder_name.partition("--")[0], "model")


def find_repos(root: Path) -> CacheLayout:
    """Every repo folder of the cache at ``root``, sorted by folder name.

    An entry named like a repo that is a link or not a folder is a problem of the cache,
    never followed; other entries (``blobs``, ``.locks``, ``version.txt``) are not repos.
    """
    repos: List[CachedRepo] = []
    problems: List[Tuple[str, str]] = []
    try:
        entries = folder_entries(root)
    except OSError as exc:
        raise UsageError(
            f"the cache folder cannot be listed ({exc.strerror or exc})",
            path=root,
            hint="check its permissions",
        ) from None
    for name, mode in entries:
        if not _REPO_FOLDER.fullmatch(name):
            continue
        if stat.S_ISLNK(mode):
            problems.append((name, "a link, not a folder of the cache: not followed"))
        elif not stat.S_ISDIR(mode):
            problems.append((name, "not a folder"))
        else:
            repos.append(read_repo(root / name))
    return CacheLayout(root, tuple(repos), tuple(problems))


def read_repo(folder: Path) -> CachedRepo:
    """A repo folder's revisions, refs and interrupted downloads."""
    problems: List[str] = []
    notes: List[str] = []
    commits = _snapshot_commits(folder, problems, notes)
    refs = _refs(folder, problems)
    named: Dict[str, List[str]] = {}
    for ref, commit in refs.items():
        if commit in commits:
            named.setdefault(commit, []).append(ref)
        else:
            problems.append(f"refs/{ref} names {commit}, which has no snapshot; download it again")
    revisions = tuple(
        CachedRevision(commit, folder / "snapshots" / commit, tuple(sorted(named.get(commit, []))))
        for commit in commits
    )
    return CachedRepo(
        folder=folder,
        repo_id=repo_id_of(folder) or folder.name,
        repo_type=repo_type_of(folder.name),
        revisions=revisions,
        incomplete=tuple(_incomplete_blobs(folder, problems)),
        problems=tuple(problems),
        notes=tuple(notes),
    )


def _snapshot_commits(folder: Path, problems: List[str], notes: List[str]) -> List[str]:
    """The commits of ``snapshots/``: real folders named by a commit hash."""
    snapshots = folder / "snapshots"
    mode = _mode(snapshots)
    if mode == 0:
        notes.append("no snapshots/ folder: no revision was downloaded")
        return []
    if not stat.S_ISDIR(mode):
        problems.append("snapshots/ is a link or not a folder: not read")
        return []
    entries = _listed(snapshots, problems)
    commits = []
    for name, entry_mode in entries:
        if name in SYSTEM_FILES:
            continue
        if stat.S_ISDIR(entry_mode) and _COMMIT.fullmatch(name):
            commits.append(name)
        elif stat.S_ISLNK(entry_mode):
            problems.append(f"snapshots/{name} is a link, not a snapshot folder: not followed")
        else:
            problems.append(f"snapshots/{name} is not a snapshot folder named by a commit")
    if not commits and not problems:
        notes.append("snapshots/ is empty: no revision was downloaded")
    return commits


def _refs(folder: Path, problems: List[str]) -> Dict[str, str]:
    """``ref name -> commit`` of ``refs/`` (``main``, ``pr/1``); a ref that is not a small
    regular file holding a commit hash is a problem, never followed."""
    refs_folder = folder / "refs"
    mode = _mode(refs_folder)
    if mode == 0:
        return {}
    if not stat.S_ISDIR(mode):
        problems.append("refs/ is a link or not a folder: not read")
        return {}
    unreadable: Dict[str, EntryFailure] = {}
    found: Dict[str, str] = {}
    for name, path, kind in walk_download(refs_folder, unreadable):
        if path.name in SYSTEM_FILES:
            continue
        if kind != REGULAR:
            problems.append(f"refs/{name} is a link or not a regular file: not followed")
            continue
        try:
            text = read_small_file(path, REF_FILE_LIMIT, root=folder).decode("ascii").strip()
        except RefusedFile as exc:
            problems.append(f"refs/{name} cannot be used: {exc.reason}")
            continue
        except (OSError, UnicodeDecodeError):
            problems.append(f"refs/{name} cannot be used: not a commit")
            continue
        if _COMMIT.fullmatch(text):
            found[name] = text
        else:
            problems.append(f"refs/{name} does not hold a commit hash: not followed")
    for name, failure in unreadable.items():
        problems.append(f"refs/{name}: {failure.problem}")
    return found


def _listed(folder: Path, problems: List[str]) -> List[Tuple[str, int]]:
    """A repo's subfolder's entries; none, and a problem, when it cannot be listed."""
    try:
        return folder_entries(folder)
    except OSError as exc:
        problems.append(f"{folder.name}/ cannot be listed ({exc.strerror or exc})")
        return []


def _incomplete_blobs(folder: Path, problems: List[str]) -> List[IncompleteBlob]:
    """What interrupted downloads left in ``blobs/`` (``ETAG.incomplete`` or
    ``ETAG.RANDOM.incomplete``). A linked ``blobs/`` is not listed (its snapshot links fail)."""
    blobs = folder / "blobs"
    if not stat.S_ISDIR(_mode(blobs)):
        return []
    entries = _listed(blobs, problems)
    found = []
    for name, mode in entries:
        if not name.endswith(INCOMPLETE_SUFFIX):
            continue
        try:
            size = os.lstat(blobs / name).st_size if stat.S_ISREG(mode) else 0
        except OSError:  # gone since the listing: a download finished or gave up
            continue
        found.append(IncompleteBlob(f"blobs/{name}", blobs / name, size, name.split(".")[0]))
    return found


def blob_identity(path: Path) -> Optional[Tuple[Tuple[int, int], int]]:
    """The file a planned entry's read would reach (``st_dev``, ``st_ino``, links followed)
    and its size; None when it is not a regular file. Two entries with one identity are one
    read."""
    try:
        info = os.stat(path)
    except (OSError, ValueError):
        return None
    return ((info.st_dev, info.st_ino), info.st_size) if stat.S_ISREG(info.st_mode) else None
