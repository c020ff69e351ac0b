"""The command line: parse, call the jobs, render their reports, map errors to exit codes.

Exit codes: 0 everything restored or verified, 1 a file failed, 2 usage error,
130 interrupted (Ctrl-C), 141 standard output closed early (a pipe), 143 terminated (SIGTERM).
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from typing import Any, List

import click

from belle_patch.cli.demo import demo
from belle_patch.cli.releases import releases
from belle_patch.cli.restore import decrypt, encrypt
from belle_patch.cli.verify import verify
from belle_patch.errors import BellePatchError

EXIT_INTERRUPTED = 130
EXIT_PIPE_CLOSED = 141
EXIT_TERMINATED = 143
DEBUG_VARIABLE = "BELLE_PATCH_DEBUG"
_CLEANED = "no partial file was left under a final name"
_JSON_WANTED = "belle_patch.json"


class Terminated(BaseException):
    """SIGTERM, raised in the main thread so every ``finally`` cleans up."""


def silence_stdout() -> None:
    """After the reader of a pipe went away: later writes (and the exit flush) go nowhere."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def _version() -> str:
    from belle_patch import __version__

    return __version__


class BellePatchGroup(click.Group):
    """Turns the project's errors and signals into one line and an exit code."""

    def parse_args(self, ctx: click.Context, args: List[str]) -> List[str]:
        options = args[: args.index("--")] if "--" in args else args
        ctx.meta[_JSON_WANTED] = "--json" in options
        return super().parse_args(ctx, args)

    def _json_error(self, ctx: click.Context, message: str, exit_code: int) -> None:
        if ctx.meta.get(_JSON_WANTED):
            document = {"ok": False, "error": message, "exit_code": exit_code}
            click.echo(json.dumps(document, indent=2))

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BellePatchError as exc:
            if os.environ.get(DEBUG_VARIABLE):
                traceback.print_exc()
            self._json_error(ctx, str(exc), exc.exit_code)
            click.echo(f"belle-patch: error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except click.UsageError as exc:
            self._json_error(ctx, exc.format_message(), exc.exit_code)
            raise
        except BrokenPipeError:
            silence_stdout()
            ctx.exit(EXIT_PIPE_CLOSED)
        except KeyboardInterrupt:
            self._json_error(ctx, f"interrupted; {_CLEANED}", EXIT_INTERRUPTED)
            click.echo(f"belle-patch: interrupted; {_CLEANED}", err=True)
            ctx.exit(EXIT_INTERRUPTED)
        except Terminated:
            self._json_error(ctx, f"terminated; {_CLEANED}", EXIT_TERMINATED)
            click.echo(f"belle-patch: terminated; {_CLEANED}", err=True)
            ctx.exit(EXIT_TERMINATED)


def _print_version(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        click.echo(f"belle-patch, version {_version()}")
        ctx.exit()


@click.group(cls=BellePatchGroup, context_settings={"help_option_names": ["-h", "--help"]})
# Not click.version_option: it reads the package metadata at import, on every run.
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_version,
    help="Show the version and exit.",
)
def cli() -> None:
    """Restore, create and verify XOR weight patches.

    BELLE / point-alpaca (and TechGPT, lawyer-llama), OpenBuddy and Open-Assistant /
    PygmalionAI releases; Hugging Face downloads checked offline by their content addresses.

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


def run() -> None:
    """Run the command line; the caller has set up signals (see belle_patch.entry)."""
    try:
        cli(prog_name="belle-patch")
    finally:
        try:
            sys.stdout.flush()
        except BrokenPipeError:
            silence_stdout()
            sys.exit(EXIT_PIPE_CLOSED)
