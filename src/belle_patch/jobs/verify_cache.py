"""``verify_cache``: a whole huggingface_hub cache checked offline, every repo and revision.

Each revision is planned by the per-snapshot machinery (its snapshot book, its links, its file
listing); the files of every revision of every repo are then grouped by the file their read
reaches (a repo blob, or an entry of the shared blob store), and each such distinct blob is
read once, with every digest its addresses need, whatever number of revisions or repos name it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

from belle_patch.check.downloads import check_planned_file, planned_files
from belle_patch.check.filecheck import CheckHooks
from belle_patch.check.verdict import FileCheck
from belle_patch.errors import BellePatchError, UsageError
from belle_patch.hub import address as hub_address
from belle_patch.hub.book import AddressBook, PlannedFile, not_downloaded
from belle_patch.hub.cache import cache_root, snapshot_book
from belle_patch.hub.listing import ListedFile
from belle_patch.hub.whole_cache import (
    CachedRepo,
    CachedRevision,
    blob_identity,
    find_repos,
)
from belle_patch.jobs import arguments
from belle_patch.jobs.batch import files_hashed_at_once
from belle_patch.jobs.blob_reads import Blob, read_all, read_blob
from belle_patch.jobs.verify_cache_types import (
    CachedFileCheck,
    CacheReport,
    RepoReport,
    RevisionReport,
    describe_revision,
)
from belle_patch.stream.events import Progress, ProgressEvents
from belle_patch.units import format_bytes
from belle_patch.vocabulary import Status

PathArg = Union[str, "os.PathLike[str]"]


@dataclass
class _Revision:
    """A revision while it is checked: its plan, then its verdicts slot by slot. Of its
    book only what the report shows is kept (the book's tables are the plan's already)."""

    repo: CachedRepo
    revision: CachedRevision
    planned: List[PlannedFile]
    checks: List[Optional[FileCheck]]
    absent: Tuple[ListedFile, ...] = ()
    absent_count: int = 0  # every listed file not downloaded, named in ``absent`` or not
    absent_bytes: int = 0
    download: str = ""
    notes: Tuple[str, ...] = ()
    listing_source: str = ""
    problem: str = ""


def verify_cache(
    root: Optional[PathArg] = None,
    *,
    jobs: Optional[int] = None,
    allow_unverified: bool = False,
    complete: bool = False,
    progress: Optional[Progress] = None,
) -> CacheReport:
    """Check every repo and every revision of a huggingface_hub cache offline; never print.

    ``root`` is the cache folder (the one holding ``models--*``, ``datasets--*``,
    ``spaces--*``); None: the cache huggingface_hub itself uses (``$HF_HUB_CACHE``, else
    ``$HUGGINGFACE_HUB_CACHE``, else ``$HF_HOME/hub``, else ``~/.cache/huggingface/hub``).
    Each revision in ``snapshots/`` is checked as a single cache download is: every file
    against the address its link names (and its revision's file listing), a shard named by a
    present index and absent fails, listed files not downloaded are reported (they fail only
    with ``complete``, and so does an interrupted download's ``.incomplete`` blob). Each
    distinct blob (a repo's, or the shared store's) is read once however many revisions or
    repos name it, ``jobs`` at once (default: the cores).

    ``progress`` gets ``started`` once (files, distinct bytes), ``file_started`` and
    ``advanced`` per blob read, and ``file_done`` with a :class:`CachedFileCheck` per file.

    Raises :class:`belle_patch.errors.UsageError` when ``root`` is not a folder, and
    :class:`TypeError`, naming the argument, for an argument of a wrong type.
    """
    arguments.check(
        "verify_cache",
        optional_paths={"root": root},
        flags={"allow_unverified": allow_unverified, "complete": complete},
        counts={"jobs": jobs},
        progress=progress,
    )
    events: Progress = progress if progress is not None else ProgressEvents()
    folder = _cache_folder(root)
    layout = find_repos(folder)
    notes: List[str] = []
    for name, problem in layout.problems:
        events.note(f"{name}: {problem}")
    workers = files_hashed_at_once(jobs)
    revisions = _plan_all(layout.repos, complete)
    blobs = _check_all(revisions, workers, events)
    by_repo: Dict[int, List[_Revision]] = {}
    for state in revisions:
        by_repo.setdefault(id(state.repo), []).append(state)
    repos = tuple(
        _repo_report(repo, by_repo.get(id(repo), []), allow_unverified, complete)
        for repo in layout.repos
    )
    checked = any(check.ok for repo in repos for check in repo.files)
    if not layout.repos:
        notes.append(f"no repo in the cache {folder}")
    elif not checked:
        notes.append("no file of the cache could be verified")
    for message in notes:
        events.note(message)
    return CacheReport(
        ok=checked and all(repo.ok for repo in repos) and not layout.problems,
        root=folder,
        repos=repos,
        problems=layout.problems,
        blobs_read=sum(1 for blob in blobs if blob.read),
        bytes_read=sum(blob.size for blob in blobs if blob.read),
        notes=tuple(notes),
    )


def _check_all(revisions: Sequence[_Revision], workers: int, events: Progress) -> List[Blob]:
    """Every planned file judged: each distinct blob read once (``workers`` at a time), the
    others from their plan. Returns the blobs, to count what was read."""
    blobs, unread = _group(revisions)
    events.started(sum(len(r.planned) for r in revisions), sum(b.size for b in blobs), workers)
    hooks = CheckHooks(events.file_started, events.advanced, lambda check: None)
    for entry_slot in unread:
        _judge_unread(revisions, entry_slot)
    read_all(blobs, workers, lambda blob: _judge_members(revisions, blob, hooks))
    for state in revisions:
        for check in state.checks:
            if check is not None:
                events.file_done(CachedFileCheck(state.repo.repo_id, state.revision.commit, check))
        state.planned = []  # the plan is judged: only the verdicts are kept
    return blobs


def _cache_folder(root: Optional[PathArg]) -> Path:
    """The cache folder named (or the default one), which must be a folder."""
    folder = cache_root() if root is None else Path(os.fspath(root))
    folder = Path(os.path.abspath(folder))
    if not folder.is_dir():
        where = "the Hugging Face cache" if root is None else "the cache folder"
        raise UsageError(
            f"{where} {folder} does not exist or is not a folder",
            hint="give the folder that holds models--ORG--NAME, or set HF_HUB_CACHE",
        )
    return folder


# Names of files not downloaded kept over a whole run; past it only counts and sizes are.
# Listings are untrusted: one 32 MiB listing linked as the listing of every snapshot would
# otherwise name millions of files per revision, all held until the report.
NOT_DOWNLOADED_NAMES_KEPT = 200_000


class _KeptNames:
    def __init__(self) -> None:
        self.left = NOT_DOWNLOADED_NAMES_KEPT


def _absent(book: AddressBook, kept: _KeptNames) -> Tuple[Tuple[ListedFile, ...], int, int]:
    named: List[ListedFile] = []
    count = size = 0
    for listed in not_downloaded(book):
        count += 1
        size += listed.size
        if kept.left > 0:
            kept.left -= 1
            named.append(listed)
    return tuple(named), count, size


def _plan(
    repo: CachedRepo, revision: CachedRevision, complete: bool, kept: _KeptNames
) -> _Revision:
    """A revision's planned files (its book by the per-snapshot machinery), or, when its
    snapshot cannot be read at all, none and the reason as a problem of its repo."""
    try:
        book = snapshot_book(revision.snapshot)
    except BellePatchError as exc:
        problem = f"snapshots/{revision.commit}: {exc.problem}"
        return _Revision(repo, revision, [], [], problem=problem)
    planned = planned_files(book, complete=complete)
    absent, absent_count, absent_bytes = _absent(book, kept)
    return _Revision(
        repo,
        revision,
        planned,
        [None] * len(planned),
        absent=absent,
        absent_count=absent_count,
        absent_bytes=absent_bytes,
        download=book.description,
        notes=book.notes,
        listing_source=book.listing.source if book.listing is not None else "",
    )


def _plan_all(repos: Sequence[CachedRepo], complete: bool) -> List[_Revision]:
    """Every revision planned, in order, in this thread: planning is mostly Python (paths,
    links), which a second thread only fights over (measured: 25% slower with two)."""
    kept = _KeptNames()
    return [_plan(repo, revision, complete, kept) for repo in repos for revision in repo.revisions]


def _group(revisions: Sequence[_Revision]) -> Tuple[List[Blob], List[Tuple[int, int]]]:
    """The distinct blobs to read, largest first, and the ``(revision, entry)`` slots judged
    without a read."""
    blobs: Dict[Tuple[int, int], Blob] = {}
    unread: List[Tuple[int, int]] = []
    for revision_index, state in enumerate(revisions):
        for entry_index, entry in enumerate(state.planned):
            found = blob_identity(entry.path) if entry.to_hash else None
            if found is None:
                unread.append((revision_index, entry_index))
                continue
            identity, size = found
            blob = blobs.get(identity)
            if blob is None:
                blob = blobs[identity] = Blob(entry.path, size)
            blob.members.append((revision_index, entry_index, entry))
    return sorted(blobs.values(), key=lambda blob: -blob.size), unread


def _judge_unread(revisions: Sequence[_Revision], slot: Tuple[int, int]) -> None:
    state = revisions[slot[0]]
    state.checks[slot[1]] = check_planned_file(state.planned[slot[1]])


def _judge_members(revisions: Sequence[_Revision], blob: Blob, hooks: CheckHooks) -> None:
    """Read the blob, then judge each entry reaching it against its own address."""
    digests, error = read_blob(blob, hooks)
    for revision_index, entry_index, entry in blob.members:
        revisions[revision_index].checks[entry_index] = _verdict(entry, blob, digests, error)
    blob.members = []


# One tuple per address kind, shared by every OK file (a cache can hold a million).
_VERIFIED_BY: Dict[str, Tuple[str, ...]] = {}


def _verdict(entry: PlannedFile, blob: Blob, digests: Dict[str, str], error: str) -> FileCheck:
    """The verdict on one planned file from its blob's digests, as the single-download check
    gives it without an MD5 list."""
    address = entry.address
    if error or address is None:
        detail = error or "not a regular file"
        return FileCheck(entry.name, Status.UNREADABLE, "", path=entry.path, detail=detail)
    verdict = hub_address.check_file_against(address, digests, size=blob.size, path=entry.path)
    verified_by: Tuple[str, ...] = ()
    actual = digests.get(address.algorithm)
    if verdict.ok:
        status, detail = Status.OK, verdict.detail
        verified_by = _VERIFIED_BY.setdefault(address.kind, (address.kind,))
        if actual == address.hexdigest:
            actual = address.hexdigest  # one string for both, not two equal ones
    elif verdict.status == Status.FAILED:
        status, detail = Status.FAILED, verdict.detail
    else:
        status, detail = Status.NOT_VERIFIED, verdict.detail or entry.detail
    return FileCheck(
        entry.name,
        status,
        "",
        None,
        entry.path,
        detail=detail,
        method=address.kind,
        verified_by=verified_by,
        address=address.hexdigest,
        actual_address=actual,
    )


def _repo_report(
    repo: CachedRepo, mine: Sequence[_Revision], allow_unverified: bool, complete: bool
) -> RepoReport:
    notes = list(repo.notes)
    notes.extend(_incomplete_notes(repo, mine))
    return RepoReport(
        repo_id=repo.repo_id,
        repo_type=repo.repo_type,
        folder=repo.folder,
        revisions=tuple(_revision_report(state, allow_unverified) for state in mine),
        incomplete=repo.incomplete,
        problems=repo.problems + tuple(state.problem for state in mine if state.problem),
        notes=tuple(notes),
        complete=complete,
    )


def _revision_report(state: _Revision, allow_unverified: bool) -> RevisionReport:
    notes = list(state.notes)
    if len(state.absent) < state.absent_count:
        notes.append(
            f"{len(state.absent)} of the {state.absent_count} files not downloaded are named: "
            f"a run names at most {NOT_DOWNLOADED_NAMES_KEPT}"
        )
    if state.absent_count:
        size = state.absent_bytes
        count = state.absent_count
        source = state.listing_source or "its file listing"
        notes.append(
            f"{count} file{'' if count == 1 else 's'} of the revision ({format_bytes(size)}) "
            f"{'was' if count == 1 else 'were'} not downloaded (listed in {source})"
        )
    return RevisionReport(
        commit=state.revision.commit,
        refs=state.revision.refs,
        snapshot=state.revision.snapshot,
        download=state.download or state.revision.commit,
        files=tuple(check for check in state.checks if check is not None),
        not_downloaded=state.absent,
        not_downloaded_count=state.absent_count,
        not_downloaded_bytes=state.absent_bytes,
        notes=tuple(notes),
        allow_unverified=allow_unverified,
    )


def _incomplete_notes(repo: CachedRepo, revisions: Sequence[_Revision]) -> List[str]:
    """Each interrupted download, with the files of the revisions it was for when a listing
    or a link names its address."""
    wanted: Dict[str, List[str]] = {}
    for state in revisions:
        label = state.revision.commit[:12]
        for listed in state.absent:
            wanted.setdefault(listed.address.hexdigest, []).append(f"{listed.name} at {label}")
        for check in state.checks:
            if check is not None and check.status == Status.MISSING and check.address:
                wanted.setdefault(check.address, []).append(f"{check.name} at {label}")
    notes = []
    for blob in repo.incomplete:
        files = wanted.get(blob.address)
        what = f" of {', '.join(dict.fromkeys(files))}" if files else ""
        notes.append(
            f"{blob.name} ({format_bytes(blob.size)}): an interrupted download{what}; "
            "download it again"
        )
    return notes


__all__ = [
    "CacheReport",
    "CachedFileCheck",
    "RepoReport",
    "RevisionReport",
    "describe_revision",
    "verify_cache",
]
