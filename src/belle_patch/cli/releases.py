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
                "uncertain": f.uncertain,
            }
            for f in release.files
        ],
        "other_files": [{"name": n, "md5": m} for n, m in release.other_files],
    }


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
        if release.headerless:
            click.echo("    format: header-less patches, verified by MD5 only")
        click.echo(
            f"    files: {len(release.files)}; MD5s of downloads: {downloads}, "
            f"of restored files: {restored}; lists {lists}"
        )
