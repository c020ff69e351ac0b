"""How verify's results are written: status lines like ``md5sum -c``, JSON rows, counts."""

from __future__ import annotations

import json
import sys
from typing import Any, Dict, Iterator, List, Sequence

import click

from belle_patch import OK, FileCheck
from belle_patch.expect.names import escape_name, printable, status_line


def shown(name: str) -> str:
    """A name as messages on stderr show it (escaped, undecodable bytes replaced)."""
    return printable(escape_name(name)[0])


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def echo_check(check: FileCheck, quiet: bool, name: str = "") -> None:
    """``name: VERDICT`` on stdout, and why it failed on stderr; ``name`` defaults to the
    check's own (a whole cache prefixes it with the repo and revision)."""
    name = name or check.name
    if check.status == OK:
        if not quiet:
            click.echo(status_line(name, "OK"))
    elif check.not_verified:
        click.echo(f"belle-patch: {shown(name)}: {check.detail}", err=True)
        click.echo(status_line(name, check.status))
    elif check.unread:
        click.echo(f"belle-patch: {shown(name)}: {check.detail}", err=True)
        click.echo(status_line(name, "FAILED open or read"))
    else:
        if check.detail:
            click.echo(f"belle-patch: {shown(name)}: {check.detail}", err=True)
        click.echo(status_line(name, "FAILED"))


def file_json(c: FileCheck) -> Dict[str, Any]:
    return {
        "name": c.name,
        "status": c.status,
        "expected_md5": c.expected or None,
        "actual_md5": c.actual,
        "method": c.method or None,
        "verified_by": list(c.verified_by),
        "expected_address": c.address or None,
        "actual_address": c.actual_address,
        "path": str(c.path) if c.path else None,
        "detail": c.detail or None,
    }


class Rows(List[Dict[str, Any]]):
    """The files' rows, made one at a time as the encoder asks for them: a million-line list
    is written without holding a million row objects (and their text) at once."""

    def __init__(self, files: Sequence[FileCheck]) -> None:
        super().__init__()
        self._files = files

    def __len__(self) -> int:
        return len(self._files)

    def __bool__(self) -> bool:
        return bool(self._files)

    def __iter__(self) -> Iterator[Dict[str, Any]]:
        return (file_json(check) for check in self._files)


def echo_json(document: Dict[str, Any]) -> None:
    """``json.dumps(document, indent=2)`` and a newline, written as it is encoded (the
    encoder that indents is the one that walks lists with ``iter``)."""
    out = sys.stdout
    for chunk in json.JSONEncoder(indent=2).iterencode(document):
        out.write(chunk)
    out.write("\n")
    out.flush()
