"""The scripts in scripts/: --help changes nothing, bad input changes nothing, output is whole."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import pytest

import belle_patch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
import build_manifests
import staged_folder

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "scripts"
MANIFESTS = ROOT / "src" / "belle_patch" / "manifests"
TIMEOUT = 120

RUNNABLE = [
    "bench.py",
    "build_family_manifests.py",
    "build_manifests.py",
    "make_sample.py",
    "restore-and-chat.py",
]


def snapshot(folder: Path, skip_top_dots: bool = False) -> Dict[str, str]:
    """Relative path -> SHA-256 of every file (or the target of a symlink) under folder."""
    found = {}
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if "__pycache__" in relative.parts:
            continue
        # Caches and virtual environments at the top of a checkout (.git, .venv, .pytest_cache).
        top = relative.parts[0]
        if skip_top_dots and top.startswith(".") and top != ".ci":
            continue
        if path.is_symlink():
            found[str(relative)] = "-> " + str(path.readlink())
        elif path.is_file():
            found[str(relative)] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            found[str(relative)] = "folder"
    return found


def script(name: str, *args: object, cwd: Path) -> subprocess.CompletedProcess[str]:
    # The scripts import the belle_patch these tests import (installed or a source tree).
    package_parent = str(Path(belle_patch.__file__).resolve().parent.parent)
    python_path = os.pathsep.join(filter(None, [package_parent, os.environ.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, str(SCRIPTS / name), *[str(a) for a in args]],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": python_path},
        timeout=TIMEOUT,
        check=False,
    )


def test_every_runnable_script_is_covered() -> None:
    runnable = sorted(
        p.name for p in SCRIPTS.glob("*.py") if 'if __name__ == "__main__"' in p.read_text()
    )
    assert runnable == RUNNABLE


@pytest.mark.parametrize("name", RUNNABLE)
def test_help_changes_nothing(name: str, tmp_path: Path) -> None:
    before = snapshot(ROOT, skip_top_dots=True)
    result = script(name, "--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage:")
    assert result.stderr == ""
    assert snapshot(ROOT, skip_top_dots=True) == before
    assert list(tmp_path.iterdir()) == []  # no folder named --help, nothing else


def _copy_of_manifests(tmp_path: Path) -> Path:
    out = tmp_path / "manifests"
    shutil.copytree(MANIFESTS, out)
    return out


def test_a_missing_research_file_leaves_the_manifests(tmp_path: Path) -> None:
    out = _copy_of_manifests(tmp_path)
    before = snapshot(tmp_path)
    result = script("build_manifests.py", tmp_path / "missing.json", "--out", out, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    assert "missing.json: cannot read" in result.stderr
    assert "Traceback" not in result.stderr
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "not JSON"),
        ('{"releases": [{"id": "x"}]}', "not a release research file"),
        ("[1, 2]", "not a release research file"),
    ],
)
def test_a_wrong_research_file_leaves_the_manifests(
    tmp_path: Path, content: str, message: str
) -> None:
    out = _copy_of_manifests(tmp_path)
    research = tmp_path / "research.json"
    research.write_text(content)
    before = snapshot(tmp_path)
    result = script("build_manifests.py", research, "--out", out, cwd=tmp_path)
    assert result.returncode == 2
    assert f"research.json: {message}" in result.stderr
    assert "Traceback" not in result.stderr
    assert snapshot(tmp_path) == before


def test_build_manifests_replaces_the_whole_folder(tmp_path: Path) -> None:
    out = _copy_of_manifests(tmp_path)
    (out / "withdrawn-release.json").write_text("{}\n")
    (out / "keys.json").write_text("stale\n")
    result = script("build_manifests.py", "--out", out, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    expected = build_manifests.build_all(json.loads(build_manifests.DEFAULT_RESEARCH.read_text()))
    assert {p.name: p.read_text() for p in out.iterdir() if p.is_file()} == expected
    # The family manifests are another script's: carried over untouched.
    families = out / "families"
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["families"]
    shipped = Path(build_manifests.DEFAULT_OUT) / "families"
    assert {p.name: p.read_text() for p in families.iterdir()} == {
        p.name: p.read_text() for p in shipped.iterdir()
    }
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifests"]  # no staging left


def test_an_output_that_is_a_file_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "taken"
    target.write_text("keep me\n")
    for name, args in [
        ("build_manifests.py", ["--out", target]),
        ("make_sample.py", [target]),
    ]:
        result = script(name, *args, cwd=tmp_path)
        assert result.returncode == 2, name
        assert "exists and is not a folder" in result.stderr, name
        assert target.read_text() == "keep me\n"
        assert [p.name for p in tmp_path.iterdir()] == ["taken"]


def test_make_sample_writes_the_shipped_sample(tmp_path: Path) -> None:
    out = tmp_path / "sample"
    out.mkdir()
    (out / "patches").mkdir()
    (out / "patches" / "stale.enc").write_bytes(b"old")
    result = script("make_sample.py", out, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    shipped = snapshot(ROOT / "src" / "belle_patch" / "sample")
    assert snapshot(out) == shipped
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sample"]


def test_a_failure_while_writing_leaves_the_old_folder(tmp_path: Path) -> None:
    target = tmp_path / "data"
    target.mkdir()
    (target / "kept.json").write_text("old\n")
    with pytest.raises(RuntimeError), staged_folder.staged_folder(target) as staging:
        (staging / "kept.json").write_text("half\n")
        raise RuntimeError("crashed half way")
    assert [p.name for p in tmp_path.iterdir()] == ["data"]
    assert (target / "kept.json").read_text() == "old\n"
    assert [p.name for p in target.iterdir()] == ["kept.json"]


def test_a_finished_folder_replaces_the_old_one(tmp_path: Path) -> None:
    target = tmp_path / "data"
    target.mkdir()
    (target / "gone.json").write_text("old\n")
    names: List[str] = []
    with staged_folder.staged_folder(target) as staging:
        (staging / "new.json").write_text("new\n")
        names = [p.name for p in target.iterdir()]
    assert names == ["gone.json"]  # the old folder stayed whole until the end
    assert [p.name for p in target.iterdir()] == ["new.json"]
    assert [p.name for p in tmp_path.iterdir()] == ["data"]
