"""verify of huggingface_hub caches written by huggingface_hub itself (a local Hub, no network).

The caches come from ``hf_hub_download`` / ``snapshot_download`` against the local endpoint of
``hub_endpoint.py``; the shared blob store is built with huggingface_hub's own functions.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable, Dict, List

import pytest

import belle_patch
from belle_patch.hub import checks as hub_checks
from hub_endpoint import (
    INDEX,
    REPO_ID,
    SHARDS,
    CacheDownload,
    cli_verdicts,
    etag_of,
    flip_byte,
    json_strings_and_numbers,
    model_files,
    replace_with_fifo,
    require_huggingface_hub,
    run_verify_subprocess,
    sha256,
    xet_hash_of,
)

from helpers import run

require_huggingface_hub()
pytestmark = pytest.mark.skipif(
    not hasattr(os, "symlink") or not hasattr(os, "mkfifo"), reason="needs links and FIFOs"
)

Builder = Callable[..., CacheDownload]
FILES = model_files()
NAMES = sorted(FILES)
OTHER_REPO = "Other/BELLE-Copy"
BAD = ("FAILED", "FAILED open or read")
NOT_OK = (belle_patch.FAILED, belle_patch.REFUSED, belle_patch.MISSING, belle_patch.UNREADABLE)


def statuses(report: belle_patch.VerifyReport) -> Dict[str, str]:
    return {check.name: check.status for check in report.files}


def all_ok(stdout: str, names: List[str] = NAMES) -> bool:
    return cli_verdicts(stdout) == dict.fromkeys(names, "OK")


def relink(link: Path, target: str) -> None:
    link.unlink()
    link.symlink_to(target)


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> List[str]:
    """The real path of everything the hub checks hash."""
    opened: List[str] = []
    real = hub_checks.content_digests

    def recording(path: Path, *args: Any, **kwargs: Any) -> Dict[str, str]:
        opened.append(os.path.realpath(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(hub_checks, "content_digests", recording)
    return opened


# ------------------------------------------------------------------ good caches


@pytest.mark.parametrize("via", ["snapshot", "files"])
def test_a_cache_written_by_huggingface_hub_verifies_ok(
    tmp_path: Path, hub_cache: Builder, via: str
) -> None:
    download = hub_cache(tmp_path / "hub", via=via)
    assert download.tree_listing.exists() == (via == "snapshot")  # what the builder relies on
    assert (download.repo_folder / "refs" / "main").read_text() == download.commit
    result = run("verify", download.repo_folder)
    assert result.exit_code == 0, result.output
    assert all_ok(result.stdout), result.stdout
    assert "FAILED" not in result.stdout
    assert f"cache snapshot of {REPO_ID} at {download.commit[:12]}" in result.stderr
    report = belle_patch.verify([f"hf:{REPO_ID}"])
    assert report.ok
    assert statuses(report) == dict.fromkeys(NAMES, belle_patch.OK)


def test_json_names_the_lfs_and_git_addresses(tmp_path: Path, hub_cache: Builder) -> None:
    download = hub_cache(tmp_path / "hub")
    result = run("verify", download.snapshot, "--json")
    assert result.exit_code == 0
    entries = {entry["name"]: entry for entry in json.loads(result.stdout)["files"]}
    assert entries[SHARDS[0]]["verified_by"] == ["sha256 (LFS)"]
    assert entries[SHARDS[0]]["expected_address"] == sha256(FILES[SHARDS[0]])
    assert entries["config.json"]["verified_by"] == ["git blob id"]
    assert entries["config.json"]["expected_address"] == etag_of(
        "config.json", FILES["config.json"]
    )


def test_a_cache_with_the_shared_blob_store_verifies_ok(tmp_path: Path, hub_cache: Builder) -> None:
    download = hub_cache(tmp_path / "hub", shared=True)
    store = download.cache_root / "blobs"
    assert (store / ".huggingface-shared-blobs").read_text() == "1\n"
    xet = xet_hash_of(FILES[SHARDS[0]])
    assert os.readlink(download.blob(SHARDS[0])) == f"../../blobs/{xet[:2]}/{xet}"
    result = run("verify", download.repo_folder)
    assert result.exit_code == 0, result.stderr
    assert all_ok(result.stdout), result.stdout
    assert "outside" not in result.stderr
    as_json = {
        e["name"]: e for e in json.loads(run("verify", download.snapshot, "--json").stdout)["files"]
    }
    # the address is the name the snapshot link names (the SHA-256), not the store's Xet hash
    assert as_json[SHARDS[0]]["expected_address"] == sha256(FILES[SHARDS[0]])
    assert as_json[SHARDS[0]]["status"] == "OK"


def test_two_repos_sharing_one_store_entry_both_verify_ok(
    tmp_path: Path, hub_cache: Builder
) -> None:
    first = hub_cache(tmp_path / "hub", shared=True)
    second = hub_cache(tmp_path / "hub", shared=True, repo_id=OTHER_REPO)
    entry = first.store_entry(SHARDS[1])
    assert first.blob(SHARDS[1]).resolve() == second.blob(SHARDS[1]).resolve() == entry
    assert len(entry.with_name(entry.name + ".refs").read_text().splitlines()) == 2
    for download in (first, second):
        result = run("verify", download.repo_folder)
        assert result.exit_code == 0, result.stderr
        assert all_ok(result.stdout), result.stdout


# ------------------------------------------------------------------ a damaged shared store


def test_a_damaged_store_entry_fails_every_file_linking_to_it(
    tmp_path: Path, hub_cache: Builder
) -> None:
    dev_files = model_files("-dev")  # shares only the second shard with main
    first = hub_cache(tmp_path / "hub", revisions={"main": FILES, "dev": dev_files}, shared=True)
    second = hub_cache(tmp_path / "hub", shared=True, repo_id=OTHER_REPO)
    entry = first.store_entry(SHARDS[1])
    assert entry.stat().st_mode & 0o777 == 0o400 or entry.stat().st_mode & 0o200 == 0
    flip_byte(entry)  # chmod first: huggingface_hub leaves store entries read-only
    expected = {name: "FAILED" if name == SHARDS[1] else "OK" for name in NAMES}
    for where in (
        [first.repo_folder],
        [first.repo_folder, "--revision", "dev"],
        [first.by_branch["dev"].snapshot],
        [second.repo_folder],
    ):
        result = run("verify", *where)
        assert result.exit_code == 1, where
        assert cli_verdicts(result.stdout) == expected, (where, result.stdout)
        assert f"{SHARDS[1]}: " in result.stderr
    report = belle_patch.verify([f"hf:{OTHER_REPO}"])
    assert not report.ok
    assert statuses(report)[SHARDS[1]] == belle_patch.FAILED


def test_a_store_without_its_marker_is_not_followed(
    tmp_path: Path, hub_cache: Builder, reads: List[str]
) -> None:
    download = hub_cache(tmp_path / "hub", shared=True)
    (download.cache_root / "blobs" / ".huggingface-shared-blobs").unlink()
    result = run("verify", download.repo_folder)
    assert result.exit_code == 1
    verdicts = cli_verdicts(result.stdout)
    lfs = [SHARDS[0], SHARDS[1], "onnx/model.onnx"]
    assert all(verdicts[name] in BAD for name in lfs), verdicts
    assert all(verdicts[name] == "OK" for name in NAMES if name not in lfs), verdicts
    store = str(download.cache_root / "blobs") + os.sep
    reads.clear()
    belle_patch.verify([download.repo_folder])
    assert not [path for path in reads if path.startswith(store)]


# ------------------------------------------------------------------ hostile repo blobs


def _plant_outside_file(download: CacheDownload, tmp_path: Path) -> str:
    outside = tmp_path / "outside.bin"
    outside.write_bytes(FILES[SHARDS[0]])  # the right content: only the link is wrong
    return str(outside)


def _plant_other_repo_blob(download: CacheDownload, tmp_path: Path) -> str:
    other = download.cache_root / "models--Other--Plain" / "blobs"
    other.mkdir(parents=True)
    (other / download.blob(SHARDS[0]).name).write_bytes(FILES[SHARDS[0]])
    return f"../../models--Other--Plain/blobs/{download.blob(SHARDS[0]).name}"


def _plant_unmarked_store(download: CacheDownload, tmp_path: Path) -> str:
    xet = xet_hash_of(FILES[SHARDS[0]])
    entry = download.cache_root / "store" / xet[:2] / xet
    entry.parent.mkdir(parents=True)
    entry.write_bytes(FILES[SHARDS[0]])
    return f"../../store/{xet[:2]}/{xet}"


def _plant_two_hops(download: CacheDownload, tmp_path: Path) -> str:
    # a store-shaped name that is itself a link to the real (good) store entry
    fake = "ff" + "0" * 62
    hop = download.cache_root / "blobs" / "ff" / fake
    hop.parent.mkdir(exist_ok=True)
    xet = xet_hash_of(FILES[SHARDS[0]])
    hop.symlink_to(f"../{xet[:2]}/{xet}")
    return f"../../blobs/ff/{fake}"


def _plant_store_folder(download: CacheDownload, tmp_path: Path) -> str:
    xet = xet_hash_of(FILES[SHARDS[0]])
    return f"../../blobs/{xet[:2]}"


HOSTILE: Dict[str, Callable[[CacheDownload, Path], str]] = {
    "etc-passwd": lambda download, tmp_path: "/etc/passwd",
    "outside-absolute": _plant_outside_file,
    "another-repo-blobs": _plant_other_repo_blob,
    "unmarked-store": _plant_unmarked_store,
    "two-hops": _plant_two_hops,
    "a-store-folder": _plant_store_folder,
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_repo_blob_linking_anywhere_but_the_marked_store_fails_unread(
    tmp_path: Path, hub_cache: Builder, reads: List[str], case: str
) -> None:
    download = hub_cache(tmp_path / "hub", shared=True)
    blob = download.blob(SHARDS[0])
    target = HOSTILE[case](download, tmp_path)
    relink(blob, target)
    planted = os.path.realpath(blob)
    result = run("verify", download.repo_folder)
    assert result.exit_code == 1, result.stdout
    verdicts = cli_verdicts(result.stdout)
    assert verdicts[SHARDS[0]] in BAD
    assert {n: v for n, v in verdicts.items() if n != SHARDS[0]} == {
        n: "OK" for n in NAMES if n != SHARDS[0]
    }
    assert SHARDS[0] in result.stderr
    reads.clear()
    report = belle_patch.verify([download.repo_folder])
    assert statuses(report)[SHARDS[0]] in NOT_OK
    assert planted not in reads, "the planted target was read"


@pytest.mark.parametrize(
    ("name", "other"), [(SHARDS[0], "onnx/model.onnx"), ("config.json", "tokenizer.json")]
)
def test_the_address_is_the_name_the_snapshot_link_names(
    tmp_path: Path, hub_cache: Builder, name: str, other: str
) -> None:
    """blobs/X a link to blobs/Y (Y's own content): X's address is X, not Y."""
    download = hub_cache(tmp_path / "hub")
    relink(download.blob(name), download.blob(other).name)
    result = run("verify", download.snapshot)
    assert result.exit_code == 1
    verdicts = cli_verdicts(result.stdout)
    assert verdicts[name] in BAD
    assert verdicts[other] == "OK"
    assert statuses(belle_patch.verify([download.snapshot]))[name] in NOT_OK


# ------------------------------------------------------------------ files not downloaded


def _json_report(*args: Any) -> Any:
    result = run("verify", *args, "--json")
    return result.exit_code, json.loads(result.stdout)


def test_a_shard_whose_link_was_deleted_fails_and_is_reported_not_downloaded(
    tmp_path: Path, hub_cache: Builder
) -> None:
    download = hub_cache(tmp_path / "hub")
    (download.snapshot / SHARDS[1]).unlink()
    result = run("verify", download.repo_folder)
    assert result.exit_code == 1
    assert SHARDS[1] in result.stdout
    assert "not downloaded" in result.stdout + result.stderr
    assert all(cli_verdicts(result.stdout).get(n) == "OK" for n in NAMES if n != SHARDS[1])
    code, report = _json_report(download.repo_folder)
    assert code == 1 and report["ok"] is False
    strings, numbers = json_strings_and_numbers(report)
    assert any(SHARDS[1] in s for s in strings)
    assert len(FILES[SHARDS[1]]) in numbers  # its bytes are counted
    assert not belle_patch.verify([download.repo_folder]).ok


def test_files_left_out_by_allow_patterns_are_reported_and_exit_0(
    tmp_path: Path, hub_cache: Builder
) -> None:
    patterns = ["*.json", "*.safetensors", "*.md", ".gitattributes"]
    download = hub_cache(tmp_path / "hub", allow_patterns=patterns)
    left_out = ["onnx/model.onnx", "tokenizer/vocab.txt"]
    assert not any((download.snapshot / name).exists() for name in left_out)
    result = run("verify", download.repo_folder)
    assert result.exit_code == 0, result.output
    present = [n for n in NAMES if n not in left_out]
    assert all(cli_verdicts(result.stdout).get(n) == "OK" for n in present), result.stdout
    assert all(name in result.stdout for name in left_out)
    assert "not downloaded" in result.stdout + result.stderr
    code, report = _json_report(download.repo_folder)
    assert code == 0 and report["ok"] is True
    strings, numbers = json_strings_and_numbers(report)
    assert all(any(name in s for s in strings) for name in left_out)
    sizes = [len(FILES[name]) for name in left_out]
    assert sum(sizes) in numbers or all(size in numbers for size in sizes)
    assert belle_patch.verify([download.repo_folder]).ok


def test_a_shard_left_out_by_allow_patterns_fails(tmp_path: Path, hub_cache: Builder) -> None:
    patterns = ["*.json", SHARDS[0], "*.md", ".gitattributes", "onnx/*", "tokenizer/*"]
    download = hub_cache(tmp_path / "hub", allow_patterns=patterns)
    assert not (download.snapshot / SHARDS[1]).exists()
    result = run("verify", download.repo_folder)
    assert result.exit_code == 1
    assert SHARDS[1] in result.stdout
    assert cli_verdicts(result.stdout).get(SHARDS[0]) == "OK"
    code, report = _json_report(download.repo_folder)
    assert code == 1 and report["ok"] is False
    assert any(SHARDS[1] in s for s in json_strings_and_numbers(report)[0])


def test_a_shard_named_by_the_index_fails_without_a_listing(
    tmp_path: Path, hub_cache: Builder
) -> None:
    names = [n for n in NAMES if n != SHARDS[1]]
    download = hub_cache(tmp_path / "hub", via="files", filenames=names)
    assert not download.tree_listing.exists() and (download.snapshot / INDEX).exists()
    result = run("verify", download.repo_folder)
    assert result.exit_code == 1
    assert SHARDS[1] in result.stdout
    assert all(cli_verdicts(result.stdout).get(n) == "OK" for n in names)
    assert not belle_patch.verify([download.repo_folder]).ok


@pytest.mark.parametrize(
    ("name", "other"), [("config.json", "tokenizer.json"), (SHARDS[0], "onnx/model.onnx")]
)
def test_a_file_linked_to_another_files_valid_blob_fails_against_the_listing(
    tmp_path: Path, hub_cache: Builder, name: str, other: str
) -> None:
    download = hub_cache(tmp_path / "hub")
    link = download.snapshot / name
    relink(link, os.path.relpath(download.blob(other), link.parent))
    result = run("verify", download.repo_folder)
    assert result.exit_code == 1
    verdicts = cli_verdicts(result.stdout)
    assert verdicts[name] in BAD
    assert verdicts[other] == "OK"
    assert name in result.stderr
    assert statuses(belle_patch.verify([download.repo_folder]))[name] in NOT_OK


# ------------------------------------------------------------------ missing blobs


def test_an_interrupted_download_leaves_a_missing_blob(tmp_path: Path, hub_cache: Builder) -> None:
    download = hub_cache(tmp_path / "hub")
    blob = download.blob(SHARDS[0])
    partial = blob.with_name(f"{blob.name}.0a1b2c3d.incomplete")  # huggingface_hub's own naming
    partial.write_bytes(blob.read_bytes()[:1000])
    blob.unlink()
    result = run("verify", download.repo_folder)
    assert result.exit_code == 1
    assert cli_verdicts(result.stdout)[SHARDS[0]] == "FAILED open or read"
    assert ".incomplete" not in result.stdout
    assert "download it again" in result.stderr
    assert "an interrupted download left it incomplete" in result.stderr
    assert statuses(belle_patch.verify([download.repo_folder]))[SHARDS[0]] == belle_patch.MISSING


@pytest.mark.parametrize("what", ["git blob", "lfs blob", "store entry"])
def test_a_deleted_blob_is_missing(tmp_path: Path, hub_cache: Builder, what: str) -> None:
    download = hub_cache(tmp_path / "hub", shared=what == "store entry")
    name = "config.json" if what == "git blob" else SHARDS[0]
    gone = download.store_entry(name) if what == "store entry" else download.blob(name)
    gone.unlink()
    result = run("verify", download.repo_folder)
    assert result.exit_code == 1
    verdicts = cli_verdicts(result.stdout)
    assert verdicts[name] == "FAILED open or read"
    assert all(verdicts[n] == "OK" for n in NAMES if n != name)
    assert statuses(belle_patch.verify([download.repo_folder]))[name] == belle_patch.MISSING


# ------------------------------------------------------------------ revisions and refs


def _one_line_usage_error(stdout: str, stderr: str) -> None:
    assert stdout == ""
    assert stderr.count("\n") == 1 and stderr.endswith("\n"), stderr
    assert stderr.startswith("belle-patch")
    assert "Traceback" not in stderr


@pytest.mark.parametrize("ref", ["../../../../usr", "not-a-commit-hash", "../snapshots/{commit}"])
def test_a_hostile_refs_main_is_a_one_line_usage_error(
    tmp_path: Path, hub_cache: Builder, ref: str
) -> None:
    download = hub_cache(tmp_path / "hub")
    (download.repo_folder / "refs" / "main").write_text(ref.format(commit=download.commit))
    for spec in (download.repo_folder, f"hf:{REPO_ID}"):
        result = run("verify", spec)
        assert result.exit_code == 2, (spec, result.output)
        _one_line_usage_error(result.stdout, result.stderr)
    with pytest.raises(belle_patch.BellePatchError):
        belle_patch.verify([download.repo_folder])


@pytest.mark.parametrize("revision", ["../x", "../../snapshots/{commit}", "main/../../x"])
def test_a_revision_that_is_a_path_is_a_one_line_usage_error(
    tmp_path: Path, hub_cache: Builder, revision: str
) -> None:
    download = hub_cache(tmp_path / "hub")
    result = run(
        "verify", download.repo_folder, "--revision", revision.format(commit=download.commit)
    )
    assert result.exit_code == 2
    _one_line_usage_error(result.stdout, result.stderr)


def test_two_revisions_each_verify_by_revision(tmp_path: Path, hub_cache: Builder) -> None:
    dev_files = model_files("-dev")
    main = hub_cache(tmp_path / "hub", revisions={"main": FILES, "dev": dev_files})
    dev = main.by_branch["dev"]
    assert (
        dev.commit != main.commit and (main.repo_folder / "refs" / "dev").read_text() == dev.commit
    )
    for args in ([], ["--revision", "main"], ["--revision", main.commit]):
        result = run("verify", main.repo_folder, *args)
        assert (result.exit_code, all_ok(result.stdout)) == (0, True), args
        assert f"at {main.commit[:12]}" in result.stderr
    for args in (["--revision", "dev"], ["--revision", dev.commit]):
        result = run("verify", main.repo_folder, *args)
        assert (result.exit_code, all_ok(result.stdout)) == (0, True), args
        assert f"at {dev.commit[:12]}" in result.stderr
    flip_byte(dev.blob("config.json"))  # only dev's config.json
    assert run("verify", main.repo_folder).exit_code == 0
    damaged = run("verify", f"hf:{REPO_ID}@dev")
    assert damaged.exit_code == 1
    assert cli_verdicts(damaged.stdout)["config.json"] == "FAILED"
    assert not belle_patch.verify([main.repo_folder], revision="dev").ok


# ------------------------------------------------------------------ nothing hangs


def _fifo_refs(download: CacheDownload) -> Path:
    replace_with_fifo(download.repo_folder / "refs" / "main")
    return download.repo_folder


def _fifo_tree_listing(download: CacheDownload) -> Path:
    replace_with_fifo(download.tree_listing)
    return download.repo_folder


def _fifo_snapshot_file(download: CacheDownload) -> Path:
    replace_with_fifo(download.snapshot / "config.json")
    return download.repo_folder


def _fifo_blob(download: CacheDownload) -> Path:
    replace_with_fifo(download.blob("config.json"))
    return download.repo_folder


FIFOS: Dict[str, Callable[[CacheDownload], Path]] = {
    "refs": _fifo_refs,
    "tree-listing": _fifo_tree_listing,
    "snapshot-file": _fifo_snapshot_file,
    "blob": _fifo_blob,
}


@pytest.mark.parametrize("where", sorted(FIFOS))
def test_a_planted_fifo_gets_a_verdict_within_seconds(
    tmp_path: Path, hub_cache: Builder, where: str
) -> None:
    download = hub_cache(tmp_path / "hub")
    target = FIFOS[where](download)
    result = run_verify_subprocess(target)  # raises TimeoutExpired (after 60 s) on a hang
    assert "Traceback" not in result.stderr, result.stderr
    if where == "refs":
        assert result.returncode in (1, 2)
    elif where == "tree-listing":
        assert result.returncode in (0, 1, 2)
        assert result.stderr
    else:
        assert result.returncode == 1
        assert cli_verdicts(result.stdout).get("config.json") in (*BAD, "NOT VERIFIED")


# ------------------------------------------------------------------ found in review


def test_a_weights_path_linked_to_a_git_files_blob_fails_against_the_listing(
    tmp_path: Path, hub_cache: Builder
) -> None:
    """The listing gives an LFS path a SHA-256: a link to any git blob id is another file."""
    download = hub_cache(tmp_path / "hub")
    link = download.snapshot / SHARDS[0]
    relink(link, os.path.relpath(download.blob("config.json"), link.parent))
    for extra in ((), ("--complete",)):
        result = run("verify", download.repo_folder, *extra)
        assert result.exit_code == 1
        assert cli_verdicts(result.stdout)[SHARDS[0]] in BAD
        assert "another file's content" in result.stderr


def test_a_commit_given_as_revision_is_never_taken_for_a_ref_of_that_name(
    tmp_path: Path, hub_cache: Builder
) -> None:
    download = hub_cache(
        tmp_path / "hub", revisions={"main": model_files(), "dev": model_files("-dev")}
    )
    main, dev = download.by_branch["main"], download.by_branch["dev"]
    (download.repo_folder / "refs" / main.commit).write_text(dev.commit)
    flip_byte(main.blob("config.json"))
    result = run("verify", download.repo_folder, "--revision", main.commit)
    assert result.exit_code == 1
    assert f"at {main.commit[:12]}" in result.stderr
    assert cli_verdicts(result.stdout)["config.json"] == "FAILED"


def test_a_repo_blobs_folder_that_is_a_link_out_is_never_read(
    tmp_path: Path, hub_cache: Builder, reads: List[str]
) -> None:
    download = hub_cache(tmp_path / "hub")
    outside = tmp_path / "elsewhere"
    (download.repo_folder / "blobs").rename(outside)
    (download.repo_folder / "blobs").symlink_to(outside)
    result = run("verify", download.repo_folder)
    assert result.exit_code == 1
    assert "OK" not in cli_verdicts(result.stdout).values()
    assert "blobs/ is a link" in result.stderr
    assert not [path for path in reads if path.startswith(str(outside))]


def test_a_folder_where_a_listed_file_should_be_is_not_the_file(
    tmp_path: Path, hub_cache: Builder
) -> None:
    download = hub_cache(tmp_path / "hub")
    (download.snapshot / "onnx" / "model.onnx").unlink()
    (download.snapshot / "onnx" / "model.onnx").mkdir()
    result = run("verify", download.repo_folder, "--json")
    names = [item["name"] for item in json.loads(result.stdout)["not_downloaded"]]
    assert names == ["onnx/model.onnx"]
    assert run("verify", download.repo_folder, "--complete").exit_code == 1


def test_an_index_too_large_to_read_fails_rather_than_hide_its_shards(
    tmp_path: Path, hub_cache: Builder
) -> None:
    files = model_files()
    files[INDEX] = files[INDEX][:-1] + b" " * (17 * 1024 * 1024) + b"}"
    download = hub_cache(tmp_path / "hub", files=files, allow_patterns=[INDEX, SHARDS[0]])
    result = run("verify", download.repo_folder)
    assert result.exit_code == 1
    assert cli_verdicts(result.stdout)[INDEX] in BAD
    assert "its shards cannot be checked" in result.stderr


def test_a_repo_folder_reached_through_a_link_finds_its_own_cache_store(
    tmp_path: Path, hub_cache: Builder, monkeypatch: pytest.MonkeyPatch
) -> None:
    download = hub_cache(tmp_path / "hub", shared=True)
    other_cache = tmp_path / "other-cache"
    other_cache.mkdir()
    (other_cache / download.repo_folder.name).symlink_to(download.repo_folder)
    monkeypatch.setenv("HF_HUB_CACHE", str(other_cache))
    result = run("verify", f"hf:{REPO_ID}")
    assert result.exit_code == 0, result.output
    assert all_ok(result.stdout)
