"""``verify``: md5sum -c for model folders, with the bundled lists."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import click

import belle_patch
from belle_patch import FAILED, OK, FileCheck, ProgressEvents, VerifyReport
from belle_patch.cli.common import JSON_OPTION, PATH, RELEASE_OPTION, jobs_option
from belle_patch.expect.names import escape_name, printable, status_line


class _Notes(ProgressEvents):
    """Prints the job's notes on stderr as they come."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def note(self, message: str) -> None:
        if self.enabled:
            click.echo(f"belle-patch: {printable(message)}", err=True)


@click.command(short_help="Check files against MD5 lists or a Hugging Face download's hashes.")
# Not PATH: "hf:ORG/NAME" must reach the job as written (a Path would change it on Windows).
@click.argument(
    "paths", nargs=-1, type=click.Path(path_type=str), metavar="[PATH | hf:ORG/NAME]..."
)
@click.option(
    "--manifest", "-m", type=PATH, help="MD5 list (md5sum format) or belle-patch JSON manifest."
)
@RELEASE_OPTION
@click.option(
    "--revision",
    metavar="REV",
    help="Branch or commit of a cache repo folder or hf:ORG/NAME (default: refs/main).",
)
@click.option(
    "--allow-unverified",
    is_flag=True,
    help="Do not fail on a download's files that have no content address (NOT VERIFIED).",
)
@click.option(
    "--base",
    "base",
    is_flag=True,
    help="PATH is a converted LLaMA folder: check it against the base list of the release "
    "(Open-Assistant, PygmalionAI) made against it.",
)
@click.option(
    "--complete",
    is_flag=True,
    help="Fail when a file of the download's revision was not downloaded (per its listing).",
)
@click.option("--quiet", "-q", is_flag=True, help="Do not print OK or NOT DOWNLOADED lines.")
@click.option("--status", is_flag=True, help="Print nothing; the exit code says it all.")
@click.option("--strict", is_flag=True, help="Fail on improperly formatted list lines.")
@click.option("--ignore-missing", is_flag=True, help="Do not fail on listed files that are absent.")
@click.option("--full", is_flag=True, help="Always hash with MD5, even files verified before.")
@jobs_option("Files hashed", "the number of cores")
@JSON_OPTION
def verify(
    paths: Tuple[str, ...],
    manifest: Optional[Path],
    release_name: Optional[str],
    revision: Optional[str],
    allow_unverified: bool,
    base: bool,
    complete: bool,
    quiet: bool,
    status: bool,
    strict: bool,
    ignore_missing: bool,
    full: bool,
    jobs: Optional[int],
    as_json: bool,
) -> None:
    """Check restored files or .enc downloads against an MD5 list, like md5sum -c.

    PATH is a folder (its files are looked up by the listed names, subfolders included)
    or files; default: the current folder. Without --manifest or --release, patch names
    tell their release; restored files are checked against the bundled release whose
    names and MD5s they match, or else, in a folder belle-patch restored, against what
    was verified when it was restored. Prints "name: OK" or "name: FAILED" on stdout and
    warnings on stderr; names with a newline or backslash are escaped as md5sum does.
    Exit 0 only if every listed file matches. Files that belle-patch restored and that are
    unchanged since (size and mtime) are checked with the much faster xxh3 against what
    was recorded then; --full always uses MD5.

    A Hugging Face download given as the only PATH is checked offline, every file against
    the hash it carries on disk (SHA-256 for LFS files, git blob id for small ones): a
    cache snapshot folder, a cache repo folder (models--ORG--NAME: refs/main, or
    --revision), a --local-dir download, a git clone (against its HEAD commit), or
    hf:ORG/NAME (hf:ORG/NAME@REV), a repo in the cache at $HF_HUB_CACHE, else
    $HF_HOME/hub, else ~/.cache/huggingface/hub (write ./hf:x for a folder named so). An
    MD5 list (--manifest, --release, or the bundled release the files match) is checked in
    the same read; a list given that checks no file fails. A file with neither a
    hash nor a listed MD5 prints "name: NOT VERIFIED" and fails the check unless
    --allow-unverified; a file the download names but lacks, a missing blob, or a cache
    link that leads out of the repo's blobs/ (never read) prints "FAILED open or read".
    Where huggingface_hub kept the revision's file listing (trees/COMMIT.json), each file
    must also have the address the listing gives its path, and the listed files not
    downloaded print "name: NOT DOWNLOADED" (with a count and size on stderr): they fail
    only with --complete. A shard named by a present *.index.json and not downloaded fails.

    OpenBuddy and Open-Assistant / PygmalionAI releases are told the same way. Their
    downloads (.enc files, or the XOR payload folder) are checked against the download
    checksums the release publishes (MD5 or SHA-256); a release that publishes none checks
    nothing and fails. With --base, PATH is the converted LLaMA folder an Open-Assistant
    payload is XORed with: it is checked against the base MD5s of --release (or of the
    release whose base list its names and smallest file match); a differing file is named
    with the conversion environment the release pins.

    \b
    Examples:
      belle-patch verify BELLE-LLaMA-13B-2M/
      belle-patch verify model/ --manifest md5sums.txt --status
      belle-patch verify BELLE-LLaMA-13B-2M-enc/ --json > report.json
      belle-patch verify hf:BelleGroup/BELLE-7B-1M
      belle-patch verify BELLE-7B-1M/ --allow-unverified
      belle-patch verify llama-30b-hf/ --base --release oasst-sft-6-llama-30b-xor
    """
    if manifest is not None and release_name is not None:
        raise click.UsageError("--manifest and --release exclude each other")
    report = belle_patch.verify(
        list(paths) or ["."],
        manifest=manifest,
        release=release_name,
        revision=revision,
        allow_unverified=allow_unverified,
        base=base,
        complete=complete,
        full=full,
        jobs=jobs,
        ignore_missing=ignore_missing,
        strict=strict,
        progress=_Notes(enabled=not status and not as_json),
    )
    if as_json:
        _echo_json(_verify_json(report))
    elif not status:
        for check in report.files:
            _echo_check(check, quiet)
        if not quiet:
            checked = {check.name for check in report.files} if report.not_downloaded else set()
            for listed in report.not_downloaded:
                if listed.name not in checked:  # an absent shard has its FAILED line
                    click.echo(status_line(listed.name, "NOT DOWNLOADED"))
        _echo_warnings(report, allow_unverified)
    if not report.ok:
        sys.exit(1)


def _shown(name: str) -> str:
    return printable(escape_name(name)[0])


def _echo_check(check: FileCheck, quiet: bool) -> None:
    if check.status == OK:
        if not quiet:
            click.echo(status_line(check.name, "OK"))
    elif check.not_verified:
        click.echo(f"belle-patch: {_shown(check.name)}: {check.detail}", err=True)
        click.echo(status_line(check.name, check.status))
    elif check.unread:
        click.echo(f"belle-patch: {_shown(check.name)}: {check.detail}", err=True)
        click.echo(status_line(check.name, "FAILED open or read"))
    else:
        if check.detail:
            click.echo(f"belle-patch: {_shown(check.name)}: {check.detail}", err=True)
        click.echo(status_line(check.name, "FAILED"))


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _echo_warnings(report: VerifyReport, allow_unverified: bool) -> None:
    for line, problem in report.problems:
        click.echo(f"belle-patch: {printable(report.against)}: {line}: {problem}", err=True)
    mismatched = sum(1 for c in report.files if c.status == FAILED)
    unread = sum(1 for c in report.files if c.unread)
    unverified = len(report.not_verified)
    count = report.problem_count
    if count:
        verb = "is" if count == 1 else "are"
        click.echo(f"belle-patch: WARNING: {_plural(count, 'line')} {verb} improperly formatted",
                   err=True)  # fmt: skip
    if unread:
        noun = "file" if report.download else "listed file"
        click.echo(f"belle-patch: WARNING: {_plural(unread, noun)} could not be read",
                   err=True)  # fmt: skip
    if mismatched:
        click.echo(
            f"belle-patch: WARNING: {_plural(mismatched, 'computed checksum')} did NOT match",
            err=True,
        )
    if unverified:
        verb = "was" if unverified == 1 else "were"
        what = f"{_plural(unverified, 'file')} {verb} NOT verified: no content address or MD5"
        accepted = " (accepted: --allow-unverified)" if allow_unverified else ""
        click.echo(f"belle-patch: WARNING: {what}{accepted}", err=True)


def _file_json(c: FileCheck) -> Dict[str, Any]:
    return {
        "name": c.name,
        "status": c.status,
        "expected_md5": c.expected or None,
        "actual_md5": c.actual,
        "method": c.method or None,
        "verified_by": list(c.verified_by),
        "expected_address": c.address or None,
        "actual_address": c.actual_address,
        "path": str(c.path) if c.path else None,
        "detail": c.detail or None,
    }


class _Rows(List[Dict[str, Any]]):
    """The files' rows, made one at a time as the encoder asks for them: a million-line list
    is written without holding a million row objects (and their text) at once."""

    def __init__(self, files: Sequence[FileCheck]) -> None:
        super().__init__()
        self._files = files

    def __len__(self) -> int:
        return len(self._files)

    def __bool__(self) -> bool:
        return bool(self._files)

    def __iter__(self) -> Iterator[Dict[str, Any]]:
        return (_file_json(check) for check in self._files)


def _echo_json(document: Dict[str, Any]) -> None:
    """``json.dumps(document, indent=2)`` and a newline, written as it is encoded (the
    encoder that indents is the one that walks lists with ``iter``)."""
    out = sys.stdout
    for chunk in json.JSONEncoder(indent=2).iterencode(document):
        out.write(chunk)
    out.write("\n")
    out.flush()


def _verify_json(report: VerifyReport) -> Dict[str, Any]:
    return {
        "ok": report.ok,
        "against": report.against,
        "release": report.release,
        "download": report.download,
        "files": _Rows(report.files),
        "improper_lines": [{"line": n, "problem": p} for n, p in report.problems],
        "improper_line_count": report.problem_count,
        "unchecked": list(report.unchecked),
        "not_downloaded": [
            {
                "name": listed.name,
                "size": listed.size,
                "expected_address": listed.address.hexdigest,
                "method": listed.address.kind,
            }
            for listed in report.not_downloaded
        ],
        "not_downloaded_bytes": sum(listed.size for listed in report.not_downloaded),
        "notes": list(report.notes),
    }
