"""What decrypt and encrypt share: inputs as paths, the key file, the output folder, the batch."""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path
from typing import Callable, Iterator, List, Optional, Sequence, Tuple, TypeVar, Union

from belle_patch.errors import KeyFileError, OutputError, UsageError
from belle_patch.formats.header import PATCH_SUFFIX
from belle_patch.jobs.batch import (
    Action,
    BatchReport,
    Selection,
    StopRule,
    files_at_once,
    run_batch,
)
from belle_patch.output import state_rules
from belle_patch.output.guards import remove_empty_state_folders
from belle_patch.output.staging import StagedFile, remove_stale_temporaries
from belle_patch.output.state_rules import STATE_FOLDER
from belle_patch.stream.events import Progress, ProgressEvents
from belle_patch.stream.keystream import KeySource

PathInput = Union[str, "os.PathLike[str]"]
PathInputs = Union[PathInput, Sequence[PathInput]]
ResultT = TypeVar("ResultT")


def as_paths(inputs: PathInputs) -> List[Path]:
    """One path or a sequence of paths, as a list of Path."""
    if isinstance(inputs, (str, os.PathLike)):
        return [Path(inputs)]
    return [Path(item) for item in inputs]


def open_key(key: PathInput) -> KeySource:
    """The key file, refused early when it cannot be the LLaMA file: a folder, a FIFO or
    device (which would block or never end), or a patch given where the key belongs."""
    path = Path(key)
    try:
        mode = path.stat().st_mode
    except OSError:
        mode = 0  # KeySource words the missing or unreadable file
    if mode and not stat.S_ISREG(mode) and not stat.S_ISDIR(mode):
        raise KeyFileError(
            "the key is not a regular file",
            path=path,
            hint="pass the original LLaMA consolidated.00.pth itself",
        )
    if path.name.endswith(PATCH_SUFFIX):
        raise KeyFileError(
            "the key is a patch (.enc) file, not the LLaMA consolidated.00.pth",
            path=path,
            hint="pass the key with --key consolidated.00.pth and the folder with --out DIR",
        )
    return KeySource(path)


def _not_yet_there(path: Path) -> List[Path]:
    """The folders a job may create under and up to ``path``, innermost first."""
    inside = [path / STATE_FOLDER / "locks", path / STATE_FOLDER]
    missing = [folder for folder in inside if not folder.exists()]
    current = path
    while not current.exists() and not current.is_symlink() and current.parent != current:
        missing.append(current)
        current = current.parent
    return missing


@contextlib.contextmanager
def output_folder(path: Path, progress: Progress) -> Iterator[Callable[[], None]]:
    """Create the output folder, clear what killed runs left, prove it takes files.

    The job calls the function it is given once it has written something to keep. A run
    that did not is undone on the way out: the folders it created are removed again if
    they hold nothing, so the output folder is left as the run found it.
    """
    if path.exists() and not path.is_dir():
        raise UsageError(
            "the output path exists and is not a folder",
            path=path,
            hint="pass a folder with --out DIR",
        )
    created = _not_yet_there(path)
    kept_files = False

    def keep() -> None:
        nonlocal kept_files
        kept_files = True

    try:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(
                f"cannot create the output folder: {exc.strerror}",
                path=path,
                hint="choose a folder you can write to with --out",
            ) from None
        kept: List[Tuple[Path, str]] = []
        for stale in remove_stale_temporaries(path, kept=kept):
            progress.note(f"note: removed {stale.name}, left by a run that was killed")
        for entry, reason in kept:
            progress.note(f"note: left {entry.name}: {reason}")
        StagedFile(path, "write-test").discard()
        yield keep
    finally:
        problem = state_rules.last_problem(path, forget=True)
        if problem:
            progress.note(f"note: {problem}")
        remove_empty_state_folders(path)
        # Only a run that wrote nothing undoes its folders: another run may be using them.
        for folder in created if not kept_files else ():
            with contextlib.suppress(OSError):
                folder.rmdir()


def run_files(
    selection: Selection,
    action: Action[ResultT],
    progress: Optional[Progress],
    *,
    jobs: Optional[int],
    what: str,
    stop_rule: Optional[StopRule] = None,
    header_size: int = 0,
) -> BatchReport[ResultT]:
    """Run ``action`` over the selected files, telling ``progress`` as it goes.

    ``header_size``: bytes at the start of each input that are not streamed (a patch's
    SHA-256 header), left out of the total so that the bytes reported add up to it.
    """
    events = progress or ProgressEvents()
    for skipped in selection.skipped:
        events.note(f"note: skipping {skipped.path.name}: {skipped.reason}")
    if not selection.files and not selection.failed:
        raise UsageError(f"nothing to do: no {what} was found", hint="check the input paths")
    total = sum(max(0, _size(path) - header_size) for path in selection.files)
    worker_count = files_at_once(jobs)
    events.started(len(selection.files), total, worker_count)
    for failure in selection.failed:
        events.file_done(failure)
    report = run_batch(selection.files, action, events, jobs=worker_count, stop_rule=stop_rule)
    report.failed[:0] = selection.failed
    report.skipped.extend(selection.skipped)
    return report


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
