"""Recording and looking up n files costs O(n) work in all, and a crash corrupts nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List

import pytest

from belle_patch.output import state

COUNT = 3000


class CountingJson:
    """json as the state module sees it, counting the characters it parses and writes."""

    def __init__(self) -> None:
        self.parsed = 0
        self.written = 0

    def loads(self, text: Any, **kwargs: Any) -> Any:
        self.parsed += len(text)
        return json.loads(text, **kwargs)

    def dumps(self, value: Any, **kwargs: Any) -> str:
        text = json.dumps(value, **kwargs)
        self.written += len(text)
        return text


def make_files(folder: Path, count: int) -> List[str]:
    names = [f"part-{index:05d}.bin" for index in range(count)]
    for name in names:
        (folder / name).write_bytes(name.encode())
    return names


def record(folder: Path, name: str) -> None:
    state.record(folder, name, xxh3_128=name[:32] + "x", sha256=name + "s", md5=name + "m")


def size_of_full_state(folder: Path, names: List[str]) -> int:
    """The size of a state.json that holds a record of each of ``names``."""
    files = {}
    for name in names:
        info = (folder / name).stat()
        files[name] = {
            "size": info.st_size,
            "mtime_ns": info.st_mtime_ns,
            "xxh3_128": name[:32] + "x",
            "sha256": name + "s",
            "md5": name + "m",
        }
    return len(json.dumps({"files": files}, indent=1))


@pytest.fixture
def counting(monkeypatch: pytest.MonkeyPatch) -> CountingJson:
    counter = CountingJson()
    monkeypatch.setattr(state, "json", counter)
    return counter


def test_recording_then_looking_up_is_linear(tmp_path: Path, counting: CountingJson) -> None:
    names = make_files(tmp_path, COUNT)
    for name in names:
        record(tmp_path, name)
    for name in names:
        found = state.lookup(tmp_path, name)
        assert found is not None and found.md5 == name + "m"
    full = size_of_full_state(tmp_path, names)
    # Rewriting the whole state on every record would write about COUNT / 2 times as much.
    assert counting.written < 6 * full
    assert counting.parsed < 6 * full
    assert len(state.records(tmp_path)) == COUNT


def test_interleaved_records_and_lookups_are_linear(tmp_path: Path, counting: CountingJson) -> None:
    names = make_files(tmp_path, COUNT)
    for name in names:
        assert state.lookup(tmp_path, name) is None
        record(tmp_path, name)
        assert state.lookup(tmp_path, name) is not None
    full = size_of_full_state(tmp_path, names)
    assert counting.written < 6 * full
    assert counting.parsed < 6 * full


def test_flush_leaves_every_record_in_state_json(tmp_path: Path) -> None:
    names = make_files(tmp_path, 50)
    for name in names:
        record(tmp_path, name)
    state.flush(tmp_path)
    document = json.loads((tmp_path / ".belle-patch" / "state.json").read_text())
    assert sorted(document["files"]) == names
    assert (tmp_path / ".belle-patch" / "state.journal").stat().st_size == 0


def test_a_record_cut_short_loses_only_itself(tmp_path: Path) -> None:
    names = make_files(tmp_path, 5)
    for name in names[:4]:
        record(tmp_path, name)
    journal = tmp_path / ".belle-patch" / "state.journal"
    line = journal.read_bytes().splitlines(keepends=True)[-1]
    with journal.open("ab") as out:
        out.write(b"\0\0\0\n" + line[: len(line) // 2])  # damage, then a write cut short
    assert sorted(state.records(tmp_path)) == names[:4]
    with journal.open("ab") as out:
        out.write(b"\n\0\0\0" + line.replace(names[3].encode(), b"zeros-before.bin"))
    assert "zeros-before.bin" in state.records(tmp_path)
    record(tmp_path, names[4])
    assert set(state.records(tmp_path)) == {*names, "zeros-before.bin"}


def test_records_from_other_processes_are_seen(tmp_path: Path) -> None:
    names = make_files(tmp_path, 40)
    record(tmp_path, names[0])
    assert list(state.records(tmp_path)) == [names[0]]
    code = (
        "import sys; from pathlib import Path; from belle_patch.output import state\n"
        "for name in sys.argv[2:]:\n"
        "    state.record(Path(sys.argv[1]), name, xxh3_128='x', sha256='s', md5='m')\n"
    )
    env: Dict[str, str] = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    children = [
        subprocess.Popen([sys.executable, "-c", code, str(tmp_path), *names[start::2]], env=env)
        for start in (1, 2)
    ]
    assert [child.wait(timeout=120) for child in children] == [0, 0]
    recorded = state.records(tmp_path)
    assert sorted(recorded) == names
    assert recorded[names[0]].xxh3_128 != "x" and recorded[names[1]].xxh3_128 == "x"


def test_a_merge_removes_temporaries_that_crashed_merges_left(tmp_path: Path) -> None:
    names = make_files(tmp_path, 2)
    record(tmp_path, names[0])
    state_dir = tmp_path / ".belle-patch"
    old = state_dir / "state.json.123.tmp"
    recent = state_dir / "state.json.k3j_x8q2.tmp"
    other = state_dir / "notes.tmp"
    for path in (old, recent, other):
        path.write_text("{")
    os.utime(old, (0, 0))
    os.utime(other, (0, 0))
    record(tmp_path, names[1])
    state.flush(tmp_path)
    assert sorted(os.listdir(state_dir)) == sorted(
        ["notes.tmp", "state.json", "state.journal", "state.lock", recent.name]
    )
    assert sorted(state.records(tmp_path)) == names


def test_the_cached_state_follows_changes_made_elsewhere(tmp_path: Path) -> None:
    names = make_files(tmp_path, 4)
    record(tmp_path, names[0])
    record(tmp_path, names[1])
    assert sorted(state.records(tmp_path)) == names[:2]
    state_dir = tmp_path / ".belle-patch"
    entry = {
        "size": 1,
        "mtime_ns": 2,
        "inode": 3,
        "ctime_ns": 4,
        "xxh3_128": "x",
        "sha256": "s",
        "md5": "m",
    }
    with (state_dir / "state.journal").open("a") as journal:  # another run's record
        journal.write(json.dumps({"name": names[2], **entry}) + "\n")
    assert sorted(state.records(tmp_path)) == names[:3]
    # Another run merged: a new state.json and an empty journal.
    replacement = state_dir / "elsewhere.json"
    replacement.write_text(json.dumps({"files": {names[3]: entry}}))
    os.replace(replacement, state_dir / "state.json")
    (state_dir / "state.journal").write_bytes(b"")
    assert list(state.records(tmp_path)) == [names[3]]
    os.unlink(state_dir / "state.json")
    os.unlink(state_dir / "state.journal")
    assert state.records(tmp_path) == {}
