"""Pieces shared by the commands: argument forms, output folder checks, batch rendering."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple, TypeVar

import click

from belle_patch.batch import BatchReport, FileFailure, Selection, StopRule, default_jobs, run_batch
from belle_patch.engine import ProgressCallback
from belle_patch.errors import OutputError, UsageError
from belle_patch.progress import BarObserver
from belle_patch.staging import StagedFile, remove_stale_temporaries
from belle_patch.units import format_bytes, format_rate

F = TypeVar("F", bound=Callable[..., Any])

PATH = click.Path(path_type=Path)
JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print a JSON report on stdout.")


def jobs_option(what: str, default: str) -> Callable[[F], F]:
    return click.option(
        "--jobs",
        "-j",
        type=click.IntRange(min=1),
        default=None,
        help=f"{what} at once (default: {default}).",
    )


def echo_error(message: object) -> None:
    click.echo(f"belle-patch: error: {message}", err=True)


def positional_key_and_out(
    inputs: Tuple[Path, ...], key: Optional[Path], out: Optional[Path], command: str
) -> Tuple[List[Path], Path, Path]:
    """Accept the publishers' form ``INPUT... KEY OUTDIR`` as well as ``--key``/``--out``."""
    items = list(inputs)
    if key is None and out is None and len(items) >= 3:
        out = items.pop()
    if key is None and out is not None and len(items) >= 2:
        key = items.pop()
    if key is None:
        raise click.UsageError(
            f"missing --key KEY (or use the form: {command} INPUT... KEY OUTDIR)"
        )
    if out is None:
        raise click.UsageError("missing --out DIR")
    return items, key, out


def prepare_out_dir(out: Path, *, quiet: bool) -> None:
    """Create the output folder, clear what killed runs left, prove it takes files."""
    if out.exists() and not out.is_dir():
        raise UsageError("the output path exists and is not a folder", path=out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(
            f"cannot create the output folder: {exc.strerror}",
            path=out,
            hint="choose a folder you can write to with --out",
        ) from None
    for stale in remove_stale_temporaries(out):
        if not quiet:
            click.echo(f"note: removed {stale.name}, left by a run that was killed", err=True)
    StagedFile(out, "write-test").discard()


def run_with_progress(
    selection: Selection,
    action: Callable[[Path, ProgressCallback], Any],
    *,
    jobs: Optional[int],
    quiet: bool,
    as_json: bool,
    render: Callable[[Any], str],
    stop_rule: Optional[StopRule],
    label: Callable[[Path], str] = lambda path: path.name,
) -> BatchReport[Any]:
    """Run a batch with tqdm bars on stderr and a line per finished file."""
    worker_count = jobs or default_jobs()
    total = sum(path.stat().st_size for path in selection.files)
    show_lines = not quiet and not as_json

    def on_done(outcome: Any) -> None:
        if isinstance(outcome, FileFailure):
            observer.write(f"belle-patch: error: {outcome.error}", err=True)
        elif show_lines:
            observer.write(render(outcome), err=False)

    observer: BarObserver[Any] = BarObserver(
        total, on_done, enabled=show_lines, per_file=worker_count == 1, label=label
    )
    try:
        if show_lines:
            for skipped in selection.skipped:
                observer.write(f"note: skipping {skipped.path.name}: {skipped.reason}", err=True)
        if not selection.files:
            raise UsageError("nothing to do: no input file was found")
        report = run_batch(
            selection.files, action, observer, jobs=worker_count, stop_rule=stop_rule
        )
    finally:
        observer.close()
    report.skipped.extend(selection.skipped)
    return report


def finish_batch(
    report: BatchReport[Any],
    verb: str,
    *,
    quiet: bool,
    as_json: bool,
    to_json: Callable[[Any], Dict[str, Any]],
    extra_json: Optional[Dict[str, Any]] = None,
) -> None:
    """Print the summary (or the JSON report) and exit 1 if anything failed."""
    if report.stopped is not None:
        echo_error(report.stopped)
    fresh = [r for r in report.done if getattr(r, "status", verb) == verb]
    kept = len(report.done) - len(fresh)
    size = sum(r.size for r in fresh)
    if as_json:
        document = {
            "ok": report.ok,
            **(extra_json or {}),
            verb: [to_json(r) for r in report.done],
            "failed": [{"path": str(f.path), "error": str(f.error)} for f in report.failed],
            "skipped": [{"path": str(s.path), "reason": s.reason} for s in report.skipped],
            "stopped": str(report.stopped) if report.stopped else None,
            "bytes": size,
            "seconds": round(report.seconds, 3),
        }
        click.echo(json.dumps(document, indent=2))
    elif not quiet:
        parts = [f"{len(fresh)} {verb}"]
        if kept:
            parts.append(f"{kept} already restored")
        parts.append(f"{len(report.failed)} failed")
        click.echo(
            f"{', '.join(parts)}; {format_bytes(size)} in {report.seconds:.1f} s "
            f"({format_rate(size, report.seconds)})"
        )
    if not report.ok:
        sys.exit(1)
