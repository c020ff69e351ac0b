"""verify of a Hugging Face download: every file against the content address it carries on disk.

The caches and ``--local-dir`` folders are written by huggingface_hub itself against the local
Hub of ``hub_endpoint.py`` (the ``real_cache`` and ``real_local_dir`` fixtures); hostile
variations alter such a download after it was written. The git clones here are made by git;
their tests, and those that need no download at all, run without huggingface_hub.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any, Callable, Dict, List, Sequence

import pytest

import belle_patch
from belle_patch.hub import checks as hub_checks
from hub_endpoint import (
    REPO_ID,
    SHARDS,
    CacheDownload,
    LocalDirDownload,
    flip_byte,
    generated,
    model_files,
    require_huggingface_hub,
    sha256,
)
from test_hub_git import git, git_env, make_clone, pointer

from helpers import run

needs_links = pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symbolic links")
needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")

Builder = Callable[..., CacheDownload]
LocalDirBuilder = Callable[..., LocalDirDownload]
CACHE_FILES = model_files()
CACHE_NAMES = sorted(CACHE_FILES)
DEV_FILES = {"config.json": b"{}\n"}  # a second revision with other files than main's
LOCAL_FILES = {
    "config.json": b'{"model_type": "bloom"}\n',
    "model.safetensors": generated("safetensors", 40_000),
    "sub/tokenizer.json": b'{"version": "1.0"}\n',
}


def ok_lines(names: Sequence[str]) -> str:
    return "".join(f"{name}: OK\n" for name in names)


def statuses(report: belle_patch.VerifyReport) -> Dict[str, str]:
    return {check.name: check.status for check in report.files}


def json_files(stdout: str) -> Dict[str, Dict[str, Any]]:
    return {entry["name"]: entry for entry in json.loads(stdout)["files"]}


def flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def summary(download: CacheDownload, count: int = len(CACHE_FILES)) -> str:
    return (
        f"belle-patch: cache snapshot of {download.repo_id} at {download.commit[:12]}: "
        f"{count} files with a content address\n"
    )


@pytest.fixture
def real_cache(request: pytest.FixtureRequest) -> Builder:
    """``hub_cache`` (conftest_hub.py), asked for only once huggingface_hub is known to be
    there: a clean skip without it, a failure under BELLE_PATCH_REQUIRE_HUB=1. (This module
    also holds tests that need no huggingface_hub, so the check cannot be module-wide.)"""
    require_huggingface_hub()
    builder: Builder = request.getfixturevalue("hub_cache")
    return builder


@pytest.fixture
def real_local_dir(request: pytest.FixtureRequest) -> LocalDirBuilder:
    """``local_dir_download`` (conftest_hub.py), asked for only once huggingface_hub is known to
    be there, as ``real_cache``."""
    require_huggingface_hub()
    builder: LocalDirBuilder = request.getfixturevalue("local_dir_download")
    return builder


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> List[Path]:
    """Every path the hub checks open, in order."""
    opened: List[Path] = []
    real = hub_checks.content_digests

    def recording(path: Path, *args: Any, **kwargs: Any) -> Dict[str, str]:
        opened.append(path)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(hub_checks, "content_digests", recording)
    return opened


# ------------------------------------------------------------------ the cache


@needs_links
def test_intact_snapshot_exit_0_every_file_ok(tmp_path: Path, real_cache: Builder) -> None:
    download = real_cache(tmp_path / "hub")
    result = run("verify", download.snapshot)
    assert result.exit_code == 0
    assert result.stdout == ok_lines(CACHE_NAMES)
    assert result.stderr == summary(download)


@needs_links
@pytest.mark.parametrize("name", [SHARDS[0], "tokenizer/vocab.txt"])
def test_snapshot_one_byte_changed_fails_that_file(
    tmp_path: Path, real_cache: Builder, name: str
) -> None:
    download = real_cache(tmp_path / "hub")
    flip_byte(download.blob(name))
    result = run("verify", download.snapshot)
    assert result.exit_code == 1
    assert result.stdout == "".join(
        f"{n}: {'FAILED' if n == name else 'OK'}\n" for n in CACHE_NAMES
    )
    assert f"belle-patch: {name}: does not match its " in result.stderr
    assert "download it again" in result.stderr
    assert "WARNING: 1 computed checksum did NOT match" in result.stderr


@needs_links
def test_missing_blob_fails_with_download_it_again(tmp_path: Path, real_cache: Builder) -> None:
    download = real_cache(tmp_path / "hub")
    blob = download.blob("config.json")
    blob.unlink()
    result = run("verify", download.snapshot)
    assert result.exit_code == 1
    assert result.stdout == "".join(
        f"{n}: {'FAILED open or read' if n == 'config.json' else 'OK'}\n" for n in CACHE_NAMES
    )
    assert f"belle-patch: config.json: missing blob blobs/{blob.name}; download it again\n" in (
        result.stderr
    )
    assert "WARNING: 1 file could not be read" in result.stderr


@needs_links
def test_link_out_of_the_cache_fails_and_is_never_read(
    tmp_path: Path, real_cache: Builder, reads: List[Path]
) -> None:
    download = real_cache(tmp_path / "hub")
    outside = tmp_path / "secret.bin"
    outside.write_bytes(CACHE_FILES[SHARDS[0]])  # the right content: only the link is wrong
    link = download.snapshot / SHARDS[0]
    link.unlink()
    link.symlink_to(outside)
    result = run("verify", download.snapshot)
    assert result.exit_code == 1
    assert result.stdout == "".join(
        f"{n}: {'FAILED open or read' if n == SHARDS[0] else 'OK'}\n" for n in CACHE_NAMES
    )
    assert f"belle-patch: {SHARDS[0]}: link leads outside this repo's blobs/" in result.stderr
    others = [n for n in CACHE_NAMES if n != SHARDS[0]]
    assert sorted(p.name for p in reads) == sorted(Path(n).name for n in others)
    report = belle_patch.verify([download.snapshot])
    assert statuses(report)[SHARDS[0]] == belle_patch.REFUSED


@needs_links
def test_file_with_no_address_is_not_verified_and_fails_unless_allowed(
    tmp_path: Path, real_cache: Builder
) -> None:
    snapshot = real_cache(tmp_path / "hub").snapshot
    (snapshot / "notes.txt").write_text("added by hand\n")
    result = run("verify", snapshot)
    assert result.exit_code == 1
    assert result.stdout == "".join(
        f"{n}: {'NOT VERIFIED' if n == 'notes.txt' else 'OK'}\n"
        for n in sorted([*CACHE_NAMES, "notes.txt"])
    )
    assert "belle-patch: notes.txt: a copy, not a link into blobs/" in result.stderr
    assert result.stderr.endswith(
        "belle-patch: WARNING: 1 file was NOT verified: no content address or MD5\n"
    )
    allowed = run("verify", snapshot, "--allow-unverified")
    assert allowed.exit_code == 0
    assert allowed.stdout == result.stdout
    assert allowed.stderr.endswith("(accepted: --allow-unverified)\n")


@needs_links
def test_not_verified_only_is_never_ok_even_when_allowed(
    tmp_path: Path, real_cache: Builder
) -> None:
    snapshot = real_cache(tmp_path / "hub", files={"copy.bin": b"a copy"}).snapshot
    (snapshot / "copy.bin").unlink()
    (snapshot / "copy.bin").write_bytes(b"a copy")  # as huggingface_hub leaves it without links
    result = run("verify", snapshot, "--allow-unverified")
    assert result.exit_code == 1
    assert result.stdout == "copy.bin: NOT VERIFIED\n"


@needs_links
def test_repo_folder_uses_refs_main_or_revision(tmp_path: Path, real_cache: Builder) -> None:
    download = real_cache(tmp_path / "hub", revisions={"main": CACHE_FILES, "dev": DEV_FILES})
    other = download.by_branch["dev"].commit
    repo = download.repo_folder
    result = run("verify", repo)
    assert (result.exit_code, result.stdout) == (0, ok_lines(CACHE_NAMES))
    older = run("verify", repo, "--revision", other)
    assert (older.exit_code, older.stdout) == (0, "config.json: OK\n")
    assert f"at {other[:12]}" in older.stderr
    unknown = run("verify", repo, "--revision", "v2")
    assert unknown.exit_code == 2
    assert unknown.stdout == ""
    assert "no snapshot for revision v2" in unknown.stderr


def test_revision_on_a_plain_folder_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "a.bin").write_bytes(b"a")
    result = run("verify", tmp_path, "--revision", "main")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "a revision can be chosen only for a cache repo folder" in result.stderr


@needs_links
def test_hf_spec_found_through_hf_hub_cache_and_hf_home(
    tmp_path: Path, real_cache: Builder, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_cache(tmp_path / "home" / "hub")
    monkeypatch.delenv("HUGGINGFACE_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "home" / "hub"))
    result = run("verify", f"hf:{REPO_ID}")
    assert (result.exit_code, result.stdout) == (0, ok_lines(CACHE_NAMES))
    assert f"cache snapshot of {REPO_ID}" in result.stderr
    monkeypatch.delenv("HF_HUB_CACHE")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "home"))
    via_home = run("verify", f"hf:{REPO_ID}@main", "--quiet")
    assert (via_home.exit_code, via_home.stdout) == (0, "")


def test_hf_spec_not_in_the_cache_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "home" / "hub").mkdir(parents=True)
    monkeypatch.delenv("HUGGINGFACE_HUB_CACHE", raising=False)
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "home"))
    absent = run("verify", "hf:BelleGroup/BELLE-7B-2M")
    assert absent.exit_code == 2
    assert absent.stdout == ""
    assert "hf:BelleGroup/BELLE-7B-2M: not in the Hugging Face cache" in absent.stderr


@needs_links
def test_json_names_what_verified_each_file(tmp_path: Path, real_cache: Builder) -> None:
    download = real_cache(tmp_path / "hub")
    snapshot = download.snapshot
    (snapshot / "added.txt").write_bytes(b"mine")
    weights = CACHE_FILES[SHARDS[0]]
    sums = tmp_path / "md5sums.txt"
    sums.write_text(f"{md5(weights)}  {SHARDS[0]}\n{md5(b'mine')}  added.txt\n")
    result = run("verify", snapshot, "--manifest", sums, "--json")
    assert result.exit_code == 0
    assert result.stderr == ""
    report = json.loads(result.stdout)
    assert report["ok"] is True
    assert report["download"] == f"cache snapshot of {REPO_ID} at {download.commit[:12]}"
    entries = json_files(result.stdout)
    lfs = {SHARDS[0], SHARDS[1], "onnx/model.onnx"}
    expected = {n: ["sha256 (LFS)" if n in lfs else "git blob id"] for n in CACHE_NAMES}
    expected[SHARDS[0]] = ["sha256 (LFS)", "MD5"]
    expected["added.txt"] = ["MD5"]
    assert {name: e["verified_by"] for name, e in entries.items()} == expected
    shard = entries[SHARDS[0]]
    assert shard["expected_address"] == sha256(weights)
    assert shard["actual_address"] == shard["expected_address"]
    assert shard["actual_md5"] == md5(weights)


@needs_links
def test_md5_list_checked_in_the_same_read(
    tmp_path: Path, real_cache: Builder, reads: List[Path]
) -> None:
    snapshot = real_cache(tmp_path / "hub").snapshot
    sums = snapshot / "md5sums.txt"  # in the folder: the list itself is not reported
    sums.write_text(f"{'0' * 32}  {SHARDS[0]}\n{md5(b'x')}  absent.bin\n")
    result = run("verify", snapshot, "-m", sums)
    assert result.exit_code == 1
    assert result.stdout == "".join(
        f"{n}: {'FAILED' if n == SHARDS[0] else 'OK'}\n" for n in CACHE_NAMES
    ) + ("absent.bin: FAILED open or read\n")
    assert f"{SHARDS[0]}: does not match its MD5 in" in result.stderr
    assert "it matches its sha256 (LFS): the list may be for another version" in result.stderr
    assert sorted(p.name for p in reads) == sorted(Path(n).name for n in CACHE_NAMES)
    ignoring = run("verify", snapshot, "-m", sums, "--ignore-missing", "--quiet")
    assert (ignoring.exit_code, ignoring.stdout) == (1, f"{SHARDS[0]}: FAILED\n")


@needs_links
def test_api_gives_the_same_verdicts(tmp_path: Path, real_cache: Builder) -> None:
    download = real_cache(tmp_path / "hub")
    snapshot = download.snapshot
    flip_byte(download.blob("config.json"))
    (snapshot / "notes.txt").write_text("hand\n")
    report = belle_patch.verify([snapshot], jobs=1)
    assert not report.ok
    assert statuses(report) == {
        **dict.fromkeys(CACHE_NAMES, belle_patch.OK),
        "config.json": belle_patch.FAILED,
        "notes.txt": "NOT VERIFIED",
    }
    assert [c.name for c in report.not_verified] == ["notes.txt"]
    assert report.download == f"cache snapshot of {REPO_ID} at {download.commit[:12]}"
    flip_byte(download.blob("config.json"))  # back to what was downloaded
    assert not belle_patch.verify([snapshot], allow_unverified=False).ok
    assert belle_patch.verify([snapshot], allow_unverified=True).ok


def _local_dir_download(tmp_path: Path, request: pytest.FixtureRequest) -> Path:
    builder: LocalDirBuilder = request.getfixturevalue("real_local_dir")
    return builder(tmp_path / "BELLE-7B-1M", files=LOCAL_FILES).folder


def _cache_snapshot(tmp_path: Path, request: pytest.FixtureRequest) -> Path:
    if not hasattr(os, "symlink"):
        pytest.skip("needs symbolic links")
    builder: Builder = request.getfixturevalue("real_cache")
    return builder(tmp_path / "hub").snapshot


@pytest.mark.parametrize(
    "make", [_local_dir_download, _cache_snapshot], ids=["local-dir", "cache-snapshot"]
)
def test_a_download_must_be_the_only_path(
    tmp_path: Path, request: pytest.FixtureRequest, make: Callable[..., Path]
) -> None:
    download = make(tmp_path, request)
    other = tmp_path / "other"
    other.mkdir()
    result = run("verify", download, other)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "check one download at a time" in result.stderr


# ------------------------------------------------------------------ --local-dir


def test_local_dir_intact_damaged_added_and_missing(
    tmp_path: Path, real_local_dir: LocalDirBuilder
) -> None:
    download = real_local_dir(tmp_path / "BELLE-7B-1M", files=LOCAL_FILES)
    folder = download.folder
    names = ["config.json", "model.safetensors", "sub/tokenizer.json"]
    intact = run("verify", folder)
    assert (intact.exit_code, intact.stdout) == (0, ok_lines(names))
    assert f"--local-dir download at {download.commit[:12]}: 3 files" in intact.stderr

    flip_a_byte(folder / "model.safetensors")
    # changed a minute after huggingface_hub recorded its download
    downloaded = float(download.metadata("model.safetensors").read_text().splitlines()[2])
    os.utime(folder / "model.safetensors", (downloaded + 60, downloaded + 60))
    (folder / "mine.txt").write_text("by hand\n")
    (folder / "sub" / "tokenizer.json").unlink()
    damaged = run("verify", folder)
    assert damaged.exit_code == 1
    assert damaged.stdout == (
        "config.json: OK\nmine.txt: NOT VERIFIED\nmodel.safetensors: FAILED\n"
        "sub/tokenizer.json: FAILED open or read\n"
    )
    assert "belle-patch: model.safetensors: does not match its sha256 (LFS)" in damaged.stderr
    assert "after its download" in damaged.stderr
    assert "sub/tokenizer.json: named by the --local-dir download but not in the folder" in (
        damaged.stderr
    )
    report = belle_patch.verify([folder])
    assert statuses(report) == {
        "config.json": "OK",
        "mine.txt": "NOT VERIFIED",
        "model.safetensors": "FAILED",
        "sub/tokenizer.json": "MISSING",
    }


# ------------------------------------------------------------------ git clones


@needs_git
def test_git_clone_intact_then_one_byte_changed(tmp_path: Path) -> None:
    folder = make_clone(tmp_path)
    names = [".gitattributes", "config.json", "model.bin"]
    intact = run("verify", folder)
    assert (intact.exit_code, intact.stdout) == (0, ok_lines(names))
    assert "belle-patch: git clone at " in intact.stderr
    as_json = json_files(run("verify", folder, "--json").stdout)
    assert as_json["model.bin"]["verified_by"] == ["sha256 (LFS)"]
    assert as_json["config.json"]["verified_by"] == ["git blob id"]

    flip_a_byte(folder / "model.bin")
    damaged = run("verify", folder)
    assert damaged.exit_code == 1
    assert damaged.stdout == ".gitattributes: OK\nconfig.json: OK\nmodel.bin: FAILED\n"
    assert "belle-patch: model.bin: does not match its sha256 (LFS) (git commit (LFS pointer))" in (
        damaged.stderr
    )
    assert statuses(belle_patch.verify([folder])) == {
        ".gitattributes": "OK",
        "config.json": "OK",
        "model.bin": "FAILED",
    }


@needs_git
def test_git_clone_pointer_left_and_untracked_file(tmp_path: Path) -> None:
    folder = make_clone(tmp_path)
    (folder / "model.bin").write_bytes(pointer(b"other weights"))
    (folder / "mine.txt").write_text("by hand\n")
    result = run("verify", folder)
    assert result.exit_code == 1
    assert result.stdout == (
        ".gitattributes: OK\nconfig.json: OK\nmine.txt: NOT VERIFIED\nmodel.bin: FAILED\n"
    )


@needs_git
def test_git_clone_hostile_fsmonitor_does_not_run(tmp_path: Path) -> None:
    folder = make_clone(tmp_path)
    marker = tmp_path / "fsmonitor-ran"
    with (folder / ".git" / "config").open("a") as config:
        config.write(f"[core]\n\tfsmonitor = \"touch '{marker}'; false\"\n")
    git(folder, git_env(tmp_path), "ls-files", "-s")  # the config is live for plain git
    assert marker.exists()
    marker.unlink()
    result = run("verify", folder)
    assert result.exit_code == 0
    assert result.stdout == ok_lines([".gitattributes", "config.json", "model.bin"])
    assert not marker.exists()


def test_local_dir_state_folder_and_list_inside_are_not_reported(
    tmp_path: Path, real_local_dir: LocalDirBuilder
) -> None:
    folder = real_local_dir(tmp_path / "BELLE-7B-1M", files=LOCAL_FILES).folder
    (folder / ".belle-patch").mkdir()
    (folder / ".belle-patch" / "state.json").write_text("{}")
    sums = folder / "md5sums.txt"
    sums.write_text(f"{md5((folder / 'config.json').read_bytes())}  config.json\n")
    result = run("verify", folder, "--manifest", sums, "--json")
    assert result.exit_code == 0
    entries = json_files(result.stdout)
    assert sorted(entries) == ["config.json", "model.safetensors", "sub/tokenizer.json"]
    assert entries["config.json"]["verified_by"] == ["git blob id", "MD5"]
    without_list = run("verify", folder)
    assert without_list.exit_code == 1
    assert "md5sums.txt: NOT VERIFIED\n" in without_list.stdout
