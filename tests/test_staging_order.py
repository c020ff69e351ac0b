"""A restored file is written, fsynced, verified, renamed, and then its folder is fsynced.

Each step guards against a different loss: without the file's fsync a crash after the rename
can leave a file of zeros under the final name; without the folder's fsync the rename itself
can be lost; a rename before the verification shows an unverified file to the user. None of
this shows in the bytes a test reads back, so the system calls are recorded as they happen.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, List, Set, Tuple

import pytest

import belle_patch
from belle_patch.jobs import restore
from belle_patch.output.staging import StagedFile

from conftest import generated
from helpers import Release, all_names, final_names, make_release

NAME = "pytorch_model.bin"
CONTENT = generated("staging order weights", 70_000)


@dataclass
class Trace:
    """What happened to the output file and its folder, in order.

    Events about other files (the state folder's ``state.json``) are left out: they are not
    the output, and their own order is not what these tests are about.
    """

    out: Path
    events: List[str] = field(default_factory=list)
    # Inodes of the temporary files the restored bytes were written to.
    written: Set[int] = field(default_factory=set)
    # (inode, size) of each output file fsync: the size shows the fsync came after the writes.
    synced: List[Tuple[int, int]] = field(default_factory=list)
    renamed: List[int] = field(default_factory=list)
    # Whether the final name existed, and which temporaries existed, at verification time.
    seen_at_verification: List[Tuple[bool, List[str]]] = field(default_factory=list)

    def add(self, event: str) -> None:
        # Consecutive writes are one step: how many chunks a file takes is not the point.
        if not (event == "write" and self.events[-1:] == ["write"]):
            self.events.append(event)


@pytest.fixture
def release(tmp_path: Path) -> Release:
    return make_release(tmp_path, {NAME: CONTENT}, generated("staging order key", 5000))


@pytest.fixture
def trace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Trace:
    """Record writes, fsyncs, the verification and renames made while decrypting to out/.

    Installed only once the release is made: sealing the patches stages files too.
    """
    recorded = Trace(tmp_path / "out")
    # The class restore.py stages with: other tests reload belle_patch.output.staging, which makes
    # staging.StagedFile a new class that restore.py's imported name does not follow.
    staged_class = restore.StagedFile
    real_write = staged_class.write
    real_fsync = os.fsync
    real_replace = os.replace
    real_check = restore.check_restored

    def write(self: StagedFile, data: memoryview) -> None:
        if self.folder == recorded.out:
            recorded.written.add(os.fstat(self.file.fileno()).st_ino)
            recorded.add("write")
        real_write(self, data)

    def fsync(fd: int) -> None:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode) and _same_inode(info, recorded.out):
            recorded.add("fsync folder")
        elif info.st_ino in recorded.written:
            recorded.synced.append((info.st_ino, info.st_size))
            recorded.add("fsync file")
        real_fsync(fd)

    def replace(source: Any, target: Any, *args: Any, **kwargs: Any) -> None:
        if Path(target) == recorded.out / NAME:
            recorded.renamed.append(os.stat(source).st_ino)
            recorded.add("rename")
        real_replace(source, target, *args, **kwargs)

    def check(*args: Any, **kwargs: Any) -> Any:
        recorded.seen_at_verification.append(
            ((recorded.out / NAME).exists(), [n for n in all_names(recorded.out) if n != NAME])
        )
        recorded.add("verify")
        return real_check(*args, **kwargs)

    monkeypatch.setattr(staged_class, "write", write)
    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(restore, "check_restored", check)
    return recorded


def _same_inode(info: os.stat_result, path: Path) -> bool:
    try:
        other = os.stat(path)
    except OSError:
        return False
    return (info.st_dev, info.st_ino) == (other.st_dev, other.st_ino)


def test_one_decrypt_writes_syncs_verifies_renames_then_syncs_the_folder(
    release: Release, trace: Trace
) -> None:
    report = belle_patch.decrypt(release.enc_dir, key=release.key, out=trace.out)
    assert report.ok, report.failed
    assert trace.events == ["write", "fsync file", "verify", "rename", "fsync folder"]
    # The fsync came after the last byte was written, on the file that was then renamed.
    (temp_inode,) = trace.written
    assert trace.synced == [(temp_inode, len(CONTENT))]
    assert trace.renamed == [temp_inode]
    # While it was being verified the file had only its hidden temporary name.
    ((final_existed, temporaries),) = trace.seen_at_verification
    assert final_existed is False
    assert len(temporaries) == 1 and temporaries[0].startswith(f".{NAME}.belle-patch-")
    assert (trace.out / NAME).read_bytes() == CONTENT
    assert final_names(trace.out) == [NAME] and all_names(trace.out) == [NAME]


def test_a_failed_verification_leaves_neither_the_final_name_nor_a_temporary(
    release: Release, trace: Trace, tmp_path: Path
) -> None:
    wrong = tmp_path / "wrong" / "consolidated.00.pth"
    wrong.parent.mkdir()
    wrong.write_bytes(generated("not the staging order key", 5000))
    report = belle_patch.decrypt(release.enc_dir, key=wrong, out=trace.out)
    assert report.ok is False and report.restored == ()
    (failure,) = report.failed
    assert isinstance(failure.error, belle_patch.ChecksumMismatch)
    # Synced and verified like a good file, then never renamed: no fsync of the folder either,
    # since nothing in it changed for the user.
    assert trace.events == ["write", "fsync file", "verify"]
    ((final_existed, temporaries),) = trace.seen_at_verification
    assert final_existed is False and len(temporaries) == 1
    assert all_names(trace.out) == []
    assert not (trace.out / NAME).exists()


def test_a_verifier_that_refuses_stops_the_rename(
    release: Release, trace: Trace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The verifier's verdict is what gates the rename: refused here with the right key."""
    traced = restore.check_restored

    def refuse(*args: Any, **kwargs: Any) -> Any:
        traced(*args, **kwargs)  # records the step, and passes
        raise belle_patch.ChecksumMismatch(
            "refused by the test", algorithm="MD5", expected="0" * 32, actual="1" * 32
        )

    monkeypatch.setattr(restore, "check_restored", refuse)
    report = belle_patch.decrypt(release.enc_dir, key=release.key, out=trace.out)
    assert report.ok is False
    (failure,) = report.failed
    assert "refused by the test" in str(failure.error)
    assert trace.events == ["write", "fsync file", "verify"]
    assert all_names(trace.out) == []
