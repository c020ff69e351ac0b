"""Only temporaries that are provably stale are removed; odd entries are reported, not fatal."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import List, Tuple

import pytest

from belle_patch.output import staging
from belle_patch.output.staging import StagedFile, remove_stale_temporaries

# No process has this id on Linux (pid_max is at most 2**22), so only the lock can tell.
FOREIGN_PID = 999_999_999


def foreign_name(label: str = "model.bin", random: str = "k2x_9abc") -> str:
    return f".{label}.belle-patch-{FOREIGN_PID}-{random}.tmp"


def test_live_temporary_of_another_host_is_kept(tmp_path: Path) -> None:
    staged = StagedFile(tmp_path, "model.bin")
    staged.write(memoryview(b"streamed so far"))
    # Its name now carries a process id unknown here, as in another container: only the
    # lock the writer holds says that it is alive.
    foreign = tmp_path / foreign_name()
    os.rename(staged.temp_path, foreign)
    kept: List[Tuple[Path, str]] = []
    assert remove_stale_temporaries(tmp_path, kept=kept) == []
    assert kept == []
    assert foreign.read_bytes() == b"streamed so far"
    staged.discard()  # the writer ends: its lock goes with it
    assert remove_stale_temporaries(tmp_path) == [foreign]
    assert not foreign.exists()


def test_odd_entries_with_a_temporary_name_are_reported(tmp_path: Path) -> None:
    folder = tmp_path / foreign_name("a.bin")
    folder.mkdir()
    (folder / "inside").write_bytes(b"x")
    target = tmp_path / "target.bin"
    target.write_bytes(b"keep")
    kept: List[Tuple[Path, str]] = []
    names = [folder.name]
    if hasattr(os, "symlink"):
        link = tmp_path / foreign_name("b.bin")
        link.symlink_to(target)
        names.append(link.name)
    if hasattr(os, "mkfifo"):
        fifo = tmp_path / foreign_name("c.bin")
        os.mkfifo(fifo)
        names.append(fifo.name)
    assert remove_stale_temporaries(tmp_path, kept=kept) == []
    assert sorted(path.name for path, _ in kept) == sorted(names)
    assert all("not a regular file" in reason for _, reason in kept)
    assert sorted(os.listdir(tmp_path)) == sorted([*names, "target.bin"])
    assert target.read_bytes() == b"keep"


def test_undeletable_temporary_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stale = tmp_path / foreign_name()
    stale.write_bytes(b"x")

    def refuse(path: object, *args: object, **kwargs: object) -> None:
        raise PermissionError(errno.EPERM, "Operation not permitted", str(path))

    monkeypatch.setattr(os, "unlink", refuse)
    kept: List[Tuple[Path, str]] = []
    assert remove_stale_temporaries(tmp_path, kept=kept) == []
    assert kept == [(stale, "cannot be removed: permission denied")]
    monkeypatch.undo()
    assert stale.exists()


@pytest.mark.parametrize(
    "name",
    [
        f".notes.belle-patch-{FOREIGN_PID}-Final Draft.tmp",
        f".notes.belle-patch-{FOREIGN_PID}-v2.tmp.bak",
        f"notes.belle-patch-{FOREIGN_PID}-abc.tmp",
        f".notes.belle-patch-{FOREIGN_PID}.tmp",
    ],
)
def test_user_files_that_only_look_similar_are_kept(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_bytes(b"mine")
    kept: List[Tuple[Path, str]] = []
    assert remove_stale_temporaries(tmp_path, kept=kept) == []
    assert kept == []
    assert (tmp_path / name).read_bytes() == b"mine"


def test_no_lock_support_keeps_temporaries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stale = tmp_path / foreign_name()
    stale.write_bytes(b"x")
    monkeypatch.setattr(staging, "try_lock", lambda fd: staging.UNSUPPORTED)
    kept: List[Tuple[Path, str]] = []
    assert remove_stale_temporaries(tmp_path, kept=kept) == []
    assert [path for path, _ in kept] == [stale]
    assert stale.exists()


def test_a_huge_process_id_is_no_traceback(tmp_path: Path) -> None:
    stale = tmp_path / f".m.belle-patch-{10**30}-abc.tmp"
    stale.write_bytes(b"x")
    assert remove_stale_temporaries(tmp_path) == [stale]


def test_a_just_created_temporary_is_kept_until_it_could_be_locked(tmp_path: Path) -> None:
    fresh = tmp_path / foreign_name()
    fresh.write_bytes(b"")  # as mkstemp leaves it, a moment before the run locks it
    assert remove_stale_temporaries(tmp_path) == []
    os.utime(fresh, (0, 0))
    assert remove_stale_temporaries(tmp_path) == [fresh]


def test_missing_folder_gives_nothing(tmp_path: Path) -> None:
    kept: List[Tuple[Path, str]] = []
    assert remove_stale_temporaries(tmp_path / "missing", kept=kept) == []
    assert kept == []
