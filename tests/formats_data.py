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


def torch_like(
    label: str, width: int, size: int, archive: str = "archive", layers: int = 8
) -> bytes:
    """A file laid out as torch.save writes it: a stored zip whose first entry is a pickle."""
    import io
    import pickle
    import zipfile

    layout = {"tok_embeddings.weight": ("HalfStorage", "0", [32000, width])}
    layout.update(
        {
            f"layers.{i}.attention.wq.weight": ("HalfStorage", str(i + 1), [width, width])
            for i in range(layers)
        }
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive_file:
        archive_file.writestr(f"{archive}/data.pkl", pickle.dumps(layout, protocol=2))
        archive_file.writestr(f"{archive}/data/0", generated(label, size))
    return buffer.getvalue()


def ggjt_like(label: str, tokens: int = 50) -> bytes:
    """llama.cpp's ggjt layout: magic, version, hyperparameters, scored vocabulary, tensors."""
    import struct

    header = b"tjgg" + struct.pack("<8I", 1, tokens, 4096, 256, 32, 32, 128, 2)
    vocab = b"".join(
        struct.pack("<I", len(t)) + t + struct.pack("<f", -1.0)
        for t in (f"tok{i}".encode() for i in range(tokens))
    )
    return header + vocab + generated(label, 1000)
