"""MD5 lists as published on model cards and as ``md5sum`` writes them.

A line is read the way ``md5sum -c`` reads it: ``<md5>  <name>`` (text), ``<md5> *<name>``
(binary), ``<md5> <name>`` (``md5 -r``) or the BSD form ``MD5 (<name>) = <md5>``; a leading
backslash marks an escaped name (see :mod:`belle_patch.expect.names`). Everything after the type
marker is the name, trailing spaces included. Lines as pasted from a web page are also
tolerated: ``./`` prefixes, CRLF endings, NUL bytes (also shown as ``^@``) at the start or
end of a line (never inside a name), blank and ``#`` lines.

Names are data. A name in a subfolder (``original/params.json``) is looked up inside the
checked folder; a name that would leave it (``../x``, ``/etc/passwd``) is a failed entry
that is never read. A name listed twice with different MD5s fails too, as it does in
``md5sum -c``. Lists are read line by line with a size cap, so memory follows the
number of entries, and a FIFO or a device is refused without being opened for long.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Dict, Iterable, List, Optional, Tuple

from belle_patch.errors import ManifestError
from belle_patch.expect.names import (
    checksum_line,
    decode_line,
    encode_text,
    printable,
    unescape_name,
)
from belle_patch.vocabulary import Status

MAX_LIST_BYTES = 64 * 1024 * 1024
MAX_LINE_BYTES = 64 * 1024
# Improper lines kept to show; the rest are only counted.
MAX_PROBLEMS_KEPT = 100


_GNU_LINE = re.compile(r"^(?P<md5>[0-9a-fA-F]{32})[ \t](?P<rest>.+)$", re.DOTALL)
_BSD_LINE = re.compile(r"^MD5 ?\((?P<name>.+)\) ?= ?(?P<md5>[0-9a-fA-F]{32})$", re.DOTALL)
_WINDOWS_PATHS = os.sep == "\\"


@dataclass
class ChecksumList:
    """Names and MD5s in file order, the names that fail unread, and unreadable lines.

    ``failed`` maps a listed name to ``(status, detail)``: ``REFUSED`` for a name that
    would leave the folder or holds a NUL, ``UNREADABLE`` for a name ending in ``/``,
    ``FAILED`` for a name listed with different MD5s.
    """

    entries: Dict[str, str] = field(default_factory=dict)
    failed: Dict[str, Tuple[str, str]] = field(default_factory=dict)
    problems: List[Tuple[int, str]] = field(default_factory=list)
    problem_count: int = 0
    source: Optional[Path] = None

    def raise_for_problems(self) -> None:
        if self.problems:
            line, problem = self.problems[0]
            raise ManifestError(problem, path=self.source, line=line)
        if self.failed:
            _, detail = next(iter(self.failed.values()))
            raise ManifestError(printable(detail), path=self.source)
        if not self.entries:
            raise ManifestError("no checksum lines found", path=self.source)

    def add_problem(self, line: int, problem: str) -> None:
        self.problem_count += 1
        if len(self.problems) < MAX_PROBLEMS_KEPT:
            self.problems.append((line, problem))


def folder_relative_name(raw: str) -> Optional[str]:
    """The listed name as a path inside the checked folder, or None if it would leave it.

    ``./`` and empty components inside the name are dropped (md5sum opens the same file);
    absolute names and ``..`` components are refused. A name ending in ``/`` or ``/.``
    names a folder, which md5sum cannot open: see :func:`names_a_folder`.
    """
    if not raw or raw.startswith("/") or "\0" in raw:
        return None
    if _WINDOWS_PATHS and ("\\" in raw or ":" in raw):
        return None
    parts = [part for part in raw.split("/") if part not in ("", ".")]
    if not parts or ".." in parts:
        return None
    return "/".join(parts)


def names_a_folder(raw: str) -> bool:
    """True for ``a/``, ``a/.``, ``.``: md5sum fails to open them even when ``a`` is a file."""
    return raw.split("/")[-1] in ("", ".")


def _strip_pasted_nul(line: str) -> str:
    """NUL bytes (or ``^@`` as a web page shows them) pasted at the very start or end of a
    line; inside a name they stay, so the name matches no other file."""
    while line.startswith(("\0", "^@")):
        line = line[1:] if line.startswith("\0") else line[2:]
    while line.endswith(("\0", "^@")):
        line = line[:-1] if line.endswith("\0") else line[:-2]
    return line


class _Parser:
    def __init__(self, source: Optional[Path]) -> None:
        self.result = ChecksumList(source=source)

    def feed(self, number: int, line: str) -> None:
        if line.endswith("\r"):
            line = line[:-1]
        line = _strip_pasted_nul(line)
        if not line.strip() or line.startswith("#"):
            return
        line = line.lstrip(" \t")
        escaped = line.startswith("\\")
        if escaped:
            line = line[1:]
        parsed = self._split(line)
        if parsed is None:
            self.result.add_problem(number, "not an MD5 checksum line")
            return
        md5, name = parsed
        if escaped:
            unescaped = unescape_name(name)
            if unescaped is None:
                self.result.add_problem(number, "not a valid escaped file name")
                return
            name = unescaped
        self._add(number, md5.lower(), name)

    @staticmethod
    def _split(line: str) -> Optional[Tuple[str, str]]:
        bsd = _BSD_LINE.match(line)
        if bsd is not None:
            return bsd["md5"], bsd["name"]
        gnu = _GNU_LINE.match(line)
        if gnu is None:
            return None
        rest = gnu["rest"]
        # "<md5>  name" and "<md5> *name" carry a type marker; "<md5> name" does not.
        name = rest[1:] if rest[0] in " *" else rest
        return (gnu["md5"], name) if name else None

    def _add(self, number: int, md5: str, raw_name: str) -> None:
        result = self.result
        name = folder_relative_name(raw_name)
        if name is not None and names_a_folder(raw_name):
            detail = (
                f"line {number}: the file name {raw_name!r} ends with '/' or '/.': it names "
                "a folder, not a file, so it was not read"
            )
            result.failed.setdefault(raw_name, (Status.UNREADABLE, detail))
            return
        if name is None:
            why = "it holds a NUL byte" if "\0" in raw_name else "it is outside the checked folder"
            detail = (
                f"line {number}: refusing the file name {raw_name!r}: {why}, so it was not read"
            )
            result.failed.setdefault(raw_name, (Status.REFUSED, detail))
            return
        known = result.entries.get(name)
        if known is None:
            if name not in result.failed:
                result.entries[name] = md5
        elif known != md5:
            del result.entries[name]
            detail = f"listed again with a different MD5 on line {number}"
            result.failed[name] = (Status.FAILED, detail)


def parse_md5_lines(lines: Iterable[Tuple[int, str]], *, source: Optional[Path]) -> ChecksumList:
    """Parse numbered lines (newlines removed); bad lines are collected, not raised."""
    parser = _Parser(source)
    for number, line in lines:
        parser.feed(number, line)
    return parser.result


def parse_md5_list(text: str, *, source: Optional[Path] = None) -> ChecksumList:
    """Parse an md5sum-style list; bad lines are collected, not raised."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return parse_md5_lines(enumerate(lines, start=1), source=source)


def open_list(path: Path) -> BinaryIO:
    """Open a list for reading: a regular file under the size cap, never a FIFO or device."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise ManifestError("the checksum list does not exist", path=path) from None
    except OSError as exc:
        raise ManifestError(f"cannot read the checksum list: {exc.strerror}", path=path) from None
    if not stat.S_ISREG(info.st_mode):
        raise ManifestError("the checksum list is not a regular file", path=path)
    if info.st_size > MAX_LIST_BYTES:
        raise ManifestError(_too_big(), path=path)
    # O_NONBLOCK: if a FIFO replaced the file since the stat, open must not wait for a writer.
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise ManifestError(f"cannot read the checksum list: {exc.strerror}", path=path) from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise ManifestError("the checksum list is not a regular file", path=path)
    return os.fdopen(fd, "rb")


def _too_big() -> str:
    return f"the checksum list is larger than {MAX_LIST_BYTES // 2**20} MiB; is it the right file?"


def iter_list_lines(source: BinaryIO, path: Path) -> Iterable[Tuple[int, str]]:
    """Numbered lines of an open list, each under the line cap, the whole under the size cap."""
    total = 0
    number = 0
    while True:
        raw = source.readline(MAX_LINE_BYTES + 1)
        if not raw:
            return
        number += 1
        total += len(raw)
        if len(raw) > MAX_LINE_BYTES:
            raise ManifestError(
                f"longer than {MAX_LINE_BYTES // 1024} KiB; not a checksum list?",
                path=path,
                line=number,
            )
        if total > MAX_LIST_BYTES:
            raise ManifestError(_too_big(), path=path)
        yield number, decode_line(raw.rstrip(b"\n") if raw.endswith(b"\n") else raw)


def read_md5_list(path: Path) -> ChecksumList:
    """Read and parse a list file line by line."""
    with open_list(path) as source:
        return parse_md5_lines(iter_list_lines(source, path), source=path)


def read_list_text(path: Path) -> str:
    """A whole list's text (under the size cap); undecodable bytes survive as surrogates."""
    with open_list(path) as source:
        raw = source.read(MAX_LIST_BYTES + 1)
    if len(raw) > MAX_LIST_BYTES:
        raise ManifestError(_too_big(), path=path)
    return decode_line(raw)


def format_md5_list(entries: Dict[str, str]) -> str:
    """Text that ``md5sum -c`` accepts; names with a newline or backslash are escaped."""
    return "".join(checksum_line(md5, name) for name, md5 in entries.items())


def encode_md5_list(entries: Dict[str, str]) -> bytes:
    """The bytes of :func:`format_md5_list`: undecodable name bytes written back as they were."""
    return encode_text(format_md5_list(entries))
