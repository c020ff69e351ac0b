"""Pieces shared by the commands: argument forms, options, progress, the summary line."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, TypeVar

import click

import belle_patch
from belle_patch import FileFailure
from belle_patch.cli.progress import BarProgress
from belle_patch.units import format_bytes, format_rate

F = TypeVar("F", bound=Callable[..., Any])
R = TypeVar("R")
BarsT = TypeVar("BarsT", bound=BarProgress)

PATH = click.Path(path_type=Path)
JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print a JSON report on stdout.")
PATCH_SUFFIX = ".enc"


def complete_release(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> List[click.shell_completion.CompletionItem]:
    from click.shell_completion import CompletionItem

    return [
        CompletionItem(r.id, help=r.name)
        for r in belle_patch.releases()
        if r.id.startswith(incomplete) or r.name.lower().startswith(incomplete.lower())
    ]


RELEASE_OPTION = click.option(
    "--release",
    "release_name",
    metavar="NAME",
    shell_complete=complete_release,
    help="Use this bundled release's lists (see belle-patch releases for the names).",
)


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


def _looks_like_a_patch(path: Path) -> bool:
    return path.name.endswith(PATCH_SUFFIX)


def positional_key_and_out(
    inputs: Tuple[Path, ...], key: Optional[Path], out: Optional[Path], command: str
) -> Tuple[List[Path], Path, Path]:
    """Accept the publishers' form ``INPUT... KEY OUTDIR`` as well as ``--key``/``--out``.

    What the positional form takes for the key or the folder is checked here, where the
    argument it came from is known: a patch there means the options were forgotten.
    """
    items = list(inputs)
    form = f"belle-patch {command} INPUT... --key consolidated.00.pth --out DIR"
    taken_out = key is None and out is None and len(items) >= 3
    if taken_out:
        out = items.pop()
    taken_key = key is None and out is not None and len(items) >= 2
    if taken_key:
        key = items.pop()
    if taken_key and key is not None and _looks_like_a_patch(key):
        raise click.UsageError(
            f"{key} was taken for the key (the form INPUT... KEY OUTDIR), but it is a patch; "
            f"pass the key and the folder as options: {form}"
        )
    if taken_out and out is not None and _looks_like_a_patch(out):
        raise click.UsageError(
            f"{out} was taken for the output folder (the form INPUT... KEY OUTDIR), but it "
            f"is a patch; pass the key and the folder as options: {form}"
        )
    if key is None and out is None and len(items) == 2:
        raise click.UsageError(
            f"missing the output folder: {items[1]} would be the key; give --out DIR, "
            f"or the form {command} INPUT... KEY OUTDIR"
        )
    if key is None:
        raise click.UsageError(
            f"missing --key KEY (or use the form: {command} INPUT... KEY OUTDIR; "
            "Open-Assistant and PygmalionAI payloads take --base DIR instead)"
        )
    if out is None:
        raise click.UsageError("missing --out DIR")
    return items, key, out


def positional_out(
    inputs: Tuple[Path, ...], out: Optional[Path], command: str
) -> Tuple[List[Path], Path]:
    """With --base there is no key: accept ``INPUT... OUTDIR`` as well as ``--out``."""
    items = list(inputs)
    if out is None and len(items) >= 2:
        out = items.pop()
        if _looks_like_a_patch(out):
            raise click.UsageError(
                f"{out} was taken for the output folder (the form INPUT... OUTDIR), but it "
                f"is a patch; pass the folder with --out DIR"
            )
    if out is None:
        raise click.UsageError(f"missing --out DIR (or use the form: {command} INPUT... OUTDIR)")
    return items, out


FORMAT_CHOICES = ("belle", "techgpt", "openbuddy", "oasst")


def format_option(help_text: str, choices: Sequence[str] = FORMAT_CHOICES) -> Callable[[F], F]:
    return click.option(
        "--format", "format_name", type=click.Choice(list(choices)), default=None, help=help_text
    )


def bar_progress(render: Callable[[Any], str], *, quiet: bool, as_json: bool) -> BarProgress:
    """Bars and notes on stderr, a line per finished file on stdout, errors always."""
    show_lines = not quiet and not as_json
    progress: BarProgress

    def on_done(outcome: object) -> None:
        if isinstance(outcome, FileFailure):
            progress.write(f"belle-patch: error: {outcome.error}", err=True)
        elif show_lines:
            progress.write(render(outcome), err=False)

    progress = BarProgress(on_done, enabled=show_lines, show_notes=show_lines)
    return progress


def run_with_bars(bars: BarsT, job: Callable[[BarsT], R]) -> R:
    """Run a job with ``bars`` as its progress (``job`` passes them on, as ``progress=``);
    the bars are closed however the job ends, before anything else is printed."""
    try:
        return job(bars)
    finally:
        bars.close()


def finish_batch(
    report: Any,
    done: Sequence[Any],
    verb: str,
    *,
    quiet: bool,
    as_json: bool,
    to_json: Callable[[Any], Dict[str, Any]],
    extra_json: Optional[Dict[str, Any]] = None,
) -> None:
    """Print the summary (or the JSON report) and exit 1 if anything failed."""
    stopped = getattr(report, "stopped", None)
    if stopped is not None:
        echo_error(stopped)
    fresh = [r for r in done if getattr(r, "status", verb) == verb]
    kept = len(done) - len(fresh)
    size = sum(r.size for r in fresh)
    if as_json:
        document = {
            "ok": report.ok,
            **(extra_json or {}),
            verb: [to_json(r) for r in done],
            "failed": [{"path": str(f.path), "error": str(f.error)} for f in report.failed],
            "skipped": [{"path": str(s.path), "reason": s.reason} for s in report.skipped],
            "stopped": str(stopped) if stopped else None,
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
