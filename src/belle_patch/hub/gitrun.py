"""Running git bounded: in time, in memory and in what belle-patch reads of its output.

git runs with hooks and ``core.fsmonitor`` off, no system config, no transport (no lazy fetch
of a partial clone), no optional locks (the index is never refreshed or written), without
git-lfs, for a few seconds at most, in bounded memory, and its output is read up to a cap.
Whatever goes wrong is one :class:`_GitRefused`, whose message is one line for the user.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
from pathlib import Path
from typing import IO, Dict, List, Sequence, Tuple

# Seconds a git child may run: enough for a clone of a few hundred thousand files, never the
# minutes a FIFO or an endless file would hold the user for.
GIT_TIMEOUT = 15.0
GIT_TIMEOUT_MAX = 120.0
_INDEX_BYTES_PER_SECOND = 2 << 20
# Address space a git child may map: git itself, the index mapped whole (a large clone's
# index is tens of MB), pack windows capped below. /dev/zero as an attributes file would
# otherwise grow git by hundreds of MB a second.
GIT_MEMORY = 1 << 30
_INDEX_MEMORY_FACTOR = 8
# What belle-patch reads of git's output: ls-files and ls-tree print about a line per entry.
GIT_OUTPUT_MAX = 64 << 20
_INDEX_OUTPUT_FACTOR = 4
_STDERR_KEPT = 8192


class _GitRefused(Exception):
    """git could not read the repository; the message is one line for the user."""


def _one_line(text: str, limit: int = 200) -> str:
    """Text from git or the folder, made fit for one line of a note."""
    cleaned = "".join(c if c.isprintable() else "?" for c in text.strip())
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 3] + "..."


def _environment() -> Dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("GIT_")}
    env.update(
        GIT_CONFIG_NOSYSTEM="1",
        GIT_OPTIONAL_LOCKS="0",
        GIT_TERMINAL_PROMPT="0",
        GIT_NO_LAZY_FETCH="1",
        GIT_NO_REPLACE_OBJECTS="1",
        GIT_PAGER="cat",
        PAGER="cat",
        LC_ALL="C",
        LANGUAGE="C",
    )
    return env


def _memory_capped(limit: int) -> List[str]:
    """The words that start git with its address space capped at ``limit`` bytes, where the
    system can: the shell's ``ulimit`` rather than a ``preexec_fn``, which is not safe while
    other threads run (a decrypt's workers may be). A shell that cannot lower the limit
    (a lower hard limit already) leaves it as it is: the timeout still applies."""
    shell = "/bin/sh"
    if os.name != "posix" or not os.path.exists(shell):
        return []
    kib = max(1, limit // 1024)
    return [shell, "-c", f'ulimit -v {kib} 2>/dev/null; exec "$@"', "git"]


class _Git:
    def __init__(self, executable: str, folder: Path, index_size: int = 0) -> None:
        self._folder = folder
        self._env = _environment()
        self._env["GIT_CEILING_DIRECTORIES"] = str(folder.parent)
        self.timeout = min(GIT_TIMEOUT_MAX, GIT_TIMEOUT + index_size / _INDEX_BYTES_PER_SECOND)
        self._output_max = GIT_OUTPUT_MAX + _INDEX_OUTPUT_FACTOR * index_size
        self._base = [
            *_memory_capped(GIT_MEMORY + _INDEX_MEMORY_FACTOR * index_size),
            executable,
            "--no-pager",
            "--no-replace-objects",
            "-c", "core.fsmonitor=false",
            "-c", f"core.hooksPath={os.devnull}",
            "-c", "core.untrackedCache=false",
            "-c", "protocol.allow=never",
            # Pack access within the memory cap, whatever the repository's config asks.
            "-c", "core.packedGitWindowSize=32m",
            "-c", "core.packedGitLimit=256m",
            "-c", "core.deltaBaseCacheLimit=32m",
            "-c", "core.bigFileThreshold=32m",
            "-c", "index.threads=1",
            "-C", str(folder),
        ]  # fmt: skip

    def run(self, args: Sequence[str], stdin: bytes = b"") -> bytes:
        what = f"git {args[0]}"
        try:
            process = subprocess.Popen(
                [*self._base, *args],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=self._env,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            raise _GitRefused(f"{what} did not run ({_one_line(str(exc))})") from exc
        assert process.stdin is not None and process.stdout is not None
        assert process.stderr is not None
        timed_out = threading.Event()

        def stop() -> None:
            timed_out.set()
            process.kill()

        errors: List[bytes] = []
        helpers = [
            threading.Thread(target=_feed, args=(process.stdin, stdin), daemon=True),
            threading.Thread(target=_drain, args=(process.stderr, errors), daemon=True),
        ]
        timer = threading.Timer(self.timeout, stop)
        timer.daemon = True
        timer.start()
        try:
            for helper in helpers:
                helper.start()
            output, overflow = _read_capped(process.stdout, self._output_max)
            if overflow:
                process.kill()
            returncode = process.wait()
        finally:
            timer.cancel()
            if process.poll() is None:
                process.kill()
                process.wait()
            for helper in helpers:
                helper.join()
            process.stdout.close()
        if timed_out.is_set():
            raise _GitRefused(f"{what} did not finish within {self.timeout:.0f} s")
        if overflow:
            raise _GitRefused(f"{what} printed over {self._output_max >> 20} MiB")
        if returncode != 0:
            lines = b"".join(errors).decode("utf-8", "replace").strip().splitlines()
            reason = next((line for line in lines if line.startswith("fatal:")), "")
            reason = reason or (lines[0] if lines else f"{what} failed ({returncode})")
            raise _GitRefused(_one_line(reason))
        return output


def _feed(pipe: IO[bytes], data: bytes) -> None:
    try:
        pipe.write(data)
    except OSError:
        pass  # git stopped reading: its exit status says why
    finally:
        with contextlib.suppress(OSError):
            pipe.close()


def _drain(pipe: IO[bytes], kept: List[bytes]) -> None:
    size = 0
    try:
        while chunk := pipe.read(65536):
            if size < _STDERR_KEPT:
                kept.append(chunk[: _STDERR_KEPT - size])
                size += len(chunk)
    except OSError:
        pass
    finally:
        pipe.close()


def _read_capped(pipe: IO[bytes], limit: int) -> Tuple[bytes, bool]:
    chunks: List[bytes] = []
    size = 0
    while chunk := pipe.read(1 << 20):
        size += len(chunk)
        if size > limit:
            return b"", True
        chunks.append(chunk)
    return b"".join(chunks), False
