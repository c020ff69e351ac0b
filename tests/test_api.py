"""The Python API: the command's jobs as functions that return reports and never print."""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path
from typing import List

import pytest

import belle_patch
from belle_patch import FileFailure, RestoreResult

from conftest import generated
from helpers import Recorder, Release, all_names, default_files, final_names, make_release


@pytest.fixture
def release(tmp_path: Path) -> Release:
    made = make_release(tmp_path, default_files(), generated("llama key", 5000))
    (made.enc_dir / "README.md").write_text("# model card\n")
    return made


def test_decrypt_restores_and_reports_every_file(
    release: Release, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    report = belle_patch.decrypt(release.enc_dir, key=release.key, out=out)
    assert report.ok is True
    assert sorted(r.output.name for r in report.restored) == sorted(release.plain)
    assert {r.status for r in report.restored} == {belle_patch.RESTORED}
    for result in report.restored:
        content = release.plain[result.output.name]
        assert result.size == len(content)
        assert result.sha256 == hashlib.sha256(content).hexdigest()
        assert result.md5 == hashlib.md5(content).hexdigest()
        assert (out / result.output.name).read_bytes() == content
    assert [s.path.name for s in report.skipped] == ["README.md"]
    assert report.failed == () and report.stopped is None
    again = belle_patch.decrypt(
        [str(p) for p in release.patches.values()], key=release.key, out=out
    )
    assert {r.status for r in again.restored} == {belle_patch.ALREADY_RESTORED}
    assert again.new_files == ()
    captured = capfd.readouterr()
    assert captured.out == "" and captured.err == ""


def test_decrypt_with_a_wrong_key_reports_and_writes_nothing(
    release: Release, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    wrong = tmp_path / "wrong.pth"
    wrong.write_bytes(generated("another key", 5000))
    out = tmp_path / "out"
    report = belle_patch.decrypt(release.enc_dir, key=wrong, out=out)
    assert report.ok is False
    assert report.restored == ()
    assert len(report.failed) == 1  # the batch stopped at the smallest file
    assert isinstance(report.failed[0].error, belle_patch.ChecksumMismatch)
    assert report.stopped is not None and "the key does not fit" in str(report.stopped)
    assert not out.exists()  # the folder this run created held nothing, so it is gone
    captured = capfd.readouterr()
    assert captured.out == "" and captured.err == ""


def test_decrypt_usage_errors_raise(release: Release, tmp_path: Path) -> None:
    with pytest.raises(belle_patch.KeyFileError, match="the key file does not exist"):
        belle_patch.decrypt(release.enc_dir, key=tmp_path / "none.pth", out=tmp_path / "o")
    with pytest.raises(belle_patch.UsageError, match="no such file or folder"):
        belle_patch.decrypt(tmp_path / "gone", key=release.key, out=tmp_path / "o")
    with pytest.raises(belle_patch.ManifestError):
        belle_patch.decrypt(
            release.enc_dir, key=release.key, out=tmp_path / "o", manifest=tmp_path / "none"
        )
    assert all_names(tmp_path / "o") == []


def test_progress_calls(release: Release, tmp_path: Path) -> None:
    recorder = Recorder()
    report = belle_patch.decrypt(
        release.enc_dir, key=release.key, out=tmp_path / "out", jobs=1, progress=recorder
    )
    kinds = [kind for kind, _ in recorder.calls]
    assert kinds[0] == "note" and "skipping README.md" in str(recorder.calls[0][1])
    started = [value for kind, value in recorder.calls if kind == "started"]
    # The bytes streamed: each patch without its 32-byte header, as the calls below add up.
    total = sum(p.stat().st_size - 32 for p in release.patches.values())
    assert started == [(3, total, 1)]
    done = [value for kind, value in recorder.calls if kind == "file_done"]
    assert [r for r in done if isinstance(r, RestoreResult)] == list(report.restored)
    # Bytes of the data after each 32-byte header, reported as they were read.
    data = sum(len(c) for c in release.plain.values())
    assert sum(v for k, v in recorder.calls if k == "advanced") == data  # type: ignore[misc]
    # Every file starts before its bytes and ends after them.
    assert kinds.index("file_started") < kinds.index("advanced") < kinds.index("file_done")
    assert kinds.count("file_started") == kinds.count("file_done") == 3


def test_encrypt_then_verify_through_the_api(tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    files = {"config.json": b"{}", "weights.bin": generated("w", 50_000)}
    for name, content in files.items():
        (model / name).write_bytes(content)
    key = tmp_path / "consolidated.00.pth"
    key.write_bytes(generated("k", 777))
    report = belle_patch.encrypt(model, key=key, out=tmp_path / "enc", name="mine")
    assert report.ok
    assert sorted(r.source.name for r in report.encrypted) == sorted(files)
    assert sorted(p.name for p in report.lists) == [
        "manifest.json",
        "md5sums-enc.txt",
        "md5sums.txt",
    ]
    restored = belle_patch.decrypt(
        tmp_path / "enc", key=key, out=tmp_path / "out", manifest=tmp_path / "enc" / "md5sums.txt"
    )
    assert restored.ok
    assert all(r.checks == ["SHA-256", "MD5"] for r in restored.restored)


def test_encrypt_refuses_to_replace_a_release_in_the_folder(tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_bytes(b"{}")
    key = tmp_path / "k.pth"
    key.write_bytes(b"k" * 100)
    enc = tmp_path / "enc"
    enc.mkdir()
    (enc / "md5sums.txt").write_text("my own list\n")
    with pytest.raises(belle_patch.UsageError, match=r"already holds md5sums\.txt"):
        belle_patch.encrypt(model, key=key, out=enc)
    assert (enc / "md5sums.txt").read_text() == "my own list\n"
    assert final_names(enc) == ["md5sums.txt"]
    forced = belle_patch.encrypt(model, key=key, out=enc, force=True)
    assert forced.ok and (enc / "md5sums.txt").read_text() != "my own list\n"


def test_failed_file_is_in_the_report_not_raised(release: Release, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "config.json").write_bytes(b"")
    report = belle_patch.decrypt(release.enc_dir, key=release.key, out=out)
    assert not report.ok
    assert [f.path.name for f in report.failed] == [release.patches["config.json"].name]
    assert isinstance(report.failed[0], FileFailure)
    assert isinstance(report.failed[0].error, belle_patch.BellePatchError)
    assert len(report.restored) == 2


def test_reports_are_frozen(release: Release, tmp_path: Path) -> None:
    report = belle_patch.decrypt(release.enc_dir, key=release.key, out=tmp_path / "o")
    with pytest.raises(AttributeError):
        report.restored = ()  # type: ignore[misc]


def test_help_needs_no_readme() -> None:
    for job in (belle_patch.decrypt, belle_patch.encrypt):
        doc = job.__doc__ or ""
        for word in ("Returns", "Raises", "progress", "jobs"):
            assert word in doc, (job.__name__, word)


ALLOWED_CORE_IMPORTS = {
    "belle_patch",
    "belle_patch.errors",
    "belle_patch.expect.names",
    "belle_patch.units",
}


def test_cli_imports_only_the_public_api_errors_and_rendering_helpers() -> None:
    cli_folder = Path(belle_patch.__file__).parent / "cli"
    for source in sorted(cli_folder.glob("*.py")):
        tree = ast.parse(source.read_text())
        for node in ast.walk(tree):
            names: List[str] = []
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            for name in names:
                if name.startswith("belle_patch") and not name.startswith("belle_patch.cli."):
                    assert name in ALLOWED_CORE_IMPORTS, f"{source.name} imports {name}"
