"""What the package declares: its version, its floors, its Python versions, its data files."""

from __future__ import annotations

import importlib.metadata
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict

import pytest

import belle_patch
from belle_patch.sample import sample_release

from helpers import run

if sys.version_info >= (3, 11):
    import tomllib
else:  # the same parser under its earlier name, from the test extra
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = Path(belle_patch.__file__).resolve().parent
FLOORS = ROOT / ".ci" / "constraints-floor.txt"


def _pyproject() -> Dict[str, Any]:
    return dict(tomllib.loads((ROOT / "pyproject.toml").read_text()))


def _installed_version() -> str:
    try:
        return importlib.metadata.version("belle-patch")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


def test_the_version_comes_from_the_installed_metadata() -> None:
    assert belle_patch.__version__ == _installed_version()
    result = run("--version")
    assert result.exit_code == 0
    assert result.stdout == f"belle-patch, version {belle_patch.__version__}\n"
    assert result.stderr == ""


def test_the_changelog_has_the_version() -> None:
    version = _pyproject()["project"]["version"]
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert re.search(rf"^## \[?{re.escape(version)}\]?\b", changelog, re.MULTILINE), version
    assert "## Unreleased" in changelog


def test_the_floor_constraints_pin_every_declared_floor() -> None:
    project = _pyproject()["project"]
    declared = list(project["dependencies"]) + list(project["optional-dependencies"]["test"])
    floors = {}
    for spec in declared:
        requirement, _, marker = spec.partition(";")
        name, floor = requirement.strip().split(">=")  # every runtime and test dependency has one
        # A marker may only leave out newer Pythons: the floors run, on the oldest, still
        # meets every pin.
        assert not marker or re.fullmatch(r' python_version < "3\.\d+"', marker), spec
        floors[name] = floor
    pinned = dict(
        line.split("==")
        for line in FLOORS.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    )
    assert pinned == floors


def test_the_python_floor_is_the_same_everywhere() -> None:
    config = _pyproject()
    assert config["project"]["requires-python"] == ">=3.10"
    assert config["tool"]["ruff"]["target-version"] == "py310"
    assert config["tool"]["mypy"]["python_version"] == "3.10"
    versions = [
        c.rsplit(" :: ", 1)[1]
        for c in config["project"]["classifiers"]
        if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)
    ]
    assert versions[0] == "3.10"
    assert versions == [f"3.{minor}" for minor in range(10, 10 + len(versions))]


def test_an_installed_package_holds_its_data() -> None:
    if PACKAGE.is_relative_to(ROOT / "src"):
        pytest.skip("belle_patch is imported from the source tree, not installed")
    for folder in ("manifests", "sample"):
        source = ROOT / "src" / "belle_patch" / folder
        expected = {p.relative_to(source): p.read_bytes() for p in source.rglob("*") if p.is_file()}
        installed = PACKAGE / folder
        found = {
            p.relative_to(installed): p.read_bytes() for p in installed.rglob("*") if p.is_file()
        }
        assert found == expected, folder
    assert (PACKAGE / "py.typed").is_file()


def _read_until_exit(master: int, process: subprocess.Popen[bytes]) -> bytes:
    import select

    chunks = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.1)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        elif process.poll() is not None:
            break
    process.wait(timeout=10)
    return b"".join(chunks)


def test_progress_bars_draw_on_a_terminal(tmp_path: Path) -> None:
    """tqdm as the declared versions draw it: stderr is an 80-column pseudo-terminal."""
    pty = pytest.importorskip("pty")
    fcntl = pytest.importorskip("fcntl")
    termios = pytest.importorskip("termios")
    import struct

    sample = sample_release()
    master, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    package_parent = str(PACKAGE.parent)
    python_path = os.pathsep.join(filter(None, [package_parent, os.environ.get("PYTHONPATH")]))
    out = tmp_path / "restored"
    with subprocess.Popen(
        [
            sys.executable,
            "-m",
            "belle_patch",
            "decrypt",
            sample.folder,
            "-k",
            sample.key,
            "-o",
            out,
        ],
        stdout=subprocess.PIPE,
        stderr=terminal,
        env={**os.environ, "PYTHONPATH": python_path},
    ) as process:
        os.close(terminal)
        try:
            shown = _read_until_exit(master, process).decode()
        finally:
            os.close(master)
        assert process.stdout is not None
        stdout = process.stdout.read().decode()
    assert process.returncode == 0, shown
    assert "4 restored, 0 failed" in stdout
    assert "total:" in shown
    assert "B/s" in shown
    assert "Traceback" not in shown


@pytest.mark.parametrize(("given", "seen"), [(None, "1"), ("3", "3")])
def test_the_command_keeps_numpy_from_starting_blas_threads(given: str, seen: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    if given is not None:
        env["OPENBLAS_NUM_THREADS"] = given
    script = (
        "import os, sys\n"
        "from belle_patch import entry\n"
        "sys.argv = ['belle-patch', '--version']\n"
        "try:\n"
        "    entry.main()\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(os.environ['OPENBLAS_NUM_THREADS'], 'numpy' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    assert result.stdout.splitlines()[-1] == f"{seen} True"
