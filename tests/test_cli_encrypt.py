"""encrypt makes the publishers' files and the lists for the model card."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import all_vectors, vector_inputs
from helpers import all_names, final_names, run

LISTS = ["manifest.json", "md5sums-enc.txt", "md5sums.txt"]


@pytest.mark.parametrize("no_lists", [False, True])
def test_folders_encrypt_to_the_published_files(tmp_path: Path, no_lists: bool) -> None:
    # Each vector has its own key, so each one is its own small release.
    vectors = [v for v in all_vectors() if v["plain_size"] < 4 * 1024 * 1024]
    for vector in vectors:
        plain, key = vector_inputs(vector)
        folder = tmp_path / vector["name"]
        folder.mkdir()
        (folder / vector["name"]).write_bytes(plain)
        key_path = tmp_path / f"{vector['name']}.pth"
        key_path.write_bytes(key)
        out = tmp_path / f"{vector['name']}-enc"
        flags = ["--no-lists"] if no_lists else []
        result = run("encrypt", folder, "--key", key_path, "--out", out, *flags)
        assert result.exit_code == 0, result.stderr
        assert final_names(out) == sorted([vector["enc_name"], *([] if no_lists else LISTS)])
        produced = (out / vector["enc_name"]).read_bytes()
        assert hashlib.md5(produced).hexdigest() == vector["enc_md5"]
        assert f"encrypted {vector['name']} -> {vector['enc_name']}" in result.stdout
        if not no_lists:
            downloads = (out / "md5sums-enc.txt").read_text()
            assert downloads == f"{vector['enc_md5']}  {vector['enc_name']}\n"
            restored = (out / "md5sums.txt").read_text()
            assert restored == f"{vector['plain_md5']}  {vector['name']}\n"


def _model(tmp_path: Path) -> tuple[Path, Path, dict[str, bytes]]:
    model = tmp_path / "model"
    model.mkdir()
    files = {
        "config.json": b"{}",
        "pytorch_model.bin.index.json": b'{"weight_map": {}}',
        "empty.txt": b"",
        "weights.bin": hashlib.shake_128(b"w").digest(123_457),
    }
    for name, content in files.items():
        (model / name).write_bytes(content)
    (model / ".hidden").write_text("skip me")
    key = tmp_path / "consolidated.00.pth"
    key.write_bytes(hashlib.shake_128(b"key").digest(999))
    return model, key, files


def test_encrypt_then_decrypt_is_the_identity(tmp_path: Path) -> None:
    model, key, files = _model(tmp_path)
    result = run("encrypt", model, key, tmp_path / "enc")  # positional form, like encrypt.py
    assert result.exit_code == 0, result.stderr
    patches = [n for n in final_names(tmp_path / "enc") if n.endswith(".enc")]
    assert len(patches) == len(files)
    restored = tmp_path / "restored"
    result = run("decrypt", tmp_path / "enc", "--key", key, "--out", restored)
    assert result.exit_code == 0, result.stderr
    assert final_names(restored) == sorted(files)
    for name, content in files.items():
        assert (restored / name).read_bytes() == content
    assert all_names(restored) == final_names(restored)


def test_written_manifest_drives_decrypt_and_verify(tmp_path: Path) -> None:
    model, key, files = _model(tmp_path)
    enc = tmp_path / "enc"
    assert run("encrypt", model, "-k", key, "-o", enc, "--name", "my-release").exit_code == 0
    manifest = json.loads((enc / "manifest.json").read_text())
    assert manifest["name"] == "my-release"
    assert {f["name"] for f in manifest["files"]} == set(files)
    restored = tmp_path / "restored"
    result = run("decrypt", enc, "-k", key, "-o", restored, "--manifest", enc / "manifest.json")
    assert result.exit_code == 0, result.stderr
    assert "SHA-256 + MD5 verified" in result.stdout
    for list_name in ("manifest.json", "md5sums.txt"):
        checked = run("verify", restored, "--manifest", enc / list_name)
        assert checked.exit_code == 0, checked.stderr
        assert checked.stdout.count(": OK") == len(files)
    downloads = run("verify", enc, "--manifest", enc / "md5sums-enc.txt")
    assert downloads.exit_code == 0
    assert downloads.stdout.count(": OK") == len(files)


def md5sum_check(list_path: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["md5sum", "-c", str(list_path)], cwd=cwd, capture_output=True, text=True, check=False
    )


@pytest.mark.skipif(shutil.which("md5sum") is None, reason="needs GNU md5sum")
def test_md5sum_accepts_the_written_lists(tmp_path: Path) -> None:
    model, key, files = _model(tmp_path)
    enc = tmp_path / "enc"
    assert run("encrypt", model, "-k", key, "-o", enc).exit_code == 0
    downloads = md5sum_check(enc / "md5sums-enc.txt", enc)
    assert downloads.returncode == 0, downloads.stdout + downloads.stderr
    assert downloads.stdout.count(": OK") == len(files)
    restored = md5sum_check(enc / "md5sums.txt", model)
    assert restored.returncode == 0, restored.stdout + restored.stderr
    (model / "config.json").write_bytes(b"{ }")
    changed = md5sum_check(enc / "md5sums.txt", model)
    assert changed.returncode == 1
    assert "config.json: FAILED" in changed.stdout


def test_encrypt_missing_key_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "a.bin").write_bytes(b"x")
    result = run("encrypt", tmp_path / "a.bin", "--key", tmp_path / "none", "--out", tmp_path / "o")
    assert result.exit_code == 2
    assert "the key file does not exist" in result.stderr
