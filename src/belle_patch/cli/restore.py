"""``decrypt`` and ``encrypt``: parse, run the job, render its report."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import click

import belle_patch
from belle_patch import RESTORED, RestoreResult, SealResult
from belle_patch.units import format_bytes

from .common import (
    JSON_OPTION,
    PATH,
    RELEASE_OPTION,
    bar_progress,
    finish_batch,
    jobs_option,
    positional_key_and_out,
)


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
    """
    patches, key_path, out_dir = positional_key_and_out(inputs, key, out, "decrypt")
    progress = bar_progress(_render_restore, quiet=quiet, as_json=as_json)
    try:
        report = belle_patch.decrypt(
            patches,
            key=key_path,
            out=out_dir,
            manifest=manifest,
            release=release_name,
            force=force,
            check_key=check_key,
            check_downloads=check_downloads,
            compute_md5=not no_md5,
            space_check=not no_space_check,
            jobs=jobs,
            progress=progress,
        )
    finally:
        progress.close()
    extra = {"release": report.release, "key": report.key}
    finish_batch(
        report,
        report.restored,
        RESTORED,
        quiet=quiet,
        as_json=as_json,
        to_json=_restore_json,
        extra_json=extra,
    )


def _render_restore(result: RestoreResult) -> str:
    checks = " + ".join(result.checks) or "nothing"
    if result.status == RESTORED:
        note = "" if "SHA-256" in result.checks else "; header-less format"
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
        "seconds": round(result.seconds, 3),
    }


@click.command(short_help="Create .enc patches and the MD5 lists for a model card.")
@click.argument("inputs", nargs=-1, required=True, type=PATH, metavar="INPUT... [KEY OUTDIR]")
@click.option("--key", "-k", type=PATH, help="The original LLaMA consolidated.00.pth.")
@click.option("--out", "-o", type=PATH, help="Folder for the .enc files (created if missing).")
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
    """
    sources, key_path, out_dir = positional_key_and_out(inputs, key, out, "encrypt")
    progress = bar_progress(_render_seal, quiet=quiet, as_json=as_json)
    try:
        report = belle_patch.encrypt(
            sources,
            key=key_path,
            out=out_dir,
            name=name,
            lists=not no_lists,
            force=force,
            jobs=jobs,
            progress=progress,
        )
    finally:
        progress.close()
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
