"""Content addresses: the FORMAT.md vectors, the git blob hasher, LFS pointers, verdicts."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from belle_patch.errors import InputError
from belle_patch.hub.address import (
    EOL_CONVERSION,
    OTHER_CONVERSION,
    ContentAddress,
    address_from_hex,
    algorithms_for,
    check_file_against,
    content_digests,
    parse_lfs_pointer,
)
from belle_patch.hub.gitblob import GIT_BLOB, GitBlobHasher, git_blob_id
from belle_patch.vocabulary import AddressKind, DigestKind, Status

from conftest import generated

VECTORS = [
    (
        b"",
        "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391",
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    ),
    (
        b"hello\n",
        "ce013625030ba8dba906f756967f9e9ca394464a",
        "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03",
    ),
    (
        b'{"model_type": "bloom"}\n',
        "8828b516dccf7d1aa2e06ddc13bdef00441b147d",
        "0206f9545f1134cf9d0129418022ea863408e48358de3190455001c21348114b",
    ),
]


@pytest.mark.parametrize(("content", "blob_id", "sha256"), VECTORS)
def test_format_vectors_from_one_read(
    tmp_path: Path, content: bytes, blob_id: str, sha256: str
) -> None:
    assert git_blob_id(content) == blob_id
    path = tmp_path / "file"
    path.write_bytes(content)
    digests = content_digests(path, (DigestKind.SHA256, GIT_BLOB, DigestKind.MD5))
    assert digests == {
        DigestKind.SHA256: sha256,
        GIT_BLOB: blob_id,
        DigestKind.MD5: hashlib.md5(content).hexdigest(),
    }


def test_git_blob_hasher_fed_in_pieces_across_chunks(tmp_path: Path) -> None:
    content = generated("blob", 10_000)
    expected = hashlib.sha1(b"blob 10000\0" + content).hexdigest()
    hasher = GitBlobHasher(len(content))
    for start in range(0, len(content), 777):
        hasher.update(memoryview(content)[start : start + 777])
    assert hasher.hexdigest() == expected
    assert hasher.digest() == bytes.fromhex(expected)
    path = tmp_path / "big"
    path.write_bytes(content)
    # Small chunks make the read loop run its threaded pipeline.
    assert content_digests(path, (GIT_BLOB,), chunk_size=1000)[GIT_BLOB] == expected


def test_git_blob_hasher_refuses_a_size_that_changed_while_read() -> None:
    hasher = GitBlobHasher(6)
    hasher.update(b"hello")
    with pytest.raises(InputError, match="changed while it was read"):
        hasher.hexdigest()


def test_address_kind_follows_length() -> None:
    sha = address_from_hex('"' + "A" * 64 + '"', source="etag")
    assert sha == ContentAddress(AddressKind.SHA256_LFS, "a" * 64, None, "etag")
    assert sha.algorithm == DigestKind.SHA256
    blob = address_from_hex("b" * 40)
    assert blob is not None and blob.kind == AddressKind.GIT_BLOB_ID and blob.algorithm == GIT_BLOB
    for wrong in ("b" * 39, "g" * 40, "a" * 63, "", "W/" + "a" * 40):
        assert address_from_hex(wrong) is None


POINTER = b"version https://git-lfs.github.com/spec/v1\noid sha256:" + b"c" * 64 + b"\nsize 12345\n"


def test_lfs_pointer_parsing() -> None:
    assert parse_lfs_pointer(POINTER) == ("c" * 64, 12345)
    extended = POINTER.replace(b"oid", b"ext-0-foo sha256:" + b"d" * 64 + b"\noid")
    assert parse_lfs_pointer(extended) == ("c" * 64, 12345)
    assert parse_lfs_pointer(POINTER[:-1]) is None  # the last line ends with a newline
    assert parse_lfs_pointer(POINTER.replace(b"v1", b"v2")) is None
    assert parse_lfs_pointer(POINTER.replace(b"size 12345", b"size 012")) is None
    assert parse_lfs_pointer(POINTER + b"x" * 1024) is None
    assert parse_lfs_pointer(b"hello\n") is None


def test_verdicts_name_what_verified_and_what_to_do(tmp_path: Path) -> None:
    address = ContentAddress(AddressKind.SHA256_LFS, "a" * 64, 10, "blobs/" + "a" * 64)
    good = check_file_against(address, {DigestKind.SHA256: "a" * 64})
    assert (good.status, good.method, good.ok) == (Status.OK, AddressKind.SHA256_LFS, True)
    bad = check_file_against(address, {DigestKind.SHA256: "b" * 64}, size=9)
    assert (bad.status, bad.expected, bad.actual) == (Status.FAILED, "a" * 64, "b" * 64)
    assert "does not match its sha256 (LFS)" in bad.detail
    assert "9 bytes where 10 were downloaded" in bad.detail
    assert bad.detail.endswith("download it again")
    with pytest.raises(ValueError, match="no sha256 digest"):
        check_file_against(address, {GIT_BLOB: "a" * 40})


def test_a_work_tree_pointer_asks_for_git_lfs_pull() -> None:
    pointer_id = git_blob_id(POINTER)
    address = ContentAddress(
        AddressKind.SHA256_LFS, "c" * 64, 12345, "git index", pointer_blob_id=pointer_id
    )
    assert algorithms_for(address) == (DigestKind.SHA256, GIT_BLOB)
    verdict = check_file_against(address, {DigestKind.SHA256: "0" * 64, GIT_BLOB: pointer_id})
    assert verdict.status == Status.FAILED
    assert "run git lfs pull" in verdict.detail


def test_modified_after_download_is_still_a_failure_and_says_so() -> None:
    address = ContentAddress(
        AddressKind.GIT_BLOB_ID, "a" * 40, source="meta", modified_after_download=30.4
    )
    verdict = check_file_against(address, {GIT_BLOB: "b" * 40})
    assert verdict.status == Status.FAILED
    assert "modified 30 s after its download" in verdict.detail
    assert check_file_against(address, {GIT_BLOB: "a" * 40}).status == Status.OK


def test_files_git_converts_are_compared_as_git_does_or_not_verified(tmp_path: Path) -> None:
    committed = b"line one\nline two\n"
    checked_out = tmp_path / "notes.txt"
    checked_out.write_bytes(committed.replace(b"\n", b"\r\n"))
    raw = content_digests(checked_out, (GIT_BLOB,))
    address = ContentAddress(
        AddressKind.GIT_BLOB_ID, git_blob_id(committed), conversion=EOL_CONVERSION
    )
    assert check_file_against(address, raw, path=checked_out).status == Status.OK
    assert check_file_against(address, raw).status == Status.NOT_VERIFIED
    checked_out.write_bytes(b"line one\r\nline 2wo\r\n")
    changed = content_digests(checked_out, (GIT_BLOB,))
    verdict = check_file_against(address, changed, path=checked_out)
    assert verdict.status == Status.NOT_VERIFIED  # never FAILED where git might call it unchanged
    assert "line endings" in verdict.detail
    other = ContentAddress(
        AddressKind.GIT_BLOB_ID, git_blob_id(committed), conversion=OTHER_CONVERSION
    )
    assert check_file_against(other, changed, path=checked_out).status == Status.NOT_VERIFIED
    plain = ContentAddress(AddressKind.GIT_BLOB_ID, git_blob_id(committed))
    assert check_file_against(plain, raw, path=checked_out).status == Status.FAILED
