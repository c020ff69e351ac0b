"""git on a hostile clone: it never blocks, never grows without bound, never reads outside."""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

import pytest

from belle_patch.hub import gitrun
from belle_patch.hub.book import AddressBook
from belle_patch.hub.gitindex import git_clone_book
from belle_patch.vocabulary import Status
from test_hub_git import check, git, git_env, make_clone

pytestmark = [
    pytest.mark.skipif(shutil.which("git") is None, reason="needs git"),
    pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs and POSIX limits"),
]


def refused(folder: Path, *, within: float = 5.0) -> AddressBook:
    """The book of ``folder``, which must refuse it with one note, quickly."""
    started = time.monotonic()
    book = git_clone_book(folder)
    assert time.monotonic() - started < within
    assert not book.addresses
    assert len(book.notes) == 1 and "git cannot read this repository" in book.notes[0]
    assert "\n" not in book.notes[0]
    assert {r.status for r in check(book).values()} == {Status.NOT_VERIFIED}
    return book


def plant_fifo(path: Path) -> None:
    if os.path.lexists(path):
        path.unlink()
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(path)


@pytest.mark.parametrize(
    "where", [".git/HEAD", ".git/config", ".git/index", ".git/info/attributes", ".git/packed-refs"]
)
def test_a_fifo_in_git_never_blocks(tmp_path: Path, where: str) -> None:
    folder = make_clone(tmp_path)
    plant_fifo(folder / where)
    book = refused(folder, within=3.0)  # far below the timeout: git never opens it
    assert where in book.notes[0] and "FIFO" in book.notes[0]


def test_a_fifo_as_an_included_config_is_never_opened(tmp_path: Path) -> None:
    folder = make_clone(tmp_path)
    plant_fifo(folder / ".git" / "extra.cfg")
    with (folder / ".git" / "config").open("a") as config:
        config.write("[include]\n\tpath = extra.cfg\n")
    refused(folder, within=3.0)


def test_a_fifo_as_a_work_tree_attributes_file_never_blocks(tmp_path: Path) -> None:
    folder = make_clone(tmp_path, {"sub/a.txt": b"a\n"})
    plant_fifo(folder / "sub" / ".gitattributes")
    book = refused(folder, within=3.0)
    assert "sub/.gitattributes" in book.notes[0]


def test_dev_zero_as_attributes_file_is_refused_before_git_reads_it(tmp_path: Path) -> None:
    folder = make_clone(tmp_path)
    with (folder / ".git" / "config").open("a") as config:
        config.write("[core]\n\tattributesFile = /dev/zero\n")
    book = refused(folder, within=3.0)
    assert "attributesfile" in book.notes[0].lower()


@pytest.mark.parametrize(
    "config",
    [
        "[include]\n\tpath = /etc/hostname\n",
        '[includeIf "gitdir:/"]\n\tpath = ~/.gitconfig-elsewhere\n',
        "[core]\n\tattributesFile = ~/attributes\n",
        "[core]\n\tworktree = /usr\n",
    ],
)
def test_config_pointing_git_elsewhere_is_refused(tmp_path: Path, config: str) -> None:
    folder = make_clone(tmp_path)
    with (folder / ".git" / "config").open("a") as out:
        out.write(config)
    refused(folder)


def test_a_git_file_pointing_outside_is_refused_unread(tmp_path: Path) -> None:
    folder = tmp_path / "clone"
    folder.mkdir()
    (folder / ".git").write_text("gitdir: /usr/share\n")
    (folder / "model.bin").write_bytes(b"x")
    book = refused(folder)
    assert "outside this folder" in book.notes[0]


def test_a_git_file_inside_the_folder_still_works(tmp_path: Path) -> None:
    folder = make_clone(tmp_path)
    (folder / ".git").rename(folder / ".real-git")
    (folder / ".git").write_text("gitdir: .real-git\n")
    book = git_clone_book(folder)
    assert not book.notes
    assert "config.json" in book.addresses


def test_objects_borrowed_from_outside_are_refused(tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    other = make_clone(tmp_path / "elsewhere")
    folder = tmp_path / "clone"
    env = git_env(tmp_path)
    git(tmp_path, env, "clone", "-q", "--shared", str(other), str(folder))
    book = refused(folder)
    assert "alternates" in book.notes[0]


def test_a_link_out_of_git_is_refused(tmp_path: Path) -> None:
    folder = make_clone(tmp_path)
    outside = tmp_path / "outside-info"
    outside.mkdir()
    shutil.rmtree(folder / ".git" / "info", ignore_errors=True)
    (folder / ".git" / "info").symlink_to(outside)
    book = refused(folder)
    assert "outside this folder" in book.notes[0]


def fake_git(tmp_path: Path, body: str) -> str:
    """A git that runs ``body`` for the sub-command matched, and the real git otherwise."""
    script = tmp_path / "fake-git"
    real = shutil.which("git")
    script.write_text(f'#!/bin/sh\ncase "$*" in\n{body}\n*) exec "{real}" "$@" ;;\nesac\n')
    script.chmod(0o755)
    return str(script)


@pytest.mark.parametrize(
    "output",
    [
        "printf '%s blob 12x\\n' $(cat | head -n 1)",
        "printf '%s blob 99999999999999999999999\\n' $(cat | head -n 1)",
        "printf 'garbage\\n'",
    ],
)
def test_odd_numbers_from_git_give_a_note_not_a_traceback(tmp_path: Path, output: str) -> None:
    folder = make_clone(tmp_path)
    executable = fake_git(tmp_path, f'*"cat-file --batch-check"*) {output} ;;')
    book = git_clone_book(folder, git=executable)
    assert not book.addresses
    assert len(book.notes) == 1 and "git cannot read this repository" in book.notes[0]


def test_odd_index_listing_gives_a_note(tmp_path: Path) -> None:
    folder = make_clone(tmp_path)
    executable = fake_git(tmp_path, "*\"ls-files\"*) printf 'H 100644 zz 0\\tx\\0' ;;")
    book = git_clone_book(folder, git=executable)
    assert not book.addresses and "git printed an unexpected" in book.notes[0]


def test_a_git_that_hangs_is_stopped_within_its_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = make_clone(tmp_path)
    monkeypatch.setattr(gitrun, "GIT_TIMEOUT", 1.0)
    executable = fake_git(tmp_path, '*"ls-files"*) exec sleep 30 ;;')
    started = time.monotonic()
    book = git_clone_book(folder, git=executable)
    assert time.monotonic() - started < 10
    assert "did not finish within 1 s" in book.notes[0]


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_AS is enforced on Linux")
def test_every_git_child_runs_with_its_address_space_capped(tmp_path: Path) -> None:
    folder = make_clone(tmp_path)
    executable = fake_git(tmp_path, '*"rev-parse --show-toplevel"*) ulimit -v >&2; exit 1 ;;')
    book = git_clone_book(folder, git=executable)
    limit_kib = gitrun.GIT_MEMORY // 1024
    index_kib = (folder / ".git" / "index").stat().st_size * gitrun._INDEX_MEMORY_FACTOR // 1024
    assert str(limit_kib + index_kib) in book.notes[0]


def test_endless_output_is_cut_at_the_cap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = make_clone(tmp_path)
    monkeypatch.setattr(gitrun, "GIT_OUTPUT_MAX", 1 << 20)
    executable = fake_git(tmp_path, '*"ls-files"*) exec cat /dev/zero ;;')
    started = time.monotonic()
    book = git_clone_book(folder, git=executable)
    assert time.monotonic() - started < 5
    assert "printed over" in book.notes[0]
