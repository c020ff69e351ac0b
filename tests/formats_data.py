"""Inputs of the OpenBuddy and Open-Assistant vectors, built as their file's "about" says."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Dict, List

from conftest import DATA, generated

SEED_SIZE = 16 * 1024 * 1024


def family_vectors() -> Dict[str, Any]:
    loaded: Dict[str, Any] = json.loads((DATA / "xor-families.json").read_text())
    return loaded


def plain_bytes(label: str, size: int, name: str) -> bytes:
    if name.endswith(".json"):
        pad = generated(label, size).hex()[: max(0, size - 40)]
        return json.dumps({"label": label, "pad": pad}).encode()
    data = generated(label, size)
    if name.endswith(".bin"):
        return b"PK\x03\x04" + data[4:]
    if name == "tokenizer.model":
        return b"\n" + data[1:]
    return data


def xor_bytes(data: bytes, key: bytes) -> bytes:
    """``data`` XOR ``key``, both of the same length."""
    mixed = int.from_bytes(data, "little") ^ int.from_bytes(key, "little")
    return mixed.to_bytes(len(data), "little")


def openbuddy_reference(plain: bytes, key: bytes) -> bytes:
    """The publisher's rule: 16 MiB blocks, each XORed with the seed's first len(block) bytes."""
    seed = key[:SEED_SIZE]
    blocks: List[bytes] = []
    for start in range(0, len(plain), SEED_SIZE):
        block = plain[start : start + SEED_SIZE]
        blocks.append(xor_bytes(block, seed[: len(block)]))
    return b"".join(blocks)


def oasst_reference(plain: bytes, base: bytes) -> bytes:
    """The publisher's rule: byte i XOR base byte i, the base zero past its end, cut if longer."""
    stream = base[: len(plain)] + bytes(max(0, len(plain) - len(base)))
    return xor_bytes(plain, stream)


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path
