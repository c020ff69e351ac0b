"""What a restored file must start with, checked from bytes captured in the read loop."""

from __future__ import annotations

import io
import json
import pickle
import zipfile
from typing import Any, Optional

import pytest

from belle_patch.check import structure
from belle_patch.check.structure import (
    Capture,
    StructureMismatch,
    check_capture,
    check_label,
)
from belle_patch.vocabulary import CheckKind

from conftest import generated
from formats_data import ggjt_like, torch_like


def _problem(name: str, data: bytes, piece: int = 3) -> Optional[str]:
    capture = Capture(name)
    for start in range(0, len(data), piece):
        capture.feed(memoryview(data[start : start + piece]))
    return capture.problem()


def test_bin_accepts_torch_and_ggml_files() -> None:
    assert _problem("pytorch_model.bin", torch_like("weights", 4096, 3000), piece=1000) is None
    assert _problem("7b-q4_0.bin", ggjt_like("q4"), piece=100) is None
    legacy = pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2) + pickle.dumps(1001, protocol=2)
    assert _problem("old.bin", legacy + pickle.dumps({}, protocol=2) * 2 + bytes(50)) is None


@pytest.mark.parametrize(
    "head",
    [b"lmgg\x00\x00", b"fmgg\x01\x00", b"GGUF\x03\x00\x00\x00", b"algg\x01\x00\x00\x00"],
)
def test_other_ggml_layouts_are_known_by_their_magic(head: bytes) -> None:
    assert _problem("model.bin", head + generated("w", 100)) is None


@pytest.mark.parametrize("head", [b"\x80\x09\x00\x00", b"ggjt\x01\x00", b"PK\x05\x06", b""])
def test_bin_refuses_other_starts(head: bytes) -> None:
    assert _problem("7b-q4_0.bin", head + b"\x00" * 20) is not None


def test_a_zip_header_over_noise_is_no_torch_file() -> None:
    # What a wrong LLaMA key leaves: the zip header comes out right, the pickle does not.
    good = torch_like("weights", 4096, 3000)
    noisy = good[:48] + generated("noise", len(good) - 48)
    assert _problem("pytorch_model.bin", noisy) == "has a pickle that does not parse"


def test_a_ggjt_header_over_noise_is_no_ggml_file() -> None:
    good = ggjt_like("q4")
    assert _problem("q4_0.bin", good[:36] + generated("noise", 500)) is not None
    assert _problem("q4_0.bin", good[:4] + generated("noise", 500)) is not None


def test_a_long_pickle_past_the_captured_start_is_not_a_failure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(structure, "WEIGHTS_HEAD_SIZE", 200)
    assert _problem("pytorch_model.bin", torch_like("weights", 4096, 3000), piece=64) is None


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
    good = len(header).to_bytes(8, "little") + header
    assert _problem("model.safetensors", good) is None
    # The size must be exactly what the header's tensors need: none here.
    assert "after its last tensor" in str(_problem("model.safetensors", good + bytes(16)))
    tensor = b'{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}'
    whole = len(tensor).to_bytes(8, "little") + tensor + bytes(16)
    assert _problem("model.safetensors", whole) is None
    assert "shorter than its tensors need" in str(_problem("model.safetensors", whole[:-1]))
    too_long = (10**9).to_bytes(8, "little") + header
    assert _problem("model.safetensors", too_long) is not None
    no_brace = len(header).to_bytes(8, "little") + b"[" + header[1:]
    assert _problem("model.safetensors", no_brace) is not None


def test_unknown_types_are_not_verified_never_ok() -> None:
    capture = Capture("prompt.txt")
    capture.feed(memoryview(b"anything"))
    assert check_label("prompt.txt") == CheckKind.NOT_VERIFIED
    assert (
        check_capture(capture, path="prompt.txt.enc", key_noun="key file") == CheckKind.NOT_VERIFIED
    )


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
    assert (
        check_capture(capture, path="config.json", key_noun="base file") == CheckKind.STRUCTURE_ONLY
    )


class _Unseekable(io.RawIOBase):
    """A write-only stream: zipfile then defers sizes to a data descriptor, as torch does."""

    def __init__(self) -> None:
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        self.data += bytes(b)
        return len(bytes(b))


def test_zip_with_data_descriptors_passes() -> None:
    sink = _Unseekable()
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("archive/data.pkl", pickle.dumps({"w": [1, 2]}, protocol=2))
        archive.writestr("archive/data/0", generated("w", 500))
    data = bytes(sink.data)
    assert int.from_bytes(data[6:8], "little") & 0x08
    assert _problem("pytorch_model.bin", data, piece=50) is None


def test_pickle_must_be_followed_by_the_rest_of_the_zip() -> None:
    good = torch_like("weights", 4096, 3000)
    end = good.index(b"PK", 4)
    assert _problem("pytorch_model.bin", good[:end] + generated("noise", 100)) is not None
