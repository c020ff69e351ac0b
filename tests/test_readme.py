"""The README and the manual (docs/*.md) are true: the quick start, the CI script, every
command and option they show, their Python and JSON examples, and every link between them."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
from functools import cache
from pathlib import Path
from typing import Dict, Iterator, List, Tuple

import click
import pytest

import belle_patch
from belle_patch.cli import cli

from helpers import run

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
# The README and every page of the manual, by path from the root: "README.md", "docs/....md".
PAGES = {
    page.relative_to(ROOT).as_posix(): page.read_text()
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
}
README_MAX_LINES = 250  # the front page; the rest of the manual is in docs/


def _section(title: str) -> str:
    start = README.index(f"## {title}")
    end = README.find("\n## ", start + 1)
    return README[start : end if end != -1 else None]


def _shell_blocks(text: str) -> list[str]:
    return [block.strip() for block in re.findall(r"```sh\n(.*?)```", text, re.DOTALL)]


def _fenced(text: str, language: str) -> List[str]:
    """The blocks fenced as this language, dedented (a block may sit in a list item)."""
    blocks = re.findall(rf"^ *```{language}\n(.*?)^ *```", text, re.DOTALL | re.MULTILINE)
    return [textwrap.dedent(block) for block in blocks]


def _outside_blocks(text: str) -> str:
    return re.sub(r"^ *```.*?^ *```", "", text, flags=re.DOTALL | re.MULTILINE)


def _prose(text: str) -> str:
    """The text outside fenced blocks and inline code."""
    return re.sub(r"`[^`\n]*`", "", _outside_blocks(text))


def _inline_code(text: str) -> List[str]:
    """Inline code spans, with a table's escaped \\| read as |."""
    spans = re.findall(r"`([^`\n]+)`", _outside_blocks(text))
    return [span.replace("\\|", "|") for span in spans]


CONTROL = {";", ";;", "&", "&&", "|", "||", "(", ")"}


def _simple_commands(script: str) -> Iterator[List[str]]:
    """The words of each simple command, without comments, quotes and redirections."""
    for line in script.replace("\\\n", " ").splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True  # hf:ORG/NAME and https://... stay one word
        words: List[str] = []
        redirected = False
        for token in lexer:
            if token in CONTROL:
                if words:
                    yield words
                words, redirected = [], False
            elif set(token) <= set("();<>|&"):
                redirected = True  # > FILE, 2>&1: the rest until the next command
            elif not redirected:
                words.append(token)
        if words:
            yield words


def _shown_commands() -> Iterator[Tuple[str, List[str]]]:
    """(page, words) of every command in a shell block, and of every inline `belle-patch ...`
    or `python scripts/...` with arguments and no placeholders (INPUT..., [PATH], COMMAND)."""
    for page, text in PAGES.items():
        for block in _fenced(text, "sh"):
            for words in _simple_commands(block):
                yield page, words
        for span in _inline_code(text):
            if not re.match(r"(belle-patch \S+|python3? scripts/\S+) \S", span):
                continue
            for words in _simple_commands(span):
                if not any("[" in w or re.fullmatch(r"[A-Z_]+(\.\.\.)?", w) for w in words):
                    yield page, words


def _from(words: List[str], first: str) -> List[str]:
    """The words from `first` on (after `then`, `do`, `VAR=value` ...), or none."""
    return words[words.index(first) :] if first in words else []


def _heading_anchors(text: str) -> List[str]:
    """The anchors GitHub gives the page's headings: lower case, punctuation dropped, spaces
    made hyphens, and -1, -2 ... after a repeated one."""
    anchors: List[str] = []
    seen: Dict[str, int] = {}
    for heading in re.findall(r"^#{1,6} +(.+?) *$", _outside_blocks(text), re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        anchors.append(f"{slug}-{seen[slug]}" if slug in seen else slug)
        seen[slug] = seen.get(slug, 0) + 1
    return anchors


def _links(text: str) -> List[str]:
    return re.findall(r"\]\(([^)\s]+)\)", _prose(text))


@cache
def _script_help(script: str) -> str:
    result = subprocess.run(
        [sys.executable, str(ROOT / script), "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def _extras() -> List[str]:
    """The optional-dependency groups of pyproject.toml."""
    declared = (ROOT / "pyproject.toml").read_text()
    section = declared.split("[project.optional-dependencies]\n", 1)[1].split("\n[", 1)[0]
    return re.findall(r"^([\w-]+) = \[", section, re.MULTILINE)


def test_the_two_quick_start_commands() -> None:
    assert _shell_blocks(_section("Two commands to start")) == [
        "pip install . && belle-patch demo",
        "pip install '.[test]' && pytest",
    ]


def test_the_install_section_names_the_declared_floors() -> None:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # the same parser under its earlier name, from the test extra
        import tomli as tomllib
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


def test_every_option_the_pages_show_exists() -> None:
    used: dict[str, set[str]] = {}
    for line in "\n".join(PAGES.values()).splitlines():
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
            assert option in result.stdout, f"the pages use {command} {option}"


def test_the_readme_is_a_front_page() -> None:
    assert len(README.splitlines()) <= README_MAX_LINES
    assert set(PAGES) > {"README.md", "docs/index.md"}


def test_every_belle_patch_command_shown_parses() -> None:
    bundled = {release.id for release in belle_patch.releases()}
    checked = 0
    for page, words in _shown_commands():
        words = _from(words, "belle-patch")
        if not words:
            continue
        assert len(words) > 1, f"{page}: {words}"
        command = cli.get_command(click.Context(cli), words[1])
        assert command is not None, f"{page}: no command {words[1]!r}"
        try:
            context = command.make_context(words[1], words[2:])
        except click.UsageError as exc:
            pytest.fail(f"{page}: {shlex.join(words)}: {exc.format_message()}")
        release = context.params.get("release_name")
        assert release is None or release in bundled, f"{page}: no bundled release {release}"
        checked += 1
    assert checked >= 30


def test_every_script_option_and_extra_shown_exists() -> None:
    extras = set(_extras())
    scripts = 0
    for page, words in _shown_commands():
        for i, word in enumerate(words[:-1]):
            if word in ("python", "python3") and words[i + 1].startswith("scripts/"):
                script, arguments = words[i + 1], words[i + 2 :]
                assert (ROOT / script).is_file(), f"{page}: {script}"
                for option in (a.split("=")[0] for a in arguments if a.startswith("--")):
                    assert option in _script_help(script), f"{page}: {script} {option}"
                scripts += 1
        for word in _from(words, "pip")[2:]:
            named = re.fullmatch(r"\.\[([\w,-]+)\]", word)
            if named:
                unknown = set(named.group(1).split(",")) - extras
                assert not unknown, f"{page}: pip install {word}: no extra {unknown}"
    assert scripts >= 3


SOURCE_PATH = r"(?<![\w./~-])((?:src|tests|scripts|docs|\.ci)/[\w./-]*)"


def test_every_source_path_the_pages_name_exists() -> None:
    for page, text in PAGES.items():
        spans = _inline_code(text) + [w for b in _fenced(text, "sh") for w in b.split()]
        for span in spans:
            for named in re.findall(SOURCE_PATH, span):
                assert (ROOT / named.rstrip(".")).exists(), f"{page} names {named}"


def test_every_relative_link_resolves() -> None:
    anchors = {page: _heading_anchors(text) for page, text in PAGES.items()}
    for page, text in PAGES.items():
        for link in _links(text):
            if re.match(r"[a-z][a-z+.-]*:", link):  # https:, mailto:
                continue
            target, _, fragment = link.partition("#")
            resolved = (ROOT / page).parent / target if target else ROOT / page
            name = resolved.resolve().relative_to(ROOT.resolve()).as_posix()
            assert resolved.exists(), f"{page}: {link} leads nowhere"
            if fragment and name.endswith(".md"):
                headings = anchors.get(name) or _heading_anchors(resolved.read_text())
                assert fragment in headings, f"{page}: {link}: no such heading"


def test_the_index_and_the_readme_link_every_page() -> None:
    pages = set(PAGES) - {"README.md", "docs/index.md"}
    for linking in ("README.md", "docs/index.md"):
        linked = {
            ((ROOT / linking).parent / link.partition("#")[0]).resolve()
            for link in _links(PAGES[linking])
        }
        missing = {p for p in pages if (ROOT / p).resolve() not in linked}
        assert not missing, f"{linking} does not link {sorted(missing)}"


def test_every_python_and_json_example_is_well_formed() -> None:
    for page, text in PAGES.items():
        for number, block in enumerate(_fenced(text, "python"), 1):
            compile(block, f"{page}, python block {number}", "exec")
        for block in _fenced(text, "json"):
            json.loads(block)
