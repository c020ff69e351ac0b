"""What ``verify --repair`` reports, and which failed files it acts on.

A file is moved aside only when it was read and its content is not what its own content
address says (:func:`fails_its_address`): a file that failed unread (a link out of the cache,
a link to another file's blob) is left where it is, and nothing that verified is touched.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Tuple

from belle_patch.check.verdict import FileCheck
from belle_patch.hub.book import CACHE_SNAPSHOT, GIT_CLONE
from belle_patch.vocabulary import Status


@dataclass(frozen=True)
class KeptAside:
    """One path moved out of the download's reach: ``moved`` is where it was, ``kept_at``
    where it is now; ``name`` is the file whose check failed (as output lines name it)."""

    name: str
    moved: Path
    kept_at: Path


@dataclass(frozen=True)
class NotMoved:
    """A failed file left where it is, and why (a link on the way, gone since, ...)."""

    name: str
    reason: str


@dataclass(frozen=True)
class RestoreCommand:
    """The command that fetches ``files`` again (``argv`` as a list, for a shell to quote);
    ``note`` says what to fill in or have installed."""

    argv: Tuple[str, ...]
    files: Tuple[str, ...]
    note: str = ""


@dataclass(frozen=True)
class RepairReport:
    """What ``--repair`` did: paths kept aside, failed files left alone, commands to run."""

    kept_aside: Tuple[KeptAside, ...] = ()
    not_moved: Tuple[NotMoved, ...] = ()
    commands: Tuple[RestoreCommand, ...] = ()


@dataclass(frozen=True)
class DownloadTarget:
    """The one download a single-download verify checks: its layout (``cache snapshot``,
    ``--local-dir download``, ``git clone``), its folder and, when known, its commit."""

    layout: str
    root: Path
    revision: Optional[str] = None


@dataclass
class Collected:
    """A repair's findings as they are made."""

    kept: List[KeptAside] = field(default_factory=list)
    not_moved: List[NotMoved] = field(default_factory=list)
    commands: List[RestoreCommand] = field(default_factory=list)

    def report(self) -> RepairReport:
        return RepairReport(tuple(self.kept), tuple(self.not_moved), tuple(self.commands))


def fails_its_address(check: FileCheck) -> bool:
    """The file was read, and its content is not what its own content address says."""
    return (
        check.status == Status.FAILED
        and bool(check.address)
        and check.actual_address is not None
        and check.actual_address != check.address
    )


def refetched(check: FileCheck, layout: str = CACHE_SNAPSHOT) -> bool:
    """A file the download names but lacks (a missing blob, an absent shard): the command
    fetches it too. In a clone only a file git tracks (one with an address): a path git does
    not know would make the whole checkout fail."""
    return check.status == Status.MISSING and (bool(check.address) or layout != GIT_CLONE)
