"""A state folder that came with copied files vouches for nothing."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict
from pathlib import Path

import xxhash

from belle_patch.output import state

from conftest import generated
from helpers import default_files, make_release, run


def forge(folder: Path, name: str, content: bytes) -> None:
    """Put other bytes under ``name`` (same size and mtime) and a record that matches them."""
    target = folder / name
    info = target.stat()
    target.write_bytes(content)
    os.utime(target, ns=(info.st_atime_ns, info.st_mtime_ns))
    state_dir = folder / ".belle-patch"
    # Every record as it was written for the original files, one of them forged.
    files = {n: asdict(r) for n, r in state.records(folder).items()}
    files[name]["xxh3_128"] = xxhash.xxh3_128(content).hexdigest()
    (state_dir / "state.journal").unlink(missing_ok=True)
    (state_dir / "state.json").write_text(json.dumps({"files": files}))


def test_copied_folder_with_a_forged_record_is_checked_in_full(tmp_path: Path) -> None:
    release = make_release(tmp_path / "r", default_files(), generated("llama key", 5000))
    out = tmp_path / "out"
    assert run("decrypt", release.enc_dir, "-k", release.key, "-o", out).exit_code == 0
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)  # copies mtimes, and the state folder along
    size = len(release.plain["pytorch_model.bin"])
    forge(copy, "pytorch_model.bin", bytes(size))

    checked = run("verify", copy, "--manifest", release.md5_list)
    assert checked.exit_code == 1
    assert "pytorch_model.bin: FAILED" in checked.stdout
    assert "config.json: OK" in checked.stdout

    again = run("decrypt", release.enc_dir, "-k", release.key, "-o", copy, "-m", release.md5_list)
    assert again.exit_code == 1
    assert "already restored pytorch_model.bin" not in again.stdout
    assert "pytorch_model.bin: an output that does not verify is in the way" in again.stderr
    assert (copy / "pytorch_model.bin").read_bytes() == bytes(size)  # left untouched


def test_the_original_folder_still_uses_its_records(tmp_path: Path) -> None:
    release = make_release(tmp_path / "r", default_files(), generated("llama key", 5000))
    out = tmp_path / "out"
    assert run("decrypt", release.enc_dir, "-k", release.key, "-o", out).exit_code == 0
    result = run("verify", out, "--manifest", release.md5_list, "--json")
    assert result.exit_code == 0
    methods = {f["name"]: f["method"] for f in json.loads(result.stdout)["files"]}
    assert set(methods.values()) == {"xxh3_128"}
