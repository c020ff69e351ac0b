"""Systems without fcntl (Windows): simulated here by making `import fcntl` fail."""

from __future__ import annotations

import errno
import importlib
import os
import subprocess
import sys
import threading
from pathlib import Path
from types import ModuleType
from typing import Dict, Iterator, List, Set, Tuple

import pytest

from conftest import generated
from helpers import Release, all_names, final_names, make_release, run

# The modules that take locks or sync folders, reloaded so none keeps a module it imported.
LOCKING_MODULES = [
    "belle_patch.output.locking",
    "belle_patch.stream.writeback",
    "belle_patch.output.state_rules",
    "belle_patch.output.state",
    "belle_patch.output.staging",
    "belle_patch.output.guards",
]
NO_FCNTL = "import sys; sys.modules['fcntl'] = None; "


def _reload_all() -> None:
    for name in LOCKING_MODULES:
        importlib.reload(importlib.import_module(name))


@pytest.fixture
def no_fcntl(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setitem(sys.modules, "fcntl", None)
    with pytest.raises(ImportError):
        import fcntl  # noqa: F401
    _reload_all()
    yield
    monkeypatch.undo()
    _reload_all()


class FakeMsvcrt(ModuleType):
    """msvcrt.locking's rules: byte ranges per open file, LK_NBLCK fails when taken."""

    LK_UNLCK = 0
    LK_LOCK = 1
    LK_NBLCK = 2

    def __init__(self) -> None:
        super().__init__("msvcrt")
        self.calls: List[Tuple[int, int, int, int]] = []  # fd, mode, bytes, position
        self.held: Dict[Tuple[int, int, int], int] = {}  # (dev, inode, offset) -> fd
        self.guard = threading.Lock()

    def locking(self, fd: int, mode: int, nbytes: int) -> None:
        offset = os.lseek(fd, 0, os.SEEK_CUR)
        info = os.fstat(fd)
        with self.guard:
            self.calls.append((fd, mode, nbytes, offset))
            region = (info.st_dev, info.st_ino, offset)
            if mode == self.LK_UNLCK:
                if self.held.get(region) != fd:
                    raise OSError(errno.EACCES, "not locked")
                del self.held[region]
            elif region in self.held:
                raise OSError(errno.EACCES, "Permission denied")
            else:
                self.held[region] = fd

    def modes_of(self, fds: Set[int]) -> List[int]:
        return [mode for fd, mode, _, _ in self.calls if fd in fds]


@pytest.fixture
def fake_msvcrt(no_fcntl: None, monkeypatch: pytest.MonkeyPatch) -> FakeMsvcrt:
    fake = FakeMsvcrt()
    monkeypatch.setitem(sys.modules, "msvcrt", fake)
    return fake


@pytest.fixture
def release(tmp_path: Path) -> Release:
    files = {"config.json": b'{"a": 1}\n', "pytorch_model.bin": generated("w", 3_000_000)}
    return make_release(tmp_path, files, generated("key", 4099))


def test_decrypt_without_fcntl(no_fcntl: None, release: Release, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run("decrypt", release.enc_dir, "-k", release.key, "-o", out)
    assert result.exit_code == 0, result.stderr
    assert "error" not in result.stderr
    assert final_names(out) == sorted(release.plain)
    assert all_names(out) == final_names(out)
    for name, content in release.plain.items():
        assert (out / name).read_bytes() == content
    again = run("verify", out, "-m", release.md5_list, "--json")
    assert again.exit_code == 0, again.stderr
    assert '"xxh3_128"' in again.stdout  # the records written without locks are read back


def test_two_decrypts_at_once_without_fcntl(release: Release, tmp_path: Path) -> None:
    out = tmp_path / "out"
    code = NO_FCNTL + "from belle_patch.cli import cli; cli(sys.argv[1:])"
    args = ["decrypt", str(release.enc_dir), "-k", str(release.key), "-o", str(out), "-q"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    runs = [
        subprocess.Popen([sys.executable, "-c", code, *args], env=env, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    errors = [process.communicate(timeout=120)[1].decode() for process in runs]
    assert [process.returncode for process in runs] == [0, 0], errors
    assert not any("Traceback" in text for text in errors)
    assert all_names(out) == sorted(release.plain)
    for name, content in release.plain.items():
        assert (out / name).read_bytes() == content


def test_belle_patch_imports_without_fcntl() -> None:
    code = (
        NO_FCNTL
        + "import belle_patch.cli, belle_patch.jobs.restore, belle_patch.output.state; print('ok')"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "ok\n"


def test_windows_lock_file_uses_msvcrt_locking(fake_msvcrt: FakeMsvcrt, tmp_path: Path) -> None:
    from belle_patch.output import locking

    path = tmp_path / "x.lock"
    with locking.lock_file(path) as outcome:
        assert outcome is locking.LOCKED
        fds = {fd for fd, _, _, _ in fake_msvcrt.calls}
        assert len(fds) == 1
        # Someone else's attempt on the same file is refused, without waiting.
        other = os.open(path, os.O_RDWR)
        try:
            assert locking.try_lock(other) is locking.BUSY
        finally:
            os.close(other)
    # One byte at the start stands for the file: locked without waiting, then unlocked.
    assert [(mode, size, at) for fd, mode, size, at in fake_msvcrt.calls if fd in fds] == [
        (FakeMsvcrt.LK_NBLCK, 1, 0),
        (FakeMsvcrt.LK_UNLCK, 1, 0),
    ]
    assert fake_msvcrt.held == {}


def test_windows_output_lock_waits_and_can_be_cancelled(
    fake_msvcrt: FakeMsvcrt, tmp_path: Path
) -> None:
    from belle_patch.output import guards

    class Stop(Exception):
        pass

    rounds: List[int] = []

    def waiting() -> None:
        rounds.append(1)
        if len(rounds) == 3:
            raise Stop

    with (
        guards.output_lock(tmp_path, "model.bin"),
        pytest.raises(Stop),
        guards.output_lock(tmp_path, "model.bin", waiting=waiting),
    ):
        pytest.fail("two holders of one output lock")
    assert len(rounds) == 3
    busy = [mode for _, mode, _, _ in fake_msvcrt.calls if mode == FakeMsvcrt.LK_NBLCK]
    assert len(busy) == 1 + 3  # the holder's, then one attempt per round of waiting
    assert FakeMsvcrt.LK_LOCK not in [mode for _, mode, _, _ in fake_msvcrt.calls]
    assert fake_msvcrt.held == {}


def test_windows_staged_files_are_locked_while_open(
    fake_msvcrt: FakeMsvcrt, tmp_path: Path
) -> None:
    from belle_patch.output.staging import StagedFile, remove_stale_temporaries

    staged = StagedFile(tmp_path, "model.bin")
    staged.write(memoryview(b"streamed so far"))
    fd = staged.file.fileno()
    assert fake_msvcrt.modes_of({fd}) == [FakeMsvcrt.LK_NBLCK]
    # Renamed to carry the id of a process that does not run here: only the lock tells.
    foreign = tmp_path / ".model.bin.belle-patch-999999999-abcdefgh.tmp"
    os.rename(staged.temp_path, foreign)
    assert remove_stale_temporaries(tmp_path) == []
    assert foreign.exists()
    staged.file.close()
    fake_msvcrt.held.clear()  # closing a file releases its locks
    assert remove_stale_temporaries(tmp_path) == [foreign]
    assert not foreign.exists()


def test_windows_lock_file_is_removed_once_closed(
    fake_msvcrt: FakeMsvcrt, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from belle_patch.output import locking

    path = tmp_path / "x.lock"
    monkeypatch.setattr(os, "name", "nt")
    deleted_while_open: List[bool] = []
    real_unlink = os.unlink

    def unlink(target: str) -> None:
        deleted_while_open.append(bool(fake_msvcrt.held))
        real_unlink(target)

    monkeypatch.setattr(os, "unlink", unlink)
    with locking.lock_file(path, remove=True):
        assert path.exists()
    assert deleted_while_open == [False]  # Windows deletes no open (here: locked) file
    assert not path.exists()
