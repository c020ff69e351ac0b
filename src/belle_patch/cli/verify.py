"""``verify``: md5sum -c for model folders, with the bundled lists."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import click

import belle_patch
from belle_patch import FAILED, ProgressEvents, VerifyReport
from belle_patch.cli.cache_output import cache_json, echo_cache, echo_repair, repair_json
from belle_patch.cli.common import JSON_OPTION, PATH, RELEASE_OPTION, jobs_option
from belle_patch.cli.progress import BarProgress
from belle_patch.cli.render import Rows, echo_check, echo_json, plural
from belle_patch.expect.names import printable, status_line

# ``belle-patch verify hf:`` names the whole default cache, as ``hf:ORG/NAME`` names a repo.
WHOLE_CACHE = "hf:"


class _Notes(ProgressEvents):
    """Prints the job's notes on stderr as they come."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def note(self, message: str) -> None:
        if self.enabled:
            click.echo(f"belle-patch: {printable(message)}", err=True)


class _CacheBars(BarProgress):
    """A whole cache: one bar of the bytes read over every blob (on a terminal), the job's
    notes on stderr; the files' lines are printed from the report at the end."""

    def __init__(self, enabled: bool) -> None:
        super().__init__(lambda outcome: None, enabled=enabled, show_notes=False)
        self._notes = enabled

    def note(self, message: str) -> None:
        if self._notes:
            self.write(f"belle-patch: {printable(message)}", err=True)

    def file_started(self, path: Path, size: int) -> None:
        """No bar per blob: a cache can hold a hundred thousand small ones."""


@click.command(short_help="Check files against MD5 lists or a Hugging Face download's hashes.")
# Not PATH: "hf:ORG/NAME" must reach the job as written (a Path would change it on Windows).
@click.argument(
    "paths", nargs=-1, type=click.Path(path_type=str), metavar="[PATH | hf:ORG/NAME | hf:]..."
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
@click.option(
    "--repair",
    is_flag=True,
    help="Move each downloaded file that fails its content address aside (kept, never "
    "deleted) so that its download command fetches it again, and print that command.",
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
    repair: bool,
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

    A whole Hugging Face cache (the folder holding models--*, datasets--*, spaces--*), or
    hf: alone for the cache huggingface_hub uses, is checked every repo and every revision,
    each distinct blob read once: each line names its repo and revision
    (ORG/NAME@COMMIT/PATH: OK), stderr has a summary per repo and what interrupted downloads
    left (blobs/*.incomplete, which fail only with --complete).

    --repair moves each downloaded file that fails its content address out of the
    download's reach, kept (never deleted) in REPO/.belle-patch-bad/ of a cache (and
    blobs/.belle-patch-bad/ for the shared store), .cache/huggingface/belle-patch-bad/ of a
    --local-dir download or .belle-patch/bad/ of a git clone (nothing in .git is changed),
    then prints the command that fetches the failed and missing files again (hf download,
    or git checkout). Nothing that verified is touched.

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
      belle-patch verify hf: --repair
      belle-patch verify ~/.cache/huggingface/hub --json > cache-report.json
      belle-patch verify BELLE-7B-1M/ --allow-unverified
      belle-patch verify llama-30b-hf/ --base --release oasst-sft-6-llama-30b-xor
    """
    if manifest is not None and release_name is not None:
        raise click.UsageError("--manifest and --release exclude each other")
    targets = list(paths) or ["."]
    cache = _whole_cache(targets)
    if cache is not None:
        _refuse_for_cache(manifest, release_name, revision, base)
        _verify_cache(
            cache or None,
            jobs=jobs,
            allow_unverified=allow_unverified,
            complete=complete,
            repair=repair,
            quiet=quiet,
            status=status,
            as_json=as_json,
        )
        return
    download = _repair_target(targets, revision) if repair else None
    report = belle_patch.verify(
        targets,
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
    repaired = belle_patch.repair_download(download, report) if download else None
    if as_json:
        document = _verify_json(report)
        if download is not None:
            document["repair"] = repair_json(repaired) if repaired is not None else None
        echo_json(document)
    elif not status:
        for check in report.files:
            echo_check(check, quiet)
        if not quiet:
            checked = {check.name for check in report.files} if report.not_downloaded else set()
            for listed in report.not_downloaded:
                if listed.name not in checked:  # an absent shard has its FAILED line
                    click.echo(status_line(listed.name, "NOT DOWNLOADED"))
        _echo_warnings(report, allow_unverified)
        if repaired is not None:
            echo_repair(repaired)
    if not report.ok:
        sys.exit(1)


def _whole_cache(targets: List[str]) -> Optional[str]:
    """The cache folder to check whole ("" for the default cache, ``hf:``), or None when
    the paths are not a cache. A cache is checked on its own."""
    found = [target for target in targets if _is_whole_cache(target)]
    if not found:
        return None
    if len(targets) > 1:
        shown = "hf:" if found[0] == WHOLE_CACHE else found[0]
        raise click.UsageError(
            f"{shown} is a whole Hugging Face cache: check it on its own (give it as the only path)"
        )
    return "" if found[0] == WHOLE_CACHE else found[0]


def _is_whole_cache(target: str) -> bool:
    if target == WHOLE_CACHE:
        return True
    return os.path.isdir(target) and belle_patch.is_hub_cache(Path(target))


def _refuse_for_cache(
    manifest: Optional[Path], release_name: Optional[str], revision: Optional[str], base: bool
) -> None:
    """Options that choose what one download is checked against do not apply to a cache."""
    given = [
        name
        for name, value in (
            ("--manifest", manifest is not None),
            ("--release", release_name is not None),
            ("--revision", revision is not None),
            ("--base", base),
        )
        if value
    ]
    if given:
        raise click.UsageError(
            f"{', '.join(given)} cannot be used with a whole cache, whose every revision is "
            "checked against its own addresses; to use it, name one repo: hf:ORG/NAME"
        )


def _repair_target(targets: List[str], revision: Optional[str]) -> belle_patch.DownloadTarget:
    """The download --repair works on: a Hugging Face download given as the only path."""
    found = belle_patch.find_download(targets[0], revision) if len(targets) == 1 else None
    if found is None:
        raise click.UsageError(
            "--repair works on one Hugging Face download (a cache repo or snapshot, "
            "hf:ORG/NAME, a --local-dir download or a git clone) or a whole cache (hf:)"
        )
    return found


def _verify_cache(
    root: Optional[str],
    *,
    jobs: Optional[int],
    allow_unverified: bool,
    complete: bool,
    repair: bool,
    quiet: bool,
    status: bool,
    as_json: bool,
) -> None:
    bars = _CacheBars(enabled=not status and not as_json)
    try:
        report = belle_patch.verify_cache(
            root, jobs=jobs, allow_unverified=allow_unverified, complete=complete, progress=bars
        )
    finally:
        bars.close()
    repaired = belle_patch.repair_cache(report) if repair else None
    if as_json:
        echo_json(cache_json(report, repaired))
    elif not status:
        echo_cache(report, quiet=quiet, allow_unverified=allow_unverified)
        if repaired is not None:
            echo_repair(repaired)
    if not report.ok:
        sys.exit(1)


def _echo_warnings(report: VerifyReport, allow_unverified: bool) -> None:
    for line, problem in report.problems:
        click.echo(f"belle-patch: {printable(report.against)}: {line}: {problem}", err=True)
    mismatched = sum(1 for c in report.files if c.status == FAILED)
    unread = sum(1 for c in report.files if c.unread)
    unverified = len(report.not_verified)
    count = report.problem_count
    if count:
        verb = "is" if count == 1 else "are"
        click.echo(f"belle-patch: WARNING: {plural(count, 'line')} {verb} improperly formatted",
                   err=True)  # fmt: skip
    if unread:
        noun = "file" if report.download else "listed file"
        click.echo(f"belle-patch: WARNING: {plural(unread, noun)} could not be read",
                   err=True)  # fmt: skip
    if mismatched:
        click.echo(
            f"belle-patch: WARNING: {plural(mismatched, 'computed checksum')} did NOT match",
            err=True,
        )
    if unverified:
        verb = "was" if unverified == 1 else "were"
        what = f"{plural(unverified, 'file')} {verb} NOT verified: no content address or MD5"
        accepted = " (accepted: --allow-unverified)" if allow_unverified else ""
        click.echo(f"belle-patch: WARNING: {what}{accepted}", err=True)


def _verify_json(report: VerifyReport) -> Dict[str, Any]:
    return {
        "ok": report.ok,
        "against": report.against,
        "release": report.release,
        "download": report.download,
        "files": Rows(report.files),
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
