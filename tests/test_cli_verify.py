"""verify follows md5sum -c: results on stdout, warnings on stderr, exit 0 only if all match."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from helpers import run


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_bytes(b'{"a": 1}')
    (model / "pytorch_model.bin").write_bytes(hashlib.shake_128(b"w").digest(50_000))
    (model / "extra.txt").write_text("not listed")
    return model


def md5_list(folder: Path, tmp_path: Path, names: list[str]) -> Path:
    lines = [f"{hashlib.md5((folder / n).read_bytes()).hexdigest()} *./{n}\r\n" for n in names]
    path = tmp_path / "md5sums.txt"
    path.write_text("".join(lines), newline="")
    return path


def test_all_ok(folder: Path, tmp_path: Path) -> None:
    sums = md5_list(folder, tmp_path, ["config.json", "pytorch_model.bin"])
    result = run("verify", folder, "--manifest", sums)
    assert result.exit_code == 0
    assert result.stdout == "config.json: OK\npytorch_model.bin: OK\n"
    assert result.stderr == ""


def test_damaged_file(folder: Path, tmp_path: Path) -> None:
    sums = md5_list(folder, tmp_path, ["config.json", "pytorch_model.bin"])
    (folder / "config.json").write_bytes(b'{"a": 2}')
    result = run("verify", folder, "--manifest", sums)
    assert result.exit_code == 1
    assert result.stdout == "config.json: FAILED\npytorch_model.bin: OK\n"
    assert "WARNING: 1 computed checksum did NOT match" in result.stderr


def test_missing_file_is_named_and_fails(folder: Path, tmp_path: Path) -> None:
    sums = md5_list(folder, tmp_path, ["config.json", "pytorch_model.bin"])
    (folder / "pytorch_model.bin").unlink()
    result = run("verify", folder, "--manifest", sums)
    assert result.exit_code == 1
    assert "pytorch_model.bin: FAILED open or read" in result.stdout
    assert "pytorch_model.bin: No such file or directory" in result.stderr
    assert "1 listed file could not be read" in result.stderr

    ignoring = run("verify", folder, "--manifest", sums, "--ignore-missing")
    assert ignoring.exit_code == 0
    assert ignoring.stdout == "config.json: OK\n"


def test_quiet_and_status(folder: Path, tmp_path: Path) -> None:
    sums = md5_list(folder, tmp_path, ["config.json", "pytorch_model.bin"])
    quiet = run("verify", folder, "-m", sums, "--quiet")
    assert (quiet.exit_code, quiet.stdout, quiet.stderr) == (0, "", "")
    (folder / "config.json").write_bytes(b"")
    status = run("verify", folder, "-m", sums, "--status")
    assert (status.exit_code, status.stdout, status.stderr) == (1, "", "")


def test_strict_fails_on_malformed_lines(folder: Path, tmp_path: Path) -> None:
    sums = md5_list(folder, tmp_path, ["config.json"])
    sums.write_text(sums.read_text() + "garbage line\n")
    lenient = run("verify", folder, "-m", sums)
    assert lenient.exit_code == 0
    assert "md5sums.txt: 2: not an MD5 checksum line" in lenient.stderr
    assert "WARNING: 1 line is improperly formatted" in lenient.stderr
    assert run("verify", folder, "-m", sums, "--strict").exit_code == 1


def test_empty_list_fails(folder: Path, tmp_path: Path) -> None:
    sums = tmp_path / "sums.txt"
    sums.write_text("\n")
    result = run("verify", folder, "-m", sums)
    assert result.exit_code == 1
    assert "no properly formatted checksum lines found" in result.stderr


def test_json_report(folder: Path, tmp_path: Path) -> None:
    sums = md5_list(folder, tmp_path, ["config.json", "pytorch_model.bin"])
    (folder / "config.json").write_bytes(b"")
    result = run("verify", folder, "-m", sums, "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False
    statuses = {f["name"]: f["status"] for f in report["files"]}
    assert statuses == {"config.json": "FAILED", "pytorch_model.bin": "OK"}


@pytest.mark.skipif(shutil.which("md5sum") is None, reason="needs GNU md5sum")
def test_agrees_with_md5sum(folder: Path, tmp_path: Path) -> None:
    sums = md5_list(folder, tmp_path, ["config.json", "pytorch_model.bin"])
    (folder / "config.json").write_bytes(b"changed")
    gnu = subprocess.run(
        ["md5sum", "-c", str(sums)], cwd=folder, capture_output=True, text=True, check=False
    )
    ours = run("verify", folder, "-m", sums)
    # Names are printed as belle-patch looked them up: without the "./" prefix.
    assert ours.stdout == gnu.stdout.replace("./", "")
    assert ours.exit_code == gnu.returncode


def test_q_is_short_for_quiet(folder: Path, tmp_path: Path) -> None:
    sums = md5_list(folder, tmp_path, ["config.json", "pytorch_model.bin"])
    (folder / "config.json").write_bytes(b"changed")
    quiet = run("verify", folder, "-m", sums, "-q")
    assert (quiet.exit_code, quiet.stdout) == (1, "config.json: FAILED\n")
    assert "1 computed checksum did NOT match" in quiet.stderr
