"""OpenBuddy at the command line: key seed detection, MD5 lists, structure checks, round trip."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any, Dict

import pytest

from belle_patch import formats
from belle_patch.manifest import format_md5_list

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

CONFIG = family_vectors()["openbuddy"][0]  # config.json, smaller than one block
WEIGHTS = torch_like("ob-weights", 4096, 5000, archive="pytorch_model")


@functools.cache
def _key(label: str, size: int) -> bytes:
    return generated(label, size)


def _vector_key() -> bytes:
    return _key(CONFIG["key_label"], CONFIG["key_size"])


def _release(tmp_path: Path) -> Dict[str, Any]:
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
def seed_is_the_test_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the test key's first 16 MiB the seed OpenBuddy's script checks."""
    monkeypatch.setattr(formats, "OPENBUDDY_SEED_MD5", md5(_vector_key()[:SEED_SIZE]))


def test_vector_restores_byte_exact_with_its_md5(tmp_path: Path) -> None:
    release = _release(tmp_path)
    out = tmp_path / "out"
    result = run(
        "decrypt", release["enc"] / "config.json.enc", "--key", release["key"], "--out", out,
        "--format", "openbuddy", "--manifest", release["md5s"],
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert md5((out / "config.json").read_bytes()) == CONFIG["plain_md5"]
    assert "restored config.json (" in result.stdout and "MD5 verified" in result.stdout
    assert "1 restored, 0 failed" in result.stdout


def test_auto_detected_when_the_key_starts_with_the_seed(
    tmp_path: Path, seed_is_the_test_key: None
) -> None:
    release = _release(tmp_path)
    out = tmp_path / "out"
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
    tmp_path: Path, seed_is_the_test_key: None
) -> None:
    release = _release(tmp_path)
    out = tmp_path / "out"
    result = run("decrypt", release["enc"], "--key", release["key"], "--out", out)
    assert result.exit_code == 0, result.stderr
    assert "restored pytorch_model.bin (" in result.stdout
    assert "verified by structure only; no published checksum" in result.stdout
    assert "note: 2 verified by structure only: config.json, pytorch_model.bin" in result.stdout
    assert "format: OpenBuddy" in result.stderr
    assert "no checksum list is known" in result.stderr
    assert final_names(out) == ["config.json", "pytorch_model.bin"]


def test_seed_mismatch_with_format_given_warns_and_structure_decides(tmp_path: Path) -> None:
    release = _release(tmp_path)
    out = tmp_path / "out"
    result = run(
        "decrypt", release["enc"], "--key", release["key"], "--out", out, "--format", "openbuddy",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert "warning:" in result.stderr
    assert formats.OPENBUDDY_SEED_MD5 in result.stderr
    assert "LLaMA-1 7B consolidated.00.pth" in result.stderr
    assert final_names(out) == ["config.json", "pytorch_model.bin"]


def test_wrong_key_fails_the_structure_check_and_leaves_nothing(tmp_path: Path) -> None:
    release = _release(tmp_path)
    wrong = write(tmp_path / "other" / "consolidated.00.pth", _key("another key", SEED_SIZE + 10))
    out = tmp_path / "out"
    result = run("decrypt", release["enc"], "--key", wrong, "--out", out, "--format", "openbuddy")
    assert result.exit_code == 1
    assert "config.json.enc: " in result.stderr
    # The smallest file failed with this key: the larger one is not tried.
    assert "most likely the key does not fit this release" in result.stderr
    assert "pytorch_model.bin.enc" not in result.stderr
    assert "0 restored" in result.stdout
    assert final_names(out) == []
    assert all_names(out) == []


def test_wrong_key_with_a_list_fails_by_md5(tmp_path: Path) -> None:
    release = _release(tmp_path)
    wrong = write(tmp_path / "other" / "consolidated.00.pth", _key("another key", SEED_SIZE + 10))
    out = tmp_path / "out"
    result = run(
        "decrypt", release["enc"], "--key", wrong, "--out", out, "--format", "openbuddy",
        "--manifest", release["md5s"],
    )  # fmt: skip
    assert result.exit_code == 1
    assert "does not match the MD5 in the list" in result.stderr
    assert final_names(out) == []


def test_hashless_names_without_format_and_no_seed_match_say_the_ways_out(
    tmp_path: Path,
) -> None:
    """Not OpenBuddy's key and no --format: a usage error naming the key it should be."""
    release = _release(tmp_path)
    out = tmp_path / "out"
    result = run("decrypt", release["enc"], "--key", release["key"], "--out", out)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "the .enc names carry no SHA-256" in result.stderr
    assert "not OpenBuddy's with this key: the key's first 16 MiB hash to" in result.stderr
    assert "it should be LLaMA-1 7B consolidated.00.pth" in result.stderr
    assert "add --format openbuddy to use this one anyway" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_encrypt_then_decrypt_round_trip_with_the_manifest(tmp_path: Path) -> None:
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

    out = tmp_path / "out"
    result = run(
        "decrypt", enc / "config.json.enc", enc / "pytorch_model.bin.enc", "--key", key,
        "--out", out, "--manifest", enc / "manifest.json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert (out / "config.json").read_bytes() == config
    assert (out / "pytorch_model.bin").read_bytes() == WEIGHTS
    assert result.stdout.count("MD5 verified") == 2
