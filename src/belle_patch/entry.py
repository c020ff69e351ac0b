"""The ``belle-patch`` program: signals first, then the command line.

Kept free of heavy imports so that Ctrl-C or SIGTERM during start-up still ends in one
line and the usual exit code, not a traceback.
"""

from __future__ import annotations

import os
import signal
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import FrameType
    from typing import NoReturn, Optional

EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143


class _TerminatedEarly(BaseException):
    pass


# Signals that arrived during start-up. The first one is only recorded and acted on once the
# imports are done: an exception raised inside the import machinery can be printed as
# "Exception ignored" and dropped, or turned into an ImportError by an extension (numpy).
_early_signal: list[int] = []


def _early_handler(signum: int, frame: Optional[FrameType]) -> None:
    if _early_signal:  # asked twice: stop at once
        raise _TerminatedEarly if signum == signal.SIGTERM else KeyboardInterrupt
    _early_signal.append(signum)


def _stop_for_early_signal() -> None:
    if signal.SIGTERM in _early_signal:
        _stop("terminated", EXIT_TERMINATED)
    if signal.SIGINT in _early_signal:
        _stop("interrupted", EXIT_INTERRUPTED)


def _stop(word: str, code: int) -> NoReturn:
    sys.stderr.write(f"belle-patch: {word}\n")
    sys.exit(code)


def main() -> None:
    signal.signal(signal.SIGTERM, _early_handler)
    signal.signal(signal.SIGINT, _early_handler)
    # numpy's BLAS is never called here, yet its worker threads start with numpy and spin
    # for a while, taking a core from hashing on small machines.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    try:
        from belle_patch import cli
    except KeyboardInterrupt:
        _stop("interrupted", EXIT_INTERRUPTED)
    except _TerminatedEarly:
        _stop("terminated", EXIT_TERMINATED)
    except ImportError:
        _stop_for_early_signal()
        raise
    signal.signal(signal.SIGINT, signal.default_int_handler)
    _stop_for_early_signal()

    def on_sigterm(signum: int, frame: Optional[FrameType]) -> NoReturn:
        raise cli.Terminated

    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        cli.run()
    except KeyboardInterrupt:
        _stop("interrupted", EXIT_INTERRUPTED)
    except cli.Terminated:
        _stop("terminated", EXIT_TERMINATED)
