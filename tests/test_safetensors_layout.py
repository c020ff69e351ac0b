"""A .safetensors file checked by its structure: the header, and the exact size it implies."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any, Optional, Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

from belle_patch.check.safetensors_layout import (
    CHECK_LABEL,
    DTYPE_BITS,
    MAX_HEADER_SIZE,
    LayoutCapture,
    LayoutResult,
    check_file,
    check_prefix,
)
from belle_patch.stream.engine import Consumer, pump
from belle_patch.stream.hashing import new_hasher
from belle_patch.vocabulary import CheckKind

# (name, dtype, shape), laid out one after the other in the order given.
Spec = Sequence[tuple[str, str, Sequence[int]]]


def nbytes(dtype: str, shape: Sequence[int]) -> int:
    return math.prod(shape) * DTYPE_BITS[dtype] // 8


def raw(header: bytes, data_size: int, *, length: Optional[int] = None) -> bytes:
    """A file by the format: 8-byte little-endian length, header, then ``data_size`` bytes."""
    size = len(header) if length is None else length
    return size.to_bytes(8, "little") + header + bytes(i % 251 for i in range(data_size))


def header_of(entries: dict[str, Any], metadata: Optional[dict[str, Any]] = None) -> bytes:
    body = dict(entries) if metadata is None else {"__metadata__": metadata, **entries}
    return json.dumps(body, ensure_ascii=False).encode("utf-8")


def entries_of(spec: Spec) -> tuple[dict[str, Any], int]:
    entries, offset = {}, 0
    for name, dtype, shape in spec:
        end = offset + nbytes(dtype, shape)
        entries[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, end]}
        offset = end
    return entries, offset


def build(spec: Spec, metadata: Optional[dict[str, Any]] = None, *, pad: int = 0) -> bytes:
    entries, data_size = entries_of(spec)
    return raw(header_of(entries, metadata) + b" " * pad, data_size)


def verdict(data: bytes, **kwargs: Any) -> LayoutResult:
    """check_prefix, and the same verdict from the reader and from the read-loop consumer."""
    result = check_prefix(data, len(data), **kwargs)
    assert check_file(io.BytesIO(data), len(data), **kwargs) == result
    for piece in (1, 5, 4096):
        capture = LayoutCapture(**kwargs)
        for start in range(0, len(data), piece):
            capture.update(memoryview(data)[start : start + piece])
        assert capture.finish() == result
    if result.problem is not None:
        assert "\n" not in result.problem and len(result.problem) < 300
    return result


def problem(data: bytes, **kwargs: Any) -> str:
    result = verdict(data, **kwargs)
    assert result.problem is not None
    return result.problem


SEVERAL = [
    ("embed.weight", "BF16", [4, 3]),
    ("norm", "F32", [3]),
    ("mask", "BOOL", [5]),
    ("ids", "I64", [2]),
    ("scalar", "F64", []),
    ("empty", "F16", [2, 0]),
    ("packed", "F4", [3, 2]),
    ("six", "F6_E2M3", [4]),
    ("complex", "C64", [1]),
    ("fp8", "F8_E4M3", [7]),
]


def test_the_report_says_structure_only() -> None:
    assert CHECK_LABEL == CheckKind.STRUCTURE_ONLY == "structure only"


def test_a_file_with_no_tensors_is_its_header() -> None:
    result = verdict(raw(b"{}", 0))
    assert result.ok and result.expected_size == 10 and result.tensor_count == 0
    assert verdict(build([], {"format": "pt"})).ok


def test_valid_files_of_several_dtypes_with_metadata() -> None:
    data = build(SEVERAL, {"format": "pt", "note": "\u4e2d\u6587"})
    result = verdict(data)
    assert result == LayoutResult(
        None,
        header_size=int.from_bytes(data[:8], "little"),
        expected_size=len(data),
        tensor_count=len(SEVERAL),
    )


def test_entries_may_be_listed_in_any_order_and_the_header_padded() -> None:
    entries, data_size = entries_of(SEVERAL)
    shuffled = dict(reversed(list(entries.items())))
    assert verdict(raw(header_of(shuffled) + b"    ", data_size)).ok
    assert verdict(raw(b" \n\t{}\r ", 0)).ok
    assert verdict(raw(header_of(entries, None) + b" " * 7, data_size)).ok


def test_metadata_may_be_null_but_holds_only_strings() -> None:
    assert verdict(build([("a", "U8", [1])], None)).ok
    assert verdict(raw(b'{"__metadata__": null}', 0)).ok
    assert "__metadata__ is not an object of strings" in problem(build([], {"epochs": 3}))
    assert "__metadata__ is not an object of strings" in problem(raw(b'{"__metadata__":[]}', 0))


def test_a_truncated_file_is_caught() -> None:
    data = build(SEVERAL)
    assert problem(data[:-1]) == (
        "file is 1 byte shorter than its tensors need: truncated, download it again"
    )
    assert "is 40 bytes shorter than its tensors need: truncated" in problem(data[:-40])


def test_bytes_after_the_last_tensor_are_caught() -> None:
    data = build(SEVERAL)
    assert problem(data + b"\0") == "file has 1 byte after its last tensor"
    assert problem(data + bytes(40)) == "file has 40 bytes after its last tensor"
    assert problem(raw(b"{}", 3)) == "file has 3 bytes after its last tensor"


def test_a_file_cut_inside_its_header() -> None:
    data = build(SEVERAL)
    assert problem(b"") == "file is empty, shorter than a safetensors header: truncated"
    assert "file is 7 bytes, shorter than a safetensors header" in problem(data[:7])
    cut = problem(data[:30])
    assert "header length" in cut and "larger than the file (30 bytes)" in cut


def test_a_header_length_beyond_the_file() -> None:
    reason = problem(raw(b"{}", 0, length=123_456))
    assert reason.startswith("header length 123456 is larger than the file (10 bytes)")
    assert "truncated" in reason


def test_a_header_over_the_cap_is_refused_before_it_is_read() -> None:
    class Reads(io.RawIOBase):
        """A file claiming a 12-digit header, counting what is read of it."""

        def __init__(self, length: int) -> None:
            self.start = length.to_bytes(8, "little") + b"{"
            self.read_bytes = 0

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: Any) -> int:
            chunk = self.start[self.read_bytes : self.read_bytes + len(buffer)] or b" "
            buffer[: len(chunk)] = chunk
            self.read_bytes += len(chunk)
            return len(chunk)

    stream = Reads(123_456_789_012)
    result = check_file(stream, 10**13)
    assert stream.read_bytes == 8
    assert result.problem is not None and result.header_size == 123_456_789_012
    assert f"is over the {MAX_HEADER_SIZE}-byte limit" in result.problem
    stream = Reads(MAX_HEADER_SIZE + 1)
    assert not check_file(stream, 10**13).ok and stream.read_bytes == 8
    capture = LayoutCapture()
    capture.update(stream.start + bytes(1000))
    assert not capture.finish(10**13).ok
    assert len(capture._data) == 8  # nothing past the length is kept


def test_the_cap_can_be_lowered() -> None:
    data = build(SEVERAL)
    assert verdict(data, max_header_size=len(data)).ok
    assert "over the 100-byte limit" in problem(data, max_header_size=100)


def test_a_header_that_is_not_json() -> None:
    assert problem(raw(b"{'a': 1}", 0)).startswith("header is not JSON (")
    assert problem(raw(b"{} {}", 0)).startswith("header is not JSON (Extra data")
    assert problem(raw(b"", 0)).startswith("header is not JSON (")
    assert problem(raw(b"\xff{}", 0)) == "header is not UTF-8 (byte 8)"
    assert "NaN, which is not JSON" in problem(raw(b'{"a": NaN}', 0))
    assert "nested too deeply" in problem(raw(b"[" * 100_000, 0))


def test_a_header_that_is_not_an_object() -> None:
    assert problem(raw(b"[1, 2]", 0)) == "header is [1, 2], not a JSON object"
    assert problem(raw(b'"x"', 0)) == "header is 'x', not a JSON object"
    assert "tensor 'a' is 3, not an object" in problem(raw(b'{"a": 3}', 0))


def test_a_key_given_twice() -> None:
    entry = '{"dtype": "U8", "shape": [0], "data_offsets": [0, 0]}'
    twice = f'{{"a": {entry}, "a": {entry}}}'.encode()
    assert problem(raw(twice, 0)) == "header has the key 'a' twice"


def tensor(**fields: Any) -> bytes:
    base: dict[str, Any] = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}
    base.update(fields)
    return header_of({"w": {k: v for k, v in base.items() if v is not None}})


BAD_OFFSETS = [[-1, 7], [0.0, 8], [0, 8.0], [False, 8], [0, True], [0], [0, 8, 8], "0,8", [0, 1e1]]


@pytest.mark.parametrize("offsets", [*BAD_OFFSETS, None, [0, 2**64], [0, 10**30]])
def test_offsets_must_be_two_non_negative_integers(offsets: Any) -> None:
    reason = problem(raw(tensor(data_offsets=offsets), 8))
    assert reason.startswith("tensor 'w' data_offsets ")
    assert reason.endswith("are not two non-negative integers")


def test_offsets_that_end_before_they_begin() -> None:
    reason = problem(raw(tensor(shape=[0], data_offsets=[8, 0]), 8))
    assert reason == "tensor 'w' data_offsets [8, 0] end before they begin"


@pytest.mark.parametrize("shape", [[-1], [2.0], [True], 2, "2", [[2]], None, [10**30]])
def test_shapes_must_be_lists_of_non_negative_integers(shape: Any) -> None:
    reason = problem(raw(tensor(shape=shape), 8))
    assert reason.startswith("tensor 'w' shape ") and "is not a list of non-negative" in reason


def test_dtypes() -> None:
    assert "tensor 'w' has no dtype string" in problem(raw(tensor(dtype=None), 8))
    assert "tensor 'w' has no dtype string" in problem(raw(tensor(dtype=4), 8))
    assert "unknown dtype 'f32 '" in problem(raw(tensor(dtype="f32 "), 8))
    # A dtype a later safetensors may add: its length is not checked, the tiling still is.
    result = verdict(raw(tensor(dtype="F12_NEW", data_offsets=[0, 5]), 5))
    assert result.ok and result.unchecked_dtypes == ("F12_NEW",)
    assert "shorter than its tensors need" in problem(raw(tensor(dtype="F12_NEW"), 7))


def test_a_byte_length_that_does_not_match_shape_and_dtype() -> None:
    reason = problem(raw(tensor(dtype="BF16", shape=[3, 2], data_offsets=[0, 8]), 8))
    assert reason == (
        "tensor 'w' data_offsets [0, 8] hold 8 bytes, but shape [3, 2] of BF16 takes 12"
    )
    odd = problem(raw(tensor(dtype="F4", shape=[3], data_offsets=[0, 2]), 2))
    assert odd == "tensor 'w' shape [3] of F4 is not a whole number of bytes"
    huge = problem(raw(tensor(shape=[2**40, 2**40, 0], data_offsets=[0, 0]), 0))
    assert "is too large for any file" in huge


def test_gaps_and_overlaps_between_tensors() -> None:
    def two(first: list[int], second: list[int], size: int) -> str:
        entry = {"dtype": "U8", "shape": [4]}
        entries = {"a": {**entry, "data_offsets": first}, "b": {**entry, "data_offsets": second}}
        return problem(raw(header_of(entries), size))

    assert (
        two([0, 4], [6, 10], 10)
        == "data has a gap of 2 bytes before tensor 'b' data_offsets [6, 10]"
    )
    assert (
        two([1, 5], [5, 9], 9) == "data has a gap of 1 byte before tensor 'a' data_offsets [1, 5]"
    )
    assert two([0, 4], [2, 6], 6) == (
        "tensor 'b' data_offsets [2, 6] overlap tensor 'a', which ends at 4"
    )
    assert "overlap tensor 'a'" in two([0, 4], [0, 4], 4)


def test_deep_values_are_shown_short() -> None:
    deep = raw(b'{"a": ' + b"[" * 900 + b"]" * 900 + b"}", 0)
    assert problem(deep) == "tensor 'a' is [[[...]]], not an object"
    shape = problem(raw(tensor(shape=list(range(10_000))), 8))
    assert shape.startswith("tensor 'w' data_offsets [0, 8] hold 8 bytes, but shape [0, 1, 2")
    assert len(shape) < 200


def test_names_in_reasons_are_short_and_printable() -> None:
    long_name = "x" * 1000
    reason = problem(raw(header_of({long_name: 3}), 0))
    assert len(reason) < 120
    lone = problem(raw(b'{"\\ud800": {}}', 0))
    assert "not Unicode" in lone and lone.encode("utf-8")


def test_check_file_reads_paths_and_open_files(tmp_path: Path) -> None:
    data = build(SEVERAL, {"format": "pt"})
    path = tmp_path / "model.safetensors"
    path.write_bytes(data)
    assert check_file(path).ok and check_file(str(path)).ok
    with path.open("rb") as stream:
        assert check_file(stream).ok
    path.write_bytes(data[:-3])
    assert "3 bytes shorter" in str(check_file(path).problem)


def test_the_capture_rides_the_read_loop_beside_a_hasher(tmp_path: Path) -> None:
    data = build(SEVERAL)
    path = tmp_path / "model.safetensors"
    path.write_bytes(data[:-1])
    # 16-byte chunks: the length and the header arrive in many pieces.
    capture, hasher = LayoutCapture(), new_hasher("sha256")
    with path.open("rb", buffering=0) as source:
        pump(source, [Consumer(capture.update), Consumer(hasher.update)], chunk_size=16)
    result = capture.finish(path.stat().st_size)
    assert capture.size == len(data) - 1 and hasher.hexdigest()
    assert result.problem == (
        "file is 1 byte shorter than its tensors need: truncated, download it again"
    )


# Hypothesis: any file laid out by the format is valid and its size exact; cuts are caught.

names = st.text(st.characters(blacklist_categories=["Cs"]), max_size=8).filter(
    lambda name: name != "__metadata__"
)
specs = st.dictionaries(
    names,
    st.tuples(
        st.sampled_from(sorted(DTYPE_BITS)),
        st.lists(st.integers(min_value=0, max_value=5), max_size=3),
    ),
    max_size=6,
).map(
    lambda found: [
        (name, dtype, shape)
        for name, (dtype, shape) in found.items()
        if math.prod(shape) * DTYPE_BITS[dtype] % 8 == 0  # F4/F6 in whole bytes
    ]
)


@given(specs, st.integers(min_value=0, max_value=20), st.integers(min_value=-30, max_value=30))
def test_round_trip(spec: Spec, pad: int, cut: int) -> None:
    data = build(spec, {"format": "pt"}, pad=pad)
    result = verdict(data)
    assert result.ok and result.expected_size == len(data) and result.tensor_count == len(spec)
    if cut == 0:
        return
    changed = data[:cut] if cut < 0 else data + bytes(cut)
    plural = "s" * (abs(cut) > 1)
    reason = problem(changed)
    if cut > 0:
        assert reason == f"file has {cut} byte{plural} after its last tensor"
    elif len(changed) >= 8 + int(result.header_size or 0):
        assert reason == (
            f"file is {-cut} byte{plural} shorter than its tensors need: "
            "truncated, download it again"
        )
    else:
        assert "truncated" in reason


@given(st.binary(max_size=200), st.integers(min_value=0, max_value=300))
def test_hostile_bytes_give_a_verdict_never_an_exception(data: bytes, size: int) -> None:
    result = check_prefix(data, size)
    assert result.ok or (result.problem is not None and "\n" not in result.problem)


@given(specs, st.data())
def test_mutated_headers_give_a_verdict_never_an_exception(spec: Spec, draw: st.DataObject) -> None:
    data = bytearray(build(spec))
    for _ in range(draw.draw(st.integers(min_value=1, max_value=4))):
        position = draw.draw(st.integers(min_value=0, max_value=len(data) - 1))
        data[position] = draw.draw(st.integers(min_value=0, max_value=255))
    result = verdict(bytes(data))
    assert result.ok or result.problem


# The real library, when installed (the e2e extra brings it): it writes files this module
# accepts, and it refuses the damaged ones this module refuses.


try:
    import safetensors
except ImportError:  # pragma: no cover - depends on the extras installed
    safetensors = None
needs_library = pytest.mark.skipif(safetensors is None, reason="safetensors is not installed")


def reference_accepts(data: bytes) -> bool:
    assert safetensors is not None
    try:
        safetensors.deserialize(data)
    except safetensors.SafetensorError:
        return False
    return True


@needs_library
def test_files_written_by_the_real_library() -> None:
    import numpy as np
    from safetensors import numpy as st_numpy

    tensors = {
        "a": np.arange(12, dtype=np.float32).reshape(3, 4),
        "b": np.zeros((0, 5), dtype=np.float16),
        "c": np.array(7, dtype=np.int64),
        "d": np.ones(9, dtype=np.bool_),
    }
    data = st_numpy.save(tensors, metadata={"format": "np"})
    result = verdict(data)
    assert result.ok and result.tensor_count == 4
    assert not verdict(data[:-1]).ok and not verdict(data + b"\0").ok
    assert verdict(st_numpy.save({})).ok


@pytest.mark.parametrize(
    "data",
    [
        build(SEVERAL[:4], {"format": "pt"}),
        build(SEVERAL[:4])[:-1],
        build(SEVERAL[:4]) + b"\0",
        raw(b"{}", 0),
        raw(b"{}", 0, length=3),
        raw(tensor(shape=[3]), 8),
        raw(tensor(data_offsets=[1, 9]), 9),
        raw(tensor(data_offsets=[0.0, 8]), 8),
        raw(b'{"w": {"dtype": "U8", "shape": [1], "data_offsets": [-0, 1]}}', 1),
        raw(b'{"w": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1], "extra": {}}}', 1),
        raw(tensor(dtype="F32 "), 8),
        raw(b"[]", 0),
    ],
)
@needs_library
def test_the_real_library_agrees(data: bytes) -> None:
    assert reference_accepts(data) == verdict(data).ok


@needs_library
@given(specs, st.data())
def test_the_real_library_agrees_on_mutated_files(spec: Spec, draw: st.DataObject) -> None:
    data = bytearray(build(spec))
    for _ in range(draw.draw(st.integers(min_value=1, max_value=3))):
        position = draw.draw(st.integers(min_value=0, max_value=len(data) - 1))
        data[position] = draw.draw(st.sampled_from(b'0123456789[]{}",:- .eE\0a'))
    result = check_prefix(bytes(data), len(data))
    if result.unchecked_dtypes or "twice" in str(result.problem):
        return  # where this module is knowingly more lenient, or stricter (the spec's rule)
    assert reference_accepts(bytes(data)) == result.ok
