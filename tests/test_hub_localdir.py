"""A ``hf download --local-dir`` folder: addresses from ``.cache/huggingface/download``."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Dict, Mapping

from belle_patch.hub import (
    FAILED,
    GIT_BLOB_ID,
    LOCAL_DIR,
    MISSING,
    NOT_VERIFIED,
    OK,
    SHA256_LFS,
    AddressCheck,
    address_for_file,
    algorithms_for,
    check_file_against,
    content_digests,
    detect_layout,
    git_blob_id,
    plan_checks,
)

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
    assert book.addresses["model.safetensors"].kind == SHA256_LFS
    assert book.addresses["config.json"].kind == GIT_BLOB_ID
    assert book.addresses["config.json"].source.endswith("config.json.metadata")
    results = check(folder)
    assert {n: r.status for n, r in results.items()} == dict.fromkeys(FILES, OK)


def test_changed_byte_fails_whatever_the_mtime_says(tmp_path: Path) -> None:
    folder = make_local_dir(tmp_path / "model")
    damage(folder / "model.safetensors")
    os.utime(folder / "model.safetensors", (DOWNLOADED_AT, DOWNLOADED_AT))  # looks untouched
    damage(folder / "sub" / "tokenizer.json")  # mtime now: long after the download
    results = check(folder)
    assert results["model.safetensors"].status == FAILED
    assert "modified" not in results["model.safetensors"].detail
    assert results["sub/tokenizer.json"].status == FAILED
    assert "after its download" in results["sub/tokenizer.json"].detail
    assert results["config.json"].status == OK


def test_a_file_touched_after_download_with_its_content_intact_is_ok(tmp_path: Path) -> None:
    folder = make_local_dir(tmp_path / "model")
    (folder / "config.json").touch()
    book = detect_layout(folder)
    assert book is not None
    late = book.addresses["config.json"].modified_after_download
    assert late is not None and late > 1
    assert book.addresses["model.safetensors"].modified_after_download is None
    assert check(folder)["config.json"].status == OK


def test_extra_files_are_not_verified_and_missing_ones_fail(tmp_path: Path) -> None:
    folder = make_local_dir(tmp_path / "model")
    (folder / "notes.txt").write_text("mine\n")
    (folder / "sub" / "tokenizer.json").unlink()
    bad_metadata = folder / ".cache" / "huggingface" / "download" / "odd.bin.metadata"
    bad_metadata.write_text(f"{COMMIT}\nnot-an-address\n{DOWNLOADED_AT}\n")
    (folder / "odd.bin").write_bytes(b"?")
    results = check(folder)
    assert results["notes.txt"].status == NOT_VERIFIED
    assert results["odd.bin"].status == NOT_VERIFIED
    assert "not a content address" in results["odd.bin"].detail
    assert results["sub/tokenizer.json"].status == MISSING
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
