"""``decrypt`` and ``encrypt``."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import click

from belle_patch.batch import select_inputs
from belle_patch.engine import ProgressCallback
from belle_patch.errors import BellePatchError, ChecksumMismatch
from belle_patch.expectations import Expectations, load_manifest_file
from belle_patch.guards import check_free_space
from belle_patch.hashing import MD5, SHA256
from belle_patch.keycheck import check_key_fits, identify_key
from belle_patch.keystream import KeySource
from belle_patch.patchformat import HEADER_SIZE, PATCH_SUFFIX, parse_patch_name
from belle_patch.publish import write_release_lists
from belle_patch.registry import find_release, key_description, releases_by_patch_names
from belle_patch.restore import (
    RESTORED,
    DownloadDamaged,
    KeyMismatch,
    ListMismatch,
    RestoreOptions,
    RestoreResult,
    restore_patch,
)
from belle_patch.seal import SealResult, seal_file
from belle_patch.units import format_bytes

from .common import (
    JSON_OPTION,
    PATH,
    finish_batch,
    jobs_option,
    positional_key_and_out,
    prepare_out_dir,
    run_with_progress,
)


def _is_patch(path: Path) -> bool:
    return path.name.endswith(PATCH_SUFFIX)


def _key_stop_rule(error: BellePatchError, done: int) -> Optional[BellePatchError]:
    """Stop the batch when the key is what failed.

    Files go smallest first, and a larger file covers every key byte a smaller one does:
    once a file fails because of the key, every later file fails too. That is certain when
    the download is intact (KeyMismatch), and the likely cause when the very first file
    fails; a damaged download only costs its own file.
    """
    if not isinstance(error, ChecksumMismatch) or isinstance(
        error, (DownloadDamaged, ListMismatch)
    ):
        return None
    if error.algorithm not in (SHA256, MD5):
        return None
    if isinstance(error, KeyMismatch):
        why = "its download is intact, so no larger file can restore with this key either"
    elif done == 0:
        why = "the first (smallest) file did not restore"
    else:
        return None
    return BellePatchError(
        f"the key does not fit this release: {why}; the batch stopped",
        path=error.path,
        hint="check that --key is the original LLaMA-1 consolidated.00.pth the release needs "
        "(a key that only starts like it restores the small files, not the weights)",
    )


def _expectations(
    manifest: Optional[Path], release_name: Optional[str], patches: List[Path]
) -> Tuple[Optional[Expectations], str]:
    """From --manifest, --release, or the release the patch names belong to."""
    if manifest is not None and release_name is not None:
        raise click.UsageError("--manifest and --release exclude each other")
    if manifest is not None:
        return load_manifest_file(manifest), "given"
    if release_name is not None:
        return Expectations.from_release(find_release(release_name)), "given"
    found = releases_by_patch_names(p.name for p in patches)
    if len(found) == 1:
        return Expectations.from_release(found[0]), "recognised from the file names"
    return None, ""


@click.command()
@click.argument("inputs", nargs=-1, required=True, type=PATH, metavar="INPUT...")
@click.option("--key", "-k", type=PATH, help="The original LLaMA consolidated.00.pth.")
@click.option("--out", "-o", type=PATH, help="Folder for the restored files (created if missing).")
@click.option(
    "--manifest",
    "-m",
    type=PATH,
    help="MD5 list (md5sum format, as on the model card) or a belle-patch JSON manifest.",
)
@click.option("--release", "release_name", help="Use this bundled release's lists.")
@click.option("--force", is_flag=True, help="Replace existing outputs that do not verify.")
@click.option("--no-space-check", is_flag=True, help="Do not compare free space with the batch.")
@click.option("--check-key", is_flag=True, help="Identify the key by its full MD5 first.")
@click.option(
    "--check-downloads", is_flag=True, help="Check every .enc against the download MD5 list."
)
@click.option(
    "--no-md5", is_flag=True, help="Skip the MD5 of restored files when no list asks for it."
)
@jobs_option("Files restored", "half the cores")
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
    releases are recognised from the file names.

    \b
    Examples:
      belle-patch decrypt BELLE-LLaMA-13B-2M-enc/ --key 13B/consolidated.00.pth --out model/
      belle-patch decrypt config.json.<sha256>.enc consolidated.00.pth model/
      belle-patch decrypt enc/ -k consolidated.00.pth -o model/ --manifest md5sums.txt
    """
    patches, key_path, out_dir = positional_key_and_out(inputs, key, out, "decrypt")
    key_source = KeySource(key_path)
    selection = select_inputs(patches, _is_patch, "a patch (.enc) file")
    expected, how = _expectations(manifest, release_name, selection.files)
    release = expected.release if expected else None
    show = not quiet and not as_json
    if release is not None and show:
        click.echo(f"release: {release.name} ({how})", err=True)
    identity = identify_key(key_source, full_hash=check_key)
    if release is not None:
        check_key_fits(identity, release, key_path=str(key_path))
    if show and (check_key or identity.key is not None):
        click.echo(f"key: {identity.describe()}", err=True)
    prepare_out_dir(out_dir, quiet=not show)
    if not no_space_check:
        check_free_space(out_dir, _bytes_to_write(selection.files, out_dir))
    key_hint = key_description(release.key.needs) if release else ""

    def restore(path: Path, progress: ProgressCallback) -> RestoreResult:
        restored_name = parse_patch_name(path.name).restored_name
        options = RestoreOptions(
            expected_md5=expected.restored.get(restored_name) if expected else None,
            expected_enc_md5=expected.downloads.get(path.name) if expected else None,
            headerless=bool(expected and path.name in expected.headerless),
            compute_md5=not no_md5,
            check_download=check_downloads,
            force=force,
            key_hint=key_hint,
        )
        return restore_patch(path, key_source, out_dir, options, on_progress=progress)

    report = run_with_progress(
        selection,
        restore,
        jobs=jobs,
        quiet=quiet,
        as_json=as_json,
        render=_render_restore,
        stop_rule=_key_stop_rule,
        label=_restored_name,
    )
    extra = {"release": release.id if release else None, "key": identity.describe()}
    finish_batch(
        report, RESTORED, quiet=quiet, as_json=as_json, to_json=_restore_json, extra_json=extra
    )


def _restored_name(patch: Path) -> str:
    try:
        return parse_patch_name(patch.name).restored_name
    except BellePatchError:
        return patch.name


def _bytes_to_write(patches: List[Path], out_dir: Path) -> int:
    """What the batch adds to the output folder: outputs that are not there yet."""
    total = 0
    for patch in patches:
        try:
            restored = out_dir / parse_patch_name(patch.name).restored_name
        except BellePatchError:
            continue
        if not restored.exists():
            total += max(0, patch.stat().st_size - HEADER_SIZE)
    return total


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
        "checks": result.checks,
        "seconds": round(result.seconds, 3),
    }


def _is_plain_file(path: Path) -> bool:
    return not path.name.startswith(".") and not _is_patch(path)


@click.command()
@click.argument("inputs", nargs=-1, required=True, type=PATH, metavar="INPUT...")
@click.option("--key", "-k", type=PATH, help="The original LLaMA consolidated.00.pth.")
@click.option("--out", "-o", type=PATH, help="Folder for the .enc files (created if missing).")
@click.option("--name", help="Release name for the JSON manifest (default: the output folder's).")
@click.option(
    "--no-lists",
    is_flag=True,
    help="Write only the patches, in one pass (no MD5 lists, so no download MD5s).",
)
@jobs_option("Files encrypted", "half the cores")
@click.option("--quiet", "-q", is_flag=True, help="Print errors only.")
@JSON_OPTION
def encrypt(
    inputs: Tuple[Path, ...],
    key: Optional[Path],
    out: Optional[Path],
    name: Optional[str],
    no_lists: bool,
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
    key_source = KeySource(key_path)
    selection = select_inputs(sources, _is_plain_file, "a file to encrypt")
    prepare_out_dir(out_dir, quiet=quiet or as_json)

    def seal(path: Path, progress: ProgressCallback) -> SealResult:
        return seal_file(path, key_source, out_dir, download_md5=not no_lists, on_progress=progress)

    report = run_with_progress(
        selection,
        seal,
        jobs=jobs,
        quiet=quiet,
        as_json=as_json,
        render=_render_seal,
        stop_rule=None,
    )
    lists: List[str] = []
    if not no_lists and report.done:
        release_name = name or out_dir.resolve().name
        lists = [str(p) for p in write_release_lists(out_dir, release_name, report.done)]
        if not quiet and not as_json:
            click.echo(f"wrote {', '.join(Path(p).name for p in lists)}")
    finish_batch(
        report,
        "encrypted",
        quiet=quiet,
        as_json=as_json,
        to_json=_seal_json,
        extra_json={"lists": lists},
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
