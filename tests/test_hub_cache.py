"""The huggingface_hub cache: snapshot links into blobs/, repo folders, ``hf:ORG/NAME``.

The caches are written by huggingface_hub itself against the local Hub of ``hub_endpoint.py``
(the ``real_cache`` fixture); hostile variations alter such a cache after it was written. The
tests of pure functions (``cache_root``, the errors of ``resolve_hub_spec``) need no cache and
run without huggingface_hub.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Callable, Dict, List

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
from hub_endpoint import (
    REPO_ID,
    SHARDS,
    CacheDownload,
    HubEndpoint,
    download_cache,
    flip_byte,
    model_files,
    require_huggingface_hub,
)

pytestmark = pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symbolic links")

Builder = Callable[..., CacheDownload]
FILES = model_files()
NAMES = sorted(FILES)
OTHER_REPO = "Other/BELLE-Copy"
DEV_FILES = {"config.json": b"{}\n"}  # a second revision with other files than main's


@pytest.fixture
def real_cache(request: pytest.FixtureRequest) -> Builder:
    """``hub_cache`` (conftest_hub.py), asked for only once huggingface_hub is known to be
    there: a clean skip without it, a failure under BELLE_PATCH_REQUIRE_HUB=1. (This module
    also holds tests that need no huggingface_hub, so the check cannot be module-wide.)"""
    require_huggingface_hub()
    builder: Builder = request.getfixturevalue("hub_cache")
    return builder


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


def test_intact_snapshot_every_file_addressed_and_matching(
    tmp_path: Path, real_cache: Builder
) -> None:
    download = real_cache(tmp_path / "hub")
    book = detect_layout(download.snapshot)
    assert book is not None
    assert (book.layout, book.repo_id, book.revision) == (
        CACHE_SNAPSHOT,
        REPO_ID,
        download.commit,
    )
    assert set(book.addresses) == set(FILES)
    assert book.addresses[SHARDS[0]].kind == AddressKind.SHA256_LFS
    assert book.addresses["tokenizer/vocab.txt"].kind == AddressKind.GIT_BLOB_ID
    assert not book.failed and not book.unaddressed
    assert book.summary == (
        f"cache snapshot of {REPO_ID} at {download.commit[:12]}: "
        f"{len(FILES)} files with a content address"
    )
    results = check_all(plan_checks(book))
    assert {name: r.status for name, r in results.items()} == dict.fromkeys(FILES, Status.OK)
    assert results[SHARDS[0]].method == AddressKind.SHA256_LFS
    assert results["config.json"].method == AddressKind.GIT_BLOB_ID


@pytest.mark.parametrize("name", [SHARDS[0], "tokenizer/vocab.txt"])
def test_one_byte_changed_at_the_same_size_fails_that_file_only(
    tmp_path: Path, real_cache: Builder, name: str
) -> None:
    download = real_cache(tmp_path / "hub")
    flip_byte(download.blob(name))
    book = detect_layout(download.snapshot)
    assert book is not None
    results = check_all(plan_checks(book))
    assert results[name].status == Status.FAILED
    assert "download it again" in results[name].detail
    assert [n for n, r in results.items() if not r.ok] == [name]


def test_missing_blob_fails_with_download_it_again(tmp_path: Path, real_cache: Builder) -> None:
    download = real_cache(tmp_path / "hub")
    blob = download.blob(SHARDS[0])
    # What a download killed part way left before huggingface_hub 2.4 (which names its
    # partial file <etag>.<8 hex digits>.incomplete instead).
    blob.rename(blob.with_name(blob.name + ".incomplete"))
    book = detect_layout(download.snapshot)
    assert book is not None
    failure = book.failed[SHARDS[0]]
    assert failure.status == Status.MISSING
    assert f"missing blob blobs/{blob.name}" in failure.detail
    assert "interrupted download" in failure.detail
    assert failure.detail.endswith("download it again")
    planned = {p.name: p for p in plan_checks(book)}
    assert not planned[SHARDS[0]].to_hash
    assert planned["config.json"].to_hash


def test_links_out_of_the_repo_blobs_fail_and_are_never_read(
    tmp_path: Path, real_cache: Builder
) -> None:
    download = real_cache(tmp_path / "hub")
    # A blob of another repo in the same cache, with a perfectly good address as its name.
    other = real_cache(tmp_path / "hub", repo_id=OTHER_REPO)
    other_blob = other.blob("config.json")
    assert other_blob.is_file()
    snapshot = download.snapshot
    outside = tmp_path / "secret"
    outside.write_bytes(b"not yours\n")
    (snapshot / "stolen.json").symlink_to(
        f"../../../{other.repo_folder.name}/blobs/{other_blob.name}"
    )
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


def test_a_copied_file_in_a_snapshot_has_no_address(tmp_path: Path, real_cache: Builder) -> None:
    snapshot = real_cache(tmp_path / "hub").snapshot
    (snapshot / "config.json").unlink()
    (snapshot / "config.json").write_bytes(FILES["config.json"])  # as without links
    book = detect_layout(snapshot)
    assert book is not None
    assert "config.json" in book.unaddressed
    results = check_all(plan_checks(book))
    assert results["config.json"].status == Status.NOT_VERIFIED
    assert "no content address" in results["config.json"].detail
    assert results[SHARDS[0]].status == Status.OK


def test_repo_folder_follows_refs_main_or_the_revision_given(
    tmp_path: Path, real_cache: Builder
) -> None:
    main = real_cache(tmp_path / "hub", revisions={"main": FILES, "dev": DEV_FILES})
    dev = main.by_branch["dev"]
    repo = main.repo_folder
    assert (repo / "refs" / "dev").read_text() == dev.commit
    found = detect_layout(repo)
    assert found is not None and found.revision == main.commit
    assert set(found.addresses) == set(FILES)
    for revision in ("dev", dev.commit):
        book = detect_layout(repo, revision)
        assert book is not None and book.revision == dev.commit
        assert set(book.addresses) == {"config.json"}
    with pytest.raises(UsageError, match="no snapshot for revision v2"):
        detect_layout(repo, "v2")
    with pytest.raises(UsageError, match="cache repo folder"):
        detect_layout(main.snapshot, "dev")


def test_address_for_one_file_inside_a_snapshot(tmp_path: Path, real_cache: Builder) -> None:
    snapshot = real_cache(tmp_path / "hub").snapshot
    address = address_for_file(snapshot / "tokenizer" / "vocab.txt")
    assert address is not None
    assert address.hexdigest == git_blob_id(FILES["tokenizer/vocab.txt"])
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


def test_resolve_hub_spec_finds_the_snapshot_without_network(
    tmp_path: Path, real_cache: Builder, request: pytest.FixtureRequest
) -> None:
    hub = tmp_path / "home" / "hub"
    download = real_cache(hub)
    endpoint: HubEndpoint = request.getfixturevalue("hub_environment")
    data = {"data.csv": b"a,b\n"}
    commit = endpoint.publish("Org/Set", {"main": data}, repo_type="dataset")["main"]
    dataset = download_cache(endpoint, hub, data, repo_id="Org/Set", commit=commit,
                             repo_type="dataset")  # fmt: skip
    env = {"HF_HOME": str(tmp_path / "home")}
    assert resolve_hub_spec(f"hf:{REPO_ID}", environ=env) == download.snapshot
    assert resolve_hub_spec(f"hf:{REPO_ID}@{download.commit}", environ=env) == download.snapshot
    assert resolve_hub_spec(f"hf:{REPO_ID}@main", environ=env) == download.snapshot
    found = resolve_hub_spec("hf:datasets/Org/Set", environ=env)
    assert found == dataset.snapshot and found.parent.parent.name == "datasets--Org--Set"
    with pytest.raises(UsageError) as missing:
        resolve_hub_spec("hf:BelleGroup/BELLE-7B-2M", environ=env)
    message = str(missing.value)
    assert "not in the Hugging Face cache" in message and str(hub) in message
    assert "\n" not in message


def test_resolve_hub_spec_errors_need_no_cache(tmp_path: Path) -> None:
    """A repo not in the cache, and what is not a repo id: one-line usage errors."""
    hub = tmp_path / "home" / "hub"
    hub.mkdir(parents=True)
    env = {"HF_HOME": str(tmp_path / "home")}
    with pytest.raises(UsageError) as missing:
        resolve_hub_spec("hf:BelleGroup/BELLE-7B-2M", environ=env)
    message = str(missing.value)
    assert "not in the Hugging Face cache" in message and str(hub) in message
    assert "\n" not in message
    for wrong in ("hf:", "hf:a/b/c/d", "hf:../x"):
        with pytest.raises(UsageError, match="not a repo id"):
            resolve_hub_spec(wrong, environ=env)


def test_resolve_hub_spec_reads_the_process_environment(
    tmp_path: Path, real_cache: Builder, monkeypatch: pytest.MonkeyPatch
) -> None:
    download = real_cache(tmp_path / "cache")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    assert resolve_hub_spec(f"hf:{REPO_ID}") == download.snapshot


def test_check_planned_reads_each_file_once_for_its_address_and_md5(
    tmp_path: Path, real_cache: Builder
) -> None:
    download = real_cache(tmp_path / "hub")
    snapshot = download.snapshot
    (snapshot / "config.json").unlink()
    (snapshot / "config.json").write_bytes(FILES["config.json"])
    download.blob("tokenizer/vocab.txt").unlink()
    book = detect_layout(snapshot)
    assert book is not None
    outcomes = {entry.name: check_planned(entry, (DigestKind.MD5,)) for entry in plan_checks(book)}
    verdict, digests = outcomes[SHARDS[0]]
    weights = FILES[SHARDS[0]]
    assert verdict.status == Status.OK and verdict.method == AddressKind.SHA256_LFS
    assert digests == {
        DigestKind.SHA256: hashlib.sha256(weights).hexdigest(),
        DigestKind.MD5: hashlib.md5(weights).hexdigest(),
    }
    copy_verdict, copy_digests = outcomes["config.json"]
    assert copy_verdict.status == Status.NOT_VERIFIED  # an MD5 list may still vouch for it
    assert copy_digests == {DigestKind.MD5: hashlib.md5(FILES["config.json"]).hexdigest()}
    assert outcomes["tokenizer/vocab.txt"][0].status == Status.MISSING
    assert outcomes["tokenizer/vocab.txt"][1] == {}


def test_repo_folder_without_refs_main(tmp_path: Path, real_cache: Builder) -> None:
    download = real_cache(tmp_path / "hub")
    repo = download.repo_folder
    (repo / "refs" / "main").unlink()
    only = detect_layout(repo)
    assert only is not None and only.revision == download.commit  # the one snapshot there is
    second = real_cache(tmp_path / "hub", revisions={"main": FILES, "dev": DEV_FILES})
    assert second.repo_folder == repo and len(os.listdir(repo / "snapshots")) == 2
    (repo / "refs" / "main").unlink()
    with pytest.raises(UsageError, match="name one with --revision"):
        detect_layout(repo)
