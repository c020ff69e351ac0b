"""``demo``: the real decrypt and verify on the sample release shipped in the package."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Optional

import click

from belle_patch import sample_release
from belle_patch.cli.common import PATH
from belle_patch.cli.restore import decrypt
from belle_patch.cli.verify import verify
from belle_patch.units import format_bytes


@click.command(short_help="Restore and verify the small sample release.")
@click.option("--out", "-o", type=PATH, help="Keep the restored sample in this folder.")
@click.pass_context
def demo(ctx: click.Context, out: Optional[Path]) -> None:
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
        try:
            ctx.invoke(decrypt, inputs=(sample.folder, sample.key, target),
                       manifest=sample.md5_list, jobs=1)  # fmt: skip
        except SystemExit as stop:
            if stop.code:
                raise
        click.echo(f"verifying {target} against {sample.md5_list.name}:")
        ctx.invoke(verify, paths=(target,), manifest=sample.md5_list, strict=True)
