"""Inputs as they come: Hugging Face cache symlinks, odd names, pickles as keys."""

from __future__ import annotations

import hashlib
import os
import pickle
from pathlib import Path

import pytest

from conftest import generated
from helpers import all_names, final_names, make_release, run


def test_hugging_face_cache_symlinks_name_the_outputs(tmp_path: Path) -> None:
    made = make_release(tmp_path, {"config.json": b"{}", "w.bin": generated("w", 4000)}, b"k" * 9)
    cache = tmp_path / "hub" / "models--BelleGroup--x"
    blobs, snapshot = cache / "blobs", cache / "snapshots" / "0123abc"
    blobs.mkdir(parents=True)
    snapshot.mkdir(parents=True)
    for _name, patch in made.patches.items():
        blob = blobs / hashlib.sha256(patch.read_bytes()).hexdigest()
        patch.rename(blob)
        (snapshot / patch.name).symlink_to(os.path.relpath(blob, snapshot))
    out = tmp_path / "out"
    result = run("decrypt", snapshot, "-k", made.key, "-o", out)
    assert result.exit_code == 0, result.stderr
    assert final_names(out) == ["config.json", "w.bin"]
    assert (out / "w.bin").read_bytes() == made.plain["w.bin"]


def test_symlink_at_the_output_is_replaced_not_written_through(tmp_path: Path) -> None:
    made = make_release(tmp_path, {"config.json": b'{"a": 1}'}, b"k" * 9)
    target = tmp_path / "elsewhere.json"
    target.write_bytes(b"keep me")
    out = tmp_path / "out"
    out.mkdir()
    (out / "config.json").symlink_to(target)
    result = run("decrypt", made.enc_dir, "-k", made.key, "-o", out)
    assert result.exit_code == 0, result.stderr
    assert not (out / "config.json").is_symlink()
    assert (out / "config.json").read_bytes() == b'{"a": 1}'
    assert target.read_bytes() == b"keep me"


@pytest.mark.parametrize("name", ["my model.bin", "模型权重.bin", "tokenizer config.json"])
def test_names_with_spaces_and_non_ascii(tmp_path: Path, name: str) -> None:
    made = make_release(tmp_path, {name: generated(name, 3000)}, b"k" * 17)
    out = tmp_path / "out dir"
    result = run("decrypt", made.enc_dir, "-k", made.key, "-o", out, "-m", made.md5_list)
    assert result.exit_code == 0, result.stderr
    assert final_names(out) == [name]
    assert run("verify", out, "-m", made.md5_list).stdout == f"{name}: OK\n"


@pytest.mark.parametrize("restored", ["..", "."])
def test_patch_names_that_leave_the_folder_are_refused(tmp_path: Path, restored: str) -> None:
    sha = hashlib.sha256(b"x").hexdigest()
    patch = tmp_path / "enc" / f"{restored}.{sha}.enc"
    patch.parent.mkdir()
    patch.write_bytes(bytes.fromhex(sha) + b"x")
    (tmp_path / "key").write_bytes(b"\0")
    out = tmp_path / "out"
    result = run("decrypt", patch, "-k", tmp_path / "key", "-o", out)
    assert result.exit_code == 1
    assert "is not a plain file name inside the folder" in result.stderr
    assert all_names(out) == []
    # Nothing was restored, so the output folder this run created is gone again.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["enc", "key"]


def test_manifest_names_that_leave_the_folder_are_never_read(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("x")
    folder = tmp_path / "model"
    folder.mkdir()
    sums = tmp_path / "sums.txt"
    md5 = hashlib.md5(b"x").hexdigest()
    sums.write_text(f"{md5}  ../secret.txt\n{md5}  {secret}\n")
    result = run("verify", folder, "-m", sums)
    assert result.exit_code == 1
    assert ": OK" not in result.stdout
    assert "1: refusing the file name '../secret.txt'" in result.stderr
    decrypting = run("decrypt", folder, "-k", sums, "-o", tmp_path / "o", "-m", sums)
    assert decrypting.exit_code == 2
    assert "line 1: refusing the file name" in decrypting.stderr


class Boobytrap:
    """Unpickling this runs code: it would create the marker file."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, ...]:
        return (open, (self.marker, "w"))


def test_a_pickle_key_is_read_as_bytes_never_unpickled(tmp_path: Path) -> None:
    marker = tmp_path / "unpickled"
    key_bytes = pickle.dumps({"tok_embeddings.weight": Boobytrap(str(marker))})
    made = make_release(tmp_path, {"config.json": b'{"a": 1}'}, key_bytes)
    assert made.key.read_bytes().startswith(b"\x80")  # a real pickle
    out = tmp_path / "out"
    result = run("decrypt", made.enc_dir, "-k", made.key, "-o", out, "--check-key")
    assert result.exit_code == 0, result.stderr
    assert (out / "config.json").read_bytes() == b'{"a": 1}'
    assert not marker.exists()
