"""Run one file operation over many inputs, smallest first, and report every outcome."""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Generic, List, Optional, Sequence, Set, TypeVar, Union

from belle_patch.errors import BellePatchError, InputError, UsageError
from belle_patch.stream.engine import ProgressCallback
from belle_patch.stream.events import Progress

ResultT = TypeVar("ResultT")


@dataclass(frozen=True)
class FileFailure:
    """An input that did not produce a verified output."""

    path: Path
    error: BellePatchError


@dataclass(frozen=True)
class Skipped:
    """An input left aside before any work (not a patch, a folder ...)."""

    path: Path
    reason: str


@dataclass
class BatchReport(Generic[ResultT]):
    done: List[ResultT] = field(default_factory=list)
    failed: List[FileFailure] = field(default_factory=list)
    skipped: List[Skipped] = field(default_factory=list)
    stopped: Optional[BellePatchError] = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed and self.stopped is None


class Cancelled(Exception):
    """Raised inside a worker when the batch is stopping."""


@dataclass(frozen=True)
class Selection:
    files: List[Path]
    skipped: List[Skipped]
    # Inputs that fail before any work: a link whose target is gone (an interrupted download).
    failed: List[FileFailure] = field(default_factory=list)


def _unreadable_input(path: Path, problem: str, hint: str) -> FileFailure:
    return FileFailure(path, InputError(problem, path=path, hint=hint))


def _broken_link(path: Path) -> FileFailure:
    return _unreadable_input(
        path,
        "the file is a link to a file that does not exist",
        "the download was interrupted: download this file again",
    )


def _not_regular(path: Path) -> FileFailure:
    return _unreadable_input(
        path,
        "not a regular file",
        "pass the downloaded file itself (a FIFO or device is never read)",
    )


def select_inputs(inputs: Sequence[Path], wanted: Callable[[Path], bool], what: str) -> Selection:
    """Expand folders (their direct entries) and order the files smallest first.

    A missing input is a usage error; entries of a folder that ``wanted`` rejects are
    reported as skipped. A link to nothing that would have been an input (named like one)
    is a failed file, never a silent skip.
    """
    files: List[Path] = []
    skipped: List[Skipped] = []
    failed: List[FileFailure] = []
    for item in inputs:
        if item.is_dir():
            for entry in sorted(item.iterdir()):
                if entry.is_file() and wanted(entry):
                    files.append(entry)
                elif entry.name.startswith(".belle-patch") or entry.name == ".git":
                    continue
                elif entry.is_symlink() and not entry.exists() and wanted(entry):
                    failed.append(_broken_link(entry))
                elif wanted(entry) and not entry.is_dir():
                    # Named like an input but a FIFO, socket or device: never opened.
                    failed.append(_not_regular(entry))
                else:
                    skipped.append(Skipped(entry, f"not {what}"))
        elif item.is_file():
            files.append(item)
        elif item.is_symlink() and not item.exists():
            failed.append(_broken_link(item))
        elif item.exists():
            raise UsageError(
                "not a regular file or folder",
                path=item,
                hint="pass the downloaded files or the folder that holds them",
            )
        else:
            raise UsageError("no such file or folder", path=item)
    unique = list(dict.fromkeys(files))
    return Selection(sorted(unique, key=_size_or_zero), skipped, failed)


def _size_or_zero(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


Action = Callable[[Path, ProgressCallback], ResultT]
StopRule = Callable[[BellePatchError, int], Optional[BellePatchError]]


def run_batch(
    files: Sequence[Path],
    action: Action[ResultT],
    observer: Progress,
    *,
    jobs: int = 1,
    stop_rule: Optional[StopRule] = None,
) -> BatchReport[ResultT]:
    """Apply ``action`` to every file; failures are collected, not raised.

    ``stop_rule(error, done_count)`` may turn a failure into a reason to stop the batch
    (a key that does not fit shows on the first, smallest file). With ``jobs`` > 1 the
    first file still runs alone, so such a stop costs milliseconds.
    """
    report: BatchReport[ResultT] = BatchReport()
    started = time.monotonic()
    cancel = threading.Event()
    lock = threading.Lock()

    def run_one(path: Path) -> None:
        def progress(nbytes: int) -> None:
            if cancel.is_set():
                raise Cancelled
            observer.advanced(nbytes)

        observer.file_started(path, _size_or_zero(path))
        outcome: Union[ResultT, FileFailure]
        try:
            outcome = action(path, progress)
        except Cancelled:
            return
        except BellePatchError as exc:
            outcome = FileFailure(path, exc)
        except OSError as exc:
            outcome = FileFailure(path, InputError(exc.strerror or str(exc), path=path))
        with lock:
            if isinstance(outcome, FileFailure):
                report.failed.append(outcome)
                rule = stop_rule(outcome.error, len(report.done)) if stop_rule else None
                if rule is not None and report.stopped is None:
                    report.stopped = rule
                    cancel.set()
            else:
                report.done.append(outcome)
        observer.file_done(outcome)

    try:
        pending = list(files)
        if pending:
            run_one(pending.pop(0))
        if jobs <= 1:
            for path in pending:
                if cancel.is_set():
                    break
                run_one(path)
        else:
            _run_parallel(pending, run_one, jobs, cancel)
    finally:
        cancel.set()
        report.seconds = time.monotonic() - started
    return report


def _run_parallel(
    files: Sequence[Path], run_one: Callable[[Path], None], jobs: int, cancel: threading.Event
) -> None:
    queue = list(files)
    running: Set[Future[None]] = set()
    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="belle-patch-file") as pool:
        try:
            while queue or running:
                while queue and len(running) < jobs and not cancel.is_set():
                    running.add(pool.submit(run_one, queue.pop(0)))
                if not running:
                    break
                finished, running = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    future.result()
        finally:
            cancel.set()


# Each file in flight holds its own ring of buffers (up to about 90 MiB when encrypting
# with the lists); more files at once than this only adds memory, not speed.
MAX_FILES_AT_ONCE = 4


def available_cores() -> int:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, cores or 1)


def default_jobs() -> int:
    """One file at a time uses about two cores (read+XOR, hashes and write overlap)."""
    return max(1, available_cores() // 2)


# Hashing one file holds a ring of 4 x 10 MiB buffers: this many at once bounds verify's memory.
MAX_FILES_HASHED_AT_ONCE = 8


def files_hashed_at_once(jobs: Optional[int]) -> int:
    """How many files verify hashes at once: ``jobs`` (default: the cores), capped."""
    return max(1, min(jobs or available_cores(), MAX_FILES_HASHED_AT_ONCE))


def files_at_once(jobs: Optional[int]) -> int:
    """How many files a batch works on at once: ``jobs`` (default: half the cores), capped."""
    return max(1, min(jobs or default_jobs(), MAX_FILES_AT_ONCE))
