"""A patch larger than 4 GiB: offsets past 2**32, hundreds of key chunks, the key wrapping."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import List

import pytest

from helpers import all_names, run

CHUNK = 10 * 1024 * 1024
DATA_SIZE = 4 * 1024**3 + 12_345  # 410 data chunks, the last one short
KEY_SIZE = 3 * CHUNK + 4_097  # 4 key chunks, the last one 4,097 bytes: tiled
HEADER = 32


def _key_streams(key: bytes) -> List[bytes]:
    """What each key chunk XORs a whole data chunk with: a short chunk repeated end to end."""
    key_chunks = [key[i : i + CHUNK] for i in range(0, len(key), CHUNK)]
    return [(kc * (CHUNK // len(kc) + 1))[:CHUNK] for kc in key_chunks]


def _stream_bytes(streams: List[bytes], offset: int, length: int) -> bytes:
    """Bytes [offset, offset + length) of the key stream, data chunk by data chunk."""
    out = bytearray()
    while length:
        index, within = divmod(offset, CHUNK)
        step = min(length, CHUNK - within)
        out += streams[index % len(streams)][within : within + step]
        offset += step
        length -= step
    return bytes(out)


@pytest.mark.slow
def test_restore_past_four_gib(big_tmp_path: Path) -> None:
    if shutil.disk_usage(big_tmp_path).free < DATA_SIZE + 1024**3:
        pytest.skip("needs about 5.5 GB free in the temporary folder")
    key = hashlib.shake_128(b"large key").digest(KEY_SIZE)
    key_path = big_tmp_path / "consolidated.00.pth"
    key_path.write_bytes(key)
    # The patch body is all zeros, so the restored file is the key stream itself (built here
    # independently of belle-patch). Zeros need no writing: the patch is a sparse file, and
    # only the restored file takes disk space.
    streams = _key_streams(key)
    digest = hashlib.sha256()
    for start in range(0, DATA_SIZE, CHUNK):
        digest.update(_stream_bytes(streams, start, min(CHUNK, DATA_SIZE - start)))
    sha = digest.digest()
    patch = big_tmp_path / "enc" / f"pytorch_model.bin.{sha.hex()}.enc"
    patch.parent.mkdir()
    with patch.open("wb") as out:
        out.write(sha)
        out.truncate(HEADER + DATA_SIZE)
    assert patch.stat().st_size == DATA_SIZE + HEADER

    restored_dir = big_tmp_path / "out"
    # The SHA-256 in the header covers every byte: exit 0 means the whole stream was right.
    result = run("decrypt", patch, "-k", key_path, "-o", restored_dir, "--no-md5")
    assert result.exit_code == 0, result.stderr
    restored = restored_dir / "pytorch_model.bin"
    assert all_names(restored_dir) == ["pytorch_model.bin"]
    assert restored.stat().st_size == DATA_SIZE
    with restored.open("rb") as handle:
        for offset in (0, CHUNK - 10_000, 2**32 - 16, 2**32, DATA_SIZE - 20_000):
            handle.seek(offset)
            length = min(20_000, DATA_SIZE - offset)
            assert handle.read(length) == _stream_bytes(streams, offset, length), offset
