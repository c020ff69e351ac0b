"""New files get the mode any program's new files get: 0o666 less the umask.

Staged files start as mkstemp's 0600 and are chmodded before the rename. Several umasks are
needed to pin the base mode down: under 027 or 077 a base of 0o665 or 0o664 gives the same
result as 0o666, so only umasks that leave the "other" bits open (022, 002, 000) tell
them apart, and 077 shows the umask is applied at all.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import pytest

import belle_patch

from conftest import generated
from helpers import Release, default_files, final_names, make_release, run

UMASKS = [0o022, 0o002, 0o077, 0o000, 0o027]


@pytest.fixture
def release(tmp_path: Path) -> Release:
    return make_release(tmp_path, default_files(), generated("mode key", 5000))


@pytest.fixture(params=UMASKS, ids=lambda umask: f"umask-{umask:03o}")
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    """The process umask for the test's jobs, set back afterwards whatever happens."""
    value: int = request.param
    previous = os.umask(value)
    try:
        yield value
    finally:
        os.umask(previous)


def _mode(path: Path) -> str:
    """The permission bits in octal, so that a failure reads 0o645, not 421."""
    return oct(path.stat().st_mode & 0o777)


def test_restored_files_get_0o666_less_the_umask(
    release: Release, tmp_path: Path, umask: int
) -> None:
    out = tmp_path / "out"
    report = belle_patch.decrypt(release.enc_dir, key=release.key, out=out)
    assert report.ok, report.failed
    assert final_names(out) == sorted(release.plain)
    # Written out for the common umask rather than computed: 0o644 is what users expect.
    expected = {0o022: 0o644, 0o002: 0o664, 0o077: 0o600, 0o000: 0o666, 0o027: 0o640}[umask]
    assert {name: _mode(out / name) for name in release.plain} == dict.fromkeys(
        release.plain, oct(expected)
    )


def test_patches_and_lists_encrypt_writes_get_0o666_less_the_umask(
    release: Release, tmp_path: Path, umask: int
) -> None:
    out = tmp_path / "enc"
    result = run("encrypt", tmp_path / "finetuned", "--key", release.key, "--out", out)
    assert result.exit_code == 0, result.stderr
    written = final_names(out)
    assert "md5sums.txt" in written and "manifest.json" in written
    assert any(name.endswith(".enc") for name in written)
    assert {name: _mode(out / name) for name in written} == dict.fromkeys(
        written, oct(0o666 & ~umask)
    )


def test_a_replaced_output_gets_the_mode_of_a_new_file(release: Release, tmp_path: Path) -> None:
    """--force replaces a file in the way; the new file does not keep the old one's mode."""
    out = tmp_path / "out"
    out.mkdir()
    blocker = out / "config.json"
    blocker.write_bytes(b"not the restored config\n")
    blocker.chmod(0o600)
    previous = os.umask(0o022)
    try:
        report = belle_patch.decrypt(
            release.patches["config.json"], key=release.key, out=out, force=True
        )
    finally:
        os.umask(previous)
    assert report.ok, report.failed
    assert blocker.read_bytes() == release.plain["config.json"]
    assert _mode(blocker) == "0o644"
