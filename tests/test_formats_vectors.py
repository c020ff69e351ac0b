"""OpenBuddy and Open-Assistant: byte-exact against vectors checked with the publishers' scripts."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path
from typing import Any, Dict

import pytest

from belle_patch.check.structure import StructureMismatch
from belle_patch.formats.basestream import BaseFolder
from belle_patch.formats.families import OASST, OASST_GZIP, OPENBUDDY
from belle_patch.jobs.restore import restore_patch
from belle_patch.jobs.restore_types import RESTORED, RestoreOptions
from belle_patch.jobs.seal import seal_file
from belle_patch.stream.keystream import KeySource

from conftest import generated
from formats_data import (
    family_vectors,
    md5,
    oasst_reference,
    openbuddy_reference,
    plain_bytes,
    write,
)
from helpers import final_names

VECTORS = family_vectors()
OPENBUDDY_VECTORS = VECTORS["openbuddy"]
OASST_VECTORS = VECTORS["oasst"]


def _ids(vector: Dict[str, Any]) -> str:
    return str(vector["name"])


def _openbuddy_inputs(vector: Dict[str, Any]) -> tuple[bytes, bytes]:
    plain = plain_bytes(vector["plain_label"], vector["plain_size"], vector["name"])
    return plain, generated(vector["key_label"], vector["key_size"])


def _oasst_inputs(vector: Dict[str, Any]) -> tuple[bytes, bytes]:
    plain = plain_bytes(vector["plain_label"], vector["plain_size"], vector["name"])
    return plain, generated(vector["base_label"], vector["base_size"])


@pytest.mark.parametrize("vector", OPENBUDDY_VECTORS, ids=_ids)
def test_openbuddy_inputs_are_the_documented_ones(vector: Dict[str, Any]) -> None:
    plain, key = _openbuddy_inputs(vector)
    assert md5(plain) == vector["plain_md5"]
    assert hashlib.sha256(plain).hexdigest() == vector["plain_sha256"]
    assert md5(openbuddy_reference(plain, key)) == vector["enc_md5"]


@pytest.mark.parametrize("vector", OPENBUDDY_VECTORS, ids=_ids)
def test_openbuddy_encrypt_is_byte_identical(vector: Dict[str, Any], tmp_path: Path) -> None:
    plain, key = _openbuddy_inputs(vector)
    source = write(tmp_path / "model" / vector["name"], plain)
    key_path = write(tmp_path / "consolidated.00.pth", key)
    out = tmp_path / "enc"
    out.mkdir()
    result = seal_file(source, KeySource(key_path), out, format=OPENBUDDY, download_md5=True)
    assert result.output.name == vector["enc_name"]
    assert md5(result.output.read_bytes()) == vector["enc_md5"]
    assert result.enc_md5 == vector["enc_md5"]
    assert result.md5 == vector["plain_md5"]
    assert final_names(out) == [vector["enc_name"]]


@pytest.mark.parametrize("vector", OPENBUDDY_VECTORS, ids=_ids)
def test_openbuddy_decrypt_restores_the_original(vector: Dict[str, Any], tmp_path: Path) -> None:
    plain, key = _openbuddy_inputs(vector)
    patch = write(tmp_path / "enc" / vector["enc_name"], openbuddy_reference(plain, key))
    key_path = write(tmp_path / "consolidated.00.pth", key)
    out = tmp_path / "out"
    out.mkdir()
    options = RestoreOptions(expected_md5=vector["plain_md5"])
    result = restore_patch(patch, KeySource(key_path), out, options, format=OPENBUDDY)
    restored = (out / vector["name"]).read_bytes()
    assert hashlib.sha256(restored).hexdigest() == vector["plain_sha256"]
    assert result.status == RESTORED
    assert result.md5 == vector["plain_md5"]
    assert result.checks == ["MD5"]
    assert final_names(out) == [vector["name"]]


@pytest.mark.parametrize("vector", OPENBUDDY_VECTORS, ids=_ids)
def test_openbuddy_without_a_list_checks_structure(vector: Dict[str, Any], tmp_path: Path) -> None:
    plain, key = _openbuddy_inputs(vector)
    patch = write(tmp_path / "enc" / vector["enc_name"], openbuddy_reference(plain, key))
    key_path = write(tmp_path / "consolidated.00.pth", key)
    out = tmp_path / "out"
    out.mkdir()
    if vector["name"].endswith(".bin"):
        # The vector's .bin is a zip signature over noise: no pickle follows, so no torch file.
        with pytest.raises(StructureMismatch, match="not a valid torch or ggml file"):
            restore_patch(patch, KeySource(key_path), out, format=OPENBUDDY)
        assert final_names(out) == []
        return
    result = restore_patch(patch, KeySource(key_path), out, format=OPENBUDDY)
    assert result.checks == ["structure only"]
    assert (out / vector["name"]).read_bytes() == plain


def test_openbuddy_with_an_md5_is_verified_by_it(tmp_path: Path) -> None:
    vector = OPENBUDDY_VECTORS[0]
    plain, key = _openbuddy_inputs(vector)
    patch = write(tmp_path / "enc" / vector["enc_name"], openbuddy_reference(plain, key))
    key_path = write(tmp_path / "consolidated.00.pth", key)
    out = tmp_path / "out"
    out.mkdir()
    options = RestoreOptions(expected_md5=vector["plain_md5"])
    result = restore_patch(patch, KeySource(key_path), out, options, format=OPENBUDDY)
    assert result.checks == ["MD5"]
    assert (out / vector["name"]).read_bytes() == plain


@pytest.mark.parametrize("vector", OASST_VECTORS, ids=_ids)
def test_oasst_inputs_are_the_documented_ones(vector: Dict[str, Any]) -> None:
    plain, base = _oasst_inputs(vector)
    assert md5(plain) == vector["plain_md5"]
    assert md5(base) == vector["base_md5"]
    assert md5(oasst_reference(plain, base)) == vector["payload_md5"]


@pytest.mark.parametrize("vector", OASST_VECTORS, ids=_ids)
def test_oasst_encrypt_is_byte_identical(vector: Dict[str, Any], tmp_path: Path) -> None:
    plain, base = _oasst_inputs(vector)
    source = write(tmp_path / "finetuned" / vector["name"], plain)
    write(tmp_path / "llama_hf" / vector["name"], base)
    out = tmp_path / "xor"
    out.mkdir()
    folder = BaseFolder(tmp_path / "llama_hf")
    result = seal_file(source, folder, out, format=OASST, download_md5=True)
    assert result.output.name == vector["name"]
    assert result.size == len(plain)
    assert md5(result.output.read_bytes()) == vector["payload_md5"]
    assert result.enc_md5 == vector["payload_md5"]
    assert result.md5 == vector["plain_md5"]
    assert final_names(out) == [vector["name"]]


@pytest.mark.parametrize("vector", OASST_VECTORS, ids=_ids)
def test_oasst_decrypt_restores_the_original(vector: Dict[str, Any], tmp_path: Path) -> None:
    plain, base = _oasst_inputs(vector)
    payload = write(tmp_path / "xor" / vector["name"], oasst_reference(plain, base))
    write(tmp_path / "llama_hf" / vector["name"], base)
    out = tmp_path / "out"
    out.mkdir()
    options = RestoreOptions(expected_md5=vector["plain_md5"], expected_base=vector["base_md5"])
    result = restore_patch(payload, BaseFolder(tmp_path / "llama_hf"), out, options, format=OASST)
    assert (out / vector["name"]).read_bytes() == plain
    assert result.md5 == vector["plain_md5"]
    assert result.checks == ["MD5", "base MD5"]
    assert final_names(out) == [vector["name"]]


@pytest.mark.parametrize(
    "vector", [v for v in OASST_VECTORS if not v["name"].endswith(".bin")], ids=_ids
)
def test_oasst_without_lists_checks_structure(vector: Dict[str, Any], tmp_path: Path) -> None:
    plain, base = _oasst_inputs(vector)
    payload = write(tmp_path / "xor" / vector["name"], oasst_reference(plain, base))
    write(tmp_path / "llama_hf" / vector["name"], base)
    out = tmp_path / "out"
    out.mkdir()
    result = restore_patch(payload, BaseFolder(tmp_path / "llama_hf"), out, format=OASST)
    assert (out / vector["name"]).read_bytes() == plain
    assert result.checks == ["structure only"]


def test_oasst_gzip_variant_restores_the_original(tmp_path: Path) -> None:
    vector = OASST_VECTORS[1]
    plain, base = _oasst_inputs(vector)
    compressed = gzip.compress(oasst_reference(plain, base))
    payload = write(tmp_path / "xor" / vector["name"], compressed)
    write(tmp_path / "llama_hf" / vector["name"], base)
    out = tmp_path / "out"
    out.mkdir()
    options = RestoreOptions(expected_md5=vector["plain_md5"])
    result = restore_patch(
        payload, BaseFolder(tmp_path / "llama_hf"), out, options, format=OASST_GZIP
    )
    assert (out / vector["name"]).read_bytes() == plain
    assert result.size == len(plain)


def test_added_tokens_without_a_base_file_are_copied_as_is(tmp_path: Path) -> None:
    content = VECTORS["oasst_added_tokens"]["content"].encode()
    payload = write(tmp_path / "xor" / "added_tokens.json", content)
    (tmp_path / "llama_hf").mkdir()
    out = tmp_path / "out"
    out.mkdir()
    result = restore_patch(payload, BaseFolder(tmp_path / "llama_hf"), out, format=OASST)
    assert (out / "added_tokens.json").read_bytes() == content
    assert result.checks == ["structure only"]
    source = write(tmp_path / "finetuned" / "added_tokens.json", content)
    enc = tmp_path / "enc"
    enc.mkdir()
    sealed = seal_file(source, BaseFolder(tmp_path / "llama_hf"), enc, format=OASST)
    assert sealed.output.read_bytes() == content


def test_added_tokens_with_a_base_file_are_xored_like_the_publishers(tmp_path: Path) -> None:
    # The publisher's tool overwrites its copy with payload XOR base when the base has one.
    content = VECTORS["oasst_added_tokens"]["content"].encode()
    base = generated("base added tokens", 10)
    payload = write(tmp_path / "xor" / "added_tokens.json", oasst_reference(content, base))
    write(tmp_path / "llama_hf" / "added_tokens.json", base)
    out = tmp_path / "out"
    out.mkdir()
    restore_patch(payload, BaseFolder(tmp_path / "llama_hf"), out, format=OASST)
    assert (out / "added_tokens.json").read_bytes() == content
