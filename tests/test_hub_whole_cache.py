"""verify of a whole huggingface_hub cache: every repo, every revision, each blob read once.

The caches are written by huggingface_hub itself from the local Hub of ``hub_endpoint.py``
(``hub_cache`` and ``several_repos``); only the damage a test is about is done by hand.
"""

from __future__ import annotations

import builtins
import io
import json
import os
import re
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List

import pytest

import belle_patch
from hub_endpoint import (
    INDEX,
    REPO_ID,
    SHARDS,
    CacheDownload,
    etag_of,
    flip_byte,
    model_files,
    require_huggingface_hub,
    run_verify_subprocess,
    sha256,
)

from helpers import Recorder, run

require_huggingface_hub()
pytest_plugins = ["conftest_cache_many"]
pytestmark = pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs links")

Builder = Callable[..., CacheDownload]
Several = Callable[..., Dict[str, CacheDownload]]
FILES = model_files()
DEV = model_files("-dev")  # shares the second shard (and the index) with main
OTHER = "Other/BELLE-Copy"
LINE = re.compile(
    r"^(?P<repo>.+?)@(?P<commit>[0-9a-f]{12})/(?P<name>.+): "
    r"(?P<verdict>OK|FAILED|FAILED open or read|NOT VERIFIED|NOT DOWNLOADED)$"
)


def lines(stdout: str) -> Dict[str, str]:
    """``REPO@COMMIT12/NAME: VERDICT`` lines by ``REPO@COMMIT12/NAME``; any other line on
    stdout fails the test (every line must name its repo and revision)."""
    found = {}
    for line in stdout.splitlines():
        match = LINE.match(line)
        assert match, f"a line that does not name its repo and revision: {line!r}"
        found[f"{match['repo']}@{match['commit']}/{match['name']}"] = match["verdict"]
    return found


def at(download: CacheDownload, name: str, branch: str = "main") -> str:
    revision = download.by_branch[branch] if download.by_branch else download
    return f"{download.repo_id}@{revision.commit[:12]}/{name}"


def two_repos(hub_cache: Builder, root: Path, *, shared: bool = False) -> List[CacheDownload]:
    first = hub_cache(root, revisions={"main": FILES, "dev": DEV}, shared=shared)
    second = hub_cache(root, repo_id=OTHER, shared=shared)
    return [first, second]


def expected_ok(downloads: List[CacheDownload]) -> Dict[str, str]:
    verdicts = {}
    for download in downloads:
        for branch, revision in download.by_branch.items():
            for name in revision.files:
                verdicts[at(download, name, branch)] = "OK"
    return verdicts


# ------------------------------------------------------------------ a good cache


@pytest.mark.parametrize("how", ["path", "hf:"])
def test_every_repo_and_revision_is_checked_and_named_on_its_line(
    tmp_path: Path, hub_cache: Builder, how: str
) -> None:
    downloads = two_repos(hub_cache, tmp_path / "hub")
    result = run("verify", tmp_path / "hub" if how == "path" else "hf:")
    assert result.exit_code == 0, result.output
    assert lines(result.stdout) == expected_ok(downloads)
    first, second = downloads
    main, dev = first.by_branch["main"].commit, first.by_branch["dev"].commit
    assert f"{REPO_ID}: 2 revisions ({main[:12]} main, {dev[:12]} dev), 18 files: 18 OK" in (
        result.stderr
    )
    assert f"{OTHER}: 1 revision ({second.commit[:12]} main), 9 files: 9 OK" in result.stderr
    assert "2 repos, 3 revisions, 27 files" in result.stderr
    assert "FAILED" not in result.stdout + result.stderr


def test_the_default_cache_follows_hf_home_when_hf_hub_cache_is_unset(
    tmp_path: Path, hub_cache: Builder, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    downloads = two_repos(hub_cache, home / "hub")
    monkeypatch.delenv("HF_HUB_CACHE")
    monkeypatch.setenv("HF_HOME", str(home))
    result = run("verify", "hf:")
    assert result.exit_code == 0, result.output
    assert lines(result.stdout) == expected_ok(downloads)


def test_a_dataset_and_a_model_of_one_cache(tmp_path: Path, several_repos: Several) -> None:
    built = several_repos(
        tmp_path / "hub",
        {
            "datasets/Belle/Chat-Data": {"main": {"data.parquet.bin": b"rows" * 500}},
            REPO_ID: {"main": FILES},
        },
    )
    result = run("verify", tmp_path / "hub", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    repos = {repo["repo_id"]: repo for repo in report["repos"]}
    assert repos["datasets/Belle/Chat-Data"]["repo_type"] == "dataset"
    assert repos[REPO_ID]["repo_type"] == "model"
    dataset = repos["datasets/Belle/Chat-Data"]["revisions"][0]
    assert dataset["commit"] == built["datasets/Belle/Chat-Data"].commit
    assert [(f["name"], f["status"]) for f in dataset["files"]] == [("data.parquet.bin", "OK")]


def test_json_lists_repos_revisions_and_files_with_their_verdicts(
    tmp_path: Path, hub_cache: Builder
) -> None:
    first, _second = two_repos(hub_cache, tmp_path / "hub")
    flip_byte(first.blob("config.json"))  # main's config only: dev has its own
    result = run("verify", tmp_path / "hub", "--json")
    assert result.exit_code == 1
    assert result.stderr == ""
    report = json.loads(result.stdout)
    assert report["ok"] is False
    assert report["cache"] == str(tmp_path / "hub")
    assert [repo["repo_id"] for repo in report["repos"]] == [REPO_ID, OTHER]
    repo = report["repos"][0]
    assert repo["ok"] is False and report["repos"][1]["ok"] is True
    revisions = {r["commit"]: r for r in repo["revisions"]}
    main = revisions[first.by_branch["main"].commit]
    dev = revisions[first.by_branch["dev"].commit]
    assert main["refs"] == ["main"] and dev["refs"] == ["dev"]
    statuses = {f["name"]: f["status"] for f in main["files"]}
    assert statuses == {name: ("FAILED" if name == "config.json" else "OK") for name in FILES}
    assert all(f["status"] == "OK" for f in dev["files"])
    config = next(f for f in main["files"] if f["name"] == "config.json")
    assert config["expected_address"] == etag_of("config.json", FILES["config.json"])
    assert config["actual_address"] != config["expected_address"]
    assert repo["counts"] == {
        "files": 18,
        "ok": 17,
        "failed": 1,
        "unread": 0,
        "not_verified": 0,
        "not_downloaded": 0,
        "not_downloaded_bytes": 0,
    }
    assert report["counts"]["repos"] == 2 and report["counts"]["revisions"] == 3
    assert report["counts"]["files"] == 27


# ------------------------------------------------------------------ one read per blob


@pytest.fixture
def blob_opens(monkeypatch: pytest.MonkeyPatch) -> Iterator[List[str]]:
    """The real path of every file opened under a ``blobs`` folder, by any open."""
    opened: List[str] = []

    def record(path: Any) -> None:
        if isinstance(path, (str, os.PathLike)):
            real = os.path.realpath(os.fspath(path))
            if f"{os.sep}blobs{os.sep}" in real:
                opened.append(real)

    real_os_open, real_io_open = os.open, io.open

    def os_open(path: Any, *args: Any, **kwargs: Any) -> int:
        if kwargs.get("dir_fd") is None:
            record(path)
        return real_os_open(path, *args, **kwargs)

    def io_open(path: Any, *args: Any, **kwargs: Any) -> Any:
        record(path)
        return real_io_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", os_open)
    monkeypatch.setattr(io, "open", io_open)
    monkeypatch.setattr(builtins, "open", io_open)
    yield opened


def test_each_distinct_blob_is_read_once_across_revisions_repos_and_the_store(
    tmp_path: Path, hub_cache: Builder, blob_opens: List[str]
) -> None:
    first, second = two_repos(hub_cache, tmp_path / "hub", shared=True)
    shared_entry = str(first.store_entry(SHARDS[1]))
    assert os.path.realpath(second.blob(SHARDS[1])) == shared_entry  # one file, 3 revisions
    blob_opens.clear()
    report = belle_patch.verify_cache(tmp_path / "hub", jobs=2)
    assert report.ok
    distinct = {os.path.realpath(d.by_branch[b].snapshot / n) for d in (first, second)
                for b in d.by_branch for n in d.by_branch[b].files}  # fmt: skip
    # Index files are parsed by each revision's shard check too (and the store's marker is
    # read for each link into it); every other blob is opened exactly once, whatever number
    # of revisions and repos name it.
    indexes = {os.path.realpath(d.by_branch[b].snapshot / INDEX) for d in (first, second)
               for b in d.by_branch}  # fmt: skip
    hashed = [path for path in blob_opens if path in distinct - indexes]
    assert sorted(hashed) == sorted(distinct - indexes)
    assert hashed.count(shared_entry) == 1
    assert report.blobs_read == len(distinct)
    assert sum(1 for _ in report.all_files()) == 27


def test_progress_counts_the_bytes_of_the_distinct_blobs_once(
    tmp_path: Path, hub_cache: Builder
) -> None:
    first, second = two_repos(hub_cache, tmp_path / "hub", shared=True)
    distinct = {os.path.realpath(d.by_branch[b].snapshot / n) for d in (first, second)
                for b in d.by_branch for n in d.by_branch[b].files}  # fmt: skip
    size = sum(os.path.getsize(path) for path in distinct)
    recorder = Recorder()
    report = belle_patch.verify_cache(tmp_path / "hub", progress=recorder)
    started = [args for name, args in recorder.calls if name == "started"]
    assert started == [(27, size, started[0][2])]  # type: ignore[index]
    advanced = sum(args for name, args in recorder.calls if name == "advanced")  # type: ignore[misc]
    assert advanced == size == report.bytes_read
    done = [args for name, args in recorder.calls if name == "file_done"]
    assert len(done) == 27
    assert {(d.repo_id, d.check.name) for d in done} >= {(OTHER, SHARDS[1])}  # type: ignore[attr-defined]


# ------------------------------------------------------------------ damage


def test_a_damaged_blob_shared_by_two_revisions_fails_on_both_lines(
    tmp_path: Path, hub_cache: Builder
) -> None:
    first, second = two_repos(hub_cache, tmp_path / "hub")
    flip_byte(first.blob(SHARDS[1]))  # main and dev both link to it
    result = run("verify", tmp_path / "hub")
    assert result.exit_code == 1
    expected = expected_ok([first, second])
    for branch in ("main", "dev"):
        expected[at(first, SHARDS[1], branch)] = "FAILED"
    assert lines(result.stdout) == expected
    for branch in ("main", "dev"):
        assert f"{at(first, SHARDS[1], branch)}: does not match its sha256 (LFS)" in (result.stderr)
    assert f"{REPO_ID}: 2 revisions" in result.stderr and "16 OK, 2 FAILED" in result.stderr
    assert "WARNING: 2 computed checksums did NOT match" in result.stderr


def test_a_damaged_store_entry_fails_in_every_repo_linking_to_it(
    tmp_path: Path, hub_cache: Builder
) -> None:
    first, second = two_repos(hub_cache, tmp_path / "hub", shared=True)
    flip_byte(first.store_entry(SHARDS[1]))
    result = run("verify", tmp_path / "hub", "-q")
    assert result.exit_code == 1
    assert lines(result.stdout) == {
        at(first, SHARDS[1], "main"): "FAILED",
        at(first, SHARDS[1], "dev"): "FAILED",
        at(second, SHARDS[1]): "FAILED",
    }


def test_a_missing_blob_fails_open_or_read_with_its_repo_and_revision(
    tmp_path: Path, hub_cache: Builder
) -> None:
    _first, second = two_repos(hub_cache, tmp_path / "hub")
    second.blob("config.json").unlink()
    result = run("verify", tmp_path / "hub", "--quiet")
    assert result.exit_code == 1
    assert lines(result.stdout) == {at(second, "config.json"): "FAILED open or read"}
    assert f"{at(second, 'config.json')}: missing blob" in result.stderr


def test_a_copy_in_a_snapshot_is_not_verified_and_fails_unless_allowed(
    tmp_path: Path, hub_cache: Builder
) -> None:
    first, _ = two_repos(hub_cache, tmp_path / "hub")
    (first.snapshot / "notes.txt").write_text("added by hand\n")
    result = run("verify", tmp_path / "hub", "-q")
    assert result.exit_code == 1
    assert lines(result.stdout) == {at(first, "notes.txt"): "NOT VERIFIED"}
    allowed = run("verify", tmp_path / "hub", "-q", "--allow-unverified")
    assert allowed.exit_code == 0
    assert "accepted: --allow-unverified" in allowed.stderr


# ------------------------------------------------------------------ not downloaded, interrupted


def test_each_revision_counts_what_was_not_downloaded(tmp_path: Path, hub_cache: Builder) -> None:
    patterns = ["*.json", "*.safetensors", "*.md", ".gitattributes"]
    left_out = ["onnx/model.onnx", "tokenizer/vocab.txt"]
    download = hub_cache(tmp_path / "hub", allow_patterns=patterns)
    hub_cache(tmp_path / "hub", repo_id=OTHER)
    result = run("verify", tmp_path / "hub")
    assert result.exit_code == 0, result.output
    verdicts = lines(result.stdout)
    assert all(verdicts[at(download, name)] == "NOT DOWNLOADED" for name in left_out)
    size = sum(len(FILES[name]) for name in left_out)
    assert f"{at(download, '')[:-1]}: 2 files of the revision" in result.stderr
    assert "2 not downloaded" in result.stderr
    report = json.loads(run("verify", tmp_path / "hub", "--json").stdout)
    revision = report["repos"][0]["revisions"][0]
    assert sorted(item["name"] for item in revision["not_downloaded"]) == left_out
    assert revision["not_downloaded_bytes"] == size
    assert report["repos"][1]["revisions"][0]["not_downloaded"] == []
    complete = run("verify", tmp_path / "hub", "--complete", "-q")
    assert complete.exit_code == 1
    assert lines(complete.stdout) == {
        at(download, name): "FAILED open or read" for name in left_out
    }


def test_an_incomplete_blob_is_reported_with_its_repo(tmp_path: Path, hub_cache: Builder) -> None:
    patterns = ["*.json", "*.safetensors", "*.md", ".gitattributes", "tokenizer/*"]
    download = hub_cache(tmp_path / "hub", allow_patterns=patterns)
    hub_cache(tmp_path / "hub", repo_id=OTHER)
    etag = etag_of("onnx/model.onnx", FILES["onnx/model.onnx"])
    partial = download.repo_folder / "blobs" / f"{etag}.3f2a9c1d.incomplete"  # its naming
    partial.write_bytes(FILES["onnx/model.onnx"][:5000])
    result = run("verify", tmp_path / "hub", "-q")
    assert result.exit_code == 0, result.output  # reported; it fails only with --complete
    note = [line for line in result.stderr.splitlines() if ".incomplete" in line]
    assert len(note) == 1, result.stderr
    assert note[0].startswith(f"belle-patch: {REPO_ID}: blobs/{partial.name}")
    assert "interrupted download of onnx/model.onnx" in note[0]
    assert "1 interrupted download" in result.stderr
    assert ".incomplete" not in result.stdout
    report = json.loads(run("verify", tmp_path / "hub", "--json").stdout)
    assert report["repos"][0]["incomplete"] == [
        {"name": f"blobs/{partial.name}", "size": 5000, "expected_address": etag}
    ]
    assert report["repos"][1]["incomplete"] == []
    assert run("verify", tmp_path / "hub", "--complete", "-q").exit_code == 1


# ------------------------------------------------------------------ what is never followed


def test_a_linked_repo_folder_is_named_and_never_read(
    tmp_path: Path, hub_cache: Builder, blob_opens: List[str]
) -> None:
    elsewhere = hub_cache(tmp_path / "elsewhere", repo_id=OTHER)
    hub_cache(tmp_path / "hub")
    (tmp_path / "hub" / elsewhere.repo_folder.name).symlink_to(elsewhere.repo_folder)
    blob_opens.clear()
    result = run("verify", tmp_path / "hub")
    assert result.exit_code == 1
    assert f"{elsewhere.repo_folder.name}: a link, not a folder of the cache: not followed" in (
        result.stderr
    )
    assert not any(path.startswith(str(tmp_path / "elsewhere")) for path in blob_opens)
    assert all(line.startswith(f"{REPO_ID}@") for line in result.stdout.splitlines())


def test_a_ref_naming_no_snapshot_fails_its_repo(tmp_path: Path, hub_cache: Builder) -> None:
    _first, second = two_repos(hub_cache, tmp_path / "hub")
    (second.repo_folder / "refs" / "main").write_text("f" * 40)
    result = run("verify", tmp_path / "hub", "-q")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert f"{OTHER}: refs/main names {'f' * 40}, which has no snapshot" in result.stderr


def test_a_hostile_ref_is_one_line_and_not_followed(tmp_path: Path, hub_cache: Builder) -> None:
    _, second = two_repos(hub_cache, tmp_path / "hub")
    ref = second.repo_folder / "refs" / "main"
    ref.unlink()
    os.mkfifo(ref) if hasattr(os, "mkfifo") else ref.write_text("../../../../etc")
    result = run_verify_subprocess(tmp_path / "hub", "-q", timeout=60)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert f"{OTHER}: refs/main" in result.stderr


# ------------------------------------------------------------------ usage


@pytest.mark.parametrize(
    "extra",
    [["--manifest", "sums.txt"], ["--release", "belle-llama-7b-2m-enc"], ["--revision", "main"],
     ["--base"], ["."]],
)  # fmt: skip
def test_options_for_one_download_are_usage_errors_with_a_cache(
    tmp_path: Path, hub_cache: Builder, extra: List[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    two_repos(hub_cache, tmp_path / "hub")
    (tmp_path / "sums.txt").write_text("")
    monkeypatch.chdir(tmp_path)
    for cache in (str(tmp_path / "hub"), "hf:"):
        result = run("verify", cache, *extra)
        assert result.exit_code == 2, (cache, extra, result.output)
        assert result.stdout == ""
        assert "Traceback" not in result.stderr


def test_bare_hf_with_no_cache_is_a_one_line_usage_error(
    tmp_path: Path, hub_cache: Builder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "absent"))
    result = run("verify", "hf:")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert str(tmp_path / "absent") in result.stderr and "HF_HUB_CACHE" in result.stderr
    as_json = run("verify", "hf:", "--json")
    assert as_json.exit_code == 2
    assert json.loads(as_json.stdout)["exit_code"] == 2


def test_a_cache_without_repos_fails(tmp_path: Path, hub_cache: Builder) -> None:
    download = hub_cache(tmp_path / "hub", shared=True)
    for folder in download.cache_root.glob("models--*"):
        folder.rename(tmp_path / folder.name)  # the marked store alone is left
    result = run("verify", "hf:")
    assert result.exit_code == 1
    assert "no repo in the cache" in result.stderr
    assert result.stdout == ""


def test_the_api_returns_a_frozen_report_and_prints_nothing(
    tmp_path: Path, hub_cache: Builder, capsys: pytest.CaptureFixture[str]
) -> None:
    first, _ = two_repos(hub_cache, tmp_path / "hub")
    flip_byte(first.blob(SHARDS[0]))
    report = belle_patch.verify_cache(tmp_path / "hub", jobs=1)
    assert capsys.readouterr() == ("", "")
    assert not report.ok
    failed = [(repo.repo_id, rev.refs, c.name) for repo, rev, c in report.all_files() if not c.ok]
    assert failed == [(REPO_ID, ("main",), SHARDS[0])]
    check = next(c for _, _, c in report.all_files() if c.name == SHARDS[0])
    assert check.address == sha256(FILES[SHARDS[0]]) != check.actual_address
    with pytest.raises(AttributeError):
        report.ok = True  # type: ignore[misc]
    with pytest.raises(TypeError, match="jobs"):
        belle_patch.verify_cache(tmp_path / "hub", jobs="2")  # type: ignore[arg-type]


def test_ctrl_c_while_reading_stops_the_check(tmp_path: Path, hub_cache: Builder) -> None:
    two_repos(hub_cache, tmp_path / "hub")

    class Interrupting(Recorder):
        def file_started(self, path: Path, size: int) -> None:
            raise KeyboardInterrupt

    for jobs in (1, 2):
        with pytest.raises(KeyboardInterrupt):
            belle_patch.verify_cache(tmp_path / "hub", jobs=jobs, progress=Interrupting())


def test_names_not_downloaded_are_kept_up_to_a_limit_and_counts_stay_whole(
    tmp_path: Path, hub_cache: Builder, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A hostile listing can name millions of files in every revision: past the limit only
    # counts and sizes are kept, and the report says so.
    from belle_patch.jobs import verify_cache

    monkeypatch.setattr(verify_cache, "NOT_DOWNLOADED_NAMES_KEPT", 1)
    patterns = ["*.json", "*.safetensors", "*.md", ".gitattributes"]
    left_out = ["onnx/model.onnx", "tokenizer/vocab.txt"]
    hub_cache(tmp_path / "hub", allow_patterns=patterns)
    report = belle_patch.verify_cache(tmp_path / "hub")
    revision = report.repos[0].revisions[0]
    assert len(revision.not_downloaded) == 1
    assert revision.not_downloaded_count == 2
    assert revision.not_downloaded_bytes == sum(len(FILES[name]) for name in left_out)
    assert any("1 of the 2 files not downloaded are named" in note for note in revision.notes)
    result = run("verify", tmp_path / "hub", "--json")
    document = json.loads(result.stdout)
    assert document["repos"][0]["revisions"][0]["not_downloaded_count"] == 2
    assert document["repos"][0]["counts"]["not_downloaded"] == 2
