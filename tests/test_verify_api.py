"""belle_patch.verify: the verify job as a Python function."""

from __future__ import annotations

import dataclasses
import hashlib
import pydoc
from pathlib import Path
from typing import Tuple

import pytest

import belle_patch
from belle_patch import VerifyReport, verify
from belle_patch.check.verdict import FileCheck
from belle_patch.errors import ManifestError, UsageError

from conftest import generated
from helpers import Recorder


@pytest.fixture
def model(tmp_path: Path) -> Tuple[Path, Path]:
    folder = tmp_path / "model"
    folder.mkdir()
    contents = {"config.json": b'{"a": 1}', "weights.bin": generated("w", 30_000)}
    for name, data in contents.items():
        (folder / name).write_bytes(data)
    sums = tmp_path / "md5sums.txt"
    sums.write_text("".join(f"{hashlib.md5(d).hexdigest()}  {n}\n" for n, d in contents.items()))
    return folder, sums


def test_intact_folder(model: Tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    folder, sums = model
    report = verify([folder], manifest=sums, jobs=1)
    assert isinstance(report, VerifyReport)
    assert report.ok and report.against == str(sums) and report.release is None
    assert [(f.name, f.status, f.method) for f in report.files] == [
        ("config.json", "OK", "md5"),
        ("weights.bin", "OK", "md5"),
    ]
    assert report.files[1].actual == hashlib.md5(generated("w", 30_000)).hexdigest()
    assert report.failed == () and report.problems == () and report.unchecked == ()
    assert capsys.readouterr() == ("", "")
    with pytest.raises(dataclasses.FrozenInstanceError):
        report.ok = False  # type: ignore[misc]


def test_damaged_folder(model: Tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    folder, sums = model
    (folder / "weights.bin").write_bytes(b"damaged")
    (folder / "config.json").unlink()
    report = verify([str(folder)], manifest=str(sums))
    assert not report.ok
    statuses = {f.name: (f.status, f.detail) for f in report.failed}
    assert statuses == {
        "config.json": ("MISSING", "No such file or directory"),
        "weights.bin": ("FAILED", ""),
    }
    assert capsys.readouterr() == ("", "")


def test_progress_calls(model: Tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    folder, sums = model
    recorder = Recorder()
    report = verify([folder], manifest=sums, jobs=1, progress=recorder)
    kinds = [kind for kind, _ in recorder.calls]
    assert kinds[0] == "started"
    assert recorder.calls[0][1] == (2, 8 + 30_000, 1)
    assert kinds.count("file_started") == 2 and kinds.count("file_done") == 2
    assert sum(n for kind, n in recorder.calls if kind == "advanced") == 8 + 30_000  # type: ignore[misc]
    done = [outcome for kind, outcome in recorder.calls if kind == "file_done"]
    assert all(isinstance(o, FileCheck) for o in done)
    assert sorted(done, key=lambda c: c.name) == list(report.files)  # type: ignore[attr-defined]
    assert capsys.readouterr() == ("", "")


def test_notes_go_to_progress_and_report(tmp_path: Path) -> None:
    recorder = Recorder()
    report = verify([tmp_path], progress=recorder)
    assert not report.ok
    assert report.notes == ("no files to check",)
    assert ("note", "no files to check") in recorder.calls


def test_usage_errors_are_raised(model: Tuple[Path, Path], tmp_path: Path) -> None:
    folder, sums = model
    with pytest.raises(UsageError, match="no such file or folder"):
        verify([tmp_path / "absent"], manifest=sums)
    with pytest.raises(ManifestError, match="does not exist"):
        verify([folder], manifest=tmp_path / "absent.txt")
    with pytest.raises(UsageError, match="unknown release"):
        verify([folder], release="no-such-release")
    with pytest.raises(UsageError, match="not both"):
        verify([folder], manifest=sums, release="techgpt-7b")


def test_exported_and_documented() -> None:
    assert "verify" in belle_patch.__all__ and "VerifyReport" in belle_patch.__all__
    text = pydoc.render_doc(belle_patch.verify, renderer=pydoc.plaintext)
    for word in ("manifest", "release", "ignore_missing", "strict", "progress", "UsageError"):
        assert word in text
    assert "unchecked" in (VerifyReport.__doc__ or "")
