"""A decrypt decides its format and key material once: the seed hashed once, a list read once.

Each function is counted wherever a module of the package holds it, so a second caller added
anywhere (importing it under its own name) is counted too.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Callable, Dict, List

import pytest

import belle_patch
import belle_patch.jobs.decrypt  # loads every module that may hold the counted functions
from belle_patch.expect import expectations
from belle_patch.expect import keys as keycheck
from belle_patch.expect import releases as registry
from belle_patch.expect.manifest import format_md5_list

from conftest import generated
from formats_data import SEED_SIZE, md5, openbuddy_reference, plain_bytes, write
from helpers import Release, make_release

KEY = generated("plan-once key", SEED_SIZE + 1000)
PLAIN = {
    "config.json": plain_bytes("plan-once config", 300, "config.json"),
    "tokenizer.model": plain_bytes("plan-once tokenizer", 5000, "tokenizer.model"),
}


def count_calls(monkeypatch: pytest.MonkeyPatch, original: Callable[..., Any]) -> List[Any]:
    """Replace ``original`` in every loaded module of the package; returns the calls' first
    arguments, one per call."""
    calls: List[Any] = []

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(args[0] if args else None)
        return original(*args, **kwargs)

    for module in list(sys.modules.values()):
        name = getattr(module, "__name__", "")
        if name.startswith("belle_patch") and getattr(module, original.__name__, None) is original:
            monkeypatch.setattr(module, original.__name__, counting)
    return calls


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> Dict[str, List[Any]]:
    """The seed checks, the key starts hashed, the lists and bundled releases loaded."""
    return {
        "seed": count_calls(monkeypatch, keycheck.check_seed),
        "key start": count_calls(monkeypatch, keycheck.md5_of_start),
        "list": count_calls(monkeypatch, expectations.load_manifest_file),
        "release": count_calls(monkeypatch, registry.find_release),
    }


@pytest.fixture
def openbuddy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Dict[str, Path]:
    """Two OpenBuddy patches made with the test key, whose start is made the known seed."""
    monkeypatch.setattr(keycheck, "seed_md5", lambda fmt: md5(KEY[:SEED_SIZE]))
    for name, data in PLAIN.items():
        write(tmp_path / "enc" / f"{name}.enc", openbuddy_reference(data, KEY))
    md5s = format_md5_list({n: md5(d) for n, d in PLAIN.items()})
    return {
        "enc": tmp_path / "enc",
        "key": write(tmp_path / "7B" / "consolidated.00.pth", KEY),
        "md5s": write(tmp_path / "md5sums.txt", md5s.encode()),
    }


def test_openbuddy_with_a_list_hashes_the_seed_once_and_reads_the_list_once(
    tmp_path: Path, openbuddy: Dict[str, Path], reads: Dict[str, List[Any]]
) -> None:
    report = belle_patch.decrypt(
        openbuddy["enc"], key=openbuddy["key"], out=tmp_path / "out", manifest=openbuddy["md5s"]
    )
    assert report.ok and report.format == "openbuddy"
    assert {r.output.name: r.checks for r in report.restored} == {n: ["MD5"] for n in PLAIN}
    assert len(reads["seed"]) == 1
    assert reads["key start"] == [reads["seed"][0]]  # the 16 MiB read once, by that check
    assert reads["list"] == [openbuddy["md5s"]]


def test_openbuddy_named_with_a_list_hashes_the_seed_once(
    tmp_path: Path, openbuddy: Dict[str, Path], reads: Dict[str, List[Any]]
) -> None:
    report = belle_patch.decrypt(
        openbuddy["enc"], key=openbuddy["key"], out=tmp_path / "out",
        manifest=openbuddy["md5s"], format="openbuddy",
    )  # fmt: skip
    assert report.ok and report.format == "openbuddy"
    assert (len(reads["seed"]), len(reads["key start"]), len(reads["list"])) == (1, 1, 1)


def test_a_list_recording_openbuddy_is_read_once_though_the_seed_differs(
    tmp_path: Path, openbuddy: Dict[str, Path], reads: Dict[str, List[Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """The list decides the format when the seed does not: asked twice, read once."""
    monkeypatch.setattr(keycheck, "seed_md5", lambda fmt: "0" * 32)
    document = {  # as encrypt writes it for OpenBuddy: the format is recorded
        "schema": "belle-patch-release/1",
        "id": "plan-once",
        "format": "openbuddy",
        "files": [{"name": n, "md5": md5(d), "enc_name": f"{n}.enc"} for n, d in PLAIN.items()],
    }
    manifest = write(tmp_path / "manifest.json", json.dumps(document).encode())
    report = belle_patch.decrypt(
        openbuddy["enc"], key=openbuddy["key"], out=tmp_path / "out", manifest=manifest
    )
    assert report.ok and report.format == "openbuddy"
    assert (len(reads["seed"]), len(reads["key start"]), reads["list"]) == (1, 1, [manifest])


def test_openbuddy_with_a_release_finds_it_once(
    tmp_path: Path, openbuddy: Dict[str, Path], reads: Dict[str, List[Any]]
) -> None:
    report = belle_patch.decrypt(
        openbuddy["enc"], key=openbuddy["key"], out=tmp_path / "out",
        release="openbuddy-llama-7b-v4-fp16",
    )  # fmt: skip
    assert report.release == "openbuddy-llama-7b-v4-fp16"
    assert (len(reads["seed"]), reads["release"], reads["list"]) == (
        1, ["openbuddy-llama-7b-v4-fp16"], [],
    )  # fmt: skip


def _belle(root: Path) -> Release:
    return make_release(root, PLAIN, generated("plan-once BELLE key", 70_000))


def test_belle_with_a_list_reads_it_once_and_no_seed(
    tmp_path: Path, reads: Dict[str, List[Any]]
) -> None:
    made = _belle(tmp_path)
    report = belle_patch.decrypt(
        made.enc_dir, key=made.key, out=tmp_path / "out", manifest=made.md5_list
    )
    assert report.ok and report.format == "belle"
    assert [r.checks for r in report.restored] == [["SHA-256", "MD5"]] * len(PLAIN)
    assert reads["list"] == [made.md5_list]
    assert reads["seed"] == []


def test_belle_beside_misnamed_patches_reads_the_list_once(
    tmp_path: Path, reads: Dict[str, List[Any]]
) -> None:
    """Names without a SHA-256 make the seed worth a look (once); BELLE then reads the list
    for its checksums, the same read that told the format."""
    made = _belle(tmp_path)
    write(made.enc_dir / "renamed.bin.enc", made.patches["config.json"].read_bytes())
    report = belle_patch.decrypt(
        made.enc_dir, key=made.key, out=tmp_path / "out", manifest=made.md5_list
    )
    assert report.format == "belle"
    assert [f.path.name for f in report.failed] == ["renamed.bin.enc"]
    assert (len(reads["seed"]), reads["list"]) == (1, [made.md5_list])
