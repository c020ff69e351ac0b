"""Names are shown so that a terminal never acts on them."""

from __future__ import annotations

import hashlib
from pathlib import Path

from belle_patch.expect.names import printable, status_line

from helpers import run


def test_escape_sequences_in_a_name_are_not_passed_to_the_terminal() -> None:
    line = status_line("model.bin: OK\x1b[8m", "FAILED")
    assert "\x1b" not in line
    assert line == "model.bin: OK\ufffd[8m: FAILED"


def test_every_control_but_tab_is_replaced_and_text_is_kept() -> None:
    assert printable("a\tb") == "a\tb"
    assert printable("a\x07b\x7fc\x9bd") == "a\ufffdb\ufffdc\ufffdd"
    assert printable("caf\u00e9 \u6a21\u578b") == "caf\u00e9 \u6a21\u578b"


def test_a_listed_name_with_an_escape_sequence_is_shown_inert(tmp_path: Path) -> None:
    name = "weights\x1b]0;pwned\x07.bin"
    (tmp_path / name).write_bytes(b"content")
    listing = tmp_path / "md5sums.txt"
    listing.write_text(f"{hashlib.md5(b'other').hexdigest()}  {name}\n")
    result = run("verify", "--manifest", str(listing), str(tmp_path))
    assert result.exit_code == 1
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout
    assert "weights\ufffd]0;pwned\ufffd.bin: FAILED" in result.stdout
