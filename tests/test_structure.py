"""What a restored file must start with, checked from bytes captured in the read loop."""

from __future__ import annotations

import json
from typing import Optional

import pytest

from belle_patch import structure
from belle_patch.structure import (
    NOT_VERIFIED,
    STRUCTURE_ONLY,
    Capture,
    StructureMismatch,
    check_capture,
    check_label,
)

from conftest import generated


def _problem(name: str, data: bytes, piece: int = 3) -> Optional[str]:
    capture = Capture(name)
    for start in range(0, len(data), piece):
        capture.feed(memoryview(data[start : start + piece]))
    return capture.problem()


@pytest.mark.parametrize(
    "head",
    [
        b"PK\x03\x04\x00\x00\x08\x08",  # torch zip
        b"\x80\x02\x8a\x0alm",  # legacy torch pickle
        b"tjgg\x01\x00\x00\x00",  # ggjt, as llama.cpp writes it
        b"lmgg\x00\x00",  # unversioned ggml
        b"fmgg\x01\x00",  # ggmf
        b"GGUF\x03\x00\x00\x00",  # gguf
    ],
)
def test_bin_accepts_torch_and_ggml_starts(head: bytes) -> None:
    assert _problem("pytorch_model-00001-of-00002.bin", head + generated("w", 100)) is None


@pytest.mark.parametrize("head", [b"\x80\x09\x00\x00", b"ggjt\x01\x00", b"PK\x05\x06", b""])
def test_bin_refuses_other_starts(head: bytes) -> None:
    assert _problem("7b-q4_0.bin", head + b"\x00" * 20) is not None


def test_noise_is_no_torch_file() -> None:
    assert _problem("pytorch_model.bin", generated("noise", 4096)) is not None


def test_json_must_parse_as_utf8() -> None:
    assert _problem("config.json", json.dumps({"model_type": "llama"}).encode()) is None
    assert _problem("config.json", b'{"model_type": "llama"') is not None
    assert _problem("config.json", b'{"a": "\xff"}') is not None


def test_large_json_is_checked_by_its_first_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(structure, "JSON_PARSE_LIMIT", 32)
    # Too large to parse: an unterminated but well-started document passes on its start...
    assert _problem("tokenizer.json", b'  {"model": ' + b"1" * 100, piece=7) is None
    # ...and noise does not.
    assert _problem("tokenizer.json", b"\x13" + b"1" * 100, piece=7) is not None


def test_tokenizer_model_starts_with_0x0a() -> None:
    assert _problem("tokenizer.model", b"\n\x0e\n\x05<unk>") is None
    assert _problem("tokenizer.model", b"\x0b\x0e") is not None


def test_safetensors_starts_with_length_and_brace() -> None:
    header = b'{"__metadata__":{}}'
    good = len(header).to_bytes(8, "little") + header + bytes(16)
    assert _problem("model.safetensors", good) is None
    too_long = (10**9).to_bytes(8, "little") + header
    assert _problem("model.safetensors", too_long) is not None
    no_brace = len(header).to_bytes(8, "little") + b"[" + header[1:]
    assert _problem("model.safetensors", no_brace) is not None


def test_unknown_types_are_not_verified_never_ok() -> None:
    capture = Capture("prompt.txt")
    capture.feed(memoryview(b"anything"))
    assert check_label("prompt.txt") == NOT_VERIFIED
    assert check_capture(capture, path="prompt.txt.enc", key_noun="key file") == NOT_VERIFIED


def test_failure_names_the_file_the_type_and_the_key() -> None:
    capture = Capture("pytorch_model.bin")
    capture.feed(memoryview(generated("noise", 64)))
    with pytest.raises(StructureMismatch) as caught:
        check_capture(capture, path="pytorch_model.bin.enc", key_noun="key file")
    message = str(caught.value)
    assert message.startswith("pytorch_model.bin.enc: the restored bytes are not a valid torch")
    assert "key file is likely wrong" in message
    assert "\n" not in message


def test_passing_check_is_structure_only() -> None:
    capture = Capture("config.json")
    capture.feed(memoryview(b"{}"))
    assert check_capture(capture, path="config.json", key_noun="base file") == STRUCTURE_ONLY
