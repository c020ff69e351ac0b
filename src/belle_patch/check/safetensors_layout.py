"""A .safetensors file checked by its structure: a valid header and the exact size it implies.

The format (huggingface/safetensors): an 8-byte little-endian length N, N bytes of UTF-8 JSON,
then the data. The JSON is an object; an optional "__metadata__" maps strings to strings;
every other key names a tensor {"dtype", "shape", "data_offsets": [begin, end]}, with the
offsets relative to the data and tiling it without gaps or overlaps once sorted. So the file
is exactly 8 + N + the end of its last tensor bytes long, and a truncated file is caught from
its header alone, with no checksum. The rules follow the reference reader
(``SafeTensors::read_metadata``), which checks the same exact size.

Only the header is read, never more than ``MAX_HEADER_SIZE`` bytes of it. The file is
treated as hostile: every problem is one line a user can act on, never an exception.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from typing import IO, Any, Optional, Union

from belle_patch.vocabulary import CheckKind

# What a verify report says of a file checked this way.
CHECK_LABEL = CheckKind.STRUCTURE_ONLY

LENGTH_SIZE = 8
# The reference reader refuses bigger headers (MAX_HEADER_SIZE in safetensors/src/tensor.rs).
MAX_HEADER_SIZE = 100_000_000
_U64_LIMIT = 1 << 64
# Element sizes in bits (Dtype::bitsize); F4 and F6 pack below a byte.
_DTYPES_BY_BITS = {
    4: "F4",
    6: "F6_E2M3 F6_E3M2",
    8: "BOOL U8 I8 F8_E5M2 F8_E4M3 F8_E8M0 F8_E4M3FNUZ F8_E5M2FNUZ",
    16: "I16 U16 F16 BF16",
    32: "I32 U32 F32",
    64: "C64 F64 I64 U64",
}
DTYPE_BITS = {name: bits for bits, names in _DTYPES_BY_BITS.items() for name in names.split()}
# A dtype a later release may add: its byte length cannot be checked, but the offsets and the
# file size still are. Anything else in "dtype" is not a safetensors header.
_DTYPE_NAME = re.compile(r"[A-Z][A-Z0-9_]{0,31}")
# JSON integers longer than this cannot be a u64; they are not converted (int() of a long
# digit string is slow).
_MAX_DIGITS = 20
_SHOWN = 60

Source = Union[IO[bytes], str, os.PathLike[str]]


@dataclass(frozen=True)
class LayoutResult:
    """The verdict on a safetensors file: ``problem`` is None when its structure is valid."""

    problem: Optional[str]
    header_size: Optional[int] = None  # N, once the first 8 bytes were read
    expected_size: Optional[int] = None  # 8 + N + end of the data, once the header is valid
    tensor_count: int = 0
    # Dtypes this module does not know: their tensors' byte lengths were not checked.
    unchecked_dtypes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.problem is None


class _NotInteger:
    """A JSON number that is not a u64-sized integer (a float, or too many digits)."""

    def __init__(self, text: str) -> None:
        self.text = text if len(text) <= 24 else text[:21] + "..."


class _Bad(Exception):
    """A problem found while parsing; its message is the one-line reason."""


def _parse_int(text: str) -> object:
    # A minus sign makes no u64, not even -0 (which the reference reads as a float).
    if len(text) > _MAX_DIGITS or text.startswith("-"):
        return _NotInteger(text)
    return int(text)


def _parse_constant(text: str) -> object:
    raise _Bad(f"header has {text}, which is not JSON")


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _Bad(f"header has the key {_name(key)} twice")
            seen.add(key)
    return result


def _name(text: str) -> str:
    shown = text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."
    return repr(shown)


def _show(value: object, depth: int = 0) -> str:
    """A short JSON-like rendering of a parsed value, for a reason line."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, _NotInteger):
        return value.text
    if isinstance(value, str):
        return _name(value)
    if value is None:
        return "null"
    if not isinstance(value, list):
        return "an object"
    if depth >= 2:
        return "[...]"
    parts: list[str] = []
    for item in value:
        if sum(len(part) + 2 for part in parts) > _SHOWN:
            parts.append("...")
            break
        parts.append(_show(item, depth + 1))
    return "[" + ", ".join(parts) + "]"


def _bytes(count: int) -> str:
    return "1 byte" if count == 1 else f"{count} bytes"


def _is_u64(value: object) -> bool:
    return type(value) is int and 0 <= value < _U64_LIMIT


def _byte_length(name: str, dtype: str, shape: list[int]) -> Optional[int]:
    """The bytes ``shape`` of ``dtype`` takes, None for an unknown dtype (checked like usize)."""
    bits = DTYPE_BITS.get(dtype)
    if bits is None:
        return None
    count = 1
    for dim in shape:
        count *= dim
        if count >= _U64_LIMIT:
            raise _Bad(f"tensor {_name(name)} shape {_show(shape)} is too large for any file")
    if count * bits >= _U64_LIMIT:
        raise _Bad(f"tensor {_name(name)} shape {_show(shape)} is too large for any file")
    if count * bits % 8:
        raise _Bad(
            f"tensor {_name(name)} shape {_show(shape)} of {dtype} is not a whole number of bytes"
        )
    return count * bits // 8


def _tensor(name: str, info: object, unknown: set[str]) -> tuple[int, int]:
    """The data offsets of one tensor entry, once the entry is valid."""
    label = f"tensor {_name(name)}"
    if not isinstance(info, dict):
        raise _Bad(f"{label} is {_show(info)}, not an object")
    dtype = info.get("dtype")
    if not isinstance(dtype, str):
        raise _Bad(f"{label} has no dtype string")
    if dtype not in DTYPE_BITS:
        if not _DTYPE_NAME.fullmatch(dtype):
            raise _Bad(f"{label} has the unknown dtype {_name(dtype)}")
        unknown.add(dtype)
    shape = info.get("shape")
    if not isinstance(shape, list) or not all(_is_u64(dim) for dim in shape):
        raise _Bad(f"{label} shape {_show(shape)} is not a list of non-negative integers")
    offsets = info.get("data_offsets")
    if not isinstance(offsets, list) or len(offsets) != 2 or not all(map(_is_u64, offsets)):
        raise _Bad(f"{label} data_offsets {_show(offsets)} are not two non-negative integers")
    begin, end = offsets
    if end < begin:
        raise _Bad(f"{label} data_offsets [{begin}, {end}] end before they begin")
    length = _byte_length(name, dtype, shape)
    if length is not None and end - begin != length:
        raise _Bad(
            f"{label} data_offsets [{begin}, {end}] hold {end - begin} bytes, "
            f"but shape {_show(shape)} of {dtype} takes {length}"
        )
    return begin, end


def _data_end(header: dict[str, Any], unknown: set[str]) -> int:
    """Where the last tensor ends, once every entry is valid and they tile the data."""
    spans: list[tuple[int, int, str]] = []
    for name, info in header.items():
        if name == "__metadata__":
            if info is not None and not (
                isinstance(info, dict) and all(isinstance(v, str) for v in info.values())
            ):
                raise _Bad("__metadata__ is not an object of strings")
            continue
        spans.append((*_tensor(name, info, unknown), name))
    spans.sort()
    position, previous = 0, ""
    for begin, end, name in spans:
        if begin < position:
            raise _Bad(
                f"tensor {_name(name)} data_offsets [{begin}, {end}] overlap tensor "
                f"{_name(previous)}, which ends at {position}"
            )
        if begin > position:
            raise _Bad(
                f"data has a gap of {_bytes(begin - position)} before tensor {_name(name)} "
                f"data_offsets [{begin}, {end}]"
            )
        position, previous = end, name
    return position


def _parse(text: str) -> dict[str, Any]:
    try:
        # A decoder per call: a decoder's scanner keeps state while it parses.
        header = json.JSONDecoder(
            object_pairs_hook=_pairs,
            parse_int=_parse_int,
            parse_float=_NotInteger,
            parse_constant=_parse_constant,
        ).decode(text)
    except json.JSONDecodeError as exc:
        raise _Bad(f"header is not JSON ({exc.msg} at character {exc.pos})") from None
    except RecursionError:
        raise _Bad("header is not JSON (nested too deeply)") from None
    except ValueError as exc:  # int() of a digit string past Python's limit, and the like
        raise _Bad(f"header is not JSON ({str(exc)[:_SHOWN]})") from None
    if not isinstance(header, dict):
        raise _Bad(f"header is {_show(header)}, not a JSON object")
    return header


def _valid_unicode(header: dict[str, Any]) -> None:
    """Escapes can spell lone surrogates, which no UTF-8 file (or report line) can hold."""
    metadata = header.get("__metadata__")
    texts = list(header)
    if isinstance(metadata, dict):
        texts += list(metadata) + [v for v in metadata.values() if isinstance(v, str)]
    for text in texts:
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise _Bad(f"header has the string {_name(text)}, which is not Unicode") from None


def header_length(prefix: Union[bytes, bytearray, memoryview]) -> Optional[int]:
    """N, from the first 8 bytes of a file; None when fewer were given."""
    if len(prefix) < LENGTH_SIZE:
        return None
    return int.from_bytes(bytes(prefix[:LENGTH_SIZE]), "little")


def check_prefix(
    prefix: Union[bytes, bytearray, memoryview],
    file_size: int,
    *,
    max_header_size: int = MAX_HEADER_SIZE,
) -> LayoutResult:
    """The verdict on a file of ``file_size`` bytes that starts with ``prefix``.

    ``prefix`` holds at least the 8-byte length and the header (fewer bytes only when the
    file itself is shorter); bytes after the header are ignored.
    """
    if file_size < LENGTH_SIZE:
        what = "empty" if file_size == 0 else _bytes(file_size)
        return LayoutResult(f"file is {what}, shorter than a safetensors header: truncated")
    length = header_length(prefix)
    if length is None:
        return LayoutResult(f"file ends after {_bytes(len(prefix))}, inside its header: truncated")
    if length > max_header_size:
        return LayoutResult(
            f"header length {length} is over the {max_header_size}-byte limit: "
            "not a safetensors file, or damaged",
            header_size=length,
        )
    end = LENGTH_SIZE + length
    if end > file_size:
        return LayoutResult(
            f"header length {length} is larger than the file ({file_size} bytes): "
            "truncated, or not a safetensors file",
            header_size=length,
        )
    if len(prefix) < end:
        return LayoutResult(
            f"file ends after {_bytes(len(prefix))}, inside its {length}-byte header: truncated",
            header_size=length,
        )
    unknown: set[str] = set()
    try:
        try:
            text = str(memoryview(prefix)[LENGTH_SIZE:end], "utf-8")
        except UnicodeDecodeError as exc:
            raise _Bad(f"header is not UTF-8 (byte {LENGTH_SIZE + exc.start})") from None
        header = _parse(text)
        _valid_unicode(header)
        data_end = _data_end(header, unknown)
    except _Bad as bad:
        return LayoutResult(str(bad), header_size=length)
    expected = end + data_end
    if file_size < expected:
        problem: Optional[str] = (
            f"file is {_bytes(expected - file_size)} shorter than its tensors need: "
            "truncated, download it again"
        )
    elif file_size > expected:
        problem = f"file has {_bytes(file_size - expected)} after its last tensor"
    else:
        problem = None
    return LayoutResult(
        problem,
        header_size=length,
        expected_size=expected,
        tensor_count=len(header) - ("__metadata__" in header),
        unchecked_dtypes=tuple(sorted(unknown)),
    )


def _read_up_to(stream: IO[bytes], count: int) -> bytes:
    """``count`` bytes, fewer only at the end of the file (reads may return short)."""
    parts: list[bytes] = []
    while count > 0:
        part = stream.read(min(count, 16 * 1024 * 1024))
        if not part:
            break
        parts.append(part)
        count -= len(part)
    return b"".join(parts)


def check_file(
    source: Source,
    size: Optional[int] = None,
    *,
    max_header_size: int = MAX_HEADER_SIZE,
) -> LayoutResult:
    """The verdict on a file, reading only its header (at most 8 + ``max_header_size`` bytes).

    ``source`` is a path, or a binary file positioned at its start; ``size`` defaults to the
    file's size on disk. I/O errors propagate: they are not a verdict on the content.
    """
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as stream:
            return check_file(stream, size, max_header_size=max_header_size)
    if size is None:
        size = os.fstat(source.fileno()).st_size
    prefix = _read_up_to(source, LENGTH_SIZE)
    length = header_length(prefix)
    if length is not None and length <= max_header_size and LENGTH_SIZE + length <= size:
        prefix += _read_up_to(source, length)
    return check_prefix(prefix, size, max_header_size=max_header_size)


class LayoutCapture:
    """A read-loop consumer: keeps the header bytes as they stream past, then checks them.

    Fed like a hasher (``update`` with every chunk, in order), so a file hashed anyway is
    not read twice. It holds at most 8 + ``max_header_size`` bytes; past the header,
    ``update`` only counts.
    """

    def __init__(self, *, max_header_size: int = MAX_HEADER_SIZE) -> None:
        self._max_header_size = max_header_size
        self._data = bytearray()
        self._wanted = LENGTH_SIZE
        self.size = 0

    def update(self, data: Union[bytes, bytearray, memoryview], /) -> None:
        view = memoryview(data)
        if view.ndim != 1 or view.itemsize != 1:
            view = view.cast("B")
        self.size += len(view)
        missing = self._wanted - len(self._data)
        if missing <= 0:
            return
        self._data += view[:missing]
        if self._wanted == LENGTH_SIZE and len(self._data) == LENGTH_SIZE:
            length = int.from_bytes(self._data, "little")
            if length <= self._max_header_size:
                self._wanted += length
                self._data += view[missing : missing + length]

    def finish(self, total_size: Optional[int] = None) -> LayoutResult:
        """The verdict, for a file of ``total_size`` bytes (default: the bytes fed)."""
        size = self.size if total_size is None else total_size
        return check_prefix(self._data, size, max_header_size=self._max_header_size)
