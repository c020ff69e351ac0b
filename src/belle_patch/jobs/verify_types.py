"""What one ``verify`` is asked and what it reports: the pieces the folder check
(:mod:`belle_patch.jobs.verify`) and the download check (:mod:`belle_patch.jobs.verify_download`)
share."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import List, Optional, Tuple, Union

from belle_patch.check.verdict import FileCheck
from belle_patch.expect.expectations import Expectations
from belle_patch.hub.listing import ListedFile
from belle_patch.stream.events import Progress
from belle_patch.vocabulary import Status

BASE_DIFFERS = "this base file differs from the conversion the release was made against"

PathArg = Union[str, "os.PathLike[str]"]


@dataclass(frozen=True)
class VerifyReport:
    """The outcome of :func:`verify`.

    ``ok`` is true only if at least one file was checked and every checked file matched
    (and, with ``strict``, every list line was well formed), as ``md5sum -c`` decides.
    ``against`` names what the files were checked against (a release name, a list's path
    or the state file of a folder belle-patch restored); ``release`` is the bundled
    release's id, or None. ``files`` holds one :class:`~belle_patch.check.verdict.FileCheck`
    per checked name, in list order. ``problems`` holds ``(line number, problem)`` for the
    list lines that could not be read (the first 100; ``problem_count`` counts them all).
    ``notes`` are the one-line remarks made along the way; ``unchecked`` names the files
    the release lists without an MD5, which could not be checked. ``download`` describes
    the Hugging Face download checked against its content addresses (layout, repo,
    revision), or is None for a plain folder.
    """

    ok: bool
    against: str
    release: Optional[str]
    files: Tuple[FileCheck, ...]
    problems: Tuple[Tuple[int, str], ...] = ()
    problem_count: int = 0
    notes: Tuple[str, ...] = ()
    unchecked: Tuple[str, ...] = ()
    download: Optional[str] = None
    not_downloaded: Tuple[ListedFile, ...] = ()

    @property
    def failed(self) -> Tuple[FileCheck, ...]:
        """The files that did not match, could not be read, or could not be verified."""
        return tuple(check for check in self.files if not check.ok)

    @property
    def not_verified(self) -> Tuple[FileCheck, ...]:
        """A download's files with neither a content address nor a listed MD5."""
        return tuple(check for check in self.files if check.not_verified)


@dataclass(frozen=True)
class _Asked:
    """What the caller asked of one verify, past the paths."""

    manifest: Optional[Path]
    release: Optional[str]
    jobs: Optional[int]
    full: bool
    ignore_missing: bool
    strict: bool
    allow_unverified: bool
    base: bool
    complete: bool


class _Notes:
    """Tells the progress object each note as it is made, and keeps them for the report."""

    def __init__(self, events: Progress) -> None:
        self.events = events
        self.kept: List[str] = []

    def __call__(self, message: str) -> None:
        self.kept.append(message)
        self.events.note(message)


def _base_verdict(check: FileCheck, expected: Expectations) -> FileCheck:
    """A differing base file says what it differs from: a wrong conversion, not a bad
    download, is the usual cause."""
    if check.status != Status.FAILED:
        return check
    pinned = f"; the release names: {expected.environment}" if expected.environment else ""
    return replace(check, detail=f"{BASE_DIFFERS}{pinned}")
