"""OpenBuddy at the command line: key seed detection, MD5 lists, structure checks, round trip."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any, Dict

import pytest

from belle_patch.expect import keys as keycheck
from belle_patch.expect.manifest import format_md5_list
from belle_patch.formats.families import OPENBUDDY

from conftest import generated
from formats_data import (
    SEED_SIZE,
    family_vectors,
    md5,
    openbuddy_reference,
    plain_bytes,
    torch_like,
    write,
)
from helpers import all_names, final_names, run

VECTORS = family_vectors()["openbuddy"]
CONFIG = VECTORS[0]  # config.json, smaller than one block
WEIGHTS = torch_like("ob-weights", 4096, 5000, archive="pytorch_model")


@functools.cache
def _key(label: str, size: int) -> bytes:
    return generated(label, size)


def _vector_key(vector: Dict[str, Any] = CONFIG) -> bytes:
    return _key(vector["key_label"], vector["key_size"])


@pytest.fixture
def release(tmp_path: Path) -> Dict[str, Any]:
    """A two-file OpenBuddy release made with the publisher's rule, and its key."""
    key = _vector_key()
    config = plain_bytes(CONFIG["plain_label"], CONFIG["plain_size"], CONFIG["name"])
    plain = {"config.json": config, "pytorch_model.bin": WEIGHTS}
    enc = tmp_path / "openbuddy-enc"
    for name, data in plain.items():
        write(enc / f"{name}.enc", openbuddy_reference(data, key))
    key_path = write(tmp_path / "7B" / "consolidated.00.pth", key)
    md5s = write(
        tmp_path / "md5sums.txt", format_md5_list({n: md5(d) for n, d in plain.items()}).encode()
    )
    return {"enc": enc, "key": key_path, "plain": plain, "md5s": md5s}


@pytest.fixture
def out(tmp_path: Path) -> Path:
    """The output folder, not created: decrypt makes it (or, refused, leaves it absent)."""
    return tmp_path / "out"


@pytest.fixture
def wrong_key(tmp_path: Path) -> Path:
    """A key long enough for the seed, but not the one the release was made with."""
    return write(tmp_path / "other" / "consolidated.00.pth", _key("another key", SEED_SIZE + 10))


@pytest.fixture
def seed_is_the_test_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the test key's first 16 MiB the seed OpenBuddy's script checks."""
    monkeypatch.setattr(keycheck, "seed_md5", lambda fmt: md5(_vector_key()[:SEED_SIZE]))


@pytest.mark.parametrize("vector", VECTORS, ids=lambda vector: vector["name"])
def test_vector_restores_byte_exact_with_its_md5(
    vector: Dict[str, Any], tmp_path: Path, out: Path
) -> None:
    """Each vector (one block, exactly one, three with a partial last) at the command line."""
    name = vector["name"]
    plain = plain_bytes(vector["plain_label"], vector["plain_size"], name)
    enc = write(
        tmp_path / "openbuddy-enc" / vector["enc_name"],
        openbuddy_reference(plain, _vector_key(vector)),
    )
    assert md5(enc.read_bytes()) == vector["enc_md5"]  # the payload the publisher's script made
    key = write(tmp_path / "7B" / "consolidated.00.pth", _vector_key(vector))
    md5s = write(tmp_path / "md5sums.txt", format_md5_list({name: vector["plain_md5"]}).encode())
    result = run(
        "decrypt", enc, "--key", key, "--out", out, "--format", "openbuddy", "--manifest", md5s,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert md5((out / name).read_bytes()) == vector["plain_md5"]
    assert f"restored {name} (" in result.stdout and "MD5 verified" in result.stdout
    assert "1 restored, 0 failed" in result.stdout


def test_auto_detected_when_the_key_starts_with_the_seed(
    release: Dict[str, Any], out: Path, seed_is_the_test_key: None
) -> None:
    result = run(
        "decrypt", release["enc"], "--key", release["key"], "--out", out,
        "--manifest", release["md5s"], "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["format"] == "openbuddy"
    assert {r["verified_by"] for r in report["restored"]} == {"MD5"}
    assert report["structure_only"] == [] and report["not_verified"] == []
    for name, data in release["plain"].items():
        assert (out / name).read_bytes() == data
    assert result.stderr == ""


def test_without_a_list_each_file_is_checked_for_structure(
    release: Dict[str, Any], out: Path, seed_is_the_test_key: None
) -> None:
    result = run("decrypt", release["enc"], "--key", release["key"], "--out", out)
    assert result.exit_code == 0, result.stderr
    assert "restored pytorch_model.bin (" in result.stdout
    assert "verified by structure only; no published checksum" in result.stdout
    assert "note: 2 verified by structure only: config.json, pytorch_model.bin" in result.stdout
    assert "format: OpenBuddy" in result.stderr
    assert "no checksum list is known" in result.stderr
    assert final_names(out) == ["config.json", "pytorch_model.bin"]


def test_seed_mismatch_with_format_given_warns_and_structure_decides(
    release: Dict[str, Any], out: Path
) -> None:
    result = run(
        "decrypt", release["enc"], "--key", release["key"], "--out", out, "--format", "openbuddy",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert "warning:" in result.stderr
    assert keycheck.seed_md5(OPENBUDDY) in result.stderr  # the seed the key should start with
    assert "LLaMA-1 7B consolidated.00.pth" in result.stderr
    assert final_names(out) == ["config.json", "pytorch_model.bin"]


def test_wrong_key_fails_the_structure_check_and_leaves_nothing(
    release: Dict[str, Any], out: Path, wrong_key: Path
) -> None:
    result = run(
        "decrypt", release["enc"], "--key", wrong_key, "--out", out, "--format", "openbuddy"
    )
    assert result.exit_code == 1
    assert "config.json.enc: " in result.stderr
    # The smallest file failed with this key: the larger one is not tried.
    assert "most likely the key does not fit this release" in result.stderr
    assert "pytorch_model.bin.enc" not in result.stderr
    assert "0 restored" in result.stdout
    assert final_names(out) == []
    assert all_names(out) == []


def test_wrong_key_with_a_list_fails_by_md5(
    release: Dict[str, Any], out: Path, wrong_key: Path
) -> None:
    result = run(
        "decrypt", release["enc"], "--key", wrong_key, "--out", out, "--format", "openbuddy",
        "--manifest", release["md5s"],
    )  # fmt: skip
    assert result.exit_code == 1
    assert "does not match the MD5 in the list" in result.stderr
    assert final_names(out) == []


def test_hashless_names_without_format_and_no_seed_match_say_the_ways_out(
    release: Dict[str, Any], out: Path
) -> None:
    """Not OpenBuddy's key and no --format: a usage error naming the key it should be."""
    result = run("decrypt", release["enc"], "--key", release["key"], "--out", out)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "the .enc names carry no SHA-256" in result.stderr
    assert "not OpenBuddy's with this key: the key's first 16 MiB hash to" in result.stderr
    assert "it should be LLaMA-1 7B consolidated.00.pth" in result.stderr
    assert "add --format openbuddy to use this one anyway" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_encrypt_then_decrypt_round_trip_with_the_manifest(tmp_path: Path, out: Path) -> None:
    key = write(tmp_path / "7B" / "consolidated.00.pth", _vector_key())
    model = tmp_path / "model"
    config = plain_bytes(CONFIG["plain_label"], CONFIG["plain_size"], CONFIG["name"])
    write(model / "config.json", config)
    write(model / "pytorch_model.bin", WEIGHTS)
    enc = tmp_path / "enc"
    result = run("encrypt", model, "--format", "openbuddy", "--key", key, "--out", enc)
    assert result.exit_code == 0, result.stderr
    assert "warning:" in result.stderr  # the test key is not OpenBuddy's seed
    assert final_names(enc) == [
        "config.json.enc", "manifest.json", "md5sums-enc.txt", "md5sums.txt",
        "pytorch_model.bin.enc",
    ]  # fmt: skip
    assert md5((enc / "config.json.enc").read_bytes()) == CONFIG["enc_md5"]
    manifest = json.loads((enc / "manifest.json").read_text())
    assert manifest["format"] == "openbuddy"
    assert all(f["sha256"] is None for f in manifest["files"])
    assert "e3b0c442" not in (enc / "md5sums.txt").read_text()

    result = run(
        "decrypt", enc / "config.json.enc", enc / "pytorch_model.bin.enc", "--key", key,
        "--out", out, "--manifest", enc / "manifest.json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert (out / "config.json").read_bytes() == config
    assert (out / "pytorch_model.bin").read_bytes() == WEIGHTS
    assert result.stdout.count("MD5 verified") == 2
