"""tqdm progress bars for jobs, on stderr, off when stderr is not a terminal.

A :class:`BarProgress` is the ``progress`` object the command line hands to a job: it
draws the bars and passes notes and per-file outcomes on to the command's printer.
"""

from __future__ import annotations

import re
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Callable, NoReturn, Optional

from belle_patch import ProgressEvents

if TYPE_CHECKING:
    from tqdm import tqdm

_PATCH_TAIL = re.compile(r"\.[0-9a-f]{64}\.enc$")


def display_name(path: Path) -> str:
    """What a bar calls a file: a patch by the name it restores to."""
    return _PATCH_TAIL.sub("", path.name)


def _byte_bar(total: int, desc: str, position: int) -> tqdm[NoReturn]:
    # Imported here: jobs without bars (quiet, JSON, CI logs) start faster without it.
    from tqdm import tqdm

    return tqdm(
        total=total,
        desc=desc,
        position=position,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        file=sys.stderr,
        leave=False,
    )


class BarProgress(ProgressEvents):
    """Shows an overall bar and, when files run one at a time, a bar for the current file.

    Bars are shown only when ``enabled`` and stderr is a terminal. Notes are printed on
    stderr when ``show_notes``; every per-file outcome goes to ``on_done``.
    """

    def __init__(
        self,
        on_done: Callable[[object], None],
        *,
        enabled: bool,
        show_notes: bool,
        label: Callable[[Path], str] = display_name,
    ) -> None:
        self._lock = threading.Lock()
        self._on_done = on_done
        self._show_notes = show_notes
        self._label = label
        self._per_file = False
        self.active = enabled and sys.stderr.isatty()
        self._overall: Optional[tqdm[NoReturn]] = None
        self._current: Optional[tqdm[NoReturn]] = None

    def started(self, files: int, total_bytes: int, jobs: int) -> None:
        self._per_file = jobs == 1
        if self.active:
            with self._lock:
                self._overall = _byte_bar(total_bytes, "total", 0)

    def note(self, message: str) -> None:
        if self._show_notes:
            self.write(message, err=True)

    def file_started(self, path: Path, size: int) -> None:
        if not self._per_file or not self.active:
            return
        with self._lock:
            if self._current is not None:
                self._current.close()
            self._current = _byte_bar(size, _short(self._label(path)), 1)

    def advanced(self, nbytes: int) -> None:
        if not self.active:
            return
        with self._lock:
            if self._overall is not None:
                self._overall.update(nbytes)
            if self._current is not None:
                self._current.update(nbytes)

    def file_done(self, outcome: object) -> None:
        with self._lock:
            if self._current is not None:
                self._current.close()
                self._current = None
        self._on_done(outcome)

    def write(self, line: str, *, err: bool) -> None:
        """Print a line without tearing the bars."""
        stream = sys.stderr if err else sys.stdout
        if self.active:
            from tqdm import tqdm

            tqdm.write(line, file=stream)
        else:
            stream.write(line + "\n")
            stream.flush()

    def close(self) -> None:
        with self._lock:
            if self._current is not None:
                self._current.close()
                self._current = None
            if self._overall is not None:
                self._overall.close()
                self._overall = None


def _short(name: str, width: int = 32) -> str:
    return name if len(name) <= width else name[: width - 3] + "..."
