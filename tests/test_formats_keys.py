"""Key material per chunk: a cut key held in memory, and Open-Assistant's base files."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

from belle_patch.errors import KeyFileError
from belle_patch.formats.basestream import BaseFolder
from belle_patch.formats.families import BELLE, OASST, OPENBUDDY
from belle_patch.formats.families import format_by_file_name as format_by_name
from belle_patch.stream.keystream import KeySource

from conftest import generated, naive_xor
from formats_data import oasst_reference, write


def _stream_bytes(stream_chunk: Callable[[int, int], Any], data_size: int, chunk: int) -> bytes:
    pieces = []
    for index, start in enumerate(range(0, data_size, chunk)):
        length = min(chunk, data_size - start)
        pieces.append(np.asarray(stream_chunk(index, length)).tobytes())
    return b"".join(pieces)


@pytest.mark.parametrize(
    ("data_size", "key_size", "chunk", "limit"),
    [
        (64, 40, 8, 16),  # cut to two chunks: data chunk i uses key chunk i mod 2
        (70, 40, 8, 12),  # cut to a chunk and a half: the half is tiled
        (30, 40, 8, 40),  # limit past the data
        (17, 5, 8, 100),  # key shorter than the limit and than a chunk
    ],
)
def test_cut_key_follows_the_tiling_rule(
    data_size: int, key_size: int, chunk: int, limit: int, tmp_path: Path
) -> None:
    key = generated(f"key-{key_size}", key_size)
    key_path = write(tmp_path / "key.pth", key)
    with KeySource(key_path).open(chunk_size=chunk, limit=limit) as stream:
        produced = _stream_bytes(stream.chunk, data_size, chunk)
    assert produced == naive_xor(bytes(data_size), key[:limit], chunk)


def test_openbuddy_tiling_equals_the_publishers_blocks() -> None:
    # 16 MiB blocks each XORed with seed[:len(block)] are 8 MiB chunks over a 2-chunk key:
    # checked here with the same shape scaled down (blocks of 16, chunks of 8).
    seed = generated("seed", 16)
    data = generated("data", 41)
    blocks = b"".join(
        bytes(b ^ k for b, k in zip(data[s : s + 16], seed, strict=False))
        for s in range(0, len(data), 16)
    )
    assert naive_xor(data, seed, 8) == blocks


@pytest.mark.parametrize(("payload_size", "base_size"), [(25, 10), (10, 25), (24, 24), (0, 5)])
def test_base_stream_is_zero_past_its_end_and_cut(
    payload_size: int, base_size: int, tmp_path: Path
) -> None:
    base = generated("base", base_size)
    write(tmp_path / "hf" / "pytorch_model.bin", base)
    folder = BaseFolder(tmp_path / "hf", chunk_size=8)
    with folder.open_for("pytorch_model.bin", hash_algorithm="md5") as stream:
        produced = _stream_bytes(stream.chunk, payload_size, 8)
        assert stream.digest_of_whole_base() == hashlib.md5(base).hexdigest()
    assert produced == oasst_reference(bytes(payload_size), base)


def test_base_must_be_a_folder(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="no base folder"):
        BaseFolder(tmp_path / "missing")
    write(tmp_path / "file", b"x")
    with pytest.raises(KeyFileError, match="not a folder"):
        BaseFolder(tmp_path / "file")


def test_format_by_name() -> None:
    sha = "ab" * 32
    assert format_by_name(f"pytorch_model.bin.{sha}.enc") is BELLE
    assert format_by_name("pytorch_model-00001-of-00002.bin.enc") is OPENBUDDY
    assert format_by_name("pytorch_model.bin") is None
    assert format_by_name(".enc") is None
    assert OASST.copied_without_base == frozenset({"added_tokens.json"})


def test_a_base_file_can_be_named_per_payload(tmp_path: Path) -> None:
    base = generated("base", 12)
    elsewhere = write(tmp_path / "shards" / "model-a.bin", base)
    folder = BaseFolder(tmp_path, paths={"pytorch_model.bin": elsewhere}, chunk_size=8)
    assert folder.has("pytorch_model.bin")
    with folder.open_for("pytorch_model.bin") as stream:
        assert _stream_bytes(stream.chunk, 12, 8) == base
