"""What a restored file must start with, for releases that publish no checksum.

A wrong key or base turns every byte into noise, so the first bytes of a restored file tell
a right key from a wrong one whenever the file type has a fixed start. The bytes are captured
by a consumer of the one read loop; nothing is read twice.
"""

from __future__ import annotations

import json
from typing import Optional

from .errors import ChecksumMismatch

STRUCTURE_ONLY = "structure only"
NOT_VERIFIED = "not verified"
STRUCTURE = "structure"

# Enough for every magic below (safetensors: 8-byte length and the first byte of its JSON).
HEAD_SIZE = 16
# JSON files up to this size are parsed whole; larger ones are checked by their first bytes.
JSON_PARSE_LIMIT = 8 * 1024 * 1024

TORCH_ZIP = b"PK\x03\x04"
PICKLE_PROTO = 0x80
# ggml magics are written as little-endian uint32, so the bytes on disk read backwards:
# ggml 0x67676d6c, ggmf 0x67676d66, ggjt 0x67676a74, ggla 0x67676c61, ggsn 0x6767736e; gguf as is.
GGML_MAGICS = (b"lmgg", b"fmgg", b"tjgg", b"algg", b"nsgg", b"GGUF")

TORCH_OR_GGML = "torch or ggml file"
JSON_FILE = "UTF-8 JSON file"
SENTENCEPIECE = "sentencepiece model"
SAFETENSORS = "safetensors file"


def file_type(name: str) -> Optional[str]:
    """The type a restored file's name promises, or None when nothing can be checked."""
    lowered = name.lower()
    if lowered.endswith((".bin", ".pth", ".pt")):
        return TORCH_OR_GGML
    if lowered.endswith(".json"):
        return JSON_FILE
    if lowered.endswith(".model"):
        return SENTENCEPIECE
    if lowered.endswith(".safetensors"):
        return SAFETENSORS
    return None


def check_label(name: str) -> str:
    """What a structure check of ``name`` can say: "structure only" or "not verified"."""
    return STRUCTURE_ONLY if file_type(name) is not None else NOT_VERIFIED


class StructureMismatch(ChecksumMismatch):
    """The restored bytes are not a file of the type the name promises: wrong key or base."""


class Capture:
    """A read-loop consumer keeping the first bytes, or the whole content of a small JSON."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.kind = file_type(name)
        self._whole = self.kind == JSON_FILE
        self._data = bytearray()
        self.size = 0

    def feed(self, view: memoryview) -> None:
        self.size += len(view)
        if self._whole:
            if self.size <= JSON_PARSE_LIMIT:
                self._data += view
                return
            self._whole = False
            del self._data[HEAD_SIZE:]
        missing = HEAD_SIZE - len(self._data)
        if missing > 0:
            self._data += view[:missing]

    @property
    def head(self) -> bytes:
        return bytes(self._data[:HEAD_SIZE])

    def problem(self) -> Optional[str]:
        """Why the captured bytes cannot be a file of the promised type; None when they can."""
        data = bytes(self._data)
        if self.kind == TORCH_OR_GGML:
            return _torch_or_ggml(data)
        if self.kind == JSON_FILE:
            return _json(data, whole=self._whole)
        if self.kind == SENTENCEPIECE:
            return None if data[:1] == b"\n" else "does not start with byte 0x0A"
        if self.kind == SAFETENSORS:
            return _safetensors(data, self.size)
        return None


def _torch_or_ggml(data: bytes) -> Optional[str]:
    if data.startswith(TORCH_ZIP) or data[:4] in GGML_MAGICS:
        return None
    if len(data) >= 2 and data[0] == PICKLE_PROTO and 2 <= data[1] <= 5:
        return None
    return "starts with neither a zip, a pickle nor a ggml/gguf magic"


def _json(data: bytes, *, whole: bool) -> Optional[str]:
    if not whole:
        start = data.lstrip(b" \t\r\n\xef\xbb\xbf")[:1]
        return None if start in (b"{", b"[") else "does not start with { or ["
    try:
        json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return "does not parse as UTF-8 JSON"
    return None


def _safetensors(data: bytes, size: int) -> Optional[str]:
    if len(data) < 9:
        return "is shorter than a safetensors header"
    header_length = int.from_bytes(data[:8], "little")
    if header_length + 8 > size or data[8:9] != b"{":
        return "does not start with an 8-byte header length and {"
    return None


def check_capture(capture: Capture, *, path: str, key_noun: str) -> str:
    """Raise StructureMismatch for bytes of the wrong type; return the label of the check."""
    if capture.kind is None:
        return NOT_VERIFIED
    problem = capture.problem()
    if problem is not None:
        raise StructureMismatch(
            f"the restored bytes are not a valid {capture.kind} ({problem})",
            path=path,
            hint=f"the {key_noun} is likely wrong; nothing was written under {capture.name}",
            algorithm=STRUCTURE,
            expected=capture.kind,
            actual=capture.head.hex(),
        )
    return STRUCTURE_ONLY
