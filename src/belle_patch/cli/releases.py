"""``releases``: what belle-patch knows about published releases."""

from __future__ import annotations

import json
from typing import Any, Dict

import click

import belle_patch
from belle_patch import Release, key_needed


def _release_json(release: Release) -> Dict[str, Any]:
    return {
        "id": release.id,
        "name": release.name,
        "publisher": release.publisher,
        "format": release.format,
        "key": release.key.needs,
        "key_description": key_needed(release),
        "key_certainty": release.key.certainty,
        "key_candidates": list(release.key.candidates),
        "key_seed_md5": release.key.seed_md5 or None,
        "complete": release.complete,
        "sources": list(release.sources),
        "notes": list(release.notes),
        "files": [
            {
                "name": f.name,
                "sha256": f.sha256,
                "md5": f.md5,
                "md5_derived": f.md5_derived,
                "enc_name": f.enc_name,
                "enc_md5": f.enc_md5,
                "enc_sha256": f.enc_sha256,
                "uncertain": f.uncertain,
            }
            for f in release.files
        ],
        "other_files": [{"name": n, "md5": m} for n, m in release.other_files],
        "publishes_restored_checksums": release.publishes_restored_checksums,
        "payload_folder": release.payload_folder or None,
        "environment": release.environment or None,
        "base_files": [
            {"name": b.name, "md5": b.md5, "sha256": b.sha256} for b in release.base_files
        ],
        "base_uncertain": release.base_uncertain,
    }


def _echo_family(release: Release) -> None:
    """What the formats without a SHA-256 in their names publish, and what they need."""
    if release.key.seed_md5:
        click.echo(f"    key seed: MD5 of the first 16 MiB {release.key.seed_md5}")
    download_sha256s = sum(1 for f in release.files if f.enc_sha256)
    if download_sha256s:
        click.echo(f"    SHA-256s of downloads (Hugging Face LFS ids): {download_sha256s}")
    restored_sha256s = sum(1 for f in release.files if f.sha256)
    if restored_sha256s:
        click.echo(f"    SHA-256s of restored files: {restored_sha256s}")
    if release.payload_folder:
        click.echo(f"    payload folder: {release.payload_folder}/")
    if release.base_files:
        md5s = sum(1 for b in release.base_files if b.md5)
        sha256s = sum(1 for b in release.base_files if b.sha256)
        uncertain = " (assumed, not confirmed for this release)" if release.base_uncertain else ""
        click.echo(
            f"    base files: {len(release.base_files)}; MD5s: {md5s}, SHA-256s: {sha256s}"
            f"{uncertain}"
        )
    if release.environment:
        click.echo(f"    conversion environment: {release.environment}")
    if not release.publishes_restored_checksums:
        click.echo(
            "    no checksums of the restored files are known: decrypt checks their structure only"
        )


@click.command(short_help="List the bundled releases, their lists and keys.")
@click.option("--json", "as_json", is_flag=True, help="Print the releases as a JSON array.")
def releases(as_json: bool) -> None:
    """List the releases whose MD5 lists and keys are bundled with belle-patch.

    \b
    Example:
      belle-patch releases --json
    """
    if as_json:
        click.echo(json.dumps([_release_json(r) for r in belle_patch.releases()], indent=2))
        return
    for release in belle_patch.releases():
        restored = sum(1 for f in release.files if f.md5)
        downloads = sum(1 for f in release.files if f.enc_md5)
        lists = "complete" if release.complete else "incomplete"
        click.echo(f"{release.id}  ({release.name})")
        click.echo(f"    key: {key_needed(release)} [{release.key.certainty}]")
        fmt = release.patch_format
        if fmt.summary:
            click.echo(f"    format: {fmt.summary}")
        if not fmt.hash_in_name:
            _echo_family(release)
        click.echo(
            f"    files: {len(release.files)}; MD5s of downloads: {downloads}, "
            f"of restored files: {restored}; lists {lists}"
        )
