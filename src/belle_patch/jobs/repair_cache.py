"""``--repair`` in a huggingface_hub cache: the blob of each failed file kept aside.

huggingface_hub serves a damaged blob as it is (it trusts what is on disk) and fetches a file
again once its blob is gone, so the repo's ``blobs/ETAG`` is moved to
``REPO/.belle-patch-bad/RUN/``. When that blob is a link into the shared store, the store entry
goes too (to ``CACHE/blobs/.belle-patch-bad/RUN/``): huggingface_hub would otherwise link the
file to the same damaged entry again, checking only its size. Neither place is one
``scan_cache_dir`` reads: it reads a repo folder's ``snapshots/`` and ``refs/`` only, and skips
the marked store. A store entry that a verified file reads is left in place, and only the
repair of a whole cache (which has read every repo) moves one at all: the repair of one
download leaves a blob that links into the store where it is, and says so: the store entry
huggingface_hub would link the file to again is not known from the cache, so the link alone
may not be moved either.
"""

from __future__ import annotations

import os
import re
import shlex
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Set, Tuple

from belle_patch.check.verdict import FileCheck
from belle_patch.hub.cache import SHARED_STORE, STORE_MARKER, STORE_MARKER_TEXT
from belle_patch.hub.whole_cache import KEPT_ASIDE_FOLDER, blob_identity, repo_type_of
from belle_patch.jobs.repair_types import (
    Collected,
    KeptAside,
    NotMoved,
    RepairReport,
    RestoreCommand,
    fails_its_address,
    refetched,
)
from belle_patch.jobs.verify_cache_types import (
    CacheReport,
    RepoReport,
    RevisionReport,
    describe_revision,
)
from belle_patch.output.aside import Folders, NotMovedError, Place, entry_mode, move_entry

_BLOB_NAME = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_XET_HASH = re.compile(r"[0-9a-f]{64}")
_MARKER_LIMIT = 64

Identity = Tuple[int, int]


def repair_cache(report: CacheReport) -> RepairReport:
    """Keep aside the blob of every file of a checked cache that failed its address, and say
    which ``hf download`` fetches each revision's failed and missing files again."""
    failing = [item for item in report.all_files() if fails_its_address(item[2])]
    collected = Collected()
    if failing:
        verified = verified_blobs(check for _, _, check in report.all_files())
        _move_all(report.root, failing, verified, collected)
    refetch: Dict[Tuple[str, str], List[str]] = {}
    left = {item.name for item in collected.not_moved}
    for repo, revision, check in report.all_files():
        moved = fails_its_address(check) and cache_name(repo, revision, check) not in left
        if moved or refetched(check):
            refetch.setdefault((repo.folder.name, revision.commit), []).append(check.name)
    for (repo_folder, commit), files in refetch.items():
        collected.commands.append(hf_download_command(repo_folder, commit, files, report.root))
    return collected.report()


def cache_name(repo: RepoReport, revision: RevisionReport, check: FileCheck) -> str:
    """How output lines name a file of a cache: ``ORG/NAME@COMMIT12/PATH``."""
    return f"{describe_revision(repo.repo_id, revision.commit)}/{check.name}"


def _move_all(
    root: Path,
    failing: Sequence[Tuple[RepoReport, RevisionReport, FileCheck]],
    verified: Set[Identity],
    collected: Collected,
) -> None:
    with Folders() as folders:
        try:
            cache = folders.top(root)
        except NotMovedError as exc:
            for repo, revision, check in failing:
                collected.not_moved.append(NotMoved(cache_name(repo, revision, check), str(exc)))
            return
        mover = CacheMover(folders, cache, root, verified, whole_cache=True)
        for repo, revision, check in failing:
            name = cache_name(repo, revision, check)
            try:
                mover.move(repo.folder.name, check, name)
            except NotMovedError as exc:
                collected.not_moved.append(NotMoved(name, str(exc)))
        collected.kept.extend(mover.kept)


@dataclass
class CacheMover:
    """Moves the blobs of failed files of one cache, each blob once. ``cache`` is the cache
    folder's descriptor; every other folder is opened from it without following a link."""

    folders: Folders
    cache: int
    cache_path: Path
    verified: Set[Identity]
    # Only a repair that checked every repo of the cache (so ``verified`` holds every file
    # read) moves a store entry; one download's repair leaves a linked blob where it is.
    whole_cache: bool
    kept: List[KeptAside] = field(default_factory=list)
    moved: Set[Tuple[str, str]] = field(default_factory=set)
    places: Dict[str, Place] = field(default_factory=dict)

    def _place(self, key: str, names: Tuple[str, ...]) -> Place:
        return self.places.setdefault(key, Place(self.cache, self.cache_path, names))

    def move(self, repo: str, check: FileCheck, name: str) -> None:
        """The blob of ``check`` (and the store entry it links to) kept aside; raises
        :class:`NotMovedError` with the reason when it cannot be."""
        etag = check.address
        if not _BLOB_NAME.fullmatch(etag):
            raise NotMovedError("its address is not a blob name")
        if (repo, etag) in self.moved:
            return
        with self.folders.scope():
            blobs = self.folders.walk(self.cache, (repo, "blobs"))
            mode = entry_mode(etag, blobs)
            if mode == 0:
                raise NotMovedError(f"blobs/{etag} is no longer there")
            if stat.S_ISLNK(mode):
                self._move_store_entry(_read_link(etag, blobs), check, name)
            elif not stat.S_ISREG(mode):
                raise NotMovedError(f"blobs/{etag} is neither a file nor a link")
            place = self._place(repo, (repo, KEPT_ASIDE_FOLDER))
            kept_at = move_entry(self.folders, blobs, etag, place, etag)
        self.kept.append(KeptAside(name, self.cache_path / repo / "blobs" / etag, kept_at))
        self.moved.add((repo, etag))

    def _move_store_entry(self, link_target: str, check: FileCheck, name: str) -> None:
        """The shared store entry the repo blob links to, unless a file that verified reads
        it too, or the link is not one huggingface_hub makes. Raises NotMovedError for one
        download's repair, which has not seen the other repos that may read the entry."""
        entry = _store_entry_name(link_target)
        if entry is None or ("", entry) in self.moved:
            return
        if not self.whole_cache:
            raise NotMovedError(
                f"its blob links to the shared blob store entry blobs/{entry[:2]}/{entry}, which"
                " other repos may read: only a repair of the whole cache moves it; run"
                f" `belle-patch verify --repair {shlex.quote(str(self.cache_path))}`"
            )
        if identity(check.path) in self.verified:
            return
        store = self.folders.child(self.cache, SHARED_STORE)
        if not _store_marked(store):
            return
        prefix = self.folders.child(store, entry[:2])
        if not stat.S_ISREG(entry_mode(entry, prefix)):
            return
        place = self._place("", (SHARED_STORE, KEPT_ASIDE_FOLDER))
        kept_at = move_entry(self.folders, prefix, entry, place, entry)
        moved = self.cache_path / SHARED_STORE / entry[:2] / entry
        self.kept.append(KeptAside(name, moved, kept_at))
        self.moved.add(("", entry))


def _read_link(name: str, folder: int) -> str:
    """What the link ``name`` in ``folder`` names; it may have been replaced since."""
    try:
        return os.readlink(name, dir_fd=folder)
    except OSError as exc:
        raise NotMovedError(f"blobs/{name} cannot be read ({exc.strerror or exc})") from None


def _store_marked(store: int) -> bool:
    """The store's marker says it is huggingface_hub's shared blob store."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        descriptor = os.open(STORE_MARKER, flags, dir_fd=store)
    except OSError:
        return False
    try:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            return False
        return os.read(descriptor, _MARKER_LIMIT + 1) == STORE_MARKER_TEXT
    finally:
        os.close(descriptor)


def _store_entry_name(link_target: str) -> Optional[str]:
    """The Xet hash a repo blob's link names, when the link is the one huggingface_hub
    makes into the shared store (``../../blobs/XX/XXHASH``); None for anything else."""
    parts = link_target.split("/")
    if len(parts) != 5 or parts[:3] != ["..", "..", SHARED_STORE]:
        return None
    name = parts[4]
    return name if _XET_HASH.fullmatch(name) and parts[3] == name[:2] else None


def verified_blobs(checks: Iterable[FileCheck]) -> Set[Identity]:
    """The files the verified checks read (links followed)."""
    found = set()
    for check in checks:
        if check.ok:
            reached = identity(check.path)
            if reached is not None:
                found.add(reached)
    return found


def identity(path: Optional[Path]) -> Optional[Identity]:
    """The file ``path`` reaches (links followed), to tell whether two checks read one file."""
    found = blob_identity(path) if path is not None else None
    return found[0] if found is not None else None


def hf_download_command(
    repo_folder: str, commit: str, files: Sequence[str], cache: Path
) -> RestoreCommand:
    """``hf download`` of ``files`` at ``commit`` into the cache ``cache``."""
    argv = ["hf", "download", "--revision", commit, "--cache-dir", str(cache)]
    repo_type = repo_type_of(repo_folder)
    if repo_type != "model":
        argv += ["--repo-type", repo_type]
    # "--" ends the options: a file named like an option is still a file. The kind of repo
    # goes to --repo-type, so the id is the bare ORG/NAME.
    bare_id = repo_folder.partition("--")[2].replace("--", "/")
    argv += ["--", bare_id, *files]
    return RestoreCommand(tuple(argv), tuple(files))
