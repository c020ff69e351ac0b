"""The huggingface_hub cache: snapshot links into blobs/, repo folders, ``hf:ORG/NAME``."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path, PurePosixPath
from typing import Dict, List, Mapping

import pytest

from belle_patch.errors import UsageError
from belle_patch.hub.address import (
    AddressCheck,
    algorithms_for,
    check_file_against,
    content_digests,
)
from belle_patch.hub.book import CACHE_SNAPSHOT, PlannedFile, plan_checks
from belle_patch.hub.cache import cache_root, resolve_hub_spec
from belle_patch.hub.checks import check_planned
from belle_patch.hub.detect import address_for_file, detect_layout
from belle_patch.hub.gitblob import git_blob_id
from belle_patch.vocabulary import AddressKind, DigestKind, Status

from conftest import generated

pytestmark = pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symbolic links")

COMMIT = "0123456789abcdef0123456789abcdef01234567"
FILES = {
    "config.json": b'{"model_type": "bloom"}\n',
    "pytorch_model.bin": generated("weights", 50_000),
    "tokenizer/tokenizer.json": b'{"version": "1.0"}\n',
}


def address_of(name: str, content: bytes) -> str:
    """The Hub keeps weights with LFS (SHA-256) and small text in git (blob id)."""
    if name.endswith(".bin"):
        return hashlib.sha256(content).hexdigest()
    return git_blob_id(content)


def make_cache(
    root: Path,
    files: Mapping[str, bytes] = FILES,
    repo: str = "models--BelleGroup--BELLE-7B-1M",
    commit: str = COMMIT,
) -> Path:
    """A cache repo as huggingface_hub leaves it; returns the snapshot folder."""
    repo_folder = root / repo
    blobs = repo_folder / "blobs"
    blobs.mkdir(parents=True, exist_ok=True)
    (repo_folder / "refs").mkdir(exist_ok=True)
    (repo_folder / "refs" / "main").write_text(commit)
    snapshot = repo_folder / "snapshots" / commit
    for name, content in files.items():
        address = address_of(name, content)
        (blobs / address).write_bytes(content)
        link = snapshot / name
        link.parent.mkdir(parents=True, exist_ok=True)
        depth = len(PurePosixPath(name).parts) + 1
        link.symlink_to("../" * depth + f"blobs/{address}")
    return snapshot


def check_all(planned: List[PlannedFile]) -> Dict[str, AddressCheck]:
    results = {}
    for entry in planned:
        if entry.to_hash:
            assert entry.address is not None
            digests = content_digests(entry.path, algorithms_for(entry.address))
            results[entry.name] = check_file_against(
                entry.address, digests, size=entry.path.stat().st_size, path=entry.path
            )
        else:
            results[entry.name] = AddressCheck(entry.status, "", "", detail=entry.detail)
    return results


def blob_path(snapshot: Path, name: str) -> Path:
    return snapshot.parent.parent / "blobs" / address_of(name, FILES[name])


def test_intact_snapshot_every_file_addressed_and_matching(tmp_path: Path) -> None:
    snapshot = make_cache(tmp_path / "hub")
    book = detect_layout(snapshot)
    assert book is not None
    assert (book.layout, book.repo_id, book.revision) == (
        CACHE_SNAPSHOT,
        "BelleGroup/BELLE-7B-1M",
        COMMIT,
    )
    assert set(book.addresses) == set(FILES)
    assert book.addresses["pytorch_model.bin"].kind == AddressKind.SHA256_LFS
    assert book.addresses["tokenizer/tokenizer.json"].kind == AddressKind.GIT_BLOB_ID
    assert not book.failed and not book.unaddressed
    assert book.summary == (
        "cache snapshot of BelleGroup/BELLE-7B-1M at 0123456789ab: 3 files with a content address"
    )
    results = check_all(plan_checks(book))
    assert {name: r.status for name, r in results.items()} == dict.fromkeys(FILES, Status.OK)
    assert results["pytorch_model.bin"].method == AddressKind.SHA256_LFS
    assert results["config.json"].method == AddressKind.GIT_BLOB_ID


@pytest.mark.parametrize("name", ["pytorch_model.bin", "tokenizer/tokenizer.json"])
def test_one_byte_changed_at_the_same_size_fails_that_file_only(tmp_path: Path, name: str) -> None:
    snapshot = make_cache(tmp_path / "hub")
    blob = blob_path(snapshot, name)
    damaged = bytearray(blob.read_bytes())
    damaged[len(damaged) // 2] ^= 0x01
    blob.write_bytes(bytes(damaged))
    book = detect_layout(snapshot)
    assert book is not None
    results = check_all(plan_checks(book))
    assert results[name].status == Status.FAILED
    assert "download it again" in results[name].detail
    assert [n for n, r in results.items() if not r.ok] == [name]


def test_missing_blob_fails_with_download_it_again(tmp_path: Path) -> None:
    snapshot = make_cache(tmp_path / "hub")
    blob = blob_path(snapshot, "pytorch_model.bin")
    blob.rename(blob.with_name(blob.name + ".incomplete"))
    book = detect_layout(snapshot)
    assert book is not None
    failure = book.failed["pytorch_model.bin"]
    assert failure.status == Status.MISSING
    assert f"missing blob blobs/{blob.name}" in failure.detail
    assert "interrupted download" in failure.detail
    assert failure.detail.endswith("download it again")
    planned = {p.name: p for p in plan_checks(book)}
    assert not planned["pytorch_model.bin"].to_hash
    assert planned["config.json"].to_hash


def test_links_out_of_the_repo_blobs_fail_and_are_never_read(tmp_path: Path) -> None:
    snapshot = make_cache(tmp_path / "hub")
    # A blob of another repo, with a perfectly good address as its name.
    other = make_cache(tmp_path / "hub", repo="models--Other--Model")
    other_blob = blob_path(other, "config.json")
    outside = tmp_path / "secret"
    outside.write_bytes(b"not yours\n")
    (snapshot / "stolen.json").symlink_to(f"../../../models--Other--Model/blobs/{other_blob.name}")
    (snapshot / "absolute.txt").symlink_to(outside)
    (snapshot / "relative.txt").symlink_to("../../../../secret")
    (snapshot / "loop.txt").symlink_to("loop.txt")
    book = detect_layout(snapshot)
    assert book is not None
    for name in ("stolen.json", "absolute.txt", "relative.txt", "loop.txt"):
        assert book.failed[name].status == Status.FAILED, name
        assert "outside this repo's blobs/" in book.failed[name].problem
        assert name not in book.addresses
    planned = {p.name: p for p in plan_checks(book)}
    assert not any(planned[n].to_hash for n in ("stolen.json", "absolute.txt", "relative.txt"))
    assert planned["config.json"].to_hash


def test_a_copied_file_in_a_snapshot_has_no_address(tmp_path: Path) -> None:
    snapshot = make_cache(tmp_path / "hub")
    (snapshot / "config.json").unlink()
    (snapshot / "config.json").write_bytes(
        FILES["config.json"]
    )  # as on a file system without links
    book = detect_layout(snapshot)
    assert book is not None
    assert "config.json" in book.unaddressed
    results = check_all(plan_checks(book))
    assert results["config.json"].status == Status.NOT_VERIFIED
    assert "no content address" in results["config.json"].detail
    assert results["pytorch_model.bin"].status == Status.OK


def test_repo_folder_follows_refs_main_or_the_revision_given(tmp_path: Path) -> None:
    hub = tmp_path / "hub"
    make_cache(hub)
    second = "f" * 40
    make_cache(hub, {"config.json": b"{}\n"}, commit=second)
    repo = hub / "models--BelleGroup--BELLE-7B-1M"
    (repo / "refs" / "main").write_text(COMMIT)
    (repo / "refs" / "dev").write_text(second)
    main = detect_layout(repo)
    assert main is not None and main.revision == COMMIT and set(main.addresses) == set(FILES)
    for revision in ("dev", second):
        book = detect_layout(repo, revision)
        assert (
            book is not None and book.revision == second and set(book.addresses) == {"config.json"}
        )
    with pytest.raises(UsageError, match="no snapshot for revision v2"):
        detect_layout(repo, "v2")
    with pytest.raises(UsageError, match="cache repo folder"):
        detect_layout(repo / "snapshots" / COMMIT, "dev")


def test_address_for_one_file_inside_a_snapshot(tmp_path: Path) -> None:
    snapshot = make_cache(tmp_path / "hub")
    address = address_for_file(snapshot / "tokenizer" / "tokenizer.json")
    assert address is not None and address.hexdigest == git_blob_id(
        FILES["tokenizer/tokenizer.json"]
    )
    assert address_for_file(tmp_path / "elsewhere" / "x.bin") is None


def test_plain_folder_is_no_layout(tmp_path: Path) -> None:
    (tmp_path / "a.bin").write_bytes(b"x")
    assert detect_layout(tmp_path) is None


def test_cache_root_follows_huggingface_hub_order(tmp_path: Path) -> None:
    home = Path(os.path.expanduser("~"))
    everything = {
        "HF_HUB_CACHE": "/a",
        "HUGGINGFACE_HUB_CACHE": "/b",
        "HF_HOME": "/c",
        "XDG_CACHE_HOME": "/d",
    }
    assert cache_root(everything) == Path("/a")
    assert cache_root({**everything, "HF_HUB_CACHE": ""}) == Path("/b")
    assert cache_root({"HF_HOME": "/c", "XDG_CACHE_HOME": "/d"}) == Path("/c/hub")
    assert cache_root({"XDG_CACHE_HOME": "/d"}) == Path("/d/huggingface/hub")
    assert cache_root({}) == home / ".cache" / "huggingface" / "hub"


def test_resolve_hub_spec_finds_the_snapshot_without_network(tmp_path: Path) -> None:
    hub = tmp_path / "home" / "hub"
    snapshot = make_cache(hub)
    make_cache(hub, {"data.csv": b"a,b\n"}, repo="datasets--Org--Set")
    env = {"HF_HOME": str(tmp_path / "home")}
    assert resolve_hub_spec("hf:BelleGroup/BELLE-7B-1M", environ=env) == snapshot
    assert resolve_hub_spec(f"hf:BelleGroup/BELLE-7B-1M@{COMMIT}", environ=env) == snapshot
    assert resolve_hub_spec("hf:datasets/Org/Set", environ=env).parent.parent.name == (
        "datasets--Org--Set"
    )
    with pytest.raises(UsageError) as missing:
        resolve_hub_spec("hf:BelleGroup/BELLE-7B-2M", environ=env)
    message = str(missing.value)
    assert "not in the Hugging Face cache" in message and str(hub) in message
    assert "\n" not in message
    for wrong in ("hf:", "hf:a/b/c/d", "hf:../x"):
        with pytest.raises(UsageError, match="not a repo id"):
            resolve_hub_spec(wrong, environ=env)


def test_resolve_hub_spec_reads_the_process_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    snapshot = make_cache(tmp_path / "cache")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    assert resolve_hub_spec("hf:BelleGroup/BELLE-7B-1M") == snapshot


def test_check_planned_reads_each_file_once_for_its_address_and_md5(tmp_path: Path) -> None:
    snapshot = make_cache(tmp_path / "hub")
    (snapshot / "config.json").unlink()
    (snapshot / "config.json").write_bytes(FILES["config.json"])
    blob_path(snapshot, "tokenizer/tokenizer.json").unlink()
    book = detect_layout(snapshot)
    assert book is not None
    outcomes = {entry.name: check_planned(entry, (DigestKind.MD5,)) for entry in plan_checks(book)}
    verdict, digests = outcomes["pytorch_model.bin"]
    weights = FILES["pytorch_model.bin"]
    assert verdict.status == Status.OK and verdict.method == AddressKind.SHA256_LFS
    assert digests == {
        DigestKind.SHA256: hashlib.sha256(weights).hexdigest(),
        DigestKind.MD5: hashlib.md5(weights).hexdigest(),
    }
    copy_verdict, copy_digests = outcomes["config.json"]
    assert copy_verdict.status == Status.NOT_VERIFIED  # an MD5 list may still vouch for it
    assert copy_digests == {DigestKind.MD5: hashlib.md5(FILES["config.json"]).hexdigest()}
    assert outcomes["tokenizer/tokenizer.json"][0].status == Status.MISSING
    assert outcomes["tokenizer/tokenizer.json"][1] == {}


def test_repo_folder_without_refs_main(tmp_path: Path) -> None:
    hub = tmp_path / "hub"
    make_cache(hub)
    repo = hub / "models--BelleGroup--BELLE-7B-1M"
    (repo / "refs" / "main").unlink()
    only = detect_layout(repo)
    assert only is not None and only.revision == COMMIT  # the one snapshot there is
    make_cache(hub, {"config.json": b"{}\n"}, commit="e" * 40)
    (repo / "refs" / "main").unlink()
    with pytest.raises(UsageError, match="name one with --revision"):
        detect_layout(repo)
