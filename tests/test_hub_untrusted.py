"""What a download keeps about itself is read as if an attacker wrote it: small files, listings."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from belle_patch.hub.listing import LISTING_LIMIT, parse_listing, read_listing
from belle_patch.hub.untrusted import RefusedFile, is_inside, read_small_file
from belle_patch.vocabulary import AddressKind

from helpers import default_files, make_release, run

posix_only = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs and links")

SHA = "ab" * 32
BLOB = "cd" * 20


@posix_only
def test_a_fifo_a_device_and_a_link_are_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    link = tmp_path / "link"
    link.symlink_to("/etc/hostname")
    zero = tmp_path / "zero"
    zero.symlink_to("/dev/zero")
    for path in (fifo, link, zero, Path("/dev/zero")):
        with pytest.raises(RefusedFile) as refused:
            read_small_file(path)
        assert "not a regular file" in refused.value.reason or "link" in refused.value.reason


def test_a_file_over_its_cap_is_refused_and_one_at_the_cap_is_read(tmp_path: Path) -> None:
    path = tmp_path / "metadata"
    path.write_bytes(b"x" * 100)
    assert read_small_file(path, 100) == b"x" * 100
    with pytest.raises(RefusedFile, match="100 bytes, over the 99"):
        read_small_file(path, 99)


@posix_only
def test_a_folder_leading_out_of_the_root_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "main").write_text("0" * 40)
    root = tmp_path / "repo"
    root.mkdir()
    (root / "refs").symlink_to(outside)
    assert not is_inside(root / "refs" / "main", root)
    with pytest.raises(RefusedFile, match="leads out of the download"):
        read_small_file(root / "refs" / "main", root=root)
    (root / "inside").mkdir()
    (root / "inside" / "main").write_text("1" * 40)
    assert read_small_file(root / "inside" / "main", root=root) == b"1" * 40


def listing_bytes(files: object, version: object = 1) -> bytes:
    return json.dumps({"format_version": version, "files": files}).encode()


def test_a_listing_gives_lfs_files_their_sha256_and_others_their_blob_id() -> None:
    listing = parse_listing(
        listing_bytes(
            {
                "config.json": {"size": 10, "blob_id": BLOB},
                "sub/model.safetensors": {
                    "size": 134,
                    "blob_id": BLOB,
                    "lfs_sha256": SHA,
                    "lfs_size": 4096,
                    "xet_hash": "ef" * 32,
                },
            }
        ),
        "trees/C.json",
    )
    config, weights = listing.files["config.json"], listing.files["sub/model.safetensors"]
    assert (config.address.kind, config.address.hexdigest, config.size) == (
        AddressKind.GIT_BLOB_ID,
        BLOB,
        10,
    )
    assert (weights.address.kind, weights.address.hexdigest, weights.size) == (
        AddressKind.SHA256_LFS,
        SHA,
        4096,
    )
    assert weights.address.source == "trees/C.json"


@pytest.mark.parametrize(
    ("document", "fault"),
    [
        (b"\xff\xfe", "not JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "not JSON"),
        (listing_bytes({}, version=2), "not format_version 1"),
        (listing_bytes([]), "no files object"),
        (listing_bytes({"a": {"size": float("inf"), "blob_id": BLOB}}), "not a file size"),
        (
            b'{"format_version": 1, "files": {"a": {"size": NaN, "blob_id": "'
            + BLOB.encode()
            + b'"}}}',
            "not a file size",
        ),
        (
            b'{"format_version": 1, "files": {"a": {"size": 1e999, "blob_id": "x"}}}',
            "not a file size",
        ),
        (listing_bytes({"a": {"size": 2**64, "blob_id": BLOB}}), "not a file size"),
        (listing_bytes({"a": {"size": -1, "blob_id": BLOB}}), "not a file size"),
        (listing_bytes({"a": {"size": True, "blob_id": BLOB}}), "not a file size"),
        (b'{"format_version": 1, "files": {"a": {"size": ' + b"9" * 5000 + b"}}}", "not JSON"),
        (listing_bytes({"a": {"size": 1, "blob_id": "xyz"}}), "blob_id of 'a' is not a hash"),
        (listing_bytes({"a": {"size": 1, "blob_id": BLOB, "lfs_sha256": 5}}), "not a hash"),
        (listing_bytes({"../../etc/passwd": {"size": 1, "blob_id": BLOB}}), "plain relative"),
        (listing_bytes({"/etc/passwd": {"size": 1, "blob_id": BLOB}}), "relative name"),
        (listing_bytes({"a//b": {"size": 1, "blob_id": BLOB}}), "plain relative"),
        (listing_bytes({"a": "not an object"}), "is not an object"),
    ],
)
def test_a_listing_not_of_huggingface_hubs_form_is_refused_whole(
    document: bytes, fault: str
) -> None:
    with pytest.raises(ValueError, match=fault):
        parse_listing(document, "trees/C.json")


@posix_only
def test_an_unusable_listing_is_one_note_and_no_listing(tmp_path: Path) -> None:
    trees = tmp_path / "trees"
    trees.mkdir()
    commit = "a" * 40
    assert read_listing(tmp_path, commit, root=tmp_path, shown_as="") == (None, ())
    os.mkfifo(trees / f"{commit}.json")
    listing, notes = read_listing(tmp_path, commit, root=tmp_path, shown_as="")
    assert listing is None
    assert notes == (
        f"the revision's file listing trees/{commit}.json is not used (not a regular file, "
        "not read): files that were not downloaded cannot be told",
    )
    os.unlink(trees / f"{commit}.json")
    with open(trees / f"{commit}.json", "wb") as big:
        big.truncate(LISTING_LIMIT + 1)
    listing, notes = read_listing(tmp_path, commit, root=tmp_path, shown_as="")
    assert listing is None and f"over the {LISTING_LIMIT} such a file holds" in notes[0]


@posix_only
def test_a_plain_decrypt_below_a_git_folder_never_runs_git(tmp_path: Path) -> None:
    """A decrypt inside a clone (or a home folder under git) reads no git: only
    --check-downloads asks git about the folder the patches are in."""
    release = make_release(tmp_path / "clone", default_files(), b"k" * 4096)
    (tmp_path / "clone" / ".git").mkdir()
    calls = tmp_path / "git-calls"
    fake = tmp_path / "bin" / "git"
    fake.parent.mkdir()
    fake.write_text(f'#!/bin/sh\necho "$@" >> {calls}\nexit 1\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    env = {**os.environ, "PATH": f"{fake.parent}{os.pathsep}{os.environ['PATH']}"}
    command = [sys.executable, "-m", "belle_patch", "decrypt", str(release.enc_dir)]
    command += ["-k", str(release.key), "-o", str(tmp_path / "out")]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert not calls.exists()
    done = subprocess.run(
        [*command[:-2], "-o", str(tmp_path / "out2"), "--check-downloads"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert calls.exists()  # asked, and refused: the files are then restored as before


def test_revision_that_walks_out_is_a_usage_error_before_anything_is_read(tmp_path: Path) -> None:
    repo = tmp_path / "models--org--name"
    (repo / "snapshots").mkdir(parents=True)
    for revision in ("../../../../usr", "/usr", "main/../../x", "a b"):
        result = run("verify", repo, "--revision", revision)
        assert result.exit_code == 2, revision
        assert result.stdout == ""
        assert "is neither a commit hash nor a ref name" in result.stderr
        assert "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
