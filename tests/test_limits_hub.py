"""The caps on what a download keeps about itself hold at their boundaries.

Everything inside a downloaded folder is read as if an attacker wrote it, each kind of file
under its own cap. Each cap is tested with a file exactly at it (read) and one byte over
(refused), at the real sizes: the largest, a 32 MiB listing, takes a fraction of a second.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
from pathlib import Path
from typing import Any, Dict, Optional

import pytest

from belle_patch.errors import UsageError
from belle_patch.hub import gitguard, gitrun
from belle_patch.hub.address import parse_lfs_pointer
from belle_patch.hub.book import LOCAL_DIR
from belle_patch.hub.detect import detect_layout
from belle_patch.hub.gitblob import git_blob_id
from belle_patch.hub.listing import parse_listing, read_listing
from belle_patch.hub.shards import shards_named
from belle_patch.hub.untrusted import RefusedFile, read_small_file

MIB = 1024 * 1024
COMMIT = "0123456789abcdef0123456789abcdef01234567"
SHA = "ab" * 32
BLOB = "cd" * 20

posix_only = pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symbolic links")


def _padded(path: Path, content: bytes, size: int, pad: bytes = b" ") -> Path:
    """``content`` followed by ``pad`` bytes up to exactly ``size``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        out.write(content)
        out.write(pad * (size - len(content)))
    assert path.stat().st_size == size
    return path


# --- read_small_file: 4096 bytes by default, checked on the size and on what was read ------


def test_a_small_file_of_exactly_4096_bytes_is_read_by_default(tmp_path: Path) -> None:
    path = _padded(tmp_path / "refs" / "main", b"", 4096, b"x")
    assert read_small_file(path) == b"x" * 4096
    path.write_bytes(b"x" * 4097)
    with pytest.raises(RefusedFile) as refused:
        read_small_file(path)
    assert (
        refused.value.too_large
        and refused.value.reason == "4097 bytes, over the 4096 such a file holds"
    )


@pytest.fixture
def size_lies(monkeypatch: pytest.MonkeyPatch) -> None:
    """fstat says 0 bytes, as for a file still being written (or /proc files): only what
    the read returns can stop an oversized file."""
    real_fstat = os.fstat

    def fstat(fd: int) -> os.stat_result:
        fields = list(real_fstat(fd))
        fields[6] = 0  # st_size
        return os.stat_result(fields)

    monkeypatch.setattr(os, "fstat", fstat)


@pytest.mark.usefixtures("size_lies")
def test_a_file_larger_than_its_size_said_is_refused_by_what_was_read(tmp_path: Path) -> None:
    path = _padded(tmp_path / "metadata", b"", 100, b"x")
    assert read_small_file(path, 100) == b"x" * 100
    path.write_bytes(b"x" * 101)
    with pytest.raises(RefusedFile) as refused:
        read_small_file(path, 100)
    assert (
        refused.value.too_large and "over the 100 bytes such a file holds" in refused.value.reason
    )


# --- a --local-dir download's metadata files: 512 bytes, plausible times -------------------


def _local_dir(folder: Path, *, metadata_size: Optional[int] = None, when: float = 1000.0) -> Path:
    content = b'{"model_type": "llama"}\n'
    (folder / "config.json").parent.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_bytes(content)
    os.utime(folder / "config.json", ns=(0, 0))  # long before any download time below
    text = f"{COMMIT}\n{git_blob_id(content)}\n{when!r}\n".encode()
    metadata = folder / ".cache" / "huggingface" / "download" / "config.json.metadata"
    # huggingface_hub reads the first three lines: more lines pad the file to the size asked.
    _padded(metadata, text, metadata_size or len(text), b"\n")
    return folder


def _book(folder: Path) -> Any:
    book = detect_layout(folder)
    assert book is not None and book.layout == LOCAL_DIR
    return book


def test_a_metadata_file_of_exactly_512_bytes_gives_an_address(tmp_path: Path) -> None:
    book = _book(_local_dir(tmp_path / "at-cap", metadata_size=512))
    assert set(book.addresses) == {"config.json"} and dict(book.unaddressed) == {}
    book = _book(_local_dir(tmp_path / "over", metadata_size=513))
    assert set(book.addresses) == set()
    assert "513 bytes, over the 512 such a file holds" in book.unaddressed["config.json"]


@pytest.mark.parametrize(
    ("when", "plausible"),
    [
        (0.0, True),
        (253_402_300_799.0, True),  # 9999-12-31T23:59:59Z
        (math.nextafter(0.0, -1.0), False),
        (math.nextafter(253_402_300_799.0, math.inf), False),
    ],
)
def test_download_times_are_plausible_from_1970_to_the_end_of_9999(
    tmp_path: Path, when: float, plausible: bool
) -> None:
    book = _book(_local_dir(tmp_path, when=when))
    if plausible:
        assert set(book.addresses) == {"config.json"}
    else:
        assert "its download time is not a plausible time" in book.unaddressed["config.json"]


@pytest.mark.parametrize(
    ("late_ns", "flagged"), [(1_000_000_000, False), (1_000_001_000, True)], ids=["1s", "1s+1us"]
)
def test_a_file_changed_over_1_s_after_its_download_is_flagged(
    tmp_path: Path, late_ns: int, flagged: bool
) -> None:
    """huggingface_hub's own tolerance: an mtime up to 1 s after the download time is the
    download's; more is a change made later (the content check still decides)."""
    folder = _local_dir(tmp_path, when=1000.0)
    mtime_ns = 1000 * 10**9 + late_ns
    os.utime(folder / "config.json", ns=(mtime_ns, mtime_ns))
    late = _book(folder).addresses["config.json"].modified_after_download
    if flagged:
        assert late == pytest.approx(late_ns / 1e9)
    else:
        assert late is None


# --- trees/COMMIT.json listings: 32 MiB, sizes up to 2**63 - 1 -----------------------------


def _listing(size: int) -> Dict[str, Any]:
    return {"format_version": 1, "files": {"config.json": {"size": size, "blob_id": BLOB}}}


@pytest.mark.parametrize("over", [0, 1], ids=["at-the-cap", "one-byte-over"])
def test_a_listing_of_exactly_32_mib_is_used(tmp_path: Path, over: int) -> None:
    document = json.dumps(_listing(24)).encode()
    _padded(tmp_path / "trees" / f"{COMMIT}.json", document, 32 * MIB + over)
    listing, notes = read_listing(tmp_path, COMMIT, root=tmp_path, shown_as="")
    if over:
        assert listing is None
        (note,) = notes
        assert f"{32 * MIB + 1} bytes, over the {32 * MIB} such a file holds" in note
    else:
        assert notes == ()
        assert listing is not None and listing.files["config.json"].size == 24


def test_listed_sizes_go_up_to_2_pow_63_minus_1() -> None:
    listing = parse_listing(json.dumps(_listing(2**63 - 1)).encode(), "trees/x.json")
    assert listing.files["config.json"].size == 2**63 - 1
    for size in (2**63, -1):
        with pytest.raises(ValueError, match=r"the size of 'config\.json' is not a file size"):
            parse_listing(json.dumps(_listing(size)).encode(), "trees/x.json")


# --- *.index.json of sharded checkpoints: 16 MiB -------------------------------------------


@pytest.mark.parametrize("over", [0, 1], ids=["at-the-cap", "one-byte-over"])
def test_a_shard_index_of_exactly_16_mib_names_its_shards(tmp_path: Path, over: int) -> None:
    document = json.dumps({"weight_map": {"a": "model-00001-of-00002.safetensors"}}).encode()
    index = _padded(tmp_path / "model.safetensors.index.json", document, 16 * MIB + over)
    shards, oversized = shards_named({index.name: index}, tmp_path)
    if over:
        # Not silently ignored: an index that cannot be read could hide a missing shard.
        assert (shards, oversized) == ({}, [index.name])
    else:
        assert (shards, oversized) == ({"model-00001-of-00002.safetensors": index.name}, [])


# --- refs/ files of a cache repo: 256 bytes ------------------------------------------------


@posix_only
def test_a_ref_of_exactly_256_bytes_is_followed(tmp_path: Path) -> None:
    repo = tmp_path / "models--org--name"
    content = b"{}\n"
    blob = repo / "blobs" / git_blob_id(content)
    blob.parent.mkdir(parents=True)
    blob.write_bytes(content)
    snapshot = repo / "snapshots" / COMMIT
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").symlink_to(f"../../blobs/{blob.name}")
    ref = _padded(repo / "refs" / "main", COMMIT.encode(), 256, b"\n")
    book = detect_layout(repo)
    assert book is not None and book.revision == COMMIT and set(book.addresses) == {"config.json"}
    _padded(ref, COMMIT.encode(), 257, b"\n")
    with pytest.raises(UsageError, match="refs/main cannot be used: 257 bytes, over the 256"):
        detect_layout(repo)


# --- Git LFS pointers: under 1024 bytes ----------------------------------------------------


def test_an_lfs_pointer_is_under_1024_bytes() -> None:
    """git-lfs writes pointers of about 130 bytes and reads nothing of 1024 bytes or more
    as one; anything that size is content, whatever it starts with."""
    pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{SHA}\nsize 12\n".encode()
    extension = b"ext-0-x "  # pointers may carry more "key value" lines after the size

    def padded_to(size: int) -> bytes:
        return pointer + extension + b"v" * (size - len(pointer) - len(extension) - 1) + b"\n"

    assert parse_lfs_pointer(padded_to(1023)) == (SHA, 12)
    assert parse_lfs_pointer(padded_to(1024)) is None


# --- git clones: linked files of 64 KiB, git's output --------------------------------------


@pytest.mark.parametrize("over", [0, 1], ids=["at-the-cap", "one-byte-over"])
def test_a_commondir_file_of_exactly_64_kib_is_read(tmp_path: Path, over: int) -> None:
    """A worktree's commondir names the shared git folder: "." and newlines up to the cap."""
    git_dir = tmp_path / ".git"
    _padded(git_dir / "commondir", b".", 64 * 1024 + over, b"\n")
    if over:
        with pytest.raises(gitrun._GitRefused, match="over the 65536"):
            gitguard._git_dirs(tmp_path)
    else:
        assert gitguard._git_dirs(tmp_path) == [git_dir, git_dir / "."]


def test_git_output_is_read_up_to_its_cap_exactly() -> None:
    limit = 3 * MIB + 5  # more than one 1 MiB read, and not a multiple of it
    data = hashlib.shake_128(b"git output").digest(limit)
    assert gitrun._read_capped(io.BytesIO(data), limit) == (data, False)
    assert gitrun._read_capped(io.BytesIO(data + b"x"), limit) == (b"", True)
