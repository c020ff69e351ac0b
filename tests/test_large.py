"""A patch larger than 4 GiB: offsets past 2**32, hundreds of key chunks, the key wrapping."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest

from helpers import all_names, run

CHUNK = 10 * 1024 * 1024
DATA_SIZE = 4 * 1024**3 + 12_345  # 410 data chunks, the last one short
KEY_SIZE = 3 * CHUNK + 4_097  # 4 key chunks, the last one 4,097 bytes: tiled


def _zeros_sha256(size: int) -> bytes:
    digest = hashlib.sha256()
    block = bytes(64 * 1024 * 1024)
    left = size
    while left:
        step = min(left, len(block))
        digest.update(memoryview(block)[:step])
        left -= step
    return digest.digest()


@pytest.mark.slow
def test_restore_past_four_gib(tmp_path: Path) -> None:
    if shutil.disk_usage(tmp_path).free < 3 * DATA_SIZE:
        pytest.skip("needs about 13 GB free in the temporary folder")
    key = hashlib.shake_128(b"large key").digest(KEY_SIZE)
    key_path = tmp_path / "consolidated.00.pth"
    key_path.write_bytes(key)
    # The restored file is all zeros, so the patch is the key stream itself: each data
    # chunk is a key chunk, a short one repeated end to end (built here independently).
    key_chunks = [key[i : i + CHUNK] for i in range(0, KEY_SIZE, CHUNK)]
    streams = [(kc * (CHUNK // len(kc) + 1))[:CHUNK] for kc in key_chunks]
    sha = _zeros_sha256(DATA_SIZE)
    patch = tmp_path / "enc" / f"pytorch_model.bin.{sha.hex()}.enc"
    patch.parent.mkdir()
    with patch.open("wb") as out:
        out.write(sha)
        for index in range(-(-DATA_SIZE // CHUNK)):
            length = min(CHUNK, DATA_SIZE - index * CHUNK)
            out.write(memoryview(streams[index % len(streams)])[:length])
    assert patch.stat().st_size == DATA_SIZE + 32

    restored_dir = tmp_path / "out"
    result = run("decrypt", patch, "-k", key_path, "-o", restored_dir, "--no-md5")
    patch.unlink()
    assert result.exit_code == 0, result.stderr
    restored = restored_dir / "pytorch_model.bin"
    assert all_names(restored_dir) == ["pytorch_model.bin"]
    assert restored.stat().st_size == DATA_SIZE
    with restored.open("rb") as handle:
        for offset in (0, 2**32 - 16, 2**32, DATA_SIZE - 20_000):
            handle.seek(offset)
            assert not np.frombuffer(handle.read(20_000), dtype=np.uint8).any()
