"""What a running job tells its caller while it works: notes, files started, bytes, files done.

Every job (``belle_patch.decrypt``, ``encrypt``, ``verify``) takes an optional ``progress``
object with these methods. The command line draws its tqdm bars and prints its per-file
lines from them; a library user can subclass :class:`ProgressEvents` and override only what
it needs. Methods may be called from worker threads, one call at a time per method.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol


class Progress(Protocol):
    """The calls a job makes on its ``progress`` object."""

    def started(self, files: int, total_bytes: int, jobs: int) -> None:
        """The job is about to process ``files`` files of ``total_bytes`` bytes in all."""

    def note(self, message: str) -> None:
        """Something worth telling the user that is not a failure (one line)."""

    def file_started(self, path: Path, size: int) -> None:
        """Work on ``path`` (an input of ``size`` bytes) begins."""

    def advanced(self, nbytes: int) -> None:
        """``nbytes`` more bytes were processed (summed over every file in flight)."""

    def file_done(self, outcome: object) -> None:
        """A file ended: ``outcome`` is the job's per-file outcome (success or failure)."""


class ProgressEvents:
    """A :class:`Progress` that ignores everything; subclass it and override what you need."""

    def started(self, files: int, total_bytes: int, jobs: int) -> None:
        return None

    def note(self, message: str) -> None:
        return None

    def file_started(self, path: Path, size: int) -> None:
        return None

    def advanced(self, nbytes: int) -> None:
        return None

    def file_done(self, outcome: object) -> None:
        return None
