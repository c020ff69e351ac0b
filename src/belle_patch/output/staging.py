"""Output files that appear under their final name only once they verified.

A staged file is written under a hidden temporary name in the target folder, flushed and
fsynced, checked by the caller, then renamed over the final name. Anything else removes it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, List, Optional, Tuple, Type

from belle_patch.errors import OutputError
from belle_patch.output.locking import BUSY, UNSUPPORTED, is_link, open_regular, try_lock, unlock
from belle_patch.stream.writeback import WritebackTracker

TEMP_MARKER = ".belle-patch-"
TEMP_SUFFIX = ".tmp"
# An empty temporary this young may not be locked yet by the run that created it.
FRESH_SECONDS = 60

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
    if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return "no space left on the output device"
    if exc.errno == errno.EFBIG:
        return "the file is larger than this system or file size limit allows"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return "permission denied"
    return exc.strerror or str(exc)


class StagedFile:
    """A temporary file in ``folder`` that becomes ``final_name`` on :meth:`commit`.

    The file stays locked while it is open, which tells other runs (even on other hosts
    or in other containers sharing the folder) that it is not stale.
    """

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
        try_lock(fd)  # a new file nobody else knows yet: this cannot wait
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
        if os.chmod in os.supports_fd:  # elsewhere (Windows) the mode is only a read-only flag
            os.chmod(self.file.fileno(), 0o666 & ~_umask())
        self.file.close()
        os.replace(self.temp_path, final_path)
        self._committed = True
        sync_folder(self.folder)
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


def sync_folder(folder: Path) -> None:
    """Make renames in ``folder`` durable where the system allows it (not on Windows)."""
    if os.name != "posix":
        return
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
    r"^\..+" + re.escape(TEMP_MARKER) + r"(?P<pid>\d+)-[a-z0-9_]+" + re.escape(TEMP_SUFFIX) + "$"
)


def _may_run_here(pid: int) -> bool:
    """Whether a process ``pid`` may be running in this pid namespace (POSIX only).

    Versions of belle-patch before temporaries were locked left only this evidence. They
    never ran on Windows, where os.kill(pid, 0) would send a Ctrl-C instead of probing.
    """
    if pid == os.getpid():
        return True
    if os.name != "posix":
        return False
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
        return False
    except OSError:
        return True
    return True


def remove_stale_temporaries(
    folder: Path, *, kept: Optional[List[Tuple[Path, str]]] = None
) -> List[Path]:
    """Delete temporary files left in ``folder`` by belle-patch runs that ended; never raises.

    A run killed with SIGKILL cannot clean up. A temporary is stale when its lock is free
    (a live run holds it, wherever that run is) and no process with the id in its name runs
    here. Entries with such a name that cannot go (not a regular file, no permission, a
    system without locks) are appended to ``kept`` as (path, reason) for the caller to show.
    """
    removed: List[Path] = []
    kept = [] if kept is None else kept
    try:
        entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
    except OSError:
        return removed
    for entry in entries:
        match = _TEMP_NAME.match(entry.name)
        if match is None:
            continue
        path = Path(entry.path)
        try:
            reason = _remove_if_stale(path, int(match["pid"]))
        except OSError as exc:
            reason = f"cannot be removed: {describe_os_error(exc)}"
        if reason is None:
            removed.append(path)
        elif reason:
            kept.append((path, reason))
    return removed


def _remove_if_stale(path: Path, pid: int) -> Optional[str]:
    """None once removed; "" if it may still be in use; otherwise why it stays."""
    info = os.lstat(path)
    if is_link(info) or not stat.S_ISREG(info.st_mode):
        return "not a regular file, so not a belle-patch temporary: left alone"
    if _may_run_here(pid):
        return ""
    if info.st_size == 0 and abs(time.time() - info.st_mtime) < FRESH_SECONDS:
        return ""  # a run may have just created it, and not locked it yet
    try:
        fd = open_regular(path, os.O_RDONLY)
    except FileNotFoundError:
        return ""
    try:
        outcome = try_lock(fd)
        if outcome is BUSY:
            return ""
        if outcome is UNSUPPORTED:
            return "this system cannot tell whether the run that wrote it is still going"
        held = os.fstat(fd)
        named = os.lstat(path)
        if (held.st_dev, held.st_ino) != (named.st_dev, named.st_ino):
            return ""
        if os.name == "posix":
            os.unlink(path)
            return None
        unlock(fd)  # Windows deletes no open file
    finally:
        os.close(fd)
    os.unlink(path)
    return None
