"""The README's commands are real: quick start, CI script, and every option it mentions."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import run

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def _section(title: str) -> str:
    start = README.index(f"## {title}")
    end = README.find("\n## ", start + 1)
    return README[start : end if end != -1 else None]


def _shell_blocks(text: str) -> list[str]:
    return [block.strip() for block in re.findall(r"```sh\n(.*?)```", text, re.DOTALL)]


def test_the_two_quick_start_commands() -> None:
    assert _shell_blocks(_section("Two commands to start")) == [
        "pip install . && belle-patch demo",
        "pip install '.[test]' && pytest",
    ]


def test_the_install_section_names_the_declared_floors() -> None:
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    install = _section("Install")
    python_floor = project["requires-python"].removeprefix(">=")
    assert f"Python {python_floor} or newer" in install
    for spec in project["dependencies"]:
        name, floor = spec.split(">=")
        assert f"{name} {floor}" in install, spec


def test_ci_runs_the_readme_install_and_test_command() -> None:
    script = (ROOT / ".ci" / "run").read_text()
    assert "pip install" in script and "'.[test" in script
    assert re.search(r"^pytest\b", script, re.MULTILINE)


def test_the_demo_command_as_a_user_types_it(tmp_path: Path) -> None:
    exe = shutil.which("belle-patch") or str(Path(sys.executable).with_name("belle-patch"))
    if not Path(exe).exists():
        pytest.skip("the belle-patch script is not installed next to this Python")
    result = subprocess.run(
        [exe, "demo"], capture_output=True, text=True, cwd=tmp_path, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "4 restored, 0 failed" in result.stdout
    assert result.stdout.count(": OK") == 4
    assert list(tmp_path.iterdir()) == []


def test_every_option_the_readme_shows_exists() -> None:
    used: dict[str, set[str]] = {}
    for line in README.splitlines():
        pattern = r"belle-patch (decrypt|encrypt|verify|releases|demo)\b((?: [^|`]*)?)"
        for command, rest in re.findall(pattern, line):
            used.setdefault(command, set()).update(
                re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", rest)
            )
    assert {"decrypt", "encrypt", "verify", "releases", "demo"} <= set(used)
    for command, options in used.items():
        result = run(command, "--help")
        assert result.exit_code == 0, command
        for option in options:
            assert option in result.stdout, f"README uses {command} {option}"
