"""``decrypt`` and ``encrypt``: parse, run the job, render its report."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import click

import belle_patch
from belle_patch import RESTORED, CheckKind, DecryptReport, RestoreResult, SealResult
from belle_patch.cli.common import (
    JSON_OPTION,
    PATH,
    RELEASE_OPTION,
    bar_progress,
    finish_batch,
    format_option,
    jobs_option,
    positional_key_and_out,
    positional_out,
    run_with_bars,
)
from belle_patch.units import format_bytes


@click.command(short_help="Restore .enc patches with the LLaMA key, verified.")
@click.argument("inputs", nargs=-1, required=True, type=PATH, metavar="INPUT... [KEY OUTDIR]")
@click.option("--key", "-k", type=PATH, help="The original LLaMA consolidated.00.pth.")
@click.option("--out", "-o", type=PATH, help="Folder for the restored files (created if missing).")
@click.option(
    "--manifest",
    "-m",
    type=PATH,
    help="MD5 list (md5sum format, as on the model card) or a belle-patch JSON manifest.",
)
@RELEASE_OPTION
@format_option(
    "The patches' format (default: from the names, the list and the key; oasst with --base)."
)
@click.option(
    "--base",
    type=PATH,
    help="Open-Assistant / PygmalionAI: the converted LLaMA folder the payload was made against.",
)
@click.option("--compressed", is_flag=True, help="Open-Assistant payloads in the gzip variant.")
@click.option("--force", is_flag=True, help="Replace existing outputs that do not verify.")
@click.option("--no-space-check", is_flag=True, help="Do not compare free space with the batch.")
@click.option("--check-key", is_flag=True, help="Identify the key by its full MD5 first.")
@click.option(
    "--check-downloads", is_flag=True, help="Check every .enc against the download MD5 list."
)
@click.option(
    "--no-md5", is_flag=True, help="Skip the MD5 of restored files when no list asks for it."
)
@jobs_option("Files restored", "half the cores, at most 4")
@click.option("--quiet", "-q", is_flag=True, help="Print errors only.")
@JSON_OPTION
def decrypt(
    inputs: Tuple[Path, ...],
    key: Optional[Path],
    out: Optional[Path],
    manifest: Optional[Path],
    release_name: Optional[str],
    format_name: Optional[str],
    base: Optional[Path],
    compressed: bool,
    force: bool,
    no_space_check: bool,
    check_key: bool,
    check_downloads: bool,
    no_md5: bool,
    jobs: Optional[int],
    quiet: bool,
    as_json: bool,
) -> None:
    """Restore .enc patch files (or folders of them) with the LLaMA key.

    Every file is verified (SHA-256 header, and the release's MD5 list when known) before
    it appears under its final name; existing outputs that verify are skipped. Known
    releases are recognised from the file names (see belle-patch releases).

    \b
    Examples:
      belle-patch decrypt BELLE-LLaMA-13B-2M-enc/ --key 13B/consolidated.00.pth --out model/
      belle-patch decrypt config.json.<sha256>.enc consolidated.00.pth model/
      belle-patch decrypt enc/ -k consolidated.00.pth -o model/ --manifest md5sums.txt
      belle-patch decrypt openbuddy-enc/ --key 7B/consolidated.00.pth --out model/
      belle-patch decrypt oasst-sft-6-llama-30b-xor/ --base llama30b_hf/ --out model/
    """
    patches, key_path, out_dir = _arguments(
        inputs,
        key,
        out,
        "decrypt",
        by_base=base is not None or format_name == "oasst" or compressed,
    )
    report = run_with_bars(
        bar_progress(_render_restore, quiet=quiet, as_json=as_json),
        lambda progress: belle_patch.decrypt(
            patches,
            key=key_path,
            out=out_dir,
            manifest=manifest,
            release=release_name,
            format=format_name,
            base=base,
            compressed=compressed,
            force=force,
            check_key=check_key,
            check_downloads=check_downloads,
            compute_md5=not no_md5,
            space_check=not no_space_check,
            jobs=jobs,
            progress=progress,
        ),
    )
    extra: Dict[str, Any] = {"release": report.release, "key": report.key}
    if report.format != "belle":
        extra.update(_family_json(report))
        if not quiet and not as_json:
            _echo_unverified(report)
    finish_batch(
        report,
        report.restored,
        RESTORED,
        quiet=quiet,
        as_json=as_json,
        to_json=_restore_json,
        extra_json=extra,
    )


verified_by = DecryptReport.verified_by


def _family_json(report: DecryptReport) -> Dict[str, Any]:
    return {
        "format": report.format,
        "published": report.published or None,
        "structure_only": [str(r.output) for r in report.structure_only],
        "not_verified": [str(r.output) for r in report.not_verified],
    }


def _echo_unverified(report: DecryptReport) -> None:
    for label, results in (
        ("verified by structure only", report.structure_only),
        ("not verified (no checksum known, no structure to check)", report.not_verified),
    ):
        if results:
            names = ", ".join(r.output.name for r in results[:5])
            more = " ..." if len(results) > 5 else ""
            click.echo(f"note: {len(results)} {label}: {names}{more}")


def _arguments(
    inputs: Tuple[Path, ...],
    key: Optional[Path],
    out: Optional[Path],
    command: str,
    *,
    by_base: bool,
) -> Tuple[List[Path], Optional[Path], Path]:
    """The inputs, the key and the output folder; a base folder takes the key's place."""
    if by_base:
        files, out_dir = positional_out(inputs, out, command)
        return files, key, out_dir
    return positional_key_and_out(inputs, key, out, command)


def _render_restore(result: RestoreResult) -> str:
    checks = " + ".join(result.checks) or "nothing"
    by = verified_by(result.checks)
    if result.status == RESTORED and by in (CheckKind.STRUCTURE_ONLY, CheckKind.NOT_VERIFIED):
        extra = "".join(f" + {c}" for c in result.base_checks)
        what = "verified by structure only" if by == CheckKind.STRUCTURE_ONLY else "not verified"
        return (
            f"restored {result.output.name} ({format_bytes(result.size)}, {what}{extra}; "
            "no published checksum)"
        )
    if result.status == RESTORED:
        # Only a header-less patch, verified by its MD5 list, leaves no SHA-256.
        note = "" if result.sha256 else "; header-less format"
        return (
            f"restored {result.output.name} ({format_bytes(result.size)}, {checks} verified{note})"
        )
    return f"already restored {result.output.name} (verified, left as is)"


def _restore_json(result: RestoreResult) -> Dict[str, Any]:
    return {
        "patch": str(result.patch),
        "output": str(result.output),
        "status": result.status,
        "size": result.size,
        "sha256": result.sha256 or None,
        "md5": result.md5 or None,
        "checks": list(result.checks),
        "verified_by": verified_by(result.checks),
        "seconds": round(result.seconds, 3),
    }


@click.command(short_help="Create .enc patches and the MD5 lists for a model card.")
@click.argument("inputs", nargs=-1, required=True, type=PATH, metavar="INPUT... [KEY OUTDIR]")
@click.option("--key", "-k", type=PATH, help="The original LLaMA consolidated.00.pth.")
@click.option("--out", "-o", type=PATH, help="Folder for the .enc files (created if missing).")
@format_option(
    "The patches' format (default: belle; oasst with --base).", ("belle", "openbuddy", "oasst")
)
@click.option(
    "--base",
    type=PATH,
    help="Open-Assistant: the converted LLaMA folder to XOR each file with (no --key then).",
)
@click.option("--name", help="Release name for the JSON manifest (default: the output folder's).")
@click.option(
    "--no-lists",
    is_flag=True,
    help="Write only the patches, in one pass (no MD5 lists, so no download MD5s).",
)
@click.option("--force", is_flag=True, help="Replace patches and lists already in --out.")
@jobs_option("Files encrypted", "half the cores, at most 4")
@click.option("--quiet", "-q", is_flag=True, help="Print errors only.")
@JSON_OPTION
def encrypt(
    inputs: Tuple[Path, ...],
    key: Optional[Path],
    out: Optional[Path],
    format_name: Optional[str],
    base: Optional[Path],
    name: Optional[str],
    no_lists: bool,
    force: bool,
    jobs: Optional[int],
    quiet: bool,
    as_json: bool,
) -> None:
    """Create <name>.<sha256>.enc patches from fine-tuned files or a model folder.

    Also writes, next to the patches, the lists for the model card: md5sums-enc.txt (the
    downloads), md5sums.txt (the restored files), both accepted by md5sum -c, and
    manifest.json for belle-patch verify --manifest and decrypt --manifest.

    \b
    Example:
      belle-patch encrypt my-model/ --key 7B/consolidated.00.pth --out my-model-enc/
      belle-patch encrypt my-model/ --format openbuddy --key 7B/consolidated.00.pth --out enc/
      belle-patch encrypt my-model/ --base llama30b_hf/ --out my-model-xor/
    """
    sources, key_path, out_dir = _arguments(
        inputs, key, out, "encrypt", by_base=base is not None or format_name == "oasst"
    )
    report = run_with_bars(
        bar_progress(_render_seal, quiet=quiet, as_json=as_json),
        lambda progress: belle_patch.encrypt(
            sources,
            key=key_path,
            out=out_dir,
            format=format_name,
            base=base,
            name=name,
            lists=not no_lists,
            force=force,
            jobs=jobs,
            progress=progress,
        ),
    )
    if report.lists and not quiet and not as_json:
        click.echo(f"wrote {', '.join(p.name for p in report.lists)}")
    finish_batch(
        report,
        report.encrypted,
        "encrypted",
        quiet=quiet,
        as_json=as_json,
        to_json=_seal_json,
        extra_json={"lists": [str(p) for p in report.lists]},
    )


def _render_seal(result: SealResult) -> str:
    return f"encrypted {result.source.name} -> {result.output.name} ({format_bytes(result.size)})"


def _seal_json(result: SealResult) -> Dict[str, Any]:
    return {
        "source": str(result.source),
        "output": str(result.output),
        "size": result.size,
        "sha256": result.sha256,
        "md5": result.md5,
        "enc_md5": result.enc_md5 or None,
        "seconds": round(result.seconds, 3),
    }
