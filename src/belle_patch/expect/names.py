"""File names as data: escaped in checksum lines and output lines the way GNU md5sum does.

A name holding a backslash, a newline or a carriage return would break a line-based
format. GNU md5sum writes such a name escaped (``\\\\`` for a backslash, ``\\n`` for a
newline, ``\\r`` for a carriage return) and marks the line with a leading backslash;
belle-patch writes and reads the same form. Names that are not valid UTF-8 travel as
``str`` with surrogate escapes (what :func:`os.fsdecode` gives on Linux), and are written
back as their original bytes.
"""

from __future__ import annotations

from typing import Optional, Tuple

ENCODING = "utf-8"
ERRORS = "surrogateescape"

_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r"}
_UNESCAPES = {"\\": "\\", "n": "\n", "r": "\r"}


def escape_name(name: str) -> Tuple[str, bool]:
    """``name`` as md5sum writes it, and whether it had to be escaped."""
    if not any(char in name for char in _ESCAPES):
        return name, False
    return "".join(_ESCAPES.get(char, char) for char in name), True


def unescape_name(escaped: str) -> Optional[str]:
    """The name an escaped checksum line stands for; None if an escape is not valid."""
    out = []
    chars = iter(escaped)
    for char in chars:
        if char != "\\":
            out.append(char)
            continue
        plain = _UNESCAPES.get(next(chars, ""))
        if plain is None:
            return None
        out.append(plain)
    return "".join(out)


def checksum_line(md5: str, name: str) -> str:
    """One line of an md5sum list (``md5sum -c`` reads it back), newline included."""
    escaped, marked = escape_name(name)
    return f"{_marker(marked)}{md5}  {escaped}\n"


def _marker(marked: bool) -> str:
    return "\\" if marked else ""


def status_line(name: str, verdict: str) -> str:
    """``name: OK`` as md5sum -c prints it: an escaped name is marked with a backslash.

    Bytes that are not UTF-8 are shown as U+FFFD so the line can always be printed.
    """
    escaped, marked = escape_name(name)
    return f"{_marker(marked)}{printable(escaped)}: {verdict}"


# Control characters a terminal would act on (ESC starts sequences that hide or rewrite what
# is shown): every C0 but TAB, DEL and C1. A name's newline is escaped before it gets here.
_CONTROLS = dict.fromkeys([*range(0, 9), *range(10, 32), *range(127, 160)], "\ufffd")


def printable(text: str) -> str:
    """``text`` as it may be shown: undecodable bytes (surrogate escapes) and control
    characters a terminal would act on become U+FFFD."""
    return text.encode(ENCODING, ERRORS).decode(ENCODING, "replace").translate(_CONTROLS)


def encode_text(text: str) -> bytes:
    """Bytes of a list's text: names that came from undecodable bytes get them back."""
    return text.encode(ENCODING, ERRORS)


def decode_line(raw: bytes) -> str:
    """A list line's text; undecodable bytes survive as surrogate escapes."""
    return raw.decode(ENCODING, ERRORS)
