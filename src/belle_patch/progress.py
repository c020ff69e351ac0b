"""tqdm progress bars for batches, on stderr, off when stderr is not a terminal."""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Callable, Generic, NoReturn, Optional, TypeVar, Union

from tqdm import tqdm

from .batch import FileFailure

ResultT = TypeVar("ResultT")


def _byte_bar(total: int, desc: str, position: int, disable: Optional[bool]) -> tqdm[NoReturn]:
    return tqdm(
        total=total,
        desc=desc,
        position=position,
        disable=disable,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        file=sys.stderr,
        leave=False,
    )


class BarObserver(Generic[ResultT]):
    """Shows an overall bar and, when files run one at a time, a bar for the current file."""

    def __init__(
        self,
        total_bytes: int,
        on_done: Callable[[Union[ResultT, FileFailure]], None],
        *,
        enabled: bool,
        per_file: bool,
    ) -> None:
        # disable=None lets tqdm switch itself off when stderr is not a terminal.
        disable: Optional[bool] = None if enabled else True
        self._lock = threading.Lock()
        self._on_done = on_done
        self._per_file = per_file
        self._disable = disable
        self._overall = _byte_bar(total_bytes, "total", 0, disable)
        self._current: Optional[tqdm[NoReturn]] = None

    @property
    def active(self) -> bool:
        return not self._overall.disable

    def file_started(self, path: Path, size: int) -> None:
        if not self._per_file:
            return
        with self._lock:
            if self._current is not None:
                self._current.close()
            self._current = _byte_bar(size, _short(path.name), 1, self._disable)

    def progress(self, nbytes: int) -> None:
        with self._lock:
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
            tqdm.write(line, file=stream)
        else:
            stream.write(line + "\n")
            stream.flush()

    def close(self) -> None:
        with self._lock:
            if self._current is not None:
                self._current.close()
            self._overall.close()


def _short(name: str, width: int = 32) -> str:
    return name if len(name) <= width else name[: width - 3] + "..."
