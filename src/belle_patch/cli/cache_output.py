"""How a whole cache's check and ``--repair`` are written: a line per file naming its repo and
revision, a summary per repo, the totals; or one JSON document."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Optional

import click

from belle_patch import FAILED, CacheReport, FileCheck, RepairReport, RepoReport, RevisionReport
from belle_patch.cli.render import Rows, echo_check, plural, shown
from belle_patch.expect.names import printable, status_line
from belle_patch.units import format_bytes


@dataclass
class Counts:
    """How many files ended each way."""

    files: int = 0
    ok: int = 0
    failed: int = 0
    unread: int = 0
    not_verified: int = 0
    not_downloaded: int = 0
    not_downloaded_bytes: int = 0

    def add(self, checks: Iterable[FileCheck]) -> None:
        for check in checks:
            self.files += 1
            self.ok += check.ok
            self.failed += check.status == FAILED
            self.unread += check.unread
            self.not_verified += check.not_verified

    def add_revision(self, revision: RevisionReport) -> None:
        self.add(revision.files)
        self.not_downloaded += revision.not_downloaded_count
        self.not_downloaded_bytes += revision.not_downloaded_bytes

    def merge(self, other: Counts) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def verdicts(self) -> str:
        """``17 OK, 1 FAILED, ...``: every count that is not zero, OK always."""
        parts = [f"{self.ok} OK"]
        if self.failed:
            parts.append(f"{self.failed} FAILED")
        if self.unread:
            parts.append(f"{self.unread} FAILED open or read")
        if self.not_verified:
            parts.append(f"{self.not_verified} NOT VERIFIED")
        text = ", ".join(parts)
        if self.not_downloaded:
            size = format_bytes(self.not_downloaded_bytes)
            text += f"; {self.not_downloaded} not downloaded ({size})"
        return text

    def as_json(self) -> Dict[str, int]:
        return dict(self.__dict__)


def repo_counts(repo: RepoReport) -> Counts:
    counts = Counts()
    for revision in repo.revisions:
        counts.add_revision(revision)
    return counts


def label(repo_id: str, commit: str) -> str:
    """How lines name a revision of a repo: ``ORG/NAME@COMMIT12``."""
    return f"{repo_id}@{commit[:12]}"


def _note(message: str) -> None:
    click.echo(f"belle-patch: {printable(message)}", err=True)


def echo_cache(report: CacheReport, *, quiet: bool, allow_unverified: bool) -> None:
    """Every file's line on stdout, repo by repo; reasons, summaries and warnings on stderr."""
    total = Counts()
    for repo in report.repos:
        total.merge(_echo_repo(repo, quiet))
    # The cache's own problems and notes were printed as the job made them (progress notes).
    _note(
        f"{plural(len(report.repos), 'repo')}, {plural(report.revision_count, 'revision')}, "
        f"{plural(total.files, 'file')} ({plural(report.blobs_read, 'distinct blob')} read, "
        f"{format_bytes(report.bytes_read)}): {total.verdicts()}"
    )
    _echo_warnings(total, allow_unverified)


def _echo_repo(repo: RepoReport, quiet: bool) -> Counts:
    for revision in repo.revisions:
        where = label(repo.repo_id, revision.commit)
        for message in revision.notes:
            _note(f"{shown(where)}: {message}")
        for check in revision.files:
            echo_check(check, quiet, f"{where}/{check.name}")
        if not quiet:
            checked = {check.name for check in revision.files}
            for listed in revision.not_downloaded:
                if listed.name not in checked:  # an absent shard has its FAILED line
                    click.echo(status_line(f"{where}/{listed.name}", "NOT DOWNLOADED"))
    for message in (*repo.problems, *repo.notes):
        _note(f"{shown(repo.repo_id)}: {message}")
    counts = repo_counts(repo)
    revisions = ", ".join(_revision_name(revision) for revision in repo.revisions)
    shown_revisions = f" ({revisions})" if revisions else ""
    interrupted = f"; {plural(len(repo.incomplete), 'interrupted download')}"
    _note(
        f"{shown(repo.repo_id)}: {plural(len(repo.revisions), 'revision')}{shown_revisions}, "
        f"{plural(counts.files, 'file')}: {counts.verdicts()}"
        f"{interrupted if repo.incomplete else ''}"
    )
    return counts


def _revision_name(revision: RevisionReport) -> str:
    refs = f" {', '.join(revision.refs)}" if revision.refs else ""
    return f"{revision.commit[:12]}{refs}"


def _echo_warnings(total: Counts, allow_unverified: bool) -> None:
    if total.unread:
        _note(f"WARNING: {plural(total.unread, 'file')} could not be read")
    if total.failed:
        _note(f"WARNING: {plural(total.failed, 'computed checksum')} did NOT match")
    if total.not_verified:
        verb = "was" if total.not_verified == 1 else "were"
        accepted = " (accepted: --allow-unverified)" if allow_unverified else ""
        what = f"{plural(total.not_verified, 'file')} {verb} NOT verified: no content address"
        _note(f"WARNING: {what}{accepted}")


def cache_json(report: CacheReport, repair: Optional[RepairReport]) -> Dict[str, Any]:
    total = Counts()
    repos = []
    for repo in report.repos:
        counts = repo_counts(repo)
        total.merge(counts)
        repos.append(_repo_json(repo, counts))
    return {
        "ok": report.ok,
        "cache": str(report.root),
        "repos": repos,
        "problems": [{"path": name, "problem": problem} for name, problem in report.problems],
        "counts": {
            **total.as_json(),
            "repos": len(report.repos),
            "revisions": report.revision_count,
            "blobs_read": report.blobs_read,
            "bytes_read": report.bytes_read,
        },
        "notes": list(report.notes),
        "repair": repair_json(repair) if repair is not None else None,
    }


def _repo_json(repo: RepoReport, counts: Counts) -> Dict[str, Any]:
    return {
        "repo_id": repo.repo_id,
        "repo_type": repo.repo_type,
        "folder": str(repo.folder),
        "ok": repo.ok,
        "counts": counts.as_json(),
        "problems": list(repo.problems),
        "notes": list(repo.notes),
        "incomplete": [
            {"name": blob.name, "size": blob.size, "expected_address": blob.address}
            for blob in repo.incomplete
        ],
        "revisions": [_revision_json(revision) for revision in repo.revisions],
    }


def _revision_json(revision: RevisionReport) -> Dict[str, Any]:
    return {
        "commit": revision.commit,
        "refs": list(revision.refs),
        "snapshot": str(revision.snapshot),
        "download": revision.download,
        "ok": revision.ok,
        "files": Rows(revision.files),
        "not_downloaded": [
            {
                "name": listed.name,
                "size": listed.size,
                "expected_address": listed.address.hexdigest,
                "method": listed.address.kind,
            }
            for listed in revision.not_downloaded
        ],
        "not_downloaded_bytes": revision.not_downloaded_bytes,
        "not_downloaded_count": revision.not_downloaded_count,
        "notes": list(revision.notes),
    }


def repair_json(repair: RepairReport) -> Dict[str, Any]:
    return {
        "kept_aside": [
            {"name": kept.name, "moved": str(kept.moved), "kept_at": str(kept.kept_at)}
            for kept in repair.kept_aside
        ],
        "not_moved": [{"name": item.name, "reason": item.reason} for item in repair.not_moved],
        "commands": [
            {
                "argv": list(command.argv),
                "command": shlex.join(command.argv),
                "files": list(command.files),
                "note": command.note or None,
            }
            for command in repair.commands
        ],
    }


def echo_repair(repair: RepairReport) -> None:
    """What was kept aside and where, what was left, and the commands, on stderr; each
    command on a line of its own, ready to paste."""
    for kept in repair.kept_aside:
        _note(f"{shown(kept.name)}: kept aside (not deleted): {kept.moved} -> {kept.kept_at}")
    for item in repair.not_moved:
        _note(f"{shown(item.name)}: not moved: {item.reason}")
    if not repair.commands:
        if repair.not_moved or repair.kept_aside:
            _note("nothing to fetch again")
        return
    _note("to fetch the failed and missing files again, run:")
    lines: List[str] = []
    for command in repair.commands:
        if command.note:
            lines.append(f"# {command.note}")
        lines.append(shlex.join(command.argv))
    for line in lines:
        click.echo(printable(line), err=True)
