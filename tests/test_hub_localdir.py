"""A ``hf download --local-dir`` folder: addresses from ``.cache/huggingface/download``.

The folders are downloaded by huggingface_hub itself from the local Hub of ``hub_endpoint.py``
(the ``local_dir_download`` fixture, conftest_hub.py); hostile variations alter such a download
after it was written.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Callable, Dict, Iterator

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
from hub_endpoint import LocalDirDownload, require_huggingface_hub, safetensors_of

from conftest import generated

FILES = {
    "config.json": b'{"model_type": "bloom"}\n',
    "model.safetensors": safetensors_of(generated("safetensors", 40_000)),
    "sub/tokenizer.json": b'{"version": "1.0"}\n',
}


@pytest.fixture
def download(tmp_path: Path, request: pytest.FixtureRequest) -> LocalDirDownload:
    """FILES downloaded with ``--local-dir`` by huggingface_hub (``local_dir_download``,
    conftest_hub.py): a clean skip without huggingface_hub, a failure under
    BELLE_PATCH_REQUIRE_HUB=1."""
    require_huggingface_hub()
    builder: Callable[..., LocalDirDownload] = request.getfixturevalue("local_dir_download")
    return builder(tmp_path / "model", files=FILES)


def downloaded_at(download: LocalDirDownload, name: str) -> float:
    """The download time huggingface_hub recorded for ``name`` (its metadata's third line)."""
    return float(download.metadata(name).read_text().splitlines()[2])


def touch_after_download(download: LocalDirDownload, name: str, seconds: float = 60) -> None:
    """Give ``name`` an mtime ``seconds`` after its recorded download time."""
    when = downloaded_at(download, name) + seconds
    os.utime(download.folder / name, (when, when))


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


def test_intact_download_every_file_addressed_and_matching(download: LocalDirDownload) -> None:
    folder = download.folder
    book = detect_layout(folder)
    assert book is not None
    assert book.revision == download.commit
    assert book.addresses["model.safetensors"].kind == AddressKind.SHA256_LFS
    assert book.addresses["config.json"].kind == AddressKind.GIT_BLOB_ID
    assert book.addresses["config.json"].source.endswith("config.json.metadata")
    results = check(folder)
    assert {n: r.status for n, r in results.items()} == dict.fromkeys(FILES, Status.OK)
    # An etag that kept its quotes (huggingface_hub strips them; a hand-edited file may not)
    # is the same address.
    metadata = download.metadata("config.json")
    commit, etag, when = metadata.read_text().splitlines()
    metadata.write_text(f'{commit}\n"{etag}"\n{when}\n')
    quoted = detect_layout(folder)
    assert quoted is not None
    assert quoted.addresses["config.json"].kind == AddressKind.GIT_BLOB_ID
    assert quoted.addresses["config.json"].hexdigest == etag
    assert check(folder)["config.json"].status == Status.OK


def test_changed_byte_fails_whatever_the_mtime_says(download: LocalDirDownload) -> None:
    folder = download.folder
    shard = folder / "model.safetensors"
    before = shard.stat()
    damage(shard)
    os.utime(shard, ns=(before.st_atime_ns, before.st_mtime_ns))  # looks untouched
    damage(folder / "sub" / "tokenizer.json")
    touch_after_download(download, "sub/tokenizer.json")  # a minute after the download
    results = check(folder)
    assert results["model.safetensors"].status == Status.FAILED
    assert "modified" not in results["model.safetensors"].detail
    assert results["sub/tokenizer.json"].status == Status.FAILED
    assert "after its download" in results["sub/tokenizer.json"].detail
    assert results["config.json"].status == Status.OK


def test_a_file_touched_after_download_with_its_content_intact_is_ok(
    download: LocalDirDownload,
) -> None:
    folder = download.folder
    touch_after_download(download, "config.json")
    book = detect_layout(folder)
    assert book is not None
    late = book.addresses["config.json"].modified_after_download
    assert late is not None and late > 1
    assert book.addresses["model.safetensors"].modified_after_download is None
    assert check(folder)["config.json"].status == Status.OK


def test_extra_files_are_not_verified_and_missing_ones_fail(download: LocalDirDownload) -> None:
    folder = download.folder
    (folder / "notes.txt").write_text("mine\n")
    (folder / "sub" / "tokenizer.json").unlink()
    bad_metadata = download.metadata("odd.bin")
    when = downloaded_at(download, "config.json")
    bad_metadata.write_text(f"{download.commit}\nnot-an-address\n{when}\n")
    (folder / "odd.bin").write_bytes(b"?")
    results = check(folder)
    assert results["notes.txt"].status == Status.NOT_VERIFIED
    assert results["odd.bin"].status == Status.NOT_VERIFIED
    assert "not a content address" in results["odd.bin"].detail
    assert results["sub/tokenizer.json"].status == Status.MISSING
    assert "download it again" in results["sub/tokenizer.json"].detail
    assert not [n for n in results if n.startswith(".cache")]


def test_address_for_one_file_and_the_summary_line(download: LocalDirDownload) -> None:
    folder = download.folder
    address = address_for_file(folder / "sub" / "tokenizer.json")
    assert address is not None and address.hexdigest == git_blob_id(FILES["sub/tokenizer.json"])
    assert address_for_file(folder / "not-downloaded.txt") is None
    book = detect_layout(folder)
    assert book is not None
    assert book.summary == (
        f"--local-dir download at {download.commit[:12]}: 3 files with a content address"
    )


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
    commit, *rest = path.read_text().splitlines()
    assert len(commit) == 40
    path.write_text("\n".join(["main", *rest]) + "\n")


PLANTED = {
    "fifo": (_plant_fifo, "not a regular file"),
    "dev-zero-link": (_plant_zero_link, "a link"),
    "oversized": (_plant_oversized, "over the"),
    "bad-commit": (_plant_bad_commit, "not a 40-hex commit"),
}


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
@pytest.mark.parametrize("kind", sorted(PLANTED))
def test_planted_metadata_is_not_read_and_its_file_not_verified(
    download: LocalDirDownload, kind: str, no_hang: None
) -> None:
    folder = download.folder
    plant, reason = PLANTED[kind]
    plant(download.metadata("config.json"))
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
    download: LocalDirDownload, timestamp: str
) -> None:
    folder = download.folder
    metadata = download.metadata("model.safetensors")
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
    download: LocalDirDownload, no_hang: None
) -> None:
    folder = download.folder
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
    tmp_path: Path, download: LocalDirDownload, no_hang: None
) -> None:
    folder = download.folder
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
