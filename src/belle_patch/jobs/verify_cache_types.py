"""What ``verify_cache`` reports: each repo of a cache, its revisions, each file's verdict."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Tuple

from belle_patch.check.verdict import FileCheck
from belle_patch.hub.listing import ListedFile
from belle_patch.hub.whole_cache import IncompleteBlob


@dataclass(frozen=True)
class RevisionReport:
    """One revision of a repo: a verdict per file, what its listing says was not downloaded.

    ``download`` describes it as the single-download check does (layout, repo, commit).
    """

    commit: str
    refs: Tuple[str, ...]
    snapshot: Path
    download: str
    files: Tuple[FileCheck, ...]
    not_downloaded: Tuple[ListedFile, ...] = ()
    notes: Tuple[str, ...] = ()
    allow_unverified: bool = False
    # All files not downloaded; ``not_downloaded`` names them unless a run lists too many.
    not_downloaded_count: int = 0
    not_downloaded_bytes: int = 0

    @property
    def ok(self) -> bool:
        """Every file OK (NOT VERIFIED accepted with ``allow_unverified``)."""
        return all(accepted(check, self.allow_unverified) for check in self.files)


@dataclass(frozen=True)
class RepoReport:
    """One repo folder: its revisions, interrupted downloads, and what could not be read."""

    repo_id: str
    repo_type: str
    folder: Path
    revisions: Tuple[RevisionReport, ...]
    incomplete: Tuple[IncompleteBlob, ...] = ()
    problems: Tuple[str, ...] = ()
    notes: Tuple[str, ...] = ()
    complete: bool = False

    @property
    def files(self) -> Iterator[FileCheck]:
        for revision in self.revisions:
            yield from revision.files

    @property
    def ok(self) -> bool:
        """Every revision OK, no problem, and with ``complete`` no interrupted download."""
        incomplete = self.complete and bool(self.incomplete)
        return all(r.ok for r in self.revisions) and not self.problems and not incomplete


@dataclass(frozen=True)
class CacheReport:
    """The outcome of :func:`verify_cache`.

    ``ok``: at least one file checked, every repo OK, and no entry of the cache that looks
    like a repo was refused. ``problems``: ``(entry, reason)`` for such entries (a linked
    repo folder). ``blobs_read``/``bytes_read``: the distinct files read, each once.
    """

    ok: bool
    root: Path
    repos: Tuple[RepoReport, ...]
    problems: Tuple[Tuple[str, str], ...] = ()
    blobs_read: int = 0
    bytes_read: int = 0
    notes: Tuple[str, ...] = ()

    @property
    def revision_count(self) -> int:
        return sum(len(repo.revisions) for repo in self.repos)

    def all_files(self) -> Iterator[Tuple[RepoReport, RevisionReport, FileCheck]]:
        for repo in self.repos:
            for revision in repo.revisions:
                for check in revision.files:
                    yield repo, revision, check


@dataclass(frozen=True)
class CachedFileCheck:
    """What ``progress.file_done`` receives for each file: its repo, revision and verdict."""

    repo_id: str
    commit: str
    check: FileCheck


def accepted(check: FileCheck, allow_unverified: bool) -> bool:
    return check.ok or (allow_unverified and check.not_verified)


def describe_revision(repo_id: str, commit: str) -> str:
    """How output lines name a revision: ``ORG/NAME@COMMIT12``."""
    return f"{repo_id}@{commit[:12]}"


__all__ = [
    "CacheReport",
    "CachedFileCheck",
    "RepoReport",
    "RevisionReport",
    "accepted",
    "describe_revision",
]
