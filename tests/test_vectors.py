"""Byte-exactness against the publishers' own vectors, and against the rule itself."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Dict

import pytest

from belle_patch.jobs.restore import restore_patch
from belle_patch.jobs.restore_types import RESTORED
from belle_patch.jobs.seal import seal_file
from belle_patch.stream.keystream import KeySource

from conftest import all_vectors, generated, load_vectors, naive_xor, reference_xor, vector_inputs
from helpers import final_names

VECTORS = all_vectors()


def _ids(vector: Dict[str, Any]) -> str:
    return str(vector["name"])


def test_vector_file_uses_the_format_chunk_size() -> None:
    assert load_vectors()["chunk_size"] == 10 * 1024 * 1024


@pytest.mark.parametrize("vector", VECTORS, ids=_ids)
def test_inputs_are_the_documented_ones(vector: Dict[str, Any]) -> None:
    plain, key = vector_inputs(vector)
    assert hashlib.sha256(plain).hexdigest() == vector["plain_sha256"]
    assert hashlib.md5(plain).hexdigest() == vector["plain_md5"]
    if "key_hex" in vector:
        assert key.hex() == vector["key_hex"]


@pytest.mark.parametrize("vector", VECTORS, ids=_ids)
def test_encrypt_is_byte_identical(vector: Dict[str, Any], tmp_path: Path) -> None:
    plain, key = vector_inputs(vector)
    (tmp_path / vector["name"]).write_bytes(plain)
    (tmp_path / "key.pth").write_bytes(key)
    out = tmp_path / "out"
    out.mkdir()
    result = seal_file(tmp_path / vector["name"], KeySource(tmp_path / "key.pth"), out)
    assert result.output.name == vector["enc_name"]
    produced = result.output.read_bytes()
    assert len(produced) == vector["enc_size"]
    assert hashlib.md5(produced).hexdigest() == vector["enc_md5"]
    assert hashlib.sha256(produced).hexdigest() == vector["enc_sha256"]
    if "enc_hex" in vector:
        assert produced.hex() == vector["enc_hex"]
    assert result.md5 == vector["plain_md5"]
    assert [p.name for p in out.iterdir()] == [vector["enc_name"]]


@pytest.mark.parametrize("vector", VECTORS, ids=_ids)
def test_decrypt_restores_the_original(vector: Dict[str, Any], tmp_path: Path) -> None:
    plain, key = vector_inputs(vector)
    # The .enc is rebuilt from the rule, then checked against the publishers' digests,
    # so decrypt is tested on exactly the bytes they published.
    enc = bytes.fromhex(vector["plain_sha256"]) + reference_xor(plain, key, 10 * 1024 * 1024)
    assert hashlib.md5(enc).hexdigest() == vector["enc_md5"]
    patch = tmp_path / vector["enc_name"]
    patch.write_bytes(enc)
    (tmp_path / "key.pth").write_bytes(key)
    out = tmp_path / "out"
    out.mkdir()
    result = restore_patch(patch, KeySource(tmp_path / "key.pth"), out)
    assert result.status == RESTORED
    assert (out / vector["name"]).read_bytes() == plain
    assert result.md5 == vector["plain_md5"]
    assert final_names(out) == [vector["name"]]


@pytest.mark.parametrize(
    ("data_size", "key_size", "chunk"),
    [
        (0, 5, 8),
        (1, 5, 8),
        (8, 8, 8),
        (9, 8, 8),
        (16, 8, 8),
        (17, 8, 8),
        (40, 12, 8),  # key of 1.5 chunks: tail of 4 bytes tiled over chunk 1
        (41, 3, 8),  # key shorter than a chunk
        (100, 29, 8),  # several wraps, short tail of 5
        (64, 16, 8),  # key of exactly 2 chunks: chunk 2 wraps to key chunk 0
        (10, 100, 8),  # key longer than data
    ],
)
def test_small_chunks_follow_the_rule(
    data_size: int, key_size: int, chunk: int, tmp_path: Path
) -> None:
    plain = generated(f"plain-{data_size}", data_size)
    key = generated(f"key-{key_size}", key_size)
    (tmp_path / "model.bin").write_bytes(plain)
    (tmp_path / "key.pth").write_bytes(key)
    source = KeySource(tmp_path / "key.pth", chunk_size=chunk)
    out = tmp_path / "out"
    out.mkdir()
    sealed = seal_file(tmp_path / "model.bin", source, out)
    expected = hashlib.sha256(plain).digest() + naive_xor(plain, key, chunk)
    assert sealed.output.read_bytes() == expected
    restored_dir = tmp_path / "restored"
    restored_dir.mkdir()
    restore_patch(sealed.output, source, restored_dir)
    assert (restored_dir / "model.bin").read_bytes() == plain


@pytest.mark.parametrize(("data_size", "key_size"), [(0, 3), (7, 3), (40, 12), (100, 29), (64, 16)])
def test_fast_reference_agrees_with_the_byte_loop(data_size: int, key_size: int) -> None:
    plain, key = generated("p", data_size), generated("k", key_size)
    assert reference_xor(plain, key, 8) == naive_xor(plain, key, 8)


def test_cyclic_key_stream_is_not_the_format() -> None:
    # Guards the reference itself: with a short last key chunk the format differs from a
    # plain cyclic XOR, which is the mistake a reimplementation is most likely to make.
    plain, key = bytes(40), generated("k", 12)
    cyclic = bytes(b ^ key[i % len(key)] for i, b in enumerate(plain))
    assert naive_xor(plain, key, 8) != cyclic
