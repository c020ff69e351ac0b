"""``verify --repair``: move each downloaded file that fails its content address out of the
download's reach, so that the download command that made it fetches it again.

huggingface_hub serves a damaged file as it is (it trusts what is on disk) and fetches it again
once it is gone; ``git checkout`` restores a work-tree file that is gone. Nothing is deleted:
a moved file is kept aside, as ``git lfs fsck`` keeps bad objects in ``.git/lfs/bad``, where
no download tool reads, serves or scans it:

- cache: ``REPO/.belle-patch-bad/RUN/ETAG`` and, for the shared store,
  ``CACHE/blobs/.belle-patch-bad/RUN/XETHASH`` (see :mod:`belle_patch.jobs.repair_cache`);
- ``--local-dir`` download: ``DIR/.cache/huggingface/belle-patch-bad/RUN/PATH``
  (huggingface_hub's own folder, which its uploads and belle-patch's checks leave out);
- git clone: ``DIR/.belle-patch/bad/RUN/PATH`` with a ``.gitignore``; nothing in ``.git``
  is changed.

Moves never follow a link and never replace anything (:mod:`belle_patch.output.aside`). A cache
snapshot whose repo folder is a link is not repaired at all: nothing is written through it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Optional, Sequence

from belle_patch.check.verdict import FileCheck
from belle_patch.hub.book import CACHE_SNAPSHOT, GIT_CLONE, LOCAL_DIR
from belle_patch.hub.cache import (
    is_hub_spec,
    is_repo_folder,
    is_snapshot_folder,
    resolve_hub_spec,
    snapshot_of,
)
from belle_patch.hub.gitindex import is_git_clone
from belle_patch.hub.localdir import is_local_dir, local_dir_book
from belle_patch.jobs.repair_cache import CacheMover, hf_download_command, verified_blobs
from belle_patch.jobs.repair_types import (
    Collected,
    DownloadTarget,
    KeptAside,
    NotMoved,
    RepairReport,
    RestoreCommand,
    fails_its_address,
    refetched,
)
from belle_patch.jobs.verify_types import VerifyReport
from belle_patch.output.aside import Folders, NotMovedError, Place, entry_mode, move_entry

# Where a --local-dir download and a git clone keep what was moved, under their folder.
LOCAL_DIR_KEPT = (".cache", "huggingface", "belle-patch-bad")
CLONE_KEPT = (".belle-patch", "bad")
# What a --local-dir download does not record: the repo it came from.
REPO_PLACEHOLDER = "ORG/NAME"


def find_download(path: str, revision: Optional[str] = None) -> Optional[DownloadTarget]:
    """The Hugging Face download ``path`` (a folder or ``hf:ORG/NAME``) is, as verify finds
    it, or None for a plain folder. Raises UsageError as verify does for a bad revision."""
    if is_hub_spec(path):
        snapshot = resolve_hub_spec(path, revision)
        return DownloadTarget(CACHE_SNAPSHOT, snapshot, snapshot.name)
    folder = Path(os.path.abspath(path))
    if not folder.is_dir():
        return None
    if is_repo_folder(folder):
        snapshot = snapshot_of(folder, revision)
        return DownloadTarget(CACHE_SNAPSHOT, snapshot, snapshot.name)
    if is_snapshot_folder(folder):
        return DownloadTarget(CACHE_SNAPSHOT, folder, folder.name)
    if is_local_dir(folder):
        return DownloadTarget(LOCAL_DIR, folder, local_dir_book(folder).revision)
    if is_git_clone(folder):
        return DownloadTarget(GIT_CLONE, folder)
    return None


def repair_download(target: DownloadTarget, report: VerifyReport) -> RepairReport:
    """Keep aside every file of one checked download (``report``, from ``verify``) that
    failed its address; the command that fetches (or, in a clone, checks out) the failed and
    missing files again. Never prints; a file that cannot be moved is in ``not_moved``."""
    failing = [check for check in report.files if fails_its_address(check)]
    collected = Collected()
    linked = _linked_repo_folder(target) if target.layout == CACHE_SNAPSHOT else None
    if linked is not None:
        # Its blobs (and what the printed command would write) are outside the cache.
        collected.not_moved.extend(NotMoved(check.name, linked) for check in failing)
        return collected.report()
    if target.layout == CACHE_SNAPSHOT:
        _repair_snapshot(target, report, failing, collected)
    else:
        _repair_folder(target, failing, collected)
    left = {item.name for item in collected.not_moved}
    moved = {id(check) for check in failing if check.name not in left}
    files = [c.name for c in report.files if id(c) in moved or refetched(c, target.layout)]
    if files:
        collected.commands.append(_command(target, files))
    return collected.report()


def _repo_folder(target: DownloadTarget) -> Path:
    """The repo folder of a cache snapshot, as named in its cache (its cache is its parent)."""
    return target.root.parent.parent


def _linked_repo_folder(target: DownloadTarget) -> Optional[str]:
    """Why a snapshot is not repaired, when its repo folder (or ``snapshots/`` on the way to
    it) is a link: what it leads to is not the cache's; None when neither is."""
    for folder in (target.root.parent, _repo_folder(target)):
        try:
            is_link = stat.S_ISLNK(os.lstat(folder).st_mode)
        except OSError as exc:
            return f"{folder} cannot be looked at ({exc.strerror or exc}): not repaired"
        if is_link:
            return f"{folder} is a link, not a folder of the cache: not repaired through it"
    return None


def _opened(
    folders: Folders, folder: Path, failing: Sequence[FileCheck], collected: Collected
) -> Optional[int]:
    """``folder`` opened to move files out of; None, every failing file not moved, when it
    cannot be."""
    try:
        return folders.top(folder)
    except NotMovedError as exc:
        collected.not_moved.extend(NotMoved(c.name, str(exc)) for c in failing)
        return None


def _repair_snapshot(
    target: DownloadTarget,
    report: VerifyReport,
    failing: Sequence[FileCheck],
    collected: Collected,
) -> None:
    repo_folder = _repo_folder(target)
    verified = verified_blobs(report.files) if failing else set()
    with Folders() as folders:
        cache = _opened(folders, repo_folder.parent, failing, collected)
        if cache is None:
            return
        mover = CacheMover(folders, cache, repo_folder.parent, verified, whole_cache=False)
        for check in failing:
            try:
                mover.move(repo_folder.name, check, check.name)
            except NotMovedError as exc:
                collected.not_moved.append(NotMoved(check.name, str(exc)))
        collected.kept.extend(mover.kept)


def _repair_folder(
    target: DownloadTarget, failing: Sequence[FileCheck], collected: Collected
) -> None:
    """A ``--local-dir`` download's or a clone's work-tree files, moved by their names."""
    if not failing:
        return
    names = LOCAL_DIR_KEPT if target.layout == LOCAL_DIR else CLONE_KEPT
    with Folders() as folders:
        root = _opened(folders, target.root, failing, collected)
        if root is None:
            return
        place = Place(root, target.root, names, gitignore=target.layout == GIT_CLONE)
        for check in failing:
            try:
                kept_at = _move_file(folders, root, check.name, place)
            except NotMovedError as exc:
                collected.not_moved.append(NotMoved(check.name, str(exc)))
                continue
            collected.kept.append(KeptAside(check.name, target.root / check.name, kept_at))


def _move_file(folders: Folders, root: int, name: str, place: Place) -> Path:
    """The regular file ``name`` (a relative POSIX path) moved to the same path in the place."""
    parts = name.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise NotMovedError("not a plain relative name")
    with folders.scope():
        folder = folders.walk(root, parts[:-1])
        if not stat.S_ISREG(entry_mode(parts[-1], folder)):
            raise NotMovedError("no longer a regular file")
        return move_entry(folders, folder, parts[-1], place, name)


def _command(target: DownloadTarget, files: Sequence[str]) -> RestoreCommand:
    """The command the download was made with, for ``files``."""
    if target.layout == CACHE_SNAPSHOT:
        repo_folder = _repo_folder(target)
        commit = target.revision or target.root.name
        return hf_download_command(repo_folder.name, commit, files, repo_folder.parent)
    if target.layout == GIT_CLONE:
        note = "git-lfs must be installed for files kept with LFS"
        # A file named like a pattern (``*``, ``[ab].txt``) or with pathspec magic is that file.
        argv = ("git", "-C", str(target.root), "--literal-pathspecs", "checkout", "--", *files)
        return RestoreCommand(argv, tuple(files), note)
    revision = ("--revision", target.revision) if target.revision else ()
    argv = ("hf", "download", "--local-dir", str(target.root), *revision)
    note = f"{REPO_PLACEHOLDER}: the repo this folder was downloaded from (it is not recorded)"
    return RestoreCommand((*argv, "--", REPO_PLACEHOLDER, *files), tuple(files), note)


__all__ = ["find_download", "repair_download"]
