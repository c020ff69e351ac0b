"""The package's layout: folders are the pipeline's stages, and a stage imports only below it.

docs/architecture.md draws the same picture; when a folder is added there, it is added here.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Iterator, List, Tuple

import pytest

import belle_patch

PACKAGE = Path(belle_patch.__file__).resolve().parent

# Lower numbers sit lower in the pipeline. Folders of one rank do not import each other.
STAGES = {
    "stream": 1,
    "formats": 2,
    "output": 2,
    "hub": 2,
    "expect": 3,
    "check": 4,
    "jobs": 5,
    "cli": 6,
}
# Root modules every stage may use: they import no stage themselves.
SHARED_ROOT = {"errors", "units", "vocabulary", "sample"}
MAX_ROOT_MODULES = 8
MAX_MODULE_LINES = 400


def modules() -> Iterator[Path]:
    yield from sorted(PACKAGE.rglob("*.py"))


def imported_modules(source: Path) -> Iterator[str]:
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            assert node.level == 0, f"{source}: relative import of {node.module}"
            yield node.module
        elif isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)


def stage_of(source: Path) -> str:
    parts = source.relative_to(PACKAGE).parts
    return parts[0] if len(parts) > 1 else ""


def test_every_folder_is_a_known_stage() -> None:
    folders = {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    assert folders == set(STAGES)


def crossings() -> List[Tuple[Path, str]]:
    found = []
    for source in modules():
        for name in imported_modules(source):
            parts = name.split(".")
            if parts[0] == "belle_patch":
                found.append((source, name))
    return found


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_a_stage_imports_only_stages_below_it(stage: str) -> None:
    for source, name in crossings():
        if stage_of(source) != stage:
            continue
        parts = name.split(".")
        if len(parts) == 1:
            # The public API: only the command line goes through it.
            assert stage == "cli", f"{source.name} imports the public API"
            continue
        target = parts[1]
        if target in STAGES:
            assert target == stage or STAGES[target] < STAGES[stage], (
                f"{source.relative_to(PACKAGE)} ({stage}) imports {name}"
            )
        else:
            assert target in SHARED_ROOT, f"{source.relative_to(PACKAGE)} imports {name}"


def test_shared_root_modules_import_no_stage() -> None:
    for module in SHARED_ROOT:
        for name in imported_modules(PACKAGE / f"{module}.py"):
            parts = name.split(".")
            assert parts[0] != "belle_patch" or parts[1] in SHARED_ROOT, (module, name)


def test_the_root_holds_few_modules() -> None:
    assert len(list(PACKAGE.glob("*.py"))) <= MAX_ROOT_MODULES


def test_no_module_is_too_long() -> None:
    long = {
        str(source.relative_to(PACKAGE)): length
        for source in modules()
        if (length := len(source.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}


def test_stage_packages_run_no_code_on_import() -> None:
    # Importing a stage must not import its modules: start-up (and Ctrl-C before numpy
    # loads) depends on importing only what a command needs. cli/ is the program itself.
    for stage in set(STAGES) - {"cli"}:
        tree = ast.parse((PACKAGE / stage / "__init__.py").read_text())
        statements = [node for node in tree.body if not isinstance(node, ast.Expr)]
        assert statements == [], stage


ARCHITECTURE = Path(__file__).resolve().parent.parent / "docs" / "architecture.md"


def test_the_architecture_page_maps_every_folder_and_names_real_modules() -> None:
    page = ARCHITECTURE.read_text()
    for stage in STAGES:
        assert f"**`{stage}/`" in page, f"docs/architecture.md does not map {stage}/"
    named = set(re.findall(r"`((?:[a-z]+/)?[a-z_]+\.py)`", page))
    named |= {
        f"{folder}/{module}.py" for folder, module in re.findall(r"`([a-z]+)/([a-z_]+)\.", page)
    }
    for name in sorted(named):
        if "/" in name and not name.startswith("tests/"):
            assert (PACKAGE / name).exists(), f"docs/architecture.md names {name}"
