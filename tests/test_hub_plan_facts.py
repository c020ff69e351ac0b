"""Planning a cache snapshot looks at its per-snapshot facts once, and checks no less.

The realpaths of a snapshot's ``blobs/``, repo folder and shared store are looked at once per
snapshot, those of the folders links are read from once per folder, and the plan reuses the
book's own walk: these tests pin that every check still holds (a link leads one hop into its
repo's ``blobs/`` or fails, a linked ``blobs/`` or parent folder is never read through), that
the plan made from the book's walk is the one a second walk gives, and that the number of
realpaths no longer grows with the number of files. The caches are written by huggingface_hub
itself against the local Hub of ``hub_endpoint.py`` (the ``real_cache`` fixture); hostile
variations alter such a cache after it was written. The test of ``realpath_from`` over link
layouts that are not caches needs no huggingface_hub.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

import pytest

from belle_patch.hub import book as book_module
from belle_patch.hub import cache as hub_cache_module
from belle_patch.hub.book import AddressBook, PlannedFile, plan_checks
from belle_patch.hub.cache import snapshot_book
from belle_patch.hub.untrusted import realpath_from
from belle_patch.vocabulary import Status
from hub_endpoint import CacheDownload, require_huggingface_hub

pytestmark = pytest.mark.skipif(
    not hasattr(os, "symlink") or os.name != "posix", reason="needs POSIX links"
)

Builder = Callable[..., CacheDownload]
OTHER_REPO = "Org/Other"


@pytest.fixture
def real_cache(request: pytest.FixtureRequest) -> Builder:
    """``hub_cache`` (conftest_hub.py), asked for only once huggingface_hub is known to be
    there: a clean skip without it, a failure under BELLE_PATCH_REQUIRE_HUB=1. (This module
    also holds a test that needs no huggingface_hub, so the check cannot be module-wide.)"""
    require_huggingface_hub()
    builder: Builder = request.getfixturevalue("hub_cache")
    return builder


def verdicts(planned: List[PlannedFile]) -> Dict[str, Tuple[Any, ...]]:
    return {
        entry.name: (
            str(entry.path),
            entry.status,
            entry.detail,
            entry.address.hexdigest if entry.address is not None else None,
        )
        for entry in planned
    }


def rewalked(book: AddressBook) -> List[PlannedFile]:
    """The plan as made before the book carried its walk: the folder walked a second time."""
    return plan_checks(replace(book, walk=None))


# ------------------------------------------------------------------ the resolution


def test_resolving_from_a_known_realpath_is_what_realpath_of_the_whole_gives(
    tmp_path: Path,
) -> None:
    real = tmp_path / "real"
    (real / "a" / "b" / "c").mkdir(parents=True)
    (real / "blobs").mkdir()
    (real / "linked").symlink_to(real / "a" / "b")  # a folder link
    (real / "a" / "up").symlink_to("..")  # leads back up
    (real / "a" / "b" / "out").symlink_to(tmp_path)  # leads out
    (real / "loop").symlink_to("loop")
    (real / "dangling").symlink_to("nowhere/at/all")
    starts = [real, real / "a", real / "a" / "b" / "c", tmp_path / "via"]
    (tmp_path / "via").symlink_to(real / "a" / "b")  # a start that is itself a link
    relatives = [
        ".",
        "..",
        "../..",
        "../../..",
        "../../../blobs",
        "../blobs",
        "blobs",
        "linked",
        "linked/..",
        "linked/../..",
        "linked/c/../../blobs",
        "up/up/blobs",
        "b/out/real/blobs",
        "loop",
        "loop/x",
        "dangling",
        "dangling/..",
        "missing/../blobs",
        "./blobs/",
        "..//blobs",
        str(real / "linked"),
        "/",
        "../" * 40,
    ]
    for start in starts:
        real_start = os.path.realpath(start)
        for relative in relatives:
            expected = os.path.realpath(os.path.join(start, relative))
            assert realpath_from(real_start, relative) == expected, (start, relative)


# ------------------------------------------------------------------ the plan


def test_the_plan_from_the_books_walk_is_the_plan_of_a_second_walk(
    tmp_path: Path, real_cache: Builder
) -> None:
    files = {f"data/{number % 3}/file-{number}.txt": b"file %d\n" % number for number in range(30)}
    files["config.json"] = b"{}\n"
    download = real_cache(tmp_path / "hub", files=files)
    other = real_cache(
        tmp_path / "hub", files={"stolen.json": b"another repo's\n"}, repo_id=OTHER_REPO
    )
    snapshot, commit = download.snapshot, download.commit
    config = download.blob("config.json").name
    stolen = other.blob("stolen.json").name
    (snapshot / "stolen.json").symlink_to(f"../../../{other.repo_folder.name}/blobs/{stolen}")
    (snapshot / "data" / "out.txt").symlink_to("../../../../../secret")
    (snapshot / "data" / "loop.txt").symlink_to("loop.txt")
    (snapshot / "data" / "0" / "through-link.txt").symlink_to(
        f"../../../../snapshots/{commit}/data/0/../../../../blobs/{config}"
    )
    (snapshot / "copy.txt").write_text("a copy\n")
    (snapshot / "folder-link").symlink_to("data")
    (snapshot / "missing.txt").symlink_to(f"../../blobs/{'0' * 40}")
    (snapshot / ".git").mkdir()
    (snapshot / ".git" / "HEAD").write_text("ref\n")
    book = snapshot_book(snapshot)
    assert book.walk is not None and book.walk.root == snapshot
    planned = plan_checks(book)
    assert verdicts(planned) == verdicts(rewalked(book))
    by_name = {entry.name: entry for entry in planned}
    for name in ("stolen.json", "data/out.txt", "data/loop.txt"):
        assert by_name[name].status == Status.FAILED and not by_name[name].to_hash, name
    assert by_name["data/0/through-link.txt"].to_hash  # resolves into blobs/: one hop
    assert by_name["missing.txt"].status == Status.MISSING
    assert by_name["copy.txt"].status == Status.NOT_VERIFIED
    assert by_name["folder-link"].status == Status.FAILED
    assert sum(entry.to_hash for entry in planned) == 32


def test_an_unreadable_folder_is_in_the_plan_from_the_books_walk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, real_cache: Builder
) -> None:
    download = real_cache(tmp_path / "hub", files={"sub/a.txt": b"a\n", "b.txt": b"b\n"})
    snapshot = download.snapshot
    (snapshot / ".git").mkdir()  # the Hub takes no .git/ upload: added afterwards
    (snapshot / ".git" / "c.txt").symlink_to(
        os.path.relpath(download.blob("b.txt"), snapshot / ".git")
    )
    entries = book_module.folder_entries
    unlisted = {snapshot / "sub", snapshot / ".git"}

    def refusing(folder: Path) -> List[Tuple[str, int]]:
        if folder in unlisted:  # as a folder without read permission (root reads any)
            raise PermissionError(13, "Permission denied")
        return entries(folder)

    monkeypatch.setattr(book_module, "folder_entries", refusing)
    book = snapshot_book(snapshot)
    planned = plan_checks(book)
    assert verdicts(planned) == verdicts(rewalked(book))
    assert {entry.name: entry.status for entry in planned} == {
        ".git": Status.FAILED,
        "b.txt": "",
        "sub": Status.FAILED,
    }


def test_another_folder_than_the_books_is_walked_for_itself(
    tmp_path: Path, real_cache: Builder
) -> None:
    snapshot = real_cache(tmp_path / "hub", files={"a.txt": b"a\n"}).snapshot
    copy = tmp_path / "copy"
    shutil.copytree(snapshot, copy, symlinks=True)
    (copy / "extra.txt").write_text("only in the copy\n")
    book = snapshot_book(snapshot)
    planned = {entry.name: entry for entry in plan_checks(book, copy)}
    assert planned["extra.txt"].status == Status.NOT_VERIFIED
    assert planned["a.txt"].path == copy / "a.txt"


def test_a_parent_folder_made_a_link_after_the_book_is_never_read_through(
    tmp_path: Path, real_cache: Builder
) -> None:
    files = {f"sub/deeper/f{number}.txt": b"%d\n" % number for number in range(5)}
    files["top.txt"] = b"top\n"
    snapshot = real_cache(tmp_path / "hub", files=files).snapshot
    book = snapshot_book(snapshot)
    elsewhere = tmp_path / "elsewhere"
    (snapshot / "sub").rename(elsewhere)
    (snapshot / "sub").symlink_to(elsewhere)
    planned = {entry.name: entry for entry in plan_checks(book)}
    for number in range(5):
        entry = planned[f"sub/deeper/f{number}.txt"]
        assert entry.status == Status.FAILED and "under a link to a folder" in entry.detail
    assert planned["top.txt"].to_hash


def test_a_linked_blobs_folder_fails_every_link_unread(tmp_path: Path, real_cache: Builder) -> None:
    files = {f"d/f{number}.txt": b"%d\n" % number for number in range(4)}
    download = real_cache(tmp_path / "hub", files=files)
    blobs = download.repo_folder / "blobs"
    moved = tmp_path / "blobs-elsewhere"
    blobs.rename(moved)
    blobs.symlink_to(moved)
    book = snapshot_book(download.snapshot)
    assert not book.addresses
    assert all("blobs/ is a link" in failure.problem for failure in book.failed.values())
    assert not any(entry.to_hash for entry in plan_checks(book))


def test_a_blob_into_the_store_needs_the_marker_and_one_hop(
    tmp_path: Path, real_cache: Builder
) -> None:
    files = {f"m{number}.bin": b"weights %d\n" % number for number in range(3)}
    download = real_cache(tmp_path / "hub", files=files, shared=True)
    for name in files:  # huggingface_hub moved each LFS blob into the store: one hop to it
        store_entry = download.store_entry(name)
        assert os.readlink(download.blob(name)) == (
            f"../../blobs/{store_entry.parent.name}/{store_entry.name}"
        )
    marker = download.cache_root / "blobs" / ".huggingface-shared-blobs"
    written = marker.read_bytes()
    marker.unlink()  # a store entry without the marker
    unmarked = snapshot_book(download.snapshot)
    assert not unmarked.addresses and len(unmarked.failed) == 3
    marker.write_bytes(written)
    marked = snapshot_book(download.snapshot)
    assert sorted(marked.addresses) == ["m0.bin", "m1.bin", "m2.bin"]
    assert all("shared blob store" in address.source for address in marked.addresses.values())


def test_realpaths_per_snapshot_do_not_grow_with_its_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, real_cache: Builder
) -> None:
    files = {f"data/{number % 2}/file-{number}.txt": b"%d\n" % number for number in range(200)}
    snapshot = real_cache(tmp_path / "hub", files=files).snapshot
    calls: List[str] = []
    realpath = os.path.realpath

    def counting(path: Any, *args: Any, **kwargs: Any) -> str:
        calls.append(os.fspath(path))
        return str(realpath(path, *args, **kwargs))

    monkeypatch.setattr(os.path, "realpath", counting)
    book = snapshot_book(snapshot)
    planned = plan_checks(book)
    assert sum(entry.to_hash for entry in planned) == 200
    assert len(calls) < 20, calls[:30]


def test_a_single_link_is_still_addressed_alone(tmp_path: Path, real_cache: Builder) -> None:
    download = real_cache(tmp_path / "hub", files={"sub/one.txt": b"one\n"})
    address = hub_cache_module.snapshot_link_address(download.snapshot / "sub" / "one.txt")
    assert address is not None and address.hexdigest == download.blob("sub/one.txt").name
