"""encrypt from the command line makes the publishers' files, and decrypt reads them back."""

from __future__ import annotations

import hashlib
from pathlib import Path

from conftest import all_vectors, vector_inputs
from helpers import all_names, final_names, run


def test_folders_encrypt_to_the_published_files(tmp_path: Path) -> None:
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
        result = run("encrypt", folder, "--key", key_path, "--out", out)
        assert result.exit_code == 0, result.stderr
        assert final_names(out) == [vector["enc_name"]]
        produced = (out / vector["enc_name"]).read_bytes()
        assert hashlib.md5(produced).hexdigest() == vector["enc_md5"]
        assert f"encrypted {vector['name']} -> {vector['enc_name']}" in result.stdout


def test_encrypt_then_decrypt_is_the_identity(tmp_path: Path) -> None:
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
    result = run("encrypt", model, key, tmp_path / "enc")  # positional form, like encrypt.py
    assert result.exit_code == 0, result.stderr
    assert len(final_names(tmp_path / "enc")) == len(files)
    restored = tmp_path / "restored"
    result = run("decrypt", tmp_path / "enc", "--key", key, "--out", restored)
    assert result.exit_code == 0, result.stderr
    assert final_names(restored) == sorted(files)
    for name, content in files.items():
        assert (restored / name).read_bytes() == content
    assert all_names(restored) == final_names(restored)


def test_encrypt_missing_key_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "a.bin").write_bytes(b"x")
    result = run("encrypt", tmp_path / "a.bin", "--key", tmp_path / "none", "--out", tmp_path / "o")
    assert result.exit_code == 2
    assert "the key file does not exist" in result.stderr
