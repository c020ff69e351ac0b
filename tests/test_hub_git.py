"""A git clone read through its index with git's plumbing: LFS pointers, blob ids, safety."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path
from typing import Dict, Mapping

import pytest

from belle_patch.hub.address import (
    EOL_AUTO_CONVERSION,
    EOL_CONVERSION,
    AddressCheck,
    algorithms_for,
    check_file_against,
    content_digests,
)
from belle_patch.hub.book import GIT_CLONE, AddressBook, plan_checks
from belle_patch.hub.detect import address_for_file, detect_layout
from belle_patch.hub.gitblob import git_blob_id
from belle_patch.hub.gitindex import git_clone_book
from belle_patch.vocabulary import AddressKind, Status

from conftest import generated

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")

WEIGHTS = generated("lfs weights", 30_000)
SMALL = {
    ".gitattributes": b"*.bin filter=lfs diff=lfs merge=lfs -text\n",
    "config.json": b'{"model_type": "bloom"}\n',
}


def pointer(content: bytes) -> bytes:
    return b"version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize %d\n" % (
        hashlib.sha256(content).hexdigest().encode(),
        len(content),
    )


def git_env(tmp_path: Path) -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    home = tmp_path / "git-home"
    home.mkdir(exist_ok=True)
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home), GIT_CONFIG_NOSYSTEM="1")
    return env


def git(folder: Path, env: Mapping[str, str], *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=folder,
        env=dict(env),
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def make_clone(tmp_path: Path, extra: Mapping[str, bytes] = {}) -> Path:
    """A clone as git-lfs leaves it: the index holds the pointer, the work tree the content."""
    folder = tmp_path / "BELLE-7B-1M"
    folder.mkdir()
    env = git_env(tmp_path)
    git(folder, env, "init", "-q")
    for name, content in {**SMALL, **extra, "model.bin": pointer(WEIGHTS)}.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(content)
    git(folder, env, "add", ".")
    git(folder, env, "commit", "-q", "-m", "release")
    (folder / "model.bin").write_bytes(WEIGHTS)
    return folder


def check(book: AddressBook) -> Dict[str, AddressCheck]:
    results = {}
    for entry in plan_checks(book):
        if entry.to_hash:
            assert entry.address is not None
            digests = content_digests(entry.path, algorithms_for(entry.address))
            results[entry.name] = check_file_against(entry.address, digests, path=entry.path)
        else:
            results[entry.name] = AddressCheck(entry.status, "", "", detail=entry.detail)
    return results


def test_intact_clone_every_file_addressed_and_matching(tmp_path: Path) -> None:
    folder = make_clone(tmp_path)
    book = detect_layout(folder)
    assert book is not None and book.layout == GIT_CLONE
    assert book.revision == git(folder, git_env(tmp_path), "rev-parse", "HEAD").strip()
    weights = book.addresses["model.bin"]
    assert (weights.kind, weights.hexdigest, weights.size) == (
        AddressKind.SHA256_LFS,
        hashlib.sha256(WEIGHTS).hexdigest(),
        len(WEIGHTS),
    )
    assert weights.pointer_blob_id == git_blob_id(pointer(WEIGHTS))
    assert book.addresses["config.json"].kind == AddressKind.GIT_BLOB_ID
    assert book.addresses["config.json"].hexdigest == git_blob_id(SMALL["config.json"])
    assert book.addresses["config.json"].conversion is None
    assert not book.notes
    assert book.summary.startswith(f"git clone at {book.revision[:12]}: 3 files")
    assert address_for_file(folder / "model.bin") == weights
    results = check(book)
    assert {n: r.status for n, r in results.items()} == {
        ".gitattributes": Status.OK,
        "config.json": Status.OK,
        "model.bin": Status.OK,
    }


@pytest.mark.parametrize("name", ["model.bin", "config.json"])
def test_one_byte_changed_at_the_same_size_fails_that_file(tmp_path: Path, name: str) -> None:
    folder = make_clone(tmp_path)
    data = bytearray((folder / name).read_bytes())
    data[5] ^= 0x01
    (folder / name).write_bytes(bytes(data))
    book = git_clone_book(folder)
    results = check(book)
    assert results[name].status == Status.FAILED
    assert [n for n, r in results.items() if not r.ok] == [name]


def test_work_tree_pointer_untracked_and_deleted_files(tmp_path: Path) -> None:
    folder = make_clone(tmp_path)
    (folder / "model.bin").write_bytes(pointer(WEIGHTS))  # cloned without git-lfs
    (folder / "mine.txt").write_text("added by hand\n")
    (folder / "config.json").unlink()
    results = check(git_clone_book(folder))
    assert results["model.bin"].status == Status.FAILED
    assert "git lfs pull" in results["model.bin"].detail
    assert results["mine.txt"].status == Status.NOT_VERIFIED
    assert results["config.json"].status == Status.MISSING
    assert not [n for n in results if n.startswith(".git/")]


def test_line_endings_git_converts_pass_unchanged_files_and_fail_changed_ones(
    tmp_path: Path,
) -> None:
    attributes = SMALL[".gitattributes"] + b"*.txt text eol=crlf\n"
    folder = make_clone(
        tmp_path, {".gitattributes": attributes, "notes.txt": b"one\ntwo\n", "raw.md": b"a\n"}
    )
    env = git_env(tmp_path)
    git(folder, env, "config", "core.autocrlf", "true")
    (folder / "notes.txt").unlink()
    (folder / "raw.md").unlink()
    git(folder, env, "checkout", "--", "notes.txt", "raw.md")
    assert (folder / "notes.txt").read_bytes() == b"one\r\ntwo\r\n"
    assert (folder / "raw.md").read_bytes() == b"a\r\n"
    assert git(folder, env, "status", "--porcelain", "--", "notes.txt", "raw.md") == ""
    book = git_clone_book(folder)
    assert book.addresses["notes.txt"].conversion == EOL_CONVERSION
    assert book.addresses["raw.md"].conversion == EOL_AUTO_CONVERSION
    assert book.addresses["notes.txt"].size == len(b"one\ntwo\n")  # as committed
    assert book.addresses["model.bin"].conversion is None
    results = check(book)
    assert results["notes.txt"].status == Status.OK
    assert results["raw.md"].status == Status.OK
    (folder / "notes.txt").write_bytes(b"one\r\nTWO\r\n")
    assert git(folder, env, "status", "--porcelain", "--", "notes.txt") == " M notes.txt\n"
    changed = check(git_clone_book(folder))["notes.txt"]
    assert changed.status == Status.FAILED  # provably not the commit, --allow-unverified or not
    assert "CRLF read as LF" in changed.detail


def test_hostile_config_runs_nothing_and_the_repository_is_not_changed(tmp_path: Path) -> None:
    folder = make_clone(tmp_path)
    monitor_marker = tmp_path / "fsmonitor-ran"
    hook_marker = tmp_path / "hook-ran"
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    for hook_folder in (hooks, folder / ".git" / "hooks"):
        hook = hook_folder / "post-index-change"
        hook.write_text(f"#!/bin/sh\ntouch '{hook_marker}'\n")
        hook.chmod(0o755)
    with (folder / ".git" / "config").open("a") as config:
        config.write(f"[core]\n\tfsmonitor = \"touch '{monitor_marker}'; false\"\n")
        config.write(f"\thooksPath = {hooks}\n")
    env = git_env(tmp_path)
    # The config is live: plain git runs the fsmonitor command.
    git(folder, env, "ls-files", "-s")
    assert monitor_marker.exists()
    monitor_marker.unlink()
    index = folder / ".git" / "index"
    before = (index.read_bytes(), index.stat().st_mtime_ns)
    (folder / "config.json").touch()  # a stale index: status would refresh and rewrite it

    book = git_clone_book(folder)

    assert not monitor_marker.exists()
    assert not hook_marker.exists()
    assert (index.read_bytes(), index.stat().st_mtime_ns) == before
    assert set(book.addresses) == {".gitattributes", "config.json", "model.bin"}
    assert not list((folder / ".git").glob("*.lock"))


def test_the_users_git_dir_is_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = make_clone(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    git(other, git_env(tmp_path), "init", "-q")
    monkeypatch.setenv("GIT_DIR", str(other / ".git"))
    monkeypatch.setenv("GIT_INDEX_FILE", str(other / ".git" / "index"))
    assert "model.bin" in git_clone_book(folder).addresses


def test_without_git_one_note_and_every_file_not_verified(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = make_clone(tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path / "no-programs-here"))
    book = git_clone_book(folder)
    assert len(book.notes) == 1 and "git is not installed" in book.notes[0]
    assert not book.addresses
    results = check(book)
    assert {r.status for r in results.values()} == {Status.NOT_VERIFIED}
    assert set(results) == {".gitattributes", "config.json", "model.bin"}


def test_a_repository_git_cannot_read_gives_one_note(tmp_path: Path) -> None:
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / ".git").write_text("gitdir: /nonexistent/repo\n")
    (folder / "model.bin").write_bytes(b"x")
    book = detect_layout(folder)
    assert book is not None and book.layout == GIT_CLONE
    assert len(book.notes) == 1 and "git cannot read this repository" in book.notes[0]
    results = check(book)
    assert list(results) == ["model.bin"]
    assert results["model.bin"].status == Status.NOT_VERIFIED


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to hand the repo away"
)
def test_a_repository_owned_by_someone_else_is_refused_by_safe_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = make_clone(tmp_path)
    monkeypatch.delenv("SUDO_UID", raising=False)
    for path in [folder, *folder.rglob("*")]:
        os.lchown(path, 4242, 4242)
    book = git_clone_book(folder)
    assert not book.addresses
    assert len(book.notes) == 1 and "dubious ownership" in book.notes[0]
