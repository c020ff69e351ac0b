"""MD5 lists as users paste them."""

from __future__ import annotations

from pathlib import Path

import pytest

from belle_patch.errors import ManifestError
from belle_patch.expect.manifest import format_md5_list, parse_md5_list, read_list_text

A = "0fa6ff8379308d40f090878593f085a9"
B = "2917a1cafb895cf57e746cfd7696bfe5"


def test_gnu_text_and_binary_markers() -> None:
    parsed = parse_md5_list(f"{A}  config.json\n{B} *generation_config.json\n")
    assert parsed.entries == {"config.json": A, "generation_config.json": B}
    assert parsed.problems == []


def test_model_card_noise_is_tolerated() -> None:
    text = (
        f"\r\n{A.upper()}  ./config.json\r\n\x00{B}  ./generation_config.json\r\n^@{A}  x.bin\n\n"
    )
    parsed = parse_md5_list(text)
    assert parsed.entries == {"config.json": A, "generation_config.json": B, "x.bin": A}
    assert parsed.problems == []


def test_bsd_tag_form() -> None:
    assert parse_md5_list(f"MD5 (config.json) = {A}\n").entries == {"config.json": A}


def test_file_names_with_spaces_and_dots() -> None:
    parsed = parse_md5_list(f"{A}  my model.bin.index.json\n")
    assert parsed.entries == {"my model.bin.index.json": A}


@pytest.mark.parametrize("name", ["../etc/passwd", "/etc/passwd", "..", "sub/../../x", "./.."])
def test_names_that_leave_the_folder_are_failed_entries(name: str) -> None:
    parsed = parse_md5_list(f"{A}  config.json\n{B}  {name}\n")
    assert parsed.entries == {"config.json": A}
    assert parsed.problems == []
    assert list(parsed.failed) == [name]
    assert parsed.failed[name][0] == "REFUSED"


@pytest.mark.parametrize(
    ("listed", "name"),
    [("sub/config.json", "sub/config.json"), ("./original//a.bin", "original/a.bin"),
     ("a\\b", "a\\b"), ("x.bin  ", "x.bin  ")],
)  # fmt: skip
def test_names_inside_the_folder_are_kept_as_md5sum_reads_them(listed: str, name: str) -> None:
    assert parse_md5_list(f"{A}  {listed}\n").entries == {name: A}


def test_malformed_lines_fail_with_the_line_number(tmp_path: Path) -> None:
    path = tmp_path / "sums.txt"
    path.write_text(f"{A}  config.json\nnot a checksum\n")
    parsed = parse_md5_list(read_list_text(path), source=path)
    with pytest.raises(ManifestError, match=r"sums.txt: line 2: not an MD5 checksum line"):
        parsed.raise_for_problems()


def test_conflicting_duplicates_fail_and_agreeing_ones_do_not() -> None:
    parsed = parse_md5_list(f"{A}  config.json\n{B}  config.json\n{A}  x\n{A}  ./x\n")
    assert parsed.entries == {"x": A}
    assert parsed.failed == {
        "config.json": ("FAILED", "listed again with a different MD5 on line 2")
    }


def test_escaped_lines_as_md5sum_writes_them() -> None:
    text = f"\\{A}  new\\nline\\\\slash\n\\MD5 (cr\\r) = {B}\n\\{A}  bad\\x\n"
    parsed = parse_md5_list(text)
    assert parsed.entries == {"new\nline\\slash": A, "cr\r": B}
    assert parsed.problems == [(3, "not a valid escaped file name")]


def test_md5_r_form_without_type_marker() -> None:
    assert parse_md5_list(f"{A} config.json\n{B}\tx.bin\n").entries == {
        "config.json": A,
        "x.bin": B,
    }


def test_written_lists_parse_back() -> None:
    entries = {"config.json": A, "weights file.bin": B, "a\nb\\c": A, "bad\udcffbyte": B}
    text = format_md5_list(entries)
    assert text.count("\n") == len(entries)
    assert f"\\{A}  a\\nb\\\\c\n" in text
    assert parse_md5_list(text).entries == entries
