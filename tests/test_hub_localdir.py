"""A ``hf download --local-dir`` folder: addresses from ``.cache/huggingface/download``."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Dict, Iterator, Mapping

import pytest

import belle_patch
from belle_patch.hub.address import (
    AddressCheck,
    algorithms_for,
    check_file_against,
    content_digests,
)
from belle_patch.hub.book import LOCAL_DIR, plan_checks
from belle_patch.hub.detect import address_for_file, detect_layout
from belle_patch.hub.gitblob import git_blob_id
from belle_patch.vocabulary import AddressKind, Status

from conftest import generated

COMMIT = "0123456789abcdef0123456789abcdef01234567"
DOWNLOADED_AT = 1_700_000_000.0
FILES = {
    "config.json": b'{"model_type": "bloom"}\n',
    "model.safetensors": generated("safetensors", 40_000),
    "sub/tokenizer.json": b'{"version": "1.0"}\n',
}


def make_local_dir(folder: Path, files: Mapping[str, bytes] = FILES) -> Path:
    metadata_root = folder / ".cache" / "huggingface" / "download"
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        os.utime(path, (DOWNLOADED_AT - 5, DOWNLOADED_AT - 5))
        if name.endswith(".safetensors"):
            etag = hashlib.sha256(content).hexdigest()
        else:
            etag = '"' + git_blob_id(content) + '"'  # some etags keep their quotes
        metadata = metadata_root / f"{name}.metadata"
        metadata.parent.mkdir(parents=True, exist_ok=True)
        metadata.write_text(f"{COMMIT}\n{etag}\n{DOWNLOADED_AT}\n")
    (metadata_root / "model.safetensors.lock").write_text("")
    return folder


def check(folder: Path) -> Dict[str, AddressCheck]:
    book = detect_layout(folder)
    assert book is not None and book.layout == LOCAL_DIR
    results = {}
    for entry in plan_checks(book):
        if entry.to_hash:
            assert entry.address is not None
            digests = content_digests(entry.path, algorithms_for(entry.address))
            results[entry.name] = check_file_against(entry.address, digests)
        else:
            results[entry.name] = AddressCheck(entry.status, "", "", detail=entry.detail)
    return results


def damage(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-3] ^= 0x20
    path.write_bytes(bytes(data))


def test_intact_download_every_file_addressed_and_matching(tmp_path: Path) -> None:
    folder = make_local_dir(tmp_path / "model")
    book = detect_layout(folder)
    assert book is not None
    assert book.revision == COMMIT
    assert book.addresses["model.safetensors"].kind == AddressKind.SHA256_LFS
    assert book.addresses["config.json"].kind == AddressKind.GIT_BLOB_ID
    assert book.addresses["config.json"].source.endswith("config.json.metadata")
    results = check(folder)
    assert {n: r.status for n, r in results.items()} == dict.fromkeys(FILES, Status.OK)


def test_changed_byte_fails_whatever_the_mtime_says(tmp_path: Path) -> None:
    folder = make_local_dir(tmp_path / "model")
    damage(folder / "model.safetensors")
    os.utime(folder / "model.safetensors", (DOWNLOADED_AT, DOWNLOADED_AT))  # looks untouched
    damage(folder / "sub" / "tokenizer.json")  # mtime now: long after the download
    results = check(folder)
    assert results["model.safetensors"].status == Status.FAILED
    assert "modified" not in results["model.safetensors"].detail
    assert results["sub/tokenizer.json"].status == Status.FAILED
    assert "after its download" in results["sub/tokenizer.json"].detail
    assert results["config.json"].status == Status.OK


def test_a_file_touched_after_download_with_its_content_intact_is_ok(tmp_path: Path) -> None:
    folder = make_local_dir(tmp_path / "model")
    (folder / "config.json").touch()
    book = detect_layout(folder)
    assert book is not None
    late = book.addresses["config.json"].modified_after_download
    assert late is not None and late > 1
    assert book.addresses["model.safetensors"].modified_after_download is None
    assert check(folder)["config.json"].status == Status.OK


def test_extra_files_are_not_verified_and_missing_ones_fail(tmp_path: Path) -> None:
    folder = make_local_dir(tmp_path / "model")
    (folder / "notes.txt").write_text("mine\n")
    (folder / "sub" / "tokenizer.json").unlink()
    bad_metadata = folder / ".cache" / "huggingface" / "download" / "odd.bin.metadata"
    bad_metadata.write_text(f"{COMMIT}\nnot-an-address\n{DOWNLOADED_AT}\n")
    (folder / "odd.bin").write_bytes(b"?")
    results = check(folder)
    assert results["notes.txt"].status == Status.NOT_VERIFIED
    assert results["odd.bin"].status == Status.NOT_VERIFIED
    assert "not a content address" in results["odd.bin"].detail
    assert results["sub/tokenizer.json"].status == Status.MISSING
    assert "download it again" in results["sub/tokenizer.json"].detail
    assert not [n for n in results if n.startswith(".cache")]


def test_address_for_one_file_and_the_summary_line(tmp_path: Path) -> None:
    folder = make_local_dir(tmp_path / "model")
    address = address_for_file(folder / "sub" / "tokenizer.json")
    assert address is not None and address.hexdigest == git_blob_id(FILES["sub/tokenizer.json"])
    assert address_for_file(folder / "not-downloaded.txt") is None
    book = detect_layout(folder)
    assert book is not None
    assert book.summary == "--local-dir download at 0123456789ab: 3 files with a content address"


# ------------------------------------------------------------------ untrusted metadata

METADATA_ROOT = Path(".cache") / "huggingface" / "download"


@pytest.fixture
def no_hang() -> Iterator[None]:
    """Fails the test, rather than hanging the suite, if anything blocks for 20 s."""

    def expire(signum: int, frame: object) -> None:
        raise TimeoutError("blocked: a FIFO, a device or a link was followed")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(20)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _metadata(folder: Path, name: str) -> Path:
    return folder / METADATA_ROOT / f"{name}.metadata"


def _plant_fifo(path: Path) -> None:
    path.unlink()
    os.mkfifo(path)


def _plant_zero_link(path: Path) -> None:
    path.unlink()
    path.symlink_to("/dev/zero")


def _plant_oversized(path: Path) -> None:
    # A valid start, then more than three short lines can hold.
    path.write_text(path.read_text() + "#" * 100_000 + "\n")


def _plant_bad_commit(path: Path) -> None:
    path.write_text(path.read_text().replace(COMMIT, "main", 1))


PLANTED = {
    "fifo": (_plant_fifo, "not a regular file"),
    "dev-zero-link": (_plant_zero_link, "a link"),
    "oversized": (_plant_oversized, "over the"),
    "bad-commit": (_plant_bad_commit, "not a 40-hex commit"),
}


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
@pytest.mark.parametrize("kind", sorted(PLANTED))
def test_planted_metadata_is_not_read_and_its_file_not_verified(
    tmp_path: Path, kind: str, no_hang: None
) -> None:
    folder = make_local_dir(tmp_path / "model")
    plant, reason = PLANTED[kind]
    plant(_metadata(folder, "config.json"))
    book = detect_layout(folder)
    assert book is not None
    assert "config.json" not in book.addresses
    assert reason in book.unaddressed["config.json"]
    report = belle_patch.verify(folder)
    statuses = {check.name: check.status for check in report.files}
    assert statuses == {"config.json": Status.NOT_VERIFIED, "model.safetensors": Status.OK,
                        "sub/tokenizer.json": Status.OK}  # fmt: skip
    assert not report.ok


@pytest.mark.parametrize("timestamp", ["inf", "-inf", "nan", "1e999", "9" * 400, "-5", "1e300"])
def test_an_impossible_download_time_gives_a_verdict_not_a_traceback(
    tmp_path: Path, timestamp: str
) -> None:
    folder = make_local_dir(tmp_path / "model")
    metadata = _metadata(folder, "model.safetensors")
    lines = metadata.read_text().splitlines()
    metadata.write_text(f"{lines[0]}\n{lines[1]}\n{timestamp}\n")
    # Damaged and touched: an accepted inf would reach round() in the mismatch message.
    damage(folder / "model.safetensors")
    book = detect_layout(folder)
    assert book is not None
    assert "not a plausible time" in book.unaddressed["model.safetensors"]
    statuses = {c.name: c.status for c in belle_patch.verify(folder).files}
    assert statuses["model.safetensors"] == Status.NOT_VERIFIED
    assert statuses["config.json"] == Status.OK
    result = subprocess.run(
        [sys.executable, "-m", "belle_patch", "verify", str(folder)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "model.safetensors: NOT VERIFIED" in result.stdout.splitlines()
    assert "config.json: OK" in result.stdout.splitlines()
    assert "Traceback" not in result.stderr
    assert "not a plausible time" in result.stderr


def test_a_metadata_folder_linked_out_of_the_download_is_not_walked(
    tmp_path: Path, no_hang: None
) -> None:
    folder = make_local_dir(tmp_path / "model")
    metadata_root = folder / METADATA_ROOT
    shutil.rmtree(metadata_root)
    metadata_root.symlink_to("/usr")
    book = detect_layout(folder)
    assert book is not None and book.layout == LOCAL_DIR
    assert book.addresses == {} and book.unaddressed == {}
    assert any("leads out of the download" in note for note in book.notes)
    report = belle_patch.verify(folder)
    assert {c.status for c in report.files} == {Status.NOT_VERIFIED}
    assert not report.ok


def test_a_linked_subfolder_of_the_metadata_is_named_not_followed(
    tmp_path: Path, no_hang: None
) -> None:
    folder = make_local_dir(tmp_path / "model")
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "sub").mkdir(parents=True)
    sub_metadata = folder / METADATA_ROOT / "sub"
    (elsewhere / "sub" / "tokenizer.json.metadata").write_bytes(
        (sub_metadata / "tokenizer.json.metadata").read_bytes()
    )
    shutil.rmtree(sub_metadata)
    sub_metadata.symlink_to(elsewhere / "sub")
    book = detect_layout(folder)
    assert book is not None
    assert "sub/tokenizer.json" not in book.addresses
    assert any("sub is a link, not followed" in note for note in book.notes)
    assert book.addresses.keys() == {"config.json", "model.safetensors"}
