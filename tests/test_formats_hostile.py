"""Inputs that change while they are read: named as such, never blamed on the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, List

import pytest

from belle_patch.errors import ChecksumMismatch, InputError
from belle_patch.formats.families import OPENBUDDY
from belle_patch.jobs import restore as restore_module
from belle_patch.jobs import seal as seal_module
from belle_patch.jobs.restore import restore_patch
from belle_patch.jobs.restore_types import RestoreOptions
from belle_patch.jobs.seal import seal_file
from belle_patch.stream.keystream import KeySource

from conftest import generated
from formats_data import SEED_SIZE, md5, write
from helpers import all_names

PLAIN = b"PK\x03\x04" + generated("weights", 30_000)


def _append(path: Path) -> None:
    with path.open("ab") as handle:
        handle.write(b"appended")


def _edit_in_place(path: Path) -> None:
    with path.open("r+b") as handle:
        handle.seek(1000)
        original = handle.read(1)
        handle.seek(1000)
        handle.write(bytes([original[0] ^ 0xFF]))


def _shrink(path: Path) -> None:
    with path.open("r+b") as handle:
        handle.truncate(path.stat().st_size - 100)


def _change_after_first_pass(
    monkeypatch: pytest.MonkeyPatch, module: Any, change: Callable[[Path], None], path: Path
) -> None:
    real = module.pump_file
    calls: List[int] = []

    def pump_then_change(*args: Any, **kwargs: Any) -> int:
        count: int = real(*args, **kwargs)
        if not calls:
            change(path)
        calls.append(count)
        return count

    monkeypatch.setattr(module, "pump_file", pump_then_change)


def _change_before_read(
    monkeypatch: pytest.MonkeyPatch, change: Callable[[Path], None], path: Path
) -> None:
    real = restore_module.pump_file

    def change_then_pump(*args: Any, **kwargs: Any) -> int:
        change(path)
        count: int = real(*args, **kwargs)
        return count

    monkeypatch.setattr(restore_module, "pump_file", change_then_pump)


@pytest.mark.parametrize("change", [_append, _edit_in_place], ids=["appended", "edited"])
def test_encrypt_fails_a_source_changed_between_its_two_reads(
    change: Callable[[Path], None], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = write(tmp_path / "model" / "pytorch_model.bin", PLAIN)
    key = write(tmp_path / "key.pth", generated("key", 5000))
    out = tmp_path / "enc"
    out.mkdir()
    _change_after_first_pass(monkeypatch, seal_module, change, source)
    with pytest.raises(InputError, match="changed while it was being read"):
        seal_file(source, KeySource(key), out, download_md5=True)
    assert all_names(out) == []


def test_encrypt_of_an_unchanged_source_still_reads_it_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = write(tmp_path / "model" / "pytorch_model.bin", PLAIN)
    key = write(tmp_path / "key.pth", generated("key", 5000))
    out = tmp_path / "enc"
    out.mkdir()
    _change_after_first_pass(monkeypatch, seal_module, lambda path: None, source)
    result = seal_file(source, KeySource(key), out, download_md5=True)
    assert result.md5 == md5(PLAIN)
    assert result.enc_md5 == md5(result.output.read_bytes())


def _belle_patch(tmp_path: Path) -> tuple[Path, Path]:
    source = write(tmp_path / "model" / "pytorch_model.bin", PLAIN)
    key = write(tmp_path / "key.pth", generated("key", 5000))
    enc = tmp_path / "enc"
    enc.mkdir()
    return seal_file(source, KeySource(key), enc).output, key


@pytest.mark.parametrize("change", [_append, _shrink], ids=["grew", "shrank"])
def test_patch_changing_size_during_the_read_is_not_a_wrong_key(
    change: Callable[[Path], None], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    patch, key = _belle_patch(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    _change_before_read(monkeypatch, change, patch)
    with pytest.raises(InputError, match="the patch changed while it was being read"):
        restore_patch(patch, KeySource(key), out)
    assert all_names(out) == []


@pytest.mark.parametrize("change", [_append, _shrink], ids=["grew", "shrank"])
def test_headerless_patch_changing_size_is_reported_before_the_md5(
    change: Callable[[Path], None], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = write(tmp_path / "model" / "pytorch_model.bin", PLAIN)
    key = write(tmp_path / "key.pth", generated("seed", SEED_SIZE))
    enc = tmp_path / "enc"
    enc.mkdir()
    patch = seal_file(source, KeySource(key), enc, format=OPENBUDDY).output
    out = tmp_path / "out"
    out.mkdir()
    _change_before_read(monkeypatch, change, patch)
    options = RestoreOptions(expected_md5=md5(PLAIN))
    with pytest.raises(InputError) as caught:
        restore_patch(patch, KeySource(key), out, options, format=OPENBUDDY)
    assert not isinstance(caught.value, ChecksumMismatch)
    assert "changed while it was being read" in str(caught.value)
    assert all_names(out) == []
