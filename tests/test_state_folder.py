"""The .belle-patch folder may come from elsewhere: nothing there is followed or trusted."""

from __future__ import annotations

import errno
import json
import os
import threading
from pathlib import Path
from typing import Callable

import pytest

from belle_patch.output import guards, state, state_rules

from conftest import generated
from helpers import Release, final_names, make_release, run

needs_symlinks = pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symlinks here")
needs_fifos = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")


@pytest.fixture
def release(tmp_path: Path) -> Release:
    files = {"config.json": b'{"a": 1}\n', "w.bin": generated("w", 20_000)}
    return make_release(tmp_path, files, generated("key", 777))


def assert_restored(out: Path, release: Release) -> None:
    assert final_names(out) == sorted(release.plain)
    for name, content in release.plain.items():
        assert (out / name).read_bytes() == content


def finishes(action: Callable[[], object], unblock: Callable[[], None]) -> bool:
    """Whether ``action`` returns (in a thread); ``unblock`` frees it if it hangs."""
    thread = threading.Thread(target=action, daemon=True)
    thread.start()
    thread.join(timeout=10)
    if thread.is_alive():
        unblock()
        thread.join(timeout=10)
        return False
    return True


def open_fifo_briefly(path: Path) -> Callable[[], None]:
    def unblock() -> None:
        fd = os.open(path, os.O_RDWR | os.O_NONBLOCK)
        os.write(fd, b"{}")
        os.close(fd)

    return unblock


@needs_symlinks
def test_symlinked_state_folder_is_not_written_through(release: Release, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (out / ".belle-patch").symlink_to(elsewhere)
    result = run("decrypt", release.enc_dir, "-k", release.key, "-o", out)
    assert result.exit_code == 0, result.stderr
    assert_restored(out, release)
    assert list(elsewhere.iterdir()) == []
    assert (out / ".belle-patch").is_symlink()
    assert state.records(out) == {}
    problem = state_rules.last_problem(out)
    assert problem is not None and "symbolic link" in problem and "\n" not in problem
    verified = run("verify", out, "-m", release.md5_list, "--json")
    assert verified.exit_code == 0, verified.stderr
    assert {f["method"] for f in json.loads(verified.stdout)["files"]} == {"md5"}


@needs_symlinks
@pytest.mark.parametrize(
    "planted",
    [
        "locks/w.bin.lock",
        "state.lock",
        "state.json",
        "state.journal",
        f"state.json.{os.getpid()}.tmp",
    ],
)
def test_symlinks_in_the_state_folder_are_not_followed(
    release: Release, tmp_path: Path, planted: str
) -> None:
    out = tmp_path / "out"
    (out / ".belle-patch" / "locks").mkdir(parents=True)
    victim = tmp_path / "victim.txt"
    (out / ".belle-patch" / planted).symlink_to(victim)
    result = run("decrypt", release.enc_dir, "-k", release.key, "-o", out)
    assert result.exit_code == 0, result.stderr
    assert_restored(out, release)
    assert not victim.exists()


@needs_symlinks
def test_symlinked_state_file_is_not_read(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / ".belle-patch").mkdir(parents=True)
    (out / "a.bin").write_bytes(b"a")
    size, mtime = (out / "a.bin").stat().st_size, (out / "a.bin").stat().st_mtime_ns
    entry = {"size": size, "mtime_ns": mtime, "xxh3_128": "0", "sha256": "1", "md5": "2"}
    real = tmp_path / "planted.json"
    real.write_text(json.dumps({"files": {"a.bin": entry}}))
    (out / ".belle-patch" / "state.json").symlink_to(real)
    assert state.lookup(out, "a.bin") is None
    assert state.records(out) == {}
    assert "state.json" in (state_rules.last_problem(out) or "")


@needs_fifos
def test_fifo_as_state_file_does_not_hang(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / ".belle-patch").mkdir(parents=True)
    (out / "a.bin").write_bytes(b"a")
    fifo = out / ".belle-patch" / "state.json"
    os.mkfifo(fifo)
    found = []
    assert finishes(lambda: found.append(state.lookup(out, "a.bin")), open_fifo_briefly(fifo))
    assert found == [None]
    assert "not a regular file" in (state_rules.last_problem(out) or "")
    # Recording replaces what cannot be read, without opening it.
    assert finishes(
        lambda: state.record(out, "a.bin", xxh3_128="x", sha256="s", md5="m"),
        open_fifo_briefly(fifo),
    )
    assert fifo.is_file()
    recorded = state.lookup(out, "a.bin")
    assert recorded is not None and recorded.md5 == "m"


@needs_fifos
def test_fifo_as_lock_file_does_not_hang(tmp_path: Path) -> None:
    locks = tmp_path / ".belle-patch" / "locks"
    locks.mkdir(parents=True)
    fifo = locks / "w.bin.lock"
    os.mkfifo(fifo)
    entered = []

    def lock() -> None:
        with guards.output_lock(tmp_path, "w.bin"):
            entered.append(True)

    assert finishes(lock, open_fifo_briefly(fifo))
    assert entered == [True]
    assert os.path.exists(fifo)


def test_deeply_nested_state_is_ignored(release: Release, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert run("decrypt", release.enc_dir, "-k", release.key, "-o", out).exit_code == 0
    for name in os.listdir(out / ".belle-patch"):
        if name.startswith("state.j"):
            os.unlink(out / ".belle-patch" / name)
    (out / ".belle-patch" / "state.json").write_text("[" * 200_000 + "]" * 200_000)
    result = run("verify", out, "-m", release.md5_list, "--json")
    assert result.exit_code == 0, result.stderr
    files = json.loads(result.stdout)["files"]
    assert {(f["status"], f["method"]) for f in files} == {("OK", "md5")}
    assert state.records(out) == {}
    assert "damaged" in (state_rules.last_problem(out) or "")


def test_unreadable_state_folder_means_full_checks(
    release: Release, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    assert run("decrypt", release.enc_dir, "-k", release.key, "-o", out).exit_code == 0
    # As a folder without search permission behaves (root is never refused, so simulated).
    for name in ("stat", "lstat", "open", "scandir", "listdir"):
        monkeypatch.setattr(os, name, _refusing(getattr(os, name)))
    result = run("verify", out, "-m", release.md5_list, "--json")
    assert result.exit_code == 0, result.stderr
    files = json.loads(result.stdout)["files"]
    assert {(f["status"], f["method"]) for f in files} == {("OK", "md5")}
    assert state.lookup(out, "w.bin") is None
    assert "Permission denied" in (state_rules.last_problem(out) or "")


def _refusing(real: Callable[..., object]) -> Callable[..., object]:
    def refuse(path: object, *args: object, **kwargs: object) -> object:
        if isinstance(path, (str, bytes, os.PathLike)) and ".belle-patch" in os.fsdecode(path):
            raise PermissionError(errno.EACCES, "Permission denied", os.fsdecode(path))
        return real(path, *args, **kwargs)

    return refuse


def test_oversized_state_is_not_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a.bin").write_bytes(b"a")
    state.record(tmp_path, "a.bin", xxh3_128="x", sha256="s", md5="m")
    assert state.lookup(tmp_path, "a.bin") is not None
    document = tmp_path / ".belle-patch" / "state.json"
    monkeypatch.setattr(state, "MAX_STATE_BYTES", document.stat().st_size - 1)
    os.utime(document, ns=(1, 1))  # so the cached parse is not used
    assert state.lookup(tmp_path, "a.bin") is None
    assert "larger" in (state_rules.last_problem(tmp_path) or "")


@pytest.mark.parametrize(
    "document",
    [
        '{"files": []}',
        '{"files": {"a.bin": {"size": "1"}}}',
        '{"files": {"a.bin": {"size": -1, "mtime_ns": 1, "xxh3_128": "", '
        '"sha256": "", "md5": ""}}}',
        '{"files": {"a.bin": {"size": true, "mtime_ns": 1, "xxh3_128": "", '
        '"sha256": "", "md5": ""}}}',
        "null",
        "\xff\xfe",
    ],
)
def test_damaged_states_read_as_no_record(tmp_path: Path, document: str) -> None:
    (tmp_path / ".belle-patch").mkdir()
    (tmp_path / ".belle-patch" / "state.json").write_text(document, errors="surrogateescape")
    (tmp_path / "a.bin").write_bytes(b"a")
    assert state.records(tmp_path) == {}
    assert state.lookup(tmp_path, "a.bin") is None
    assert state_rules.last_problem(tmp_path, forget=True) is not None
    # The next record replaces the damaged state.
    state.record(tmp_path, "a.bin", xxh3_128="x", sha256="s", md5="m")
    assert list(state.records(tmp_path)) == ["a.bin"]
    assert state_rules.last_problem(tmp_path) is None


def test_state_folder_that_is_a_file_is_left_alone(tmp_path: Path) -> None:
    (tmp_path / ".belle-patch").write_bytes(b"mine")
    (tmp_path / "a.bin").write_bytes(b"a")
    state.record(tmp_path, "a.bin", xxh3_128="x", sha256="s", md5="m")
    with guards.output_lock(tmp_path, "a.bin"):
        pass
    assert (tmp_path / ".belle-patch").read_bytes() == b"mine"
    assert state.lookup(tmp_path, "a.bin") is None
    assert "not a folder" in (state_rules.last_problem(tmp_path) or "")
