from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest
from hypothesis import HealthCheck, settings

# "default" keeps the suite quick; HYPOTHESIS_PROFILE=thorough searches much longer.
settings.register_profile(
    "default",
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
settings.register_profile("thorough", parent=settings.get_profile("default"), max_examples=2000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

DATA = Path(__file__).resolve().parent / "data"

pytest_plugins = ["conftest_hub"]


def generated(label: str, size: int) -> bytes:
    """Input bytes of the test vectors: SHAKE-128 of the label, truncated to size."""
    return hashlib.shake_128(label.encode()).digest(size)


def naive_xor(data: bytes, key: bytes, chunk_size: int) -> bytes:
    """The key-stream rule of FORMAT.md, written as plainly as possible (a byte loop)."""
    key_chunks = [key[i : i + chunk_size] for i in range(0, len(key), chunk_size)]
    out = bytearray()
    for index, start in enumerate(range(0, len(data), chunk_size)):
        piece = data[start : start + chunk_size]
        key_chunk = key_chunks[index % len(key_chunks)]
        for offset, byte in enumerate(piece):
            out.append(byte ^ key_chunk[offset % len(key_chunk)])
    return bytes(out)


def reference_xor(data: bytes, key: bytes, chunk_size: int) -> bytes:
    """The same rule as naive_xor with big-integer XOR per chunk: fast enough for 28 MB."""
    key_chunks = [key[i : i + chunk_size] for i in range(0, len(key), chunk_size)]
    out = []
    for index, start in enumerate(range(0, len(data), chunk_size)):
        piece = data[start : start + chunk_size]
        key_chunk = key_chunks[index % len(key_chunks)]
        stream = (key_chunk * (len(piece) // len(key_chunk) + 1))[: len(piece)]
        mixed = int.from_bytes(piece, "little") ^ int.from_bytes(stream, "little")
        out.append(mixed.to_bytes(len(piece), "little"))
    return b"".join(out)


def load_vectors() -> Dict[str, Any]:
    return json.loads((DATA / "xor-format.json").read_text())


def all_vectors() -> List[Dict[str, Any]]:
    vectors = load_vectors()
    return list(vectors["literal"]) + list(vectors["generated"])


def vector_inputs(vector: Dict[str, Any]) -> tuple[bytes, bytes]:
    plain = generated(vector["plain_label"], vector["plain_size"])
    key = generated(vector["key_label"], vector["key_size"])
    return plain, key


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "key" / "consolidated.00.pth"
    path.parent.mkdir()
    path.write_bytes(generated("test key", 3000))
    return path


@pytest.fixture
def big_tmp_path(tmp_path: Path) -> Iterator[Path]:
    """tmp_path for tests that write GBs: emptied when the test ends, even when it fails.

    (pytest removes a passing test's tmp_path itself: tmp_path_retention_policy.)
    """
    yield tmp_path
    for entry in tmp_path.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink()
