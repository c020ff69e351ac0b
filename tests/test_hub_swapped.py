"""A download's file swapped for a FIFO or a device after it was planned is never read."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Callable, Dict, List

import pytest

import belle_patch
from hub_endpoint import SHARDS, CacheDownload, model_files, require_huggingface_hub

require_huggingface_hub()

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")


class SwapOnStart(belle_patch.ProgressEvents):
    """Replaces the blob behind ``name`` the moment its read is announced."""

    def __init__(self, blob: Path, swap: Callable[[Path], None]) -> None:
        self.blob = blob
        self.swap = swap
        self.swapped: List[Path] = []

    def file_started(self, path: Path, size: int) -> None:
        if not self.swapped and os.path.realpath(path) == str(self.blob):
            self.blob.unlink()
            self.swap(self.blob)
            self.swapped.append(path)


def fifo(path: Path) -> None:
    os.mkfifo(path)


def device(path: Path) -> None:
    path.symlink_to("/dev/zero")


def verify_within(seconds: float, **kwargs: object) -> belle_patch.VerifyReport:
    reports: List[belle_patch.VerifyReport] = []
    worker = threading.Thread(target=lambda: reports.append(belle_patch.verify(**kwargs)))
    worker.daemon = True
    worker.start()
    worker.join(seconds)
    assert reports, "verify blocked on a file swapped after planning"
    return reports[0]


@pytest.mark.parametrize("swap", [fifo, device], ids=["fifo", "dev-zero"])
def test_a_blob_swapped_after_planning_is_unreadable_not_read(
    tmp_path: Path, hub_cache: Callable[..., CacheDownload], swap: Callable[[Path], None]
) -> None:
    download = hub_cache(tmp_path / "hub", files=model_files())
    blob = Path(os.path.realpath(download.blob(SHARDS[0])))
    progress = SwapOnStart(blob, swap)
    report = verify_within(60, paths=[download.repo_folder], progress=progress, jobs=1)
    assert progress.swapped, "the swap never happened"
    verdicts: Dict[str, str] = {check.name: check.status for check in report.files}
    assert verdicts[SHARDS[0]] != belle_patch.OK
    assert not report.ok
