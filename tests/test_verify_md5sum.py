"""verify is never softer than ``md5sum -c``: a table of list variants, run through both."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Callable, Dict

import pytest

from helpers import run

FILES: Dict[bytes, bytes] = {
    b"a.txt": b"alpha\n",
    b"b.bin": b"\x00\x01\x02" * 100,
    b"sub/x.json": b'{"in": "a subfolder"}',
    b"new\nline\\slash": b"odd name",
    b"caf\xe9.bin": b"latin-1 name",
}
WRONG = b"0" * 32


def md5(name: bytes) -> bytes:
    return hashlib.md5(FILES[name]).hexdigest().encode()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "model"
    (root / "sub").mkdir(parents=True)
    for name, content in FILES.items():
        Path(os.fsdecode(os.fsencode(root) + b"/" + name)).write_bytes(content)
    (root / "extra.txt").write_bytes(b"not listed")
    (tmp_path / "outside.txt").write_bytes(b"outside\n")
    return root


def outside_md5() -> bytes:
    return hashlib.md5(b"outside\n").hexdigest().encode()


# Each variant builds the list's bytes from the checked folder's absolute path.
VARIANTS: Dict[str, Callable[[bytes], bytes]] = {
    "plain": lambda root: md5(b"a.txt") + b"  a.txt\n" + md5(b"b.bin") + b" *b.bin\n",
    "duplicates agreeing": lambda root: (
        md5(b"a.txt") + b"  a.txt\n" + md5(b"a.txt") + b"  ./a.txt\n"
    ),
    "duplicates conflicting": lambda root: md5(b"a.txt") + b"  a.txt\n" + WRONG + b"  a.txt\n",
    "conflict after ./": lambda root: WRONG + b"  ./a.txt\n" + md5(b"a.txt") + b"  a.txt\n",
    "subfolder": lambda root: md5(b"sub/x.json") + b"  sub/x.json\n",
    "subfolder damaged": lambda root: WRONG + b"  sub/x.json\n" + md5(b"a.txt") + b"  a.txt\n",
    "parent folder": lambda root: outside_md5() + b"  ../outside.txt\n",
    "parent folder wrong": lambda root: (
        WRONG + b"  ../outside.txt\n" + md5(b"a.txt") + b"  a.txt\n"
    ),
    "absolute": lambda root: md5(b"a.txt") + b"  " + root + b"/a.txt\n",
    "absolute wrong": lambda root: (
        WRONG + b"  " + root + b"/a.txt\n" + md5(b"a.txt") + b"  a.txt\n"
    ),
    "trailing space": lambda root: md5(b"a.txt") + b"  a.txt \n" + md5(b"b.bin") + b"  b.bin\n",
    "escaped name": lambda root: b"\\" + md5(b"new\nline\\slash") + b"  new\\nline\\\\slash\n",
    "escaped name wrong": lambda root: (
        b"\\" + WRONG + b"  new\\nline\\\\slash\n" + md5(b"a.txt") + b"  a.txt\n"
    ),
    "crlf": lambda root: md5(b"a.txt") + b"  a.txt\r\n" + md5(b"b.bin") + b"  b.bin\r\n",
    "crlf wrong": lambda root: WRONG + b"  a.txt\r\n" + md5(b"b.bin") + b"  b.bin\r\n",
    "bsd": lambda root: b"MD5 (a.txt) = " + md5(b"a.txt") + b"\n",
    "bsd wrong": lambda root: b"MD5 (a.txt) = " + WRONG + b"\n" + md5(b"b.bin") + b"  b.bin\n",
    "missing file": lambda root: md5(b"a.txt") + b"  a.txt\n" + WRONG + b"  gone.bin\n",
    "extra file unlisted": lambda root: md5(b"b.bin") + b"  b.bin\n",
    "md5 -r form": lambda root: md5(b"a.txt") + b" a.txt\n",
    "not utf-8 name": lambda root: md5(b"caf\xe9.bin") + b"  caf\xe9.bin\n",
    "not utf-8 name wrong": lambda root: WRONG + b"  caf\xe9.bin\n" + md5(b"a.txt") + b"  a.txt\n",
    "garbage and one good line": lambda root: b"hello\n" + md5(b"a.txt") + b"  a.txt\n",
}
# Where belle-patch is stricter than md5sum on purpose: names that leave the folder.
STRICTER = {"parent folder", "absolute"}


@pytest.mark.skipif(shutil.which("md5sum") is None, reason="needs GNU md5sum")
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_never_softer_than_md5sum(variant: str, folder: Path, tmp_path: Path) -> None:
    sums = tmp_path / "sums.txt"
    sums.write_bytes(VARIANTS[variant](os.fsencode(folder)))
    gnu = subprocess.run(["md5sum", "-c", str(sums)], cwd=folder, capture_output=True, check=False)
    ours = run("verify", "--manifest", sums, folder)
    as_json = run("verify", "--manifest", sums, folder, "--json")
    if gnu.returncode != 0:
        assert ours.exit_code == 1, (variant, ours.stdout, ours.stderr)
    elif variant in STRICTER:
        assert ours.exit_code == 1
        assert "outside the checked folder" in ours.stderr
    else:
        assert ours.exit_code == 0, (variant, ours.stdout, ours.stderr)
    assert as_json.exit_code == ours.exit_code
    assert json.loads(as_json.stdout)["ok"] is (ours.exit_code == 0)


def test_escaped_names_are_printed_as_md5sum_prints_them(folder: Path, tmp_path: Path) -> None:
    sums = tmp_path / "sums.txt"
    sums.write_bytes(VARIANTS["escaped name"](os.fsencode(folder)))
    result = run("verify", "-m", sums, folder)
    assert result.exit_code == 0
    assert result.stdout == "\\new\\nline\\\\slash: OK\n"
    report = json.loads(run("verify", "-m", sums, folder, "--json").stdout)
    assert [f["name"] for f in report["files"]] == ["new\nline\\slash"]


def test_conflicting_duplicates_are_named(folder: Path, tmp_path: Path) -> None:
    sums = tmp_path / "sums.txt"
    sums.write_bytes(VARIANTS["duplicates conflicting"](os.fsencode(folder)))
    result = run("verify", "-m", sums, folder)
    assert result.exit_code == 1
    assert result.stdout == "a.txt: FAILED\n"
    assert "a.txt: listed again with a different MD5 on line 2" in result.stderr


def test_names_outside_the_folder_are_never_read(folder: Path, tmp_path: Path) -> None:
    sums = tmp_path / "sums.txt"
    sums.write_bytes(VARIANTS["parent folder"](os.fsencode(folder)))
    result = run("verify", "-m", sums, folder, "--json")
    assert result.exit_code == 1
    (entry,) = json.loads(result.stdout)["files"]
    assert (entry["name"], entry["status"], entry["actual_md5"]) == (
        "../outside.txt",
        "REFUSED",
        None,
    )
    text = run("verify", "-m", sums, folder)
    assert text.stdout == "../outside.txt: FAILED open or read\n"


def test_subfolder_names_are_checked(folder: Path, tmp_path: Path) -> None:
    sums = tmp_path / "sums.txt"
    sums.write_bytes(VARIANTS["subfolder damaged"](os.fsencode(folder)))
    result = run("verify", "-m", sums, folder)
    assert result.exit_code == 1
    assert result.stdout == "sub/x.json: FAILED\na.txt: OK\n"


def test_trailing_spaces_stay_in_the_name(folder: Path, tmp_path: Path) -> None:
    sums = tmp_path / "sums.txt"
    sums.write_bytes(VARIANTS["trailing space"](os.fsencode(folder)))
    result = run("verify", "-m", sums, folder)
    assert result.exit_code == 1
    assert "a.txt : FAILED open or read\n" in result.stdout
