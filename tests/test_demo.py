"""The embedded sample release and the demo command."""

from __future__ import annotations

import sys
from pathlib import Path

from belle_patch.sample import sample_release

from helpers import final_names, run

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
import make_sample


def test_demo_restores_and_verifies_the_sample(tmp_path: Path) -> None:
    out = tmp_path / "kept"
    result = run("demo", "--out", out)
    assert result.exit_code == 0, result.stderr
    files = make_sample.sample_files()
    assert final_names(out) == sorted(files)
    for name, content in files.items():
        assert (out / name).read_bytes() == content
    assert "4 restored, 0 failed;" in result.stdout
    for name in files:
        assert f"{name}: OK" in result.stdout
    assert "SHA-256 + MD5 verified" in result.stdout


def test_demo_without_out_leaves_nothing(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    result = run("demo")
    assert result.exit_code == 0, result.stderr
    assert list(tmp_path.iterdir()) == []


def test_shipped_sample_is_what_the_script_makes(tmp_path: Path) -> None:
    make_sample.make_sample(tmp_path)
    sample = sample_release()
    shipped = {
        p.relative_to(sample.folder.parent): p.read_bytes()
        for p in sample.folder.parent.rglob("*")
        if p.is_file()
    }
    made = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert shipped == made
    assert sum(len(v) for v in shipped.values()) < 16 * 1024
