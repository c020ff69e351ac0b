"""Every size cap holds at its boundary: a file exactly at the cap is read, one byte more is not.

A cap that is off by one either refuses a legitimate file or lets through the byte it exists
to stop, and tests made with round sizes far from the cap pass either way. Where it is cheap
the real constant is exercised (a 64 MiB list costs a fraction of a second), so that a
changed constant fails too; files are padded with what the format ignores (comment lines,
JSON whitespace), never held in memory by the test.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import struct
from pathlib import Path
from typing import Any, Iterator, List, Optional

import pytest

import belle_patch
from belle_patch.check.structure import Capture
from belle_patch.jobs import batch
from belle_patch.output import state, state_rules

from conftest import generated
from formats_data import SEED_SIZE, md5, openbuddy_reference, plain_bytes, write
from helpers import final_names, run

MIB = 1024 * 1024
LIST_CAP = 64 * MIB  # what the docs promise for --manifest lists; the constant must agree
LINE_CAP = 64 * 1024
CONTENT = b"listed file\n"


# --- MD5 lists and JSON manifests: 64 MiB, lines of 64 KiB -------------------------------


def _pad_with_comments(path: Path, first: bytes, size: int) -> Path:
    """``first``, then ``#`` lines of at most 64 KiB up to exactly ``size`` bytes.

    Written a line at a time: a 64 MiB list costs no test memory.
    """
    with path.open("wb") as out:
        out.write(first)
        left = size - len(first)
        while left > 0:
            line = min(left, LINE_CAP)
            if left - line == 1:
                line -= 2  # leave no single byte: a comment line takes "#" and "\n"
            out.write(b"#" + b"x" * (line - 2) + b"\n")
            left -= line
    assert path.stat().st_size == size
    return path


@pytest.fixture
def checked_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "a.txt").write_bytes(CONTENT)
    return folder


def _md5_line() -> bytes:
    return f"{hashlib.md5(CONTENT).hexdigest()}  a.txt\n".encode()


def _json_manifest() -> bytes:
    return json.dumps(
        {
            "schema": "belle-patch-release/1",
            "id": "capped",
            "name": "capped",
            "format": "header",
            "files": [{"name": "a.txt", "md5": hashlib.md5(CONTENT).hexdigest()}],
        }
    ).encode()


def test_an_md5_list_of_exactly_64_mib_is_read(checked_folder: Path, tmp_path: Path) -> None:
    sums = _pad_with_comments(tmp_path / "md5sums.txt", _md5_line(), LIST_CAP)
    report = belle_patch.verify(checked_folder, manifest=sums)
    assert report.ok
    assert [(f.name, f.status) for f in report.files] == [("a.txt", belle_patch.OK)]
    assert report.problems == ()


def test_an_md5_list_one_byte_over_64_mib_is_refused(checked_folder: Path, tmp_path: Path) -> None:
    sums = _pad_with_comments(tmp_path / "md5sums.txt", _md5_line(), LIST_CAP + 1)
    with pytest.raises(belle_patch.ManifestError, match="larger than 64 MiB"):
        belle_patch.verify(checked_folder, manifest=sums)
    result = run("verify", "--manifest", sums, checked_folder)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert f"{sums}: the checksum list is larger than 64 MiB" in result.stderr


@pytest.fixture
def shrunk_stat(monkeypatch: pytest.MonkeyPatch) -> Iterator[List[Path]]:
    """Make the listed paths stat one byte smaller than they are: a list still growing (a
    download in progress) passes the size check before it is read, and only the reading
    can stop it. Yields the list of paths to shrink; fails if none was looked at."""
    shrunk: List[Path] = []
    consulted: List[Path] = []
    real_stat = Path.stat

    def stat(self: Path, *args: Any, **kwargs: Any) -> os.stat_result:
        info = real_stat(self, *args, **kwargs)
        if self not in shrunk:
            return info
        consulted.append(self)
        fields = list(info)
        fields[6] = info.st_size - 1  # st_size
        return os.stat_result(fields)

    monkeypatch.setattr(Path, "stat", stat)
    yield shrunk
    assert consulted, "the list's size was not looked at through Path.stat: nothing simulated"


def test_a_list_that_grows_past_the_cap_while_read_is_refused(
    checked_folder: Path, tmp_path: Path, shrunk_stat: List[Path]
) -> None:
    sums = _pad_with_comments(tmp_path / "md5sums.txt", _md5_line(), LIST_CAP + 1)
    shrunk_stat.append(sums)
    with pytest.raises(belle_patch.ManifestError, match="larger than 64 MiB"):
        belle_patch.verify(checked_folder, manifest=sums)


def test_a_json_manifest_of_exactly_64_mib_is_read(checked_folder: Path, tmp_path: Path) -> None:
    # JSON manifests are parsed whole (about 160 MiB of memory here): trailing whitespace
    # pads it to the cap.
    document = _json_manifest()
    path = tmp_path / "manifest.json"
    with path.open("wb") as out:
        out.write(document)
        out.write(b" " * (LIST_CAP - len(document)))
    report = belle_patch.verify(checked_folder, manifest=path)
    assert report.ok and report.against == "capped"
    assert [(f.name, f.status) for f in report.files] == [("a.txt", belle_patch.OK)]


def test_a_json_manifest_that_grows_past_the_cap_while_read_is_refused(
    checked_folder: Path, tmp_path: Path, shrunk_stat: List[Path]
) -> None:
    document = _json_manifest()
    path = tmp_path / "manifest.json"
    with path.open("wb") as out:
        out.write(document)
        out.write(b" " * (LIST_CAP + 1 - len(document)))
    shrunk_stat.append(path)
    with pytest.raises(belle_patch.ManifestError, match="larger than 64 MiB"):
        belle_patch.verify(checked_folder, manifest=path)


def test_a_line_of_exactly_64_kib_is_read_one_byte_more_is_refused(
    checked_folder: Path, tmp_path: Path
) -> None:
    # The newline counts: a 64 KiB line is 65,535 bytes of text and its "\n".
    at_cap = b"#" + b"x" * (LINE_CAP - 2) + b"\n"
    sums = tmp_path / "md5sums.txt"
    sums.write_bytes(_md5_line() + at_cap + _md5_line())
    report = belle_patch.verify(checked_folder, manifest=sums, strict=True)
    assert report.ok and report.problems == ()
    sums.write_bytes(_md5_line() + b"#" + at_cap + _md5_line())
    with pytest.raises(belle_patch.ManifestError) as refused:
        belle_patch.verify(checked_folder, manifest=sums)
    assert "line 2: longer than 64 KiB" in str(refused.value)


@pytest.mark.parametrize("bad_lines", [100, 101])
def test_the_first_100_bad_lines_are_kept_and_all_are_counted(
    checked_folder: Path, tmp_path: Path, bad_lines: int
) -> None:
    sums = tmp_path / "md5sums.txt"
    sums.write_bytes(_md5_line() + b"not a checksum line\n" * bad_lines)
    report = belle_patch.verify(checked_folder, manifest=sums)
    assert report.problem_count == bad_lines
    assert [line for line, _ in report.problems] == list(range(2, 102))
    assert {problem for _, problem in report.problems} == {"not an MD5 checksum line"}


# --- the state folder: 64 MiB --------------------------------------------------------------


@pytest.fixture
def recorded(tmp_path: Path) -> Path:
    """A folder with one recorded file, its state merged into state.json."""
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "a.bin").write_bytes(b"a")
    state.record(folder, "a.bin", xxh3_128="first", sha256="s", md5="m")
    assert state.lookup(folder, "a.bin") is not None
    return folder


def test_a_state_document_of_exactly_64_mib_is_read_one_byte_more_is_not(recorded: Path) -> None:
    document = recorded / state_rules.STATE_FOLDER / state.STATE_FILE
    with document.open("ab") as out:  # JSON whitespace: the same records, a larger file
        out.write(b" " * (64 * MIB - document.stat().st_size))
    entry = state.lookup(recorded, "a.bin")
    assert entry is not None and entry.xxh3_128 == "first"
    assert state_rules.last_problem(recorded, forget=True) is None
    with document.open("ab") as out:
        out.write(b" ")
    assert state.lookup(recorded, "a.bin") is None
    assert "is larger than belle-patch ever makes it" in (state_rules.last_problem(recorded) or "")


@pytest.mark.parametrize("over", [0, 1], ids=["at-the-cap", "one-byte-over"])
def test_a_journal_may_grow_to_exactly_64_mib(recorded: Path, over: int) -> None:
    journal = recorded / state_rules.STATE_FOLDER / state.JOURNAL_FILE
    # The length of the line a record appends, measured: the values below are as long.
    state.record(recorded, "a.bin", xxh3_128="2nd", sha256="s", md5="m")
    length = journal.stat().st_size
    state.flush(recorded)  # into state.json: the journal is empty again
    assert journal.stat().st_size == 0
    # Whitespace before a record is still that record: the journal is filled up to where
    # the next line ends exactly at the cap (or one byte past it).
    journal.write_bytes(b" " * (64 * MIB - length + over))
    state.record(recorded, "a.bin", xxh3_128="3rd", sha256="s", md5="m")
    entry = state.lookup(recorded, "a.bin")
    problem = state_rules.last_problem(recorded, forget=True)
    assert entry is not None
    if over:
        assert problem is not None and "is full" in problem
        assert entry.xxh3_128 == "2nd"
    else:
        assert problem is None
        assert entry.xxh3_128 == "3rd"


# --- structure checks: JSON parsed whole up to 8 MiB, 1 MiB of a weights file --------------


def _captured_problem(name: str, data: bytes, piece: int = MIB) -> Optional[str]:
    capture = Capture(name)
    view = memoryview(data)
    for start in range(0, len(data), piece):
        capture.feed(view[start : start + piece])
    return capture.problem()


def test_json_up_to_exactly_8_mib_is_parsed_whole() -> None:
    # Unterminated: only a whole parse can tell; a check of the first bytes passes it.
    at_cap = b'{"pad": "' + b"x" * (8 * MIB - 9)
    assert len(at_cap) == 8 * MIB
    assert _captured_problem("tokenizer.json", at_cap) == "does not parse as UTF-8 JSON"
    assert _captured_problem("tokenizer.json", at_cap + b"x") is None
    assert _captured_problem("tokenizer.json", b"\x13" + at_cap) == "does not start with { or ["


def test_a_weights_file_is_walked_over_its_first_mib_exactly() -> None:
    """A pickle cut at the end of the captured start is incomplete only if the file ends
    there too; one byte more and the pickle goes on past what was captured."""
    long_pickle = pickle.dumps("x" * (2 * MIB), protocol=2)
    assert _captured_problem("old.bin", long_pickle[:MIB]) == "has a pickle that does not parse"
    assert _captured_problem("old.bin", long_pickle[: MIB + 1]) is None


def _ggjt(n_vocab: int = 50, n_embd: int = 4096, n_head: int = 32, n_layer: int = 32) -> bytes:
    header = b"tjgg" + struct.pack("<8I", 1, n_vocab, n_embd, 256, n_head, n_layer, 128, 2)
    vocab = b"".join(struct.pack("<I", 4) + b"tok%d" % (i % 10) + b"\0\0\0\0" for i in range(50))
    return header + vocab


@pytest.mark.parametrize(
    ("field", "cap"),
    [("n_vocab", 1 << 20), ("n_embd", 1 << 16), ("n_head", 1024), ("n_layer", 1024)],
)
def test_ggml_hyperparameters_are_plausible_up_to_their_caps(field: str, cap: int) -> None:
    assert _captured_problem("q4_0.bin", _ggjt(**{field: cap}), piece=100) is None
    for implausible in (0, cap + 1):
        problem = _captured_problem("q4_0.bin", _ggjt(**{field: implausible}), piece=100)
        assert problem == "has ggml hyperparameters no model has", (field, implausible)


# --- how many files at once ----------------------------------------------------------------


def test_files_at_once_is_capped_at_4_and_hashing_at_8() -> None:
    assert [batch.files_at_once(jobs) for jobs in (1, 3, 4, 5, 64)] == [1, 3, 4, 4, 4]
    assert [batch.files_hashed_at_once(jobs) for jobs in (1, 7, 8, 9, 64)] == [1, 7, 8, 8, 8]


# --- OpenBuddy: a key of at least the 16 MiB seed ------------------------------------------


@pytest.mark.parametrize("short", [0, 1], ids=["exactly-16-mib", "one-byte-short"])
def test_an_openbuddy_key_of_exactly_16_mib_is_enough(tmp_path: Path, short: int) -> None:
    key = generated("16 MiB seed", SEED_SIZE)
    config = plain_bytes("openbuddy capped config", 400, "config.json")
    patch = write(tmp_path / "enc" / "config.json.enc", openbuddy_reference(config, key))
    key_path = write(tmp_path / "7B" / "consolidated.00.pth", key[: SEED_SIZE - short])
    sums = write(tmp_path / "md5sums.txt", f"{md5(config)}  config.json\n".encode())
    out = tmp_path / "out"
    result = run(
        "decrypt", patch, "--key", key_path, "--out", out, "--format", "openbuddy",
        "--manifest", sums,
    )  # fmt: skip
    if short:
        # The file fails (the key is opened per file), naming the size and the seed.
        assert result.exit_code == 1
        assert (
            f"{key_path}: the key file is {SEED_SIZE - 1} bytes, shorter than the 16 MiB seed"
        ) in result.stderr
        assert "0 restored, 1 failed" in result.stdout
        assert final_names(out) == []
    else:
        assert result.exit_code == 0, result.stderr
        assert "1 restored, 0 failed" in result.stdout
        assert (out / "config.json").read_bytes() == config
