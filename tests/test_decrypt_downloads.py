"""decrypt from a Hugging Face download: its content addresses tell the download from the key."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

import belle_patch

from conftest import generated
from helpers import all_names, default_files, make_release, run
from test_hub_cache import make_cache

pytestmark = pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symbolic links")

REPO = "models--someone--lawyer-llama-13b-enc"


def cached_release(tmp_path: Path) -> tuple[Path, Path, dict[str, bytes]]:
    """A release published without any MD5, downloaded into a huggingface_hub cache."""
    made = make_release(tmp_path / "made", default_files(), generated("llama key", 5000))
    patches = {p.name: p.read_bytes() for p in made.patches.values()}
    # .enc files are stored with LFS: their address is the SHA-256 (make_cache: .bin only).
    cache = tmp_path / "hub"
    snapshot = make_cache(cache, {}, repo=REPO)
    snapshot.mkdir(parents=True, exist_ok=True)
    blobs = cache / REPO / "blobs"
    for name, content in patches.items():
        address = hashlib.sha256(content).hexdigest()
        (blobs / address).write_bytes(content)
        (snapshot / name).symlink_to(f"../../blobs/{address}")
    return snapshot, made.key, patches


def damage_blob(snapshot: Path, name: str) -> None:
    blob = (snapshot / name).resolve()
    data = bytearray(blob.read_bytes())
    data[-10] ^= 0xFF
    blob.write_bytes(bytes(data))


def test_damaged_download_is_named_by_its_address(tmp_path: Path) -> None:
    snapshot, key, _ = cached_release(tmp_path)
    weights = next(n for n in os.listdir(snapshot) if n.startswith("pytorch_model.bin."))
    damage_blob(snapshot, weights)
    out = tmp_path / "out"
    result = run("decrypt", snapshot, "-k", key, "-o", out)
    assert result.exit_code == 1
    assert f"{weights}: the restored data does not match the SHA-256 in the header" in (
        result.stderr
    )
    assert "the download does not match its content address" in result.stderr
    assert "download this file again" in result.stderr
    assert "the key does not fit" not in result.stderr  # a damaged download costs one file
    assert "pytorch_model.bin" not in all_names(out)
    assert sorted(all_names(out)) == ["config.json", "tokenizer_config.json"]


def test_wrong_key_with_intact_downloads_blames_the_key(tmp_path: Path) -> None:
    snapshot, _, _ = cached_release(tmp_path)
    wrong = tmp_path / "wrong.pth"
    wrong.write_bytes(generated("another key", 5000))
    out = tmp_path / "out"
    result = run("decrypt", snapshot, "-k", wrong, "-o", out)
    assert result.exit_code == 1
    assert "the download matches its content address (sha256 (LFS)), so the key" in result.stderr
    assert "the key does not fit this release" in result.stderr
    assert all_names(out) == []


def test_check_downloads_uses_the_address_without_a_list(tmp_path: Path) -> None:
    snapshot, key, patches = cached_release(tmp_path)
    result = run("decrypt", snapshot, "-k", key, "-o", tmp_path / "out", "--check-downloads")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.count("download sha256 (LFS) verified") == len(patches)


def test_inputs_named_by_repo_folder_and_hub_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, key, _ = cached_release(tmp_path)
    by_folder = belle_patch.decrypt(tmp_path / "hub" / REPO, key=key, out=tmp_path / "a")
    assert by_folder.ok and len(by_folder.restored) == 3
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    by_id = belle_patch.decrypt("hf:someone/lawyer-llama-13b-enc", key=key, out=tmp_path / "b")
    assert by_id.ok and len(by_id.restored) == 3
    assert {p.name for p in (tmp_path / "b").iterdir()} >= {"config.json", "pytorch_model.bin"}
