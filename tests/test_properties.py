"""Property and fuzz tests: the rule against a naive reference, and hostile inputs."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import tempfile
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from belle_patch.errors import BellePatchError
from belle_patch.expect.expectations import load_manifest_file
from belle_patch.expect.manifest import parse_md5_list
from belle_patch.expect.releases import release_from_json
from belle_patch.formats.header import parse_patch_name
from belle_patch.jobs.restore import restore_patch
from belle_patch.jobs.seal import seal_file
from belle_patch.stream.engine import INPUT, OUTPUT, Consumer, pump
from belle_patch.stream.keystream import KeySource

from conftest import naive_xor

chunk_sizes = st.integers(min_value=1, max_value=48)


@st.composite
def sized_inputs(draw: st.DrawFn) -> tuple[bytes, bytes, int]:
    chunk = draw(chunk_sizes)
    # Sizes cluster around chunk boundaries, where off-by-one mistakes live.
    near = st.integers(min_value=0, max_value=6).map(lambda k: k * chunk) | st.just(0)
    jitter = st.integers(min_value=-2, max_value=2)
    data_size = (
        max(0, draw(near) + draw(jitter))
        if draw(st.booleans())
        else draw(st.integers(min_value=0, max_value=600))
    )
    key_size = (
        max(1, draw(near) + draw(jitter))
        if draw(st.booleans())
        else draw(st.integers(min_value=1, max_value=200))
    )
    data = draw(st.binary(min_size=data_size, max_size=data_size))
    key = draw(st.binary(min_size=key_size, max_size=key_size))
    return data, key, chunk


@given(sized_inputs(), st.booleans())
def test_pump_matches_the_naive_reference(case: tuple[bytes, bytes, int], threaded: bool) -> None:
    data, key, chunk = case
    with tempfile.TemporaryDirectory() as tmp:
        key_path = Path(tmp) / "key"
        key_path.write_bytes(key)
        seen_in, seen_out = io.BytesIO(), io.BytesIO()
        with KeySource(key_path, chunk_size=chunk).open() as stream:
            total = pump(
                io.BytesIO(data),
                [Consumer(seen_in.write, INPUT), Consumer(seen_out.write, OUTPUT)],
                key=stream,
                chunk_size=chunk,
                threaded=threaded,
            )
    assert total == len(data)
    assert seen_in.getvalue() == data
    assert seen_out.getvalue() == naive_xor(data, key, chunk)


@given(sized_inputs())
def test_encrypt_then_decrypt_is_the_identity(case: tuple[bytes, bytes, int]) -> None:
    data, key, chunk = case
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "model.bin").write_bytes(data)
        (root / "key").write_bytes(key)
        source = KeySource(root / "key", chunk_size=chunk)
        (root / "enc").mkdir()
        (root / "out").mkdir()
        sealed = seal_file(root / "model.bin", source, root / "enc", download_md5=True)
        patch_bytes = sealed.output.read_bytes()
        assert patch_bytes == hashlib.sha256(data).digest() + naive_xor(data, key, chunk)
        assert sealed.enc_md5 == hashlib.md5(patch_bytes).hexdigest()
        restore_patch(sealed.output, source, root / "out")
        assert (root / "out" / "model.bin").read_bytes() == data


@given(st.text(max_size=120))
def test_any_file_name_parses_or_is_refused(name: str) -> None:
    try:
        parsed = parse_patch_name(name)
    except BellePatchError:
        return
    assert "/" not in parsed.restored_name
    assert parsed.restored_name not in ("", ".", "..")
    assert name == f"{parsed.restored_name}.{parsed.sha256}.enc"


@given(st.binary(max_size=200), st.binary(min_size=1, max_size=40))
def test_any_patch_content_fails_only_with_project_errors(content: bytes, key: bytes) -> None:
    sha = hashlib.sha256(content[32:]).hexdigest() if len(content) % 2 else "ab" * 32
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        patch = root / f"file.bin.{sha}.enc"
        patch.write_bytes(content)
        (root / "key").write_bytes(key)
        (root / "out").mkdir()
        try:
            restore_patch(patch, KeySource(root / "key"), root / "out")
        except BellePatchError:
            assert [p.name for p in (root / "out").iterdir() if p.name != ".belle-patch"] == []


@given(st.text(max_size=400))
def test_any_md5_list_text_parses_without_raising(text: str) -> None:
    parsed = parse_md5_list(text)
    for name in parsed.entries:
        assert "/" not in name and name not in ("", ".", "..")
    assert all(line >= 1 for line, _ in parsed.problems)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(
    st.dictionaries(
        st.sampled_from(["files", "name", "format", "key", "other_files", "x"]), json_values
    )
)
def test_any_json_manifest_fails_only_with_project_errors(document: dict[str, object]) -> None:
    try:
        release = release_from_json(document, source="fuzz")
    except BellePatchError:
        return
    for entry in release.files:
        assert "/" not in entry.name


@given(st.binary(max_size=300))
def test_any_manifest_file_fails_only_with_project_errors(raw: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "list"
        path.write_bytes(raw)
        with contextlib.suppress(BellePatchError):
            load_manifest_file(path, strict=False)
        with contextlib.suppress(BellePatchError):
            load_manifest_file(path)
        json_path = Path(tmp) / "list.json"
        json_path.write_text(json.dumps({"files": [{"name": raw.decode("latin-1")}]}))
        with contextlib.suppress(BellePatchError):
            load_manifest_file(json_path)
