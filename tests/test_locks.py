"""Output locks: gone after the run, never two holders, and a wait that can be cancelled."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import List

import pytest

from belle_patch.jobs.restore import restore_patch
from belle_patch.output import guards, locking, state, state_rules
from belle_patch.stream.keystream import KeySource

from conftest import generated
from helpers import Release, make_release, run

JOIN_SECONDS = 10


class Stop(Exception):
    pass


@pytest.fixture
def release(tmp_path: Path) -> Release:
    files = {"config.json": b'{"a": 1}\n', "w.bin": generated("w", 50_000)}
    return make_release(tmp_path, files, generated("key", 999))


def files_under(folder: Path) -> List[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if not p.is_dir())


def test_failed_decrypt_leaves_no_lock_files(release: Release, tmp_path: Path) -> None:
    wrong_key = tmp_path / "wrong.pth"
    wrong_key.write_bytes(generated("not the key", 999))
    out = tmp_path / "out"
    result = run("decrypt", release.enc_dir, "-k", wrong_key, "-o", out)
    assert result.exit_code == 1
    assert not out.exists()  # the run made it, restored nothing, and removed it again
    out.mkdir()
    again = run("decrypt", release.enc_dir, "-k", wrong_key, "-o", out)
    assert again.exit_code == 1
    assert os.listdir(out) == []  # an existing folder is left as it was found


def test_cleanup_keeps_what_it_did_not_make(release: Release, tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / ".belle-patch" / "locks").mkdir(parents=True)
    (out / ".belle-patch" / "locks" / "other.lock").write_bytes(b"")
    guards.remove_empty_state_folders(out)
    assert os.listdir(out / ".belle-patch" / "locks") == ["other.lock"]
    os.unlink(out / ".belle-patch" / "locks" / "other.lock")
    guards.remove_empty_state_folders(out)
    assert os.listdir(out / ".belle-patch") == []  # the empty locks folder went, not its parent
    assert run("decrypt", release.enc_dir, "-k", release.key, "-o", out).exit_code == 0
    # The run tidied up after itself: no lock file and no empty locks folder.
    assert sorted(os.listdir(out / ".belle-patch")) == ["state.journal", "state.json", "state.lock"]


def test_cleanup_removes_the_state_folder_this_run_made(tmp_path: Path) -> None:
    with guards.output_lock(tmp_path, "a.bin"):
        assert os.listdir(tmp_path / ".belle-patch" / "locks") == ["a.bin.lock"]
        (tmp_path / ".belle-patch" / "keep").write_bytes(b"")
    guards.remove_empty_state_folders(tmp_path)
    assert os.listdir(tmp_path / ".belle-patch") == ["keep"]
    os.unlink(tmp_path / ".belle-patch" / "keep")
    guards.remove_empty_state_folders(tmp_path)
    assert os.listdir(tmp_path) == []


def test_lock_file_is_removed_on_release(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    with locking.lock_file(path, remove=True) as outcome:
        assert outcome is locking.LOCKED
        assert path.exists()
    assert not path.exists()


def test_a_waiter_never_holds_a_deleted_lock_file(tmp_path: Path) -> None:
    """First holds; second waits on that file; first deletes and releases it while a third
    takes a new file at the same path. The second must then wait for the third."""
    path = tmp_path / "x.lock"
    second_waits = threading.Event()
    third_holds = threading.Event()
    second_holds = threading.Event()

    def waiting() -> None:
        second_waits.set()
        third_holds.wait(JOIN_SECONDS)

    def second() -> None:
        with locking.lock_file(path, waiting=waiting, remove=True):
            second_holds.set()

    with locking.lock_file(path, remove=True):
        thread = threading.Thread(target=second)
        thread.start()
        assert second_waits.wait(JOIN_SECONDS)
    with locking.lock_file(path, remove=True):
        third_holds.set()
        assert not second_holds.wait(0.3)
    thread.join(JOIN_SECONDS)
    assert second_holds.is_set()
    assert not path.exists()


def test_output_lock_wait_is_cancelled(tmp_path: Path) -> None:
    cancel = threading.Event()
    waiting_rounds: List[int] = []
    outcome: List[str] = []

    def waiting() -> None:
        waiting_rounds.append(1)
        if cancel.is_set():
            raise Stop

    def second() -> None:
        try:
            with guards.output_lock(tmp_path, "w.bin", waiting=waiting):
                outcome.append("entered")
        except Stop:
            outcome.append("cancelled")

    with guards.output_lock(tmp_path, "w.bin"):
        thread = threading.Thread(target=second, daemon=True)
        thread.start()
        while not waiting_rounds:
            thread.join(0.01)
        cancel.set()
        thread.join(JOIN_SECONDS)
        assert not thread.is_alive()
    assert outcome == ["cancelled"]


def test_restore_waiting_for_another_run_stops_with_the_batch(
    release: Release, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    patch = release.patches["w.bin"]
    stopping = threading.Event()
    seen: List[int] = []
    raised: List[BaseException] = []

    def on_progress(nbytes: int) -> None:
        seen.append(nbytes)
        if stopping.is_set():
            raise Stop

    def restore() -> None:
        try:
            restore_patch(patch, KeySource(release.key), out, on_progress=on_progress)
        except BaseException as exc:
            raised.append(exc)

    with guards.output_lock(out, "w.bin"):
        thread = threading.Thread(target=restore, daemon=True)
        thread.start()
        while not seen:
            thread.join(0.01)
        stopping.set()
        thread.join(JOIN_SECONDS)
        assert not thread.is_alive()
    assert [type(exc) for exc in raised] == [Stop]
    assert set(seen) == {0}  # it only waited: nothing was restored
    assert not (out / "w.bin").exists()


def test_a_stuck_state_lock_costs_the_record_not_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "a.bin").write_bytes(b"a")
    (tmp_path / ".belle-patch").mkdir()
    monkeypatch.setattr(state, "LOCK_PATIENCE_SECONDS", 0.2)
    with state_rules.exclusive_lock(tmp_path / ".belle-patch" / state.LOCK_FILE):
        thread = threading.Thread(
            target=state.record,
            args=(tmp_path, "a.bin"),
            kwargs={"xxh3_128": "x", "sha256": "s", "md5": "m"},
            daemon=True,
        )
        thread.start()
        thread.join(JOIN_SECONDS)
        assert not thread.is_alive()
    assert state.records(tmp_path) == {}
    problem = state_rules.last_problem(tmp_path, forget=True)
    assert problem is not None and "stayed locked" in problem
    assert state_rules.last_problem(tmp_path) is None
