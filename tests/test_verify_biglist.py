"""A million-line MD5 list verifies in bounded memory, with the verdicts of a small list."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

import belle_patch
from belle_patch.check.filecheck import in_order
from belle_patch.check.verdict import FileCheck

LINES = 1_000_000
# The bound; md5sum -c needs 2 MB, belle-patch needed 2 GB before.
PEAK_LIMIT_MIB = 400

# Runs a command as the only child of a fresh interpreter and prints that child's peak RSS:
# RUSAGE_CHILDREN of the test process would include every child the suite ever ran.
MEASURE = """
import resource, subprocess, sys
with open(sys.argv[1], "wb") as out, open(sys.argv[2], "wb") as err:
    code = subprocess.run(sys.argv[3:], stdout=out, stderr=err).returncode
print(code, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""

API = """
import json, sys
import belle_patch
report = belle_patch.verify(sys.argv[1], manifest=sys.argv[2])
counts = {}
for check in report.files:
    counts[check.status] = counts.get(check.status, 0) + 1
print(json.dumps({"ok": report.ok, "counts": counts, "problems": report.problem_count,
                  "first": [(c.name, c.status) for c in report.files[:3]],
                  "present": {c.name: c.status for c in report.files if c.status != "MISSING"}}))
"""


def _measure(tmp_path: Path, *command: str) -> Tuple[int, float, str, str]:
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, str(out), str(err), *command],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    code, peak_kib = done.stdout.split()
    return (
        int(code),
        int(peak_kib) / 1024,
        out.read_text(encoding="utf-8"),
        err.read_text(encoding="utf-8"),
    )


def _reference(folder: Path) -> List[str]:
    """A small list naming every kind of line: matching, differing, missing, in a subfolder,
    malformed, leaving the folder, listed twice with different MD5s."""
    lines = []
    for index in range(40):
        name = f"sub/file-{index}.bin" if index % 2 else f"file-{index}.bin"
        data = f"content {index}\n".encode()
        (folder / name).parent.mkdir(exist_ok=True)
        (folder / name).write_bytes(data)
        digest = hashlib.md5(data).hexdigest() if index % 5 else "0" * 32
        lines.append(f"{digest}  {name}\n")
    lines += [
        "not a checksum line\n",
        f"{'1' * 32}  ../outside.bin\n",
        f"{'2' * 32}  twice.bin\n",
        f"{'3' * 32}  twice.bin\n",
    ]
    return lines


def _big_list(reference: List[str]) -> str:
    """The reference lines spread through a million lines naming files that are absent."""
    every = LINES // len(reference)
    lines = []
    kept = iter(reference)
    for number in range(LINES - len(reference)):
        if number % every == 0:
            lines.append(next(kept, ""))
        digest = hashlib.md5(number.to_bytes(4, "little")).hexdigest()
        lines.append(f"{digest}  shard-{number:07d}.safetensors\n")
    lines.extend(kept)
    return "".join(lines)


@pytest.mark.slow
def test_a_million_line_list_in_bounded_memory_with_the_small_lists_verdicts(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    reference = _reference(folder)
    small = tmp_path / "small.md5"
    small.write_text("".join(reference), encoding="utf-8")
    big = tmp_path / "big.md5"
    big.write_text(_big_list(reference), encoding="utf-8")

    expected = belle_patch.verify([folder], manifest=small)
    expected_statuses = {check.name: check.status for check in expected.files}
    assert sorted(set(expected_statuses.values())) == ["FAILED", "OK", "REFUSED"]

    code, peak, stdout, stderr = _measure(
        tmp_path, sys.executable, "-c", API, str(folder), str(big)
    )
    assert code == 0, stderr
    assert peak < PEAK_LIMIT_MIB, f"the API peaked at {peak:.0f} MiB"
    seen = json.loads(stdout)
    assert seen["ok"] is False
    assert seen["problems"] == expected.problem_count == 1
    # Every absent name is MISSING; every other verdict is the small list's.
    assert seen["present"] == {n: s for n, s in expected_statuses.items() if s != "MISSING"}
    missing = LINES - len(reference)
    assert seen["counts"]["MISSING"] == missing
    assert seen["first"][0] == [expected.files[0].name, expected.files[0].status]
    assert seen["first"][1][1] == "MISSING"

    command = [sys.executable, "-m", "belle_patch", "verify", str(folder), "-m", str(big)]
    code, peak, stdout, stderr = _measure(tmp_path, *command)
    assert code == 1
    assert peak < PEAK_LIMIT_MIB, f"verify peaked at {peak:.0f} MiB"
    lines = stdout.splitlines()
    assert len(lines) == len(expected_statuses) + missing
    assert lines[0] == f"{expected.files[0].name}: {expected.files[0].status}"
    assert lines[1].endswith(": FAILED open or read")
    assert "improperly formatted" in stderr and "Traceback" not in stderr
    assert sum(1 for line in lines if line.endswith(": OK")) == sum(
        1 for status in expected_statuses.values() if status == "OK"
    )

    code, peak, quiet, stderr = _measure(tmp_path, *command, "--quiet")
    assert code == 1
    assert peak < PEAK_LIMIT_MIB, f"verify --quiet peaked at {peak:.0f} MiB"
    assert quiet.splitlines() == [line for line in lines if not line.endswith(": OK")]

    code, peak, document, stderr = _measure(tmp_path, *command, "--json")
    assert code == 1
    assert peak < PEAK_LIMIT_MIB, f"verify --json peaked at {peak:.0f} MiB"
    report = json.loads(document)
    assert report["ok"] is False and len(report["files"]) == len(lines)
    assert [report["files"][0]["name"], report["files"][0]["status"]] == seen["first"][0]


def test_checks_come_back_in_list_order_whatever_finishes_first() -> None:
    release = threading.Event()

    def work(name: str, expected: str) -> FileCheck:
        if name == "first":
            # The first item finishes last: the others must not take its place.
            assert release.wait(10)
        elif name == "last":
            release.set()
        return FileCheck(name, "OK", expected)

    items: Dict[str, str] = {"first": "a", **{f"n{i}": str(i) for i in range(50)}, "last": "z"}
    checks = in_order(work, items.items(), len(items), 3)
    assert [(c.name, c.expected) for c in checks] == list(items.items())


def test_a_failing_check_stops_the_others_and_is_raised() -> None:
    started: List[str] = []
    lock = threading.Lock()

    def work(name: str, expected: str) -> FileCheck:
        with lock:
            started.append(name)
        if name == "n3":
            raise KeyError(name)
        return FileCheck(name, "OK", expected)

    items = {f"n{i}": "x" for i in range(10_000)}
    with pytest.raises(KeyError, match="n3"):
        in_order(work, items.items(), len(items), 2)
    # The other thread takes at most a few more items before it sees the stop.
    assert len(started) < 100
