"""MD5 lists as published on model cards and as ``md5sum`` writes them.

Lines as pasted from a web page are tolerated: ``*`` (binary) markers, ``./`` prefixes,
CRLF endings, stray NUL bytes (also shown as ``^@``), blank lines and the BSD form
``MD5 (name) = <hex>``. Names are data: anything that is not a plain file name inside
the checked folder is refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from .errors import InputError, ManifestError, UnsafeNameError
from .patchformat import check_safe_name

_GNU_LINE = re.compile(r"^\\?(?P<md5>[0-9a-fA-F]{32}) [ *](?P<name>.+)$")
_BSD_LINE = re.compile(r"^MD5 ?\((?P<name>.+)\) ?= ?(?P<md5>[0-9a-fA-F]{32})$")


@dataclass
class ChecksumList:
    """Names and MD5s in file order, with the lines that could not be read."""

    entries: Dict[str, str] = field(default_factory=dict)
    problems: List[Tuple[int, str]] = field(default_factory=list)
    source: Optional[Path] = None

    def raise_for_problems(self) -> None:
        if self.problems:
            line, problem = self.problems[0]
            raise ManifestError(problem, path=self.source, line=line)
        if not self.entries:
            raise ManifestError("no checksum lines found", path=self.source)


def _clean_name(raw: str) -> str:
    name = raw
    while name.startswith("./"):
        name = name[2:]
    return check_safe_name(name)


def parse_md5_list(text: str, *, source: Optional[Path] = None) -> ChecksumList:
    """Parse an md5sum-style list; bad lines are collected, not raised."""
    result = ChecksumList(source=source)
    for number, raw_line in enumerate(text.splitlines(), start=1):
        line = raw_line.replace("\0", "").replace("^@", "").strip()
        if not line or line.startswith("#"):
            continue
        match = _GNU_LINE.match(line) or _BSD_LINE.match(line)
        if match is None:
            result.problems.append((number, "not an MD5 checksum line"))
            continue
        try:
            name = _clean_name(match["name"].strip())
        except UnsafeNameError as exc:
            result.problems.append((number, exc.problem))
            continue
        md5 = match["md5"].lower()
        known = result.entries.get(name)
        if known is not None and known != md5:
            result.problems.append((number, f"{name} is listed twice with different MD5s"))
            continue
        result.entries[name] = md5
    return result


def read_list_text(path: Path) -> str:
    """A list's text as pasted: undecodable bytes become U+FFFD instead of failing."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ManifestError("the checksum list does not exist", path=path) from None
    except OSError as exc:
        raise InputError(f"cannot read the checksum list: {exc.strerror}", path=path) from None
    return raw.decode("utf-8", errors="replace")


def format_md5_list(entries: Dict[str, str]) -> str:
    """Text that ``md5sum -c`` accepts."""
    return "".join(f"{md5}  {name}\n" for name, md5 in entries.items())
