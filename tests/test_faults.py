"""Faults injected for real: signals, SIGKILL, a file-size limit, two runs at once."""

from __future__ import annotations

import hashlib
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional

import pytest

from belle_patch.jobs.seal import seal_file
from belle_patch.stream.keystream import KeySource

from helpers import all_names, final_names, run

BIG = 512 * 1024 * 1024
TIMEOUT = 120


@pytest.fixture(scope="module")
def big_release(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Path]:
    """A 512 MiB patch (long enough to be interrupted mid-file) and its key."""
    root = tmp_path_factory.mktemp("big")
    plain = root / "model" / "pytorch_model.bin"
    plain.parent.mkdir()
    with plain.open("wb") as handle:
        handle.truncate(BIG)  # zeros: the patch then holds the key stream itself
    key = root / "consolidated.00.pth"
    key.write_bytes(hashlib.shake_128(b"fault key").digest(3 * 1024 * 1024 + 7))
    enc = root / "enc"
    enc.mkdir()
    patch = seal_file(plain, KeySource(key), enc).output
    plain.unlink()
    return {"patch": patch, "key": key, "enc": enc}


def cli(*args: object) -> List[str]:
    return [sys.executable, "-m", "belle_patch", *[str(a) for a in args]]


def start(args: List[str], **kwargs: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        args,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,  # type: ignore[call-overload]
    )


def wait_for_temporary(folder: Path, process: subprocess.Popen[str]) -> Path:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        for temp in folder.glob(".pytorch_model.bin.belle-patch-*") if folder.exists() else []:
            try:
                if temp.stat().st_size > 32 * 1024 * 1024:
                    return temp
            except FileNotFoundError:  # renamed or removed between the listing and the stat
                continue
        if process.poll() is not None:
            raise AssertionError(f"finished before it could be interrupted: {process.stderr}")
        time.sleep(0.005)
    raise AssertionError("no temporary file appeared")


def assert_zeros(path: Path) -> None:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 24), b""):
            digest.update(block)
    assert digest.hexdigest() == hashlib.sha256(bytes(BIG)).hexdigest()


@pytest.mark.parametrize(
    ("signum", "code", "word"),
    [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")],
)
def test_signal_mid_file_cleans_up(
    big_release: Dict[str, Path], tmp_path: Path, signum: int, code: int, word: str
) -> None:
    out = tmp_path / "out"
    process = start(cli("decrypt", big_release["patch"], "-k", big_release["key"], "-o", out))
    wait_for_temporary(out, process)
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=TIMEOUT)
    assert process.returncode == code, (stdout, stderr)
    assert stderr.strip().splitlines()[-1] == (
        f"belle-patch: {word}; no partial file was left under a final name"
    )
    assert "Traceback" not in stderr
    assert all_names(out) == []


def test_sigkill_leaves_only_a_temporary_that_the_next_run_removes(
    big_release: Dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    args = cli("decrypt", big_release["patch"], "-k", big_release["key"], "-o", out)
    process = start(args)
    temp = wait_for_temporary(out, process)
    process.kill()
    process.communicate(timeout=TIMEOUT)
    assert temp.exists()
    assert final_names(out) == []  # nothing under a final name

    rerun = subprocess.run(args, capture_output=True, text=True, timeout=TIMEOUT, check=False)
    assert rerun.returncode == 0, rerun.stderr
    assert f"note: removed {temp.name}, left by a run that was killed" in rerun.stderr
    assert all_names(out) == ["pytorch_model.bin"]
    assert_zeros(out / "pytorch_model.bin")


def _limit_file_size() -> None:
    limit = 64 * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def test_file_size_limit_fails_fast_and_cleanly(
    big_release: Dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    started = time.monotonic()
    result = subprocess.run(
        cli("decrypt", big_release["patch"], "-k", big_release["key"], "-o", out),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        preexec_fn=_limit_file_size,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert (
        "pytorch_model.bin: writing failed: the file is larger than this system or file size "
        "limit allows" in result.stderr
    )
    assert "0 restored, 1 failed" in result.stdout
    assert time.monotonic() - started < 60
    assert all_names(out) == []


def test_two_runs_at_once_restore_once(big_release: Dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = cli("decrypt", big_release["enc"], "-k", big_release["key"], "-o", out)
    first = start(args)
    wait_for_temporary(out, first)
    second = start(args)
    outputs = [p.communicate(timeout=TIMEOUT) for p in (first, second)]
    assert [first.returncode, second.returncode] == [0, 0], outputs
    assert "restored pytorch_model.bin" in outputs[0][0]
    assert "already restored pytorch_model.bin" in outputs[1][0]
    assert all_names(out) == ["pytorch_model.bin"]
    assert_zeros(out / "pytorch_model.bin")


def test_not_enough_space_is_refused_before_writing(
    big_release: Dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    from belle_patch.output import guards

    real = shutil.disk_usage

    def tiny(path: object) -> shutil._ntuple_diskusage:
        usage = real(str(path))
        return type(usage)(usage.total, usage.total - 1000, 1000)

    monkeypatch.setattr(guards.shutil, "disk_usage", tiny)
    out = tmp_path / "out"
    result = run("decrypt", big_release["patch"], "-k", big_release["key"], "-o", out)
    assert result.exit_code == 1
    assert "not enough free space: the batch writes 512.0 MiB" in result.stderr
    assert "has 1000 B free" in result.stderr
    assert all_names(out) == []
    skipped = run(
        "decrypt", big_release["patch"], "-k", big_release["key"], "-o", out, "--no-space-check"
    )
    assert skipped.exit_code == 0


def _pid_of_nothing() -> Optional[int]:
    pid = 999_999
    while pid > 1000:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return pid
        except PermissionError:
            pass
        pid -= 1
    return None


def test_temporaries_of_live_runs_are_kept(tmp_path: Path) -> None:
    from belle_patch.output.staging import remove_stale_temporaries

    dead = _pid_of_nothing()
    assert dead is not None
    mine = tmp_path / f".model.bin.belle-patch-{os.getpid()}-abc.tmp"
    gone = tmp_path / f".model.bin.belle-patch-{dead}-abc.tmp"
    user_file = tmp_path / "notes.belle-patch-1-x.tmp"
    for path in (mine, gone, user_file):
        path.write_bytes(b"x")
    assert remove_stale_temporaries(tmp_path) == [gone]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([mine.name, user_file.name])


def test_signal_with_json_still_prints_a_json_object(
    big_release: Dict[str, Path], tmp_path: Path
) -> None:
    import json

    out = tmp_path / "out"
    args = cli("decrypt", big_release["patch"], "-k", big_release["key"], "-o", out, "--json")
    process = start(args)
    wait_for_temporary(out, process)
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=TIMEOUT)
    assert process.returncode == 143, (stdout, stderr)
    document = json.loads(stdout)
    assert document["ok"] is False and document["exit_code"] == 143
    assert "terminated" in document["error"]
    assert all_names(out) == []
