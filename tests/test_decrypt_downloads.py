"""decrypt from a Hugging Face download: its content addresses tell the download from the key.

The release is published on the local Hub of ``hub_endpoint.py`` and downloaded into a cache by
huggingface_hub itself.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Dict, Tuple

import pytest

import belle_patch
import hub_endpoint
from hub_endpoint import CacheDownload, require_huggingface_hub

from conftest import generated
from helpers import all_names, default_files, make_release, run

require_huggingface_hub()
pytestmark = pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symbolic links")

Builder = Callable[..., CacheDownload]
REPO_ID = "someone/lawyer-llama-13b-enc"


@pytest.fixture
def cached_release(
    tmp_path: Path, hub_cache: Builder, monkeypatch: pytest.MonkeyPatch
) -> Tuple[CacheDownload, Path, Dict[str, bytes]]:
    """A release published without any MD5, downloaded into a huggingface_hub cache."""
    made = make_release(tmp_path / "made", default_files(), generated("llama key", 5000))
    patches = {p.name: p.read_bytes() for p in made.patches.values()}
    # The Hub keeps the .enc files with LFS (*.enc filter=lfs): their address is the SHA-256.
    monkeypatch.setattr(hub_endpoint, "LFS_SUFFIXES", (*hub_endpoint.LFS_SUFFIXES, ".enc"))
    download = hub_cache(tmp_path / "hub", files=patches, repo_id=REPO_ID)
    assert all(download.blob(name).name == hub_endpoint.sha256(data)
               for name, data in patches.items())  # fmt: skip
    return download, made.key, patches


def damage_blob(snapshot: Path, name: str) -> None:
    blob = (snapshot / name).resolve()
    mode = blob.stat().st_mode & 0o777
    blob.chmod(mode | 0o600)
    data = bytearray(blob.read_bytes())
    data[-10] ^= 0xFF
    blob.write_bytes(bytes(data))
    blob.chmod(mode)


def test_damaged_download_is_named_by_its_address(
    tmp_path: Path, cached_release: Tuple[CacheDownload, Path, Dict[str, bytes]]
) -> None:
    download, key, _ = cached_release
    snapshot = download.snapshot
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


def test_wrong_key_with_intact_downloads_blames_the_key(
    tmp_path: Path, cached_release: Tuple[CacheDownload, Path, Dict[str, bytes]]
) -> None:
    download, _, _ = cached_release
    wrong = tmp_path / "wrong.pth"
    wrong.write_bytes(generated("another key", 5000))
    out = tmp_path / "out"
    result = run("decrypt", download.snapshot, "-k", wrong, "-o", out)
    assert result.exit_code == 1
    assert "the download matches its content address (sha256 (LFS)), so the key" in result.stderr
    assert "the key does not fit this release" in result.stderr
    assert all_names(out) == []


def test_check_downloads_uses_the_address_without_a_list(
    tmp_path: Path, cached_release: Tuple[CacheDownload, Path, Dict[str, bytes]]
) -> None:
    download, key, patches = cached_release
    result = run(
        "decrypt", download.snapshot, "-k", key, "-o", tmp_path / "out", "--check-downloads"
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout.count("download sha256 (LFS) verified") == len(patches)


def test_inputs_named_by_repo_folder_and_hub_id(
    tmp_path: Path,
    cached_release: Tuple[CacheDownload, Path, Dict[str, bytes]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    download, key, _ = cached_release
    by_folder = belle_patch.decrypt(download.repo_folder, key=key, out=tmp_path / "a")
    assert by_folder.ok and len(by_folder.restored) == 3
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    by_id = belle_patch.decrypt(f"hf:{REPO_ID}", key=key, out=tmp_path / "b")
    assert by_id.ok and len(by_id.restored) == 3
    assert {p.name for p in (tmp_path / "b").iterdir()} >= {"config.json", "pytorch_model.bin"}
