"""The command line: parse, call the core, render results, map errors to exit codes.

Exit codes: 0 everything restored or verified, 1 a file failed, 2 usage error,
130 interrupted (Ctrl-C), 143 terminated (SIGTERM).
"""

from __future__ import annotations

import os
import signal
import traceback
from types import FrameType
from typing import Any, NoReturn, Optional

import click

from belle_patch import __version__
from belle_patch.errors import BellePatchError

from .demo import demo
from .releases import releases
from .restore import decrypt, encrypt
from .verify import verify

EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143
DEBUG_VARIABLE = "BELLE_PATCH_DEBUG"
_CLEANED = "no partial file was left under a final name"


class Terminated(BaseException):
    """SIGTERM, raised in the main thread so every ``finally`` cleans up."""


class BellePatchGroup(click.Group):
    """Turns the project's errors and signals into one line and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BellePatchError as exc:
            if os.environ.get(DEBUG_VARIABLE):
                traceback.print_exc()
            click.echo(f"belle-patch: error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo(f"belle-patch: interrupted; {_CLEANED}", err=True)
            ctx.exit(EXIT_INTERRUPTED)
        except Terminated:
            click.echo(f"belle-patch: terminated; {_CLEANED}", err=True)
            ctx.exit(EXIT_TERMINATED)


def _on_sigterm(signum: int, frame: Optional[FrameType]) -> NoReturn:
    raise Terminated


@click.group(cls=BellePatchGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="belle-patch")
def cli() -> None:
    """Restore, create and verify XOR weight patches (BELLE / point-alpaca format).

    \b
    Examples:
      belle-patch demo
      belle-patch decrypt BELLE-LLaMA-13B-2M-enc/ --key 13B/consolidated.00.pth --out model/
      belle-patch decrypt file.enc consolidated.00.pth model/
      belle-patch verify model/
      belle-patch releases
    """


for _command in (decrypt, encrypt, verify, releases, demo):
    cli.add_command(_command)


def main() -> None:
    signal.signal(signal.SIGTERM, _on_sigterm)
    cli(prog_name="belle-patch")
