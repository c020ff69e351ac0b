"""What a restored file must start with, for releases that publish no checksum.

A wrong key or base turns every byte into noise, so the first bytes of a restored file tell
a right key from a wrong one whenever the file type has a fixed start. The bytes are captured
by a consumer of the one read loop; nothing is read twice.
"""

from __future__ import annotations

import io
import json
import pickletools
from typing import Optional

from belle_patch.check.safetensors_layout import LayoutCapture
from belle_patch.errors import ChecksumMismatch
from belle_patch.vocabulary import CheckKind, DigestKind

# Enough for every magic below (safetensors: 8-byte length and the first byte of its JSON).
HEAD_SIZE = 16
# JSON files up to this size are parsed whole; larger ones are checked by their first bytes.
JSON_PARSE_LIMIT = 8 * 1024 * 1024
# Weight files: the start that is walked (a torch file's pickle, a ggml file's vocabulary).
# Their first bytes alone prove little: every LLaMA key file starts with the same zip header,
# so a wrong LLaMA file as key restores the right magic and the wrong bytes after it.
WEIGHTS_HEAD_SIZE = 1024 * 1024

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


def check_label(name: str) -> CheckKind:
    """What a structure check of ``name`` can say: "structure only" or "not verified"."""
    return CheckKind.STRUCTURE_ONLY if file_type(name) is not None else CheckKind.NOT_VERIFIED


class StructureMismatch(ChecksumMismatch):
    """The restored bytes are not a file of the type the name promises: wrong key or base."""


class Capture:
    """A read-loop consumer keeping the first bytes, or the whole content of a small JSON."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.kind = file_type(name)
        self._whole = self.kind == JSON_FILE
        self._head_size = WEIGHTS_HEAD_SIZE if self.kind == TORCH_OR_GGML else HEAD_SIZE
        self._data = bytearray()
        self.size = 0
        # A safetensors file is checked whole: its header, and its exact size.
        self._layout = LayoutCapture() if self.kind == SAFETENSORS else None

    def feed(self, view: memoryview) -> None:
        self.size += len(view)
        if self._layout is not None:
            self._layout.update(view)
        if self._whole:
            if self.size <= JSON_PARSE_LIMIT:
                self._data += view
                return
            self._whole = False
            del self._data[HEAD_SIZE:]
        missing = self._head_size - len(self._data)
        if missing > 0:
            self._data += view[:missing]

    @property
    def head(self) -> bytes:
        return bytes(self._data[:HEAD_SIZE])

    def problem(self) -> Optional[str]:
        """Why the captured bytes cannot be a file of the promised type; None when they can."""
        data = bytes(self._data)
        if self.kind == TORCH_OR_GGML:
            return _torch_or_ggml(data, truncated=self.size > len(data))
        if self.kind == JSON_FILE:
            return _json(data, whole=self._whole)
        if self.kind == SENTENCEPIECE:
            return None if data[:1] == b"\n" else "does not start with byte 0x0A"
        if self._layout is not None:
            return self._layout.finish(self.size).problem
        return None


def _torch_or_ggml(data: bytes, *, truncated: bool) -> Optional[str]:
    if data.startswith(TORCH_ZIP):
        return _torch_zip(data, truncated=truncated)
    if data[:4] in GGML_MAGICS:
        return _ggml(data, truncated=truncated)
    if len(data) >= 2 and data[0] == PICKLE_PROTO and 2 <= data[1] <= 5:
        # Legacy torch.save: the magic number, protocol and system pickles, then the object's.
        return _pickles(data, 0, count=4, truncated=truncated)
    return "starts with neither a zip, a pickle nor a ggml/gguf magic"


def _torch_zip(data: bytes, *, truncated: bool) -> Optional[str]:
    """The first zip entry of a torch file is its pickle, stored uncompressed: walk it."""
    if len(data) < 30:
        return None if truncated else "is too short for a zip entry"
    method = int.from_bytes(data[8:10], "little")
    name_length = int.from_bytes(data[26:28], "little")
    extra_length = int.from_bytes(data[28:30], "little")
    name = data[30 : 30 + name_length]
    if method != 0 or not name.endswith(b"data.pkl"):
        if not name or any(byte < 0x20 or byte > 0x7E for byte in name):
            return "has a zip entry whose name is not text"
        return None  # a zip, but not one whose pickle can be walked here
    start = 30 + name_length + extra_length
    end, problem = _walk_pickles(data, start, count=1, truncated=truncated)
    if problem is not None or end is None:
        return problem
    # The entry ends with its pickle: then comes the next zip record, after a data
    # descriptor (12 to 24 bytes, with or without its signature) when the header deferred
    # the sizes to it (flag bit 3).
    deferred = bool(int.from_bytes(data[6:8], "little") & 0x08)
    gaps = (0, 12, 16, 20, 24) if deferred else (0,)
    if len(data) < end + max(gaps) + 2:
        return None
    if any(data[end + gap : end + gap + 2] == b"PK" for gap in gaps):
        return None
    return "has a pickle not followed by the rest of the zip"


def _pickles(data: bytes, start: int, *, count: int, truncated: bool) -> Optional[str]:
    return _walk_pickles(data, start, count=count, truncated=truncated)[1]


def _walk_pickles(
    data: bytes, start: int, *, count: int, truncated: bool
) -> tuple[Optional[int], Optional[str]]:
    """Walk ``count`` pickles from ``start`` (opcodes only; nothing is unpickled).

    Returns where the last one ended (None when the captured start ended first) and the
    problem found, if any.
    """
    stream = io.BytesIO(data)
    stream.seek(start)
    for _ in range(count):
        try:
            for _op in pickletools.genops(stream):
                pass
        except ValueError as exc:
            ran_out = "exhausted" in str(exc) or "remain" in str(exc)
            if truncated and ran_out:
                return None, None  # the pickle goes on past the captured start
            return None, "has a pickle that does not parse"
        if stream.tell() >= len(data):
            return None, None
    return stream.tell(), None


def _ggml(data: bytes, *, truncated: bool) -> Optional[str]:
    """The header and the start of the vocabulary of a ggml file, or a gguf header."""
    magic = data[:4]
    words = [int.from_bytes(data[i : i + 4], "little") for i in range(4, min(len(data), 40), 4)]
    if magic == b"GGUF":
        if len(words) < 1:
            return None if truncated else "is too short for a gguf header"
        return None if 1 <= words[0] <= 3 else "has a gguf version that does not exist"
    if magic != b"tjgg":
        return None  # older ggml layouts differ from model to model: the magic is all we know
    # llama.cpp's ggjt (versions 1 to 3): version, then n_vocab, n_embd, n_mult, n_head,
    # n_layer, n_rot, ftype, then n_vocab tokens of (length, bytes, float32 score).
    if len(words) < 8:
        return None if truncated else "is too short for a ggjt header"
    version, n_vocab, n_embd, _n_mult, n_head, n_layer = words[:6]
    if not 1 <= version <= 3:
        return "has a ggjt version that does not exist"
    if not (0 < n_vocab <= 1 << 20 and 0 < n_embd <= 1 << 16 and 0 < n_head <= 1024):
        return "has ggml hyperparameters no model has"
    if not 0 < n_layer <= 1024:
        return "has ggml hyperparameters no model has"
    return _ggml_vocab(data, 36, n_vocab)


def _ggml_vocab(data: bytes, offset: int, n_vocab: int) -> Optional[str]:
    for _ in range(n_vocab):
        if offset + 4 > len(data):
            return None  # the vocabulary goes on past the captured start
        length = int.from_bytes(data[offset : offset + 4], "little")
        if length > 256:
            return "has a ggml vocabulary entry that cannot be a token"
        offset += 4 + length + 4
    return None


def _json(data: bytes, *, whole: bool) -> Optional[str]:
    if not whole:
        start = data.lstrip(b" \t\r\n\xef\xbb\xbf")[:1]
        return None if start in (b"{", b"[") else "does not start with { or ["
    try:
        json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return "does not parse as UTF-8 JSON"
    return None


def check_capture(capture: Capture, *, path: str, key_noun: str) -> CheckKind:
    """Raise StructureMismatch for bytes of the wrong type; return what the check verified."""
    if capture.kind is None:
        return CheckKind.NOT_VERIFIED
    problem = capture.problem()
    if problem is not None:
        raise StructureMismatch(
            f"the restored bytes are not a valid {capture.kind} ({problem})",
            path=path,
            hint=f"the {key_noun} is likely wrong; nothing was written under {capture.name}",
            algorithm=DigestKind.STRUCTURE,
            expected=capture.kind,
            actual=capture.head.hex(),
        )
    return CheckKind.STRUCTURE_ONLY
