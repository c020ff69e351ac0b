"""verify on hostile inputs: FIFOs, dangling links, huge or endless lists, odd names."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import pytest

from belle_patch.expect import manifest
from belle_patch.expect.manifest import read_md5_list
from belle_patch.expect.releases import find_release

from conftest import generated
from helpers import run

posix_only = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")


def md5_line(name: str, data: bytes) -> str:
    return f"{hashlib.md5(data).hexdigest()}  {name}\n"


@posix_only
def test_fifo_named_in_a_list_fails_without_blocking(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_bytes(b"a")
    os.mkfifo(tmp_path / "pipe")
    sums = tmp_path / "sums.txt"
    sums.write_text(md5_line("pipe", b"") + md5_line("a.txt", b"a"))
    result = run("verify", "-m", sums, tmp_path)
    assert result.exit_code == 1
    assert result.stdout == "pipe: FAILED open or read\na.txt: OK\n"
    assert "belle-patch: pipe: not a regular file" in result.stderr


@posix_only
def test_fifo_as_the_list_is_refused_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "list")
    result = run("verify", "-m", tmp_path / "list", tmp_path)
    assert result.exit_code == 2
    assert "not a regular file" in result.stderr and result.stderr.count("\n") == 1


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_device_as_the_list_is_refused() -> None:
    result = run("verify", "-m", "/dev/zero", ".")
    assert result.exit_code == 2
    assert "/dev/zero: the checksum list is not a regular file" in result.stderr


@pytest.mark.skipif(sys.platform == "win32", reason="needs symbolic links")
def test_dangling_link_named_like_a_release_file(tmp_path: Path) -> None:
    release = find_release("belle-llama-13b-2m-enc")
    shared = {"special_tokens_map.json": b"{}"}  # what the release publishes for it
    assert release.restored_digests()["special_tokens_map.json"] == hashlib.md5(b"{}").hexdigest()
    for name, data in shared.items():
        (tmp_path / name).write_bytes(data)
    (tmp_path / "config.json").symlink_to(tmp_path / "blobs" / "missing")
    result = run("verify", tmp_path)
    assert result.exit_code == 1
    assert "config.json: FAILED open or read" in result.stdout
    assert "config.json: dangling symbolic link" in result.stderr
    assert "special_tokens_map.json: OK" in result.stdout


def test_deeply_nested_json_manifest_is_a_usage_error(tmp_path: Path) -> None:
    nested = tmp_path / "manifest.json"
    nested.write_text('{"files": ' + "[" * 100_000 + "]" * 100_000 + "}")
    result = run("verify", "-m", nested, tmp_path)
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "manifest.json" in result.stderr


def test_list_over_the_size_cap_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(manifest, "MAX_LIST_BYTES", 1000)
    sums = tmp_path / "sums.txt"
    sums.write_text(md5_line("a.txt", b"a") * 40)
    result = run("verify", "-m", sums, tmp_path)
    assert result.exit_code == 2
    assert "sums.txt: the checksum list is larger than" in result.stderr


def test_overlong_line_is_refused_with_its_number(tmp_path: Path) -> None:
    sums = tmp_path / "sums.txt"
    sums.write_text(md5_line("a.txt", b"a") + "x" * (manifest.MAX_LINE_BYTES + 10) + "\n")
    result = run("verify", "-m", sums, tmp_path)
    assert result.exit_code == 2
    assert "sums.txt: line 2: longer than 64 KiB" in result.stderr


def test_list_is_read_line_by_line(tmp_path: Path) -> None:
    sums = tmp_path / "sums.txt"
    sums.write_text("".join(md5_line(f"f{i}", b"") for i in range(2000)))
    # 2000 entries, each kept once; nothing else held per line.
    parsed = read_md5_list(sums)
    assert len(parsed.entries) == 2000 and parsed.problems == []


def test_garbage_lines_are_counted_not_all_kept(tmp_path: Path) -> None:
    sums = tmp_path / "sums.txt"
    sums.write_text(md5_line("a.txt", b"a") + "garbage\n" * 500)
    (tmp_path / "a.txt").write_bytes(b"a")
    parsed = read_md5_list(sums)
    assert parsed.problem_count == 500 and len(parsed.problems) == manifest.MAX_PROBLEMS_KEPT
    result = run("verify", "-m", sums, tmp_path)
    assert result.exit_code == 0
    assert "WARNING: 500 lines are improperly formatted" in result.stderr


@pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="needs byte file names")
def test_names_that_are_not_utf8(tmp_path: Path) -> None:
    name = os.fsdecode(b"caf\xe9.bin")
    (tmp_path / name).write_bytes(b"data")
    sums = tmp_path / "sums.txt"
    sums.write_bytes(hashlib.md5(b"data").hexdigest().encode() + b"  caf\xe9.bin\n")
    result = run("verify", "-m", sums, tmp_path, "--json")
    assert result.exit_code == 0, result.stdout
    assert json.loads(result.stdout)["files"][0]["status"] == "OK"
    text = run("verify", "-m", sums, tmp_path)
    assert text.stdout == "caf\ufffd.bin: OK\n"


@pytest.mark.skipif(sys.platform == "win32", reason="needs newlines in file names")
def test_encrypt_lists_escape_odd_names_and_verify_reads_them_back(tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    names = ["plain.json", "two\nlines.json"]
    if sys.platform != "darwin":
        names.append(os.fsdecode(b"caf\xe9.json"))
    for index, name in enumerate(names):
        (model / name).write_bytes(generated(f"file {index}", 100 + index))
    key = tmp_path / "key.pth"
    key.write_bytes(generated("key", 500))
    enc = tmp_path / "enc"
    # --json: the per-file text lines of encrypt are not what this test is about.
    result = run("encrypt", model, "-k", key, "-o", enc, "--json")
    assert result.exit_code == 0, result.stderr
    listed = (enc / "md5sums.txt").read_bytes()
    assert listed.count(b"\n") == len(names)
    assert b"\\" + hashlib.md5(generated("file 1", 101)).hexdigest().encode() in listed
    checked = run("verify", model, "-m", enc / "md5sums.txt", "--json")
    assert checked.exit_code == 0, checked.stdout
    assert {f["name"] for f in json.loads(checked.stdout)["files"]} == set(names)
    text = run("verify", model, "-m", enc / "md5sums.txt")
    assert "\\two\\nlines.json: OK\n" in text.stdout
