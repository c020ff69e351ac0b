"""tqdm progress bars for batches, on stderr, off when stderr is not a terminal."""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Generic, NoReturn, Optional, TypeVar, Union

from .batch import FileFailure

if TYPE_CHECKING:
    from tqdm import tqdm

ResultT = TypeVar("ResultT")


def _byte_bar(total: int, desc: str, position: int) -> tqdm[NoReturn]:
    # Imported here: batches without bars (quiet, JSON, CI logs) start faster without it.
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


class BarObserver(Generic[ResultT]):
    """Shows an overall bar and, when files run one at a time, a bar for the current file.

    Bars are shown only when ``enabled`` and stderr is a terminal.
    """

    def __init__(
        self,
        total_bytes: int,
        on_done: Callable[[Union[ResultT, FileFailure]], None],
        *,
        enabled: bool,
        per_file: bool,
        label: Callable[[Path], str] = lambda path: path.name,
    ) -> None:
        self._lock = threading.Lock()
        self._on_done = on_done
        self._per_file = per_file
        self._label = label
        self.active = enabled and sys.stderr.isatty()
        self._overall = _byte_bar(total_bytes, "total", 0) if self.active else None
        self._current: Optional[tqdm[NoReturn]] = None

    def file_started(self, path: Path, size: int) -> None:
        if not self._per_file or not self.active:
            return
        with self._lock:
            if self._current is not None:
                self._current.close()
            self._current = _byte_bar(size, _short(self._label(path)), 1)

    def progress(self, nbytes: int) -> None:
        if not self.active:
            return
        with self._lock:
            if self._overall is not None:
                self._overall.update(nbytes)
            if self._current is not None:
                self._current.update(nbytes)

    def file_done(self, outcome: Union[ResultT, FileFailure]) -> None:
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
            if self._overall is not None:
                self._overall.close()


def _short(name: str, width: int = 32) -> str:
    return name if len(name) <= width else name[: width - 3] + "..."
