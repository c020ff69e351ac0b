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


# The signal that arrived during start-up: an extension module being imported (numpy) may
# turn the exception raised for it into an ImportError, which must still end as the signal.
_early_signal: list[int] = []


def _early_sigterm(signum: int, frame: Optional[FrameType]) -> NoReturn:
    _early_signal.append(signum)
    raise _TerminatedEarly


def _early_sigint(signum: int, frame: Optional[FrameType]) -> NoReturn:
    _early_signal.append(signum)
    raise KeyboardInterrupt


def _stop(word: str, code: int) -> NoReturn:
    sys.stderr.write(f"belle-patch: {word}\n")
    sys.exit(code)


def main() -> None:
    signal.signal(signal.SIGTERM, _early_sigterm)
    signal.signal(signal.SIGINT, _early_sigint)
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
        if signal.SIGTERM in _early_signal:
            _stop("terminated", EXIT_TERMINATED)
        if signal.SIGINT in _early_signal:
            _stop("interrupted", EXIT_INTERRUPTED)
        raise
    signal.signal(signal.SIGINT, signal.default_int_handler)

    def on_sigterm(signum: int, frame: Optional[FrameType]) -> NoReturn:
        raise cli.Terminated

    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        cli.run()
    except KeyboardInterrupt:
        _stop("interrupted", EXIT_INTERRUPTED)
    except cli.Terminated:
        _stop("terminated", EXIT_TERMINATED)
