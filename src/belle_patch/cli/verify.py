"""``verify``: md5sum -c for model folders, with the bundled lists."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Tuple

import click

from belle_patch.expectations import Expectations, load_manifest_file
from belle_patch.registry import find_release
from belle_patch.verify import (
    MISSING,
    OK,
    UNREADABLE,
    FileCheck,
    checks_for,
    detect_release_for,
    index_files,
    verify_entries,
)

from .common import JSON_OPTION, PATH, jobs_option


@click.command()
@click.argument("paths", nargs=-1, type=PATH, metavar="[PATH]...")
@click.option(
    "--manifest", "-m", type=PATH, help="MD5 list (md5sum format) or belle-patch JSON manifest."
)
@click.option("--release", "release_name", help="Check against this bundled release.")
@click.option("--quiet", is_flag=True, help="Do not print OK lines.")
@click.option("--status", is_flag=True, help="Print nothing; the exit code says it all.")
@click.option("--strict", is_flag=True, help="Fail on improperly formatted list lines.")
@click.option("--ignore-missing", is_flag=True, help="Do not fail on listed files that are absent.")
@click.option("--full", is_flag=True, help="Always hash with MD5, even files verified before.")
@jobs_option("Files hashed", "the number of cores")
@JSON_OPTION
def verify(
    paths: Tuple[Path, ...],
    manifest: Optional[Path],
    release_name: Optional[str],
    quiet: bool,
    status: bool,
    strict: bool,
    ignore_missing: bool,
    full: bool,
    jobs: Optional[int],
    as_json: bool,
) -> None:
    """Check restored files or .enc downloads against an MD5 list, like md5sum -c.

    PATH is a folder (its files are looked up by the listed names) or files; default: the
    current folder. Without --manifest or --release, the bundled release the files belong
    to is found from their names. Prints "name: OK" or "name: FAILED" on stdout and
    warnings on stderr; exit 0 only if every listed file matches. Files that belle-patch
    restored and that are unchanged since (size and mtime) are checked with the much
    faster xxh3 against what was recorded then; --full always uses MD5.

    \b
    Examples:
      belle-patch verify BELLE-LLaMA-13B-2M/
      belle-patch verify model/ --manifest md5sums.txt --status
      belle-patch verify BELLE-LLaMA-13B-2M-enc/ --json > report.json
    """
    if manifest is not None and release_name is not None:
        raise click.UsageError("--manifest and --release exclude each other")
    files = index_files(list(paths) or [Path(".")])
    if manifest is not None:
        expected = load_manifest_file(manifest, strict=False)
    elif release_name is not None:
        expected = Expectations.from_release(find_release(release_name))
    else:
        expected = Expectations.from_release(detect_release_for(files))
        if not status and not as_json:
            click.echo(f"belle-patch: checking against {expected.label}", err=True)
    entries = checks_for(expected, files)
    if ignore_missing:
        entries = {name: md5 for name, md5 in entries.items() if name in files}
    checks = verify_entries(entries, files, jobs=jobs or os.cpu_count() or 1, full=full)
    failed = [c for c in checks if not c.ok]
    ok = not failed and bool(checks) and not (strict and expected.problems)
    if as_json:
        click.echo(json.dumps(_verify_json(checks, expected, ok), indent=2))
    elif not status:
        for check in checks:
            _echo_check(check, quiet)
        _echo_warnings(checks, expected)
    if not status and not as_json:
        if not expected.listed:
            click.echo(f"belle-patch: {expected.label}: no properly formatted checksum lines found",
                       err=True)  # fmt: skip
        elif not checks:
            click.echo(f"belle-patch: {expected.label}: no file was verified", err=True)
    if not ok:
        sys.exit(1)


def _echo_check(check: FileCheck, quiet: bool) -> None:
    if check.status == OK:
        if not quiet:
            click.echo(f"{check.name}: OK")
    elif check.status in (MISSING, UNREADABLE):
        click.echo(f"belle-patch: {check.name}: {check.detail}", err=True)
        click.echo(f"{check.name}: FAILED open or read")
    else:
        click.echo(f"{check.name}: FAILED")


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _echo_warnings(checks: Sequence[FileCheck], expected: Expectations) -> None:
    for line, problem in expected.problems:
        click.echo(f"belle-patch: {expected.label}: {line}: {problem}", err=True)
    mismatched = sum(1 for c in checks if c.status not in (OK, MISSING, UNREADABLE))
    unread = sum(1 for c in checks if c.status in (MISSING, UNREADABLE))
    count = len(expected.problems)
    if count:
        verb = "is" if count == 1 else "are"
        click.echo(f"belle-patch: WARNING: {_plural(count, 'line')} {verb} improperly formatted",
                   err=True)  # fmt: skip
    if unread:
        click.echo(f"belle-patch: WARNING: {_plural(unread, 'listed file')} could not be read",
                   err=True)  # fmt: skip
    if mismatched:
        click.echo(
            f"belle-patch: WARNING: {_plural(mismatched, 'computed checksum')} did NOT match",
            err=True,
        )


def _verify_json(checks: Sequence[FileCheck], expected: Expectations, ok: bool) -> Dict[str, Any]:
    return {
        "ok": ok,
        "against": expected.label,
        "release": expected.release.id if expected.release else None,
        "files": [
            {
                "name": c.name,
                "status": c.status,
                "expected_md5": c.expected,
                "actual_md5": c.actual,
                "method": c.method,
                "path": str(c.path) if c.path else None,
            }
            for c in checks
        ],
        "improper_lines": [{"line": n, "problem": p} for n, p in expected.problems],
    }
