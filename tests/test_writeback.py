"""Write-behind: ranges queued, waited for and dropped in order; a failed wait fails the file."""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import itertools
import mmap
import sys
from pathlib import Path
from typing import List, Tuple

import pytest

import belle_patch
from belle_patch.output.staging import StagedFile
from belle_patch.stream import writeback
from belle_patch.stream.writeback import WritebackTracker

from conftest import generated
from helpers import all_names, make_release

MIB = 1024 * 1024
QUEUE = 2  # SYNC_FILE_RANGE_WRITE alone
WAIT = 7  # WAIT_BEFORE | WRITE | WAIT_AFTER

Call = Tuple[int, int, int]  # offset, length, flags


class FakeSyncRange:
    """Records sync_file_range calls; waits answer ``wait_result``, queueing ``queue_result``."""

    def __init__(self, wait_result: int = 0, queue_result: int = 0) -> None:
        self.calls: List[Call] = []
        self.wait_result = wait_result
        self.queue_result = queue_result

    def __call__(self, fd: int, offset: int, length: int, flags: int) -> int:
        self.calls.append((offset, length, flags))
        return self.wait_result if flags == WAIT else self.queue_result


def _write(tracker: WritebackTracker, sizes: List[int]) -> None:
    for size in sizes:
        tracker.wrote(size)


def test_ranges_are_queued_then_waited_for_one_step_later() -> None:
    fake = FakeSyncRange()
    tracker = WritebackTracker(3, step=10, sync_range=fake)
    _write(tracker, [4, 4, 4, 4, 4, 4, 4, 3])  # 31 bytes
    queued = [(o, n) for o, n, f in fake.calls if f == QUEUE]
    waited = [(o, n) for o, n, f in fake.calls if f == WAIT]
    assert queued == [(0, 12), (12, 12)]
    # Only what was queued a step earlier is waited for; the tail is left to fsync.
    assert waited == [(0, 12)]
    assert fake.calls.index((0, 12, WAIT)) > fake.calls.index((12, 12, QUEUE))


def test_waits_cover_the_file_in_order_without_gaps() -> None:
    fake = FakeSyncRange()
    tracker = WritebackTracker(3, step=8 * MIB, sync_range=fake)
    _write(tracker, [10 * MIB] * 20 + [123])
    waited = [(o, n) for o, n, f in fake.calls if f == WAIT]
    queued = [(o, n) for o, n, f in fake.calls if f == QUEUE]
    assert waited[0][0] == 0
    assert all(a + n == b for (a, n), (b, _) in itertools.pairwise(waited))
    assert waited[-1][0] + waited[-1][1] == queued[-1][0]  # never past what was queued


def test_a_failed_wait_raises_the_write_error() -> None:
    tracker = WritebackTracker(3, step=10, sync_range=FakeSyncRange(wait_result=errno.EIO))
    tracker.wrote(10)
    with pytest.raises(OSError) as caught:
        tracker.wrote(10)
    assert caught.value.errno == errno.EIO


# A wait hands over the file's recorded writeback error whatever its errno: a FUSE daemon
# or an NFS server may have failed the write with EINVAL, ENOSYS or EOPNOTSUPP.
EVERY_ERRNO = [errno.EIO, errno.EINVAL, errno.ESPIPE, errno.ENOSYS, errno.EOPNOTSUPP, errno.EPERM]


@pytest.mark.parametrize("error", EVERY_ERRNO, ids=errno.errorcode.get)
def test_a_failed_wait_raises_whatever_its_errno(error: int) -> None:
    tracker = WritebackTracker(3, step=10, sync_range=FakeSyncRange(wait_result=error))
    tracker.wrote(10)
    with pytest.raises(OSError) as caught:
        tracker.wrote(10)
    assert caught.value.errno == error


@pytest.mark.parametrize("refused", EVERY_ERRNO, ids=errno.errorcode.get)
def test_a_system_that_refuses_the_call_writes_as_before(refused: int) -> None:
    # Queueing consumes no error, so its failure says only that this file or system (a
    # seccomp filter answers EPERM or ENOSYS) will not do it: fsync does all the work.
    fake = FakeSyncRange(wait_result=refused, queue_result=refused)
    tracker = WritebackTracker(3, step=10, sync_range=fake)
    _write(tracker, [10] * 6)
    assert fake.calls == [(0, 10, QUEUE)]  # tried once, never waited


@pytest.mark.parametrize("error", [errno.EIO, errno.EINVAL], ids=errno.errorcode.get)
def test_a_failed_wait_fails_the_file_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: int
) -> None:
    release = make_release(tmp_path, {"big.bin": generated("writeback big", 12 * MIB)}, b"k" * 999)
    monkeypatch.setattr(writeback, "WRITEBACK_STEP", MIB)
    monkeypatch.setattr(writeback, "_sync_range", FakeSyncRange(wait_result=error))
    monkeypatch.setattr(writeback, "_can_drop", True)
    out = tmp_path / "out"
    report = belle_patch.decrypt(release.enc_dir, key=release.key, out=out)
    assert report.ok is False and report.restored == ()
    (failure,) = report.failed
    assert isinstance(failure.error, belle_patch.OutputError)
    assert "writing failed" in str(failure.error)
    assert not out.exists() or all_names(out) == []


def test_a_failed_wait_fails_encrypt_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = make_release(tmp_path, {"big.bin": generated("writeback seal", 12 * MIB)}, b"k" * 99)
    monkeypatch.setattr(writeback, "WRITEBACK_STEP", MIB)
    monkeypatch.setattr(writeback, "_sync_range", FakeSyncRange(wait_result=errno.EINVAL))
    monkeypatch.setattr(writeback, "_can_drop", True)
    out = tmp_path / "out"
    for lists in (True, False):
        report = belle_patch.encrypt(
            tmp_path / "finetuned" / "big.bin", key=release.key, out=out, lists=lists
        )
        assert report.ok is False and report.encrypted == ()
        (failure,) = report.failed
        assert isinstance(failure.error, belle_patch.OutputError)
        assert not out.exists() or all_names(out) == []


def test_a_refused_call_restores_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    content = generated("writeback refused", 12 * MIB)
    release = make_release(tmp_path, {"big.bin": content}, b"k" * 999)
    monkeypatch.setattr(writeback, "WRITEBACK_STEP", MIB)
    refused = FakeSyncRange(wait_result=errno.EPERM, queue_result=errno.EPERM)
    monkeypatch.setattr(writeback, "_sync_range", refused)
    monkeypatch.setattr(writeback, "_can_drop", True)
    out = tmp_path / "out"
    report = belle_patch.decrypt(release.enc_dir, key=release.key, out=out)
    assert report.ok is True and report.failed == ()
    assert (out / "big.bin").read_bytes() == content
    assert WAIT not in [flags for _, _, flags in refused.calls]


def _disk_filesystem(path: Path) -> bool:
    """Whether ``path`` is on a filesystem whose cached pages can be dropped (not tmpfs)."""
    best, kind = "", ""
    with open("/proc/self/mounts", encoding="utf-8") as mounts:
        for line in mounts:
            fields = line.split()
            if len(fields) > 2 and str(path).startswith(fields[1]) and len(fields[1]) > len(best):
                best, kind = fields[1], fields[2]
    return kind in {"ext4", "xfs", "btrfs", "f2fs", "ext3"}


def _resident_fraction(path: Path) -> float:
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    size = path.stat().st_size
    pages = -(-size // mmap.PAGESIZE)
    vector = (ctypes.c_ubyte * pages)()
    with path.open("rb") as source, mmap.mmap(source.fileno(), size, access=mmap.ACCESS_COPY) as m:
        address = ctypes.addressof(ctypes.c_char.from_buffer(m))
        assert libc.mincore(ctypes.c_void_p(address), ctypes.c_size_t(size), vector) == 0
    return sum(byte & 1 for byte in vector) / pages


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="sync_file_range is Linux's")
def test_written_pages_leave_the_page_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not _disk_filesystem(tmp_path):
        pytest.skip("the temporary folder is not on a disk filesystem")
    monkeypatch.setattr(writeback, "WRITEBACK_STEP", 4 * MIB)
    block = memoryview(generated("writeback pages", 4 * MIB))
    with StagedFile(tmp_path, "model.bin") as staged:
        for _ in range(16):
            staged.write(block)
        staged.sync()
        final = staged.commit("model.bin")
    assert final.stat().st_size == 64 * MIB
    # All but the last steps were written, waited for and dropped.
    assert _resident_fraction(final) < 0.5
    with final.open("rb") as written:
        assert written.read(4 * MIB) == block.tobytes()  # dropped, not lost
