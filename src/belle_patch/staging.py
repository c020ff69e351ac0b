"""Output files that appear under their final name only once they verified.

A staged file is written under a hidden temporary name in the target folder, flushed and
fsynced, checked by the caller, then renamed over the final name. Anything else removes it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import tempfile
import threading
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, List, Optional, Type

from .errors import OutputError
from .writeback import WritebackTracker

TEMP_MARKER = ".belle-patch-"
TEMP_SUFFIX = ".tmp"

_umask_lock = threading.Lock()


def _umask() -> int:
    """The process umask; Linux shows it, elsewhere it can only be read by setting it."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _umask_lock:
        current = os.umask(0o022)
        os.umask(current)
    return current


def temp_prefix(final_name: str) -> str:
    """Temporary names say whose they are: ``.<name>.belle-patch-<pid>-<random>.tmp``."""
    return f".{final_name}{TEMP_MARKER}{os.getpid()}-"


def describe_os_error(exc: OSError) -> str:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return "no space left on the output device"
    if exc.errno == errno.EFBIG:
        return "the file is larger than this system or file size limit allows"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return "permission denied"
    return exc.strerror or str(exc)


class StagedFile:
    """A temporary file in ``folder`` that becomes ``final_name`` on :meth:`commit`."""

    def __init__(self, folder: Path, label: str) -> None:
        self.folder = folder
        self.label = label
        try:
            fd, temp_name = tempfile.mkstemp(
                prefix=temp_prefix(label), suffix=TEMP_SUFFIX, dir=folder
            )
        except OSError as exc:
            raise OutputError(
                f"cannot create a file in the output folder: {describe_os_error(exc)}",
                path=folder,
                hint="choose a folder you can write to with --out",
            ) from None
        self.temp_path = Path(temp_name)
        self.file: BinaryIO = os.fdopen(fd, "w+b", buffering=0)
        self._writeback = WritebackTracker(fd)
        self._committed = False

    def write(self, data: memoryview) -> None:
        """Write all of ``data``; raw files may write less than asked."""
        view = data
        try:
            while len(view):
                written = self.file.write(view)
                if written is None:
                    raise OSError(errno.EAGAIN, "write would block")
                view = view[written:]
                self._writeback.wrote(written)
        except OSError as exc:
            raise self._write_failed(exc) from None

    def sync(self) -> None:
        """Make the bytes durable before anyone can see them under a final name."""
        try:
            self.file.flush()
            os.fsync(self.file.fileno())
        except OSError as exc:
            raise self._write_failed(exc) from None

    def _write_failed(self, exc: OSError) -> OutputError:
        return OutputError(
            f"writing failed: {describe_os_error(exc)}",
            path=self.folder / self.label,
            hint="free some space or choose another folder with --out, then run again",
        )

    def commit(self, final_name: str) -> Path:
        """Give the file its final name (replacing whatever is there, a symlink included)."""
        final_path = self.folder / final_name
        os.chmod(self.file.fileno(), 0o666 & ~_umask())
        self.file.close()
        os.replace(self.temp_path, final_path)
        self._committed = True
        _sync_folder(self.folder)
        return final_path

    def discard(self) -> None:
        if not self.file.closed:
            self.file.close()
        if not self._committed:
            with contextlib.suppress(FileNotFoundError):
                self.temp_path.unlink()

    def __enter__(self) -> StagedFile:
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.discard()


def _sync_folder(folder: Path) -> None:
    # The rename is durable only once the folder's entry is; not every system allows it.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


_TEMP_NAME = re.compile(
    r"^\..+" + re.escape(TEMP_MARKER) + r"(?P<pid>\d+)-[^/]*" + re.escape(TEMP_SUFFIX) + "$"
)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temporaries(folder: Path) -> List[Path]:
    """Delete temporary files left in ``folder`` by belle-patch runs that no longer exist.

    A run killed with SIGKILL cannot clean up; its temporary files carry its process id,
    so the next run can tell them from those of a run still going.
    """
    removed: List[Path] = []
    try:
        entries = list(folder.iterdir())
    except OSError:
        return removed
    for entry in entries:
        match = _TEMP_NAME.match(entry.name)
        if match is None or _process_alive(int(match["pid"])):
            continue
        with contextlib.suppress(FileNotFoundError):
            entry.unlink()
            removed.append(entry)
    return removed
