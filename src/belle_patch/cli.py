"""The command line: parse, call the core, render results, map errors to exit codes.

Exit codes: 0 everything restored or verified, 1 a file failed, 2 usage error,
130 interrupted (Ctrl-C), 143 terminated (SIGTERM).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import tempfile
import traceback
from pathlib import Path
from types import FrameType
from typing import Any, Callable, Dict, List, NoReturn, Optional, Sequence, Tuple

import click

from . import __version__
from .batch import BatchReport, FileFailure, Selection, default_jobs, run_batch, select_inputs
from .engine import ProgressCallback
from .errors import BellePatchError, ChecksumMismatch, OutputError, UsageError
from .hashing import SHA256
from .keystream import KeySource
from .manifest import ChecksumList, read_md5_list
from .patchformat import PATCH_SUFFIX, parse_patch_name
from .progress import BarObserver
from .restore import RESTORED, RestoreResult, restore_patch
from .sample import sample_release
from .seal import SealResult, seal_file
from .staging import StagedFile
from .units import format_bytes, format_rate
from .verify import MISSING, OK, UNREADABLE, FileCheck, index_files, verify_entries

EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143
DEBUG_VARIABLE = "BELLE_PATCH_DEBUG"


class Terminated(BaseException):
    """SIGTERM, raised in the main thread so every ``finally`` cleans up."""


class BellePatchGroup(click.Group):
    """Turns the project's errors and signals into one line and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BellePatchError as exc:
            if os.environ.get(DEBUG_VARIABLE):
                traceback.print_exc()
            click.echo(f"belle-patch: error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo(
                "belle-patch: interrupted; no partial file was left under a final name", err=True
            )
            ctx.exit(EXIT_INTERRUPTED)
        except Terminated:
            click.echo(
                "belle-patch: terminated; no partial file was left under a final name", err=True
            )
            ctx.exit(EXIT_TERMINATED)


def _on_sigterm(signum: int, frame: Optional[FrameType]) -> NoReturn:
    raise Terminated


@click.group(cls=BellePatchGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="belle-patch")
def cli() -> None:
    """Restore, create and verify XOR weight patches (BELLE / point-alpaca format).

    \b
    Examples:
      belle-patch demo
      belle-patch decrypt BELLE-LLaMA-13B-2M-enc/ --key 7B/consolidated.00.pth --out model/
      belle-patch decrypt file.enc consolidated.00.pth model/
      belle-patch verify model/ --manifest md5sums.txt
    """


def main() -> None:
    signal.signal(signal.SIGTERM, _on_sigterm)
    cli(prog_name="belle-patch")


# ---------------------------------------------------------------- shared options

_PATH = click.Path(path_type=Path)


def _positional_key_and_out(
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


def _prepare_out_dir(out: Path) -> None:
    """Create the output folder and prove it takes files before any work starts."""
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
    StagedFile(out, "write-test").discard()


def _progress_enabled(quiet: bool, as_json: bool) -> bool:
    return not quiet and not as_json


# ---------------------------------------------------------------- decrypt


def _is_patch(path: Path) -> bool:
    return path.name.endswith(PATCH_SUFFIX)


def _key_stop_rule(error: BellePatchError, done: int) -> Optional[BellePatchError]:
    """The first file restored with a SHA-256 mismatch means the key, not that file."""
    if done == 0 and isinstance(error, ChecksumMismatch) and error.algorithm == SHA256:
        return UsageError(
            "the key does not fit this release: the first (smallest) file did not restore, "
            "so the batch stopped",
            path=error.path,
            hint="check that --key is the original LLaMA-1 consolidated.00.pth the release needs",
        )
    return None


@cli.command()
@click.argument("inputs", nargs=-1, required=True, type=_PATH, metavar="INPUT...")
@click.option("--key", "-k", type=_PATH, help="The original LLaMA consolidated.00.pth.")
@click.option("--out", "-o", type=_PATH, help="Folder for the restored files (created if missing).")
@click.option(
    "--manifest",
    "-m",
    type=_PATH,
    help="MD5 list of the restored files (md5sum format, as on the model card).",
)
@click.option("--force", is_flag=True, help="Replace existing outputs that do not verify.")
@click.option(
    "--no-md5", is_flag=True, help="Skip the MD5 of restored files when no list asks for it."
)
@click.option(
    "--jobs",
    "-j",
    type=click.IntRange(min=1),
    default=None,
    help="Files restored at once (default: half the cores).",
)
@click.option("--quiet", "-q", is_flag=True, help="Print errors only.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON report on stdout.")
def decrypt(
    inputs: Tuple[Path, ...],
    key: Optional[Path],
    out: Optional[Path],
    manifest: Optional[Path],
    force: bool,
    no_md5: bool,
    jobs: Optional[int],
    quiet: bool,
    as_json: bool,
) -> None:
    """Restore .enc patch files (or folders of them) with the LLaMA key.

    Every file is verified (SHA-256 header, and the MD5 list when given) before it
    appears under its final name; existing outputs that verify are skipped.

    \b
    Examples:
      belle-patch decrypt BELLE-LLaMA-13B-2M-enc/ --key 7B/consolidated.00.pth --out model/
      belle-patch decrypt config.json.<sha256>.enc consolidated.00.pth model/
    """
    patches, key_path, out_dir = _positional_key_and_out(inputs, key, out, "decrypt")
    key_source = KeySource(key_path)
    md5_list = _load_manifest(manifest)
    selection = select_inputs(patches, _is_patch, "a patch (.enc) file")
    _prepare_out_dir(out_dir)

    def restore(path: Path, progress: ProgressCallback) -> RestoreResult:
        expected = (
            md5_list.entries.get(parse_patch_name(path.name).restored_name) if md5_list else None
        )
        return restore_patch(
            path,
            key_source,
            out_dir,
            expected_md5=expected,
            compute_md5=not no_md5,
            force=force,
            on_progress=progress,
        )

    report = _run(
        selection,
        restore,
        jobs=jobs,
        quiet=quiet,
        as_json=as_json,
        render=_render_restore,
        stop_rule=_key_stop_rule,
    )
    _finish(report, "restored", quiet=quiet, as_json=as_json, to_json=_restore_json)


def _load_manifest(path: Optional[Path]) -> Optional[ChecksumList]:
    if path is None:
        return None
    md5_list = read_md5_list(path)
    md5_list.raise_for_problems()
    return md5_list


def _render_restore(result: RestoreResult) -> str:
    if result.status == RESTORED:
        checks = "SHA-256 + MD5" if result.md5_checked else "SHA-256"
        return f"restored {result.output.name} ({format_bytes(result.size)}, {checks} verified)"
    return f"already restored {result.output.name} (verified, left as is)"


def _restore_json(result: RestoreResult) -> Dict[str, Any]:
    return {
        "patch": str(result.patch),
        "output": str(result.output),
        "status": result.status,
        "size": result.size,
        "sha256": result.sha256,
        "md5": result.md5,
        "seconds": round(result.seconds, 3),
    }


# ---------------------------------------------------------------- encrypt


def _is_plain_file(path: Path) -> bool:
    return not path.name.startswith(".") and not _is_patch(path)


@cli.command()
@click.argument("inputs", nargs=-1, required=True, type=_PATH, metavar="INPUT...")
@click.option("--key", "-k", type=_PATH, help="The original LLaMA consolidated.00.pth.")
@click.option("--out", "-o", type=_PATH, help="Folder for the .enc files (created if missing).")
@click.option(
    "--jobs",
    "-j",
    type=click.IntRange(min=1),
    default=None,
    help="Files encrypted at once (default: half the cores).",
)
@click.option("--quiet", "-q", is_flag=True, help="Print errors only.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON report on stdout.")
def encrypt(
    inputs: Tuple[Path, ...],
    key: Optional[Path],
    out: Optional[Path],
    jobs: Optional[int],
    quiet: bool,
    as_json: bool,
) -> None:
    """Create <name>.<sha256>.enc patches from fine-tuned files or a model folder.

    \b
    Example:
      belle-patch encrypt my-model/ --key 7B/consolidated.00.pth --out my-model-enc/
    """
    sources, key_path, out_dir = _positional_key_and_out(inputs, key, out, "encrypt")
    key_source = KeySource(key_path)
    selection = select_inputs(sources, _is_plain_file, "a file to encrypt")
    _prepare_out_dir(out_dir)

    def seal(path: Path, progress: ProgressCallback) -> SealResult:
        return seal_file(path, key_source, out_dir, on_progress=progress)

    report = _run(
        selection,
        seal,
        jobs=jobs,
        quiet=quiet,
        as_json=as_json,
        render=_render_seal,
        stop_rule=None,
    )
    _finish(report, "encrypted", quiet=quiet, as_json=as_json, to_json=_seal_json)


def _render_seal(result: SealResult) -> str:
    return f"encrypted {result.source.name} -> {result.output.name} ({format_bytes(result.size)})"


def _seal_json(result: SealResult) -> Dict[str, Any]:
    return {
        "source": str(result.source),
        "output": str(result.output),
        "size": result.size,
        "sha256": result.sha256,
        "md5": result.md5,
        "seconds": round(result.seconds, 3),
    }


# ---------------------------------------------------------------- batch rendering


def _run(
    selection: Selection,
    action: Callable[[Path, ProgressCallback], Any],
    *,
    jobs: Optional[int],
    quiet: bool,
    as_json: bool,
    render: Callable[[Any], str],
    stop_rule: Any,
) -> BatchReport[Any]:
    worker_count = jobs or default_jobs()
    total = sum(path.stat().st_size for path in selection.files)
    show_lines = not quiet and not as_json

    def on_done(outcome: Any) -> None:
        if isinstance(outcome, FileFailure):
            observer.write(f"belle-patch: error: {outcome.error}", err=True)
        elif show_lines:
            observer.write(render(outcome), err=False)

    observer: BarObserver[Any] = BarObserver(
        total, on_done, enabled=_progress_enabled(quiet, as_json), per_file=worker_count == 1
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


def _finish(
    report: BatchReport[Any],
    verb: str,
    *,
    quiet: bool,
    as_json: bool,
    to_json: Callable[[Any], Dict[str, Any]],
) -> None:
    if report.stopped is not None:
        click.echo(f"belle-patch: error: {report.stopped}", err=True)
    fresh = [r for r in report.done if getattr(r, "status", RESTORED) == RESTORED]
    kept = len(report.done) - len(fresh)
    size = sum(r.size for r in fresh)
    if as_json:
        document = {
            "ok": report.ok,
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


# ---------------------------------------------------------------- verify


@cli.command()
@click.argument("paths", nargs=-1, type=_PATH, metavar="[PATH]...")
@click.option(
    "--manifest",
    "-m",
    type=_PATH,
    required=True,
    help="MD5 list (md5sum format) of the files to check.",
)
@click.option("--quiet", is_flag=True, help="Do not print OK lines.")
@click.option("--status", is_flag=True, help="Print nothing; the exit code says it all.")
@click.option("--strict", is_flag=True, help="Fail on improperly formatted list lines.")
@click.option("--ignore-missing", is_flag=True, help="Do not fail on listed files that are absent.")
@click.option(
    "--jobs",
    "-j",
    type=click.IntRange(min=1),
    default=None,
    help="Files hashed at once (default: the number of cores).",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON report on stdout.")
def verify(
    paths: Tuple[Path, ...],
    manifest: Path,
    quiet: bool,
    status: bool,
    strict: bool,
    ignore_missing: bool,
    jobs: Optional[int],
    as_json: bool,
) -> None:
    """Check restored files (or .enc downloads) against an MD5 list, like md5sum -c.

    PATH is a folder (its files are looked up by the listed names) or files; default: the
    current folder. Prints "name: OK" or "name: FAILED"; exit 0 only if every listed file
    matches.

    \b
    Example:
      belle-patch verify model/ --manifest md5sums.txt
    """
    md5_list = read_md5_list(manifest)
    files = index_files(list(paths) or [Path()])
    entries = dict(md5_list.entries)
    if ignore_missing:
        entries = {name: md5 for name, md5 in entries.items() if name in files}
    checks = verify_entries(entries, files, jobs=jobs or os.cpu_count() or 1)
    failed = [c for c in checks if not c.ok]
    bad_lines = len(md5_list.problems)
    ok = not failed and bool(checks) and not (strict and bad_lines)
    if as_json:
        click.echo(json.dumps(_verify_json(checks, md5_list, ok), indent=2))
    elif not status:
        for check in checks:
            _echo_check(check, quiet)
        _echo_verify_warnings(checks, md5_list, manifest)
    if not md5_list.entries and not status:
        click.echo(f"belle-patch: {manifest}: no properly formatted checksum lines found", err=True)
    elif not checks and not status:
        click.echo(f"belle-patch: {manifest}: no file was verified", err=True)
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


def _echo_verify_warnings(
    checks: Sequence[FileCheck], md5_list: ChecksumList, manifest: Path
) -> None:
    for line, problem in md5_list.problems:
        click.echo(f"belle-patch: {manifest}: {line}: {problem}", err=True)
    mismatched = sum(1 for c in checks if c.status not in (OK, MISSING, UNREADABLE))
    unread = sum(1 for c in checks if c.status in (MISSING, UNREADABLE))
    if md5_list.problems:
        count = len(md5_list.problems)
        click.echo(f"belle-patch: WARNING: {_plural(count, 'line')} improperly formatted", err=True)
    if unread:
        click.echo(
            f"belle-patch: WARNING: {_plural(unread, 'listed file')} could not be read", err=True
        )
    if mismatched:
        click.echo(
            f"belle-patch: WARNING: {_plural(mismatched, 'computed checksum')} did NOT match",
            err=True,
        )


def _plural(count: int, noun: str) -> str:
    verb = "is" if count == 1 and noun == "line" else ("are" if noun == "line" else "")
    text = f"{count} {noun}{'' if count == 1 else 's'}"
    return f"{text} {verb}".rstrip()


def _verify_json(checks: Sequence[FileCheck], md5_list: ChecksumList, ok: bool) -> Dict[str, Any]:
    return {
        "ok": ok,
        "manifest": str(md5_list.source),
        "files": [
            {
                "name": c.name,
                "status": c.status,
                "expected_md5": c.expected,
                "actual_md5": c.actual,
                "path": str(c.path) if c.path else None,
            }
            for c in checks
        ],
        "improper_lines": [{"line": n, "problem": p} for n, p in md5_list.problems],
    }


# ---------------------------------------------------------------- demo


@cli.command()
@click.option("--out", "-o", type=_PATH, help="Keep the restored sample in this folder.")
def demo(out: Optional[Path]) -> None:
    """Restore the small sample release shipped with belle-patch, then verify it.

    Runs the same decrypt and verify code as a real release, on a synthetic key and a few
    KB of patches, into a temporary folder (or --out).
    """
    sample = sample_release()
    with tempfile.TemporaryDirectory(prefix="belle-patch-demo-") as tmp:
        target = out or Path(tmp) / "restored"
        click.echo(f"sample release: {sample.folder}")
        click.echo(f"key: {sample.key.name} ({format_bytes(sample.key.stat().st_size)})")
        click.echo(f"restoring into: {target}")
        ctx = click.get_current_context()
        try:
            ctx.invoke(
                decrypt,
                inputs=(sample.folder,),
                key=sample.key,
                out=target,
                manifest=sample.md5_list,
                force=False,
                no_md5=False,
                jobs=1,
                quiet=False,
                as_json=False,
            )
        except SystemExit as stop:
            if stop.code:
                raise
        click.echo(f"verifying {target} against {sample.md5_list.name}:")
        ctx.invoke(
            verify,
            paths=(target,),
            manifest=sample.md5_list,
            quiet=False,
            status=False,
            strict=True,
            ignore_missing=False,
            jobs=None,
            as_json=False,
        )
