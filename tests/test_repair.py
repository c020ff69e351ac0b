"""verify --repair: a file that fails its content address is moved aside (never deleted), and
the download command that made it fetches it again.

Caches and ``--local-dir`` downloads are written by huggingface_hub from the local Hub, and
fetched again with huggingface_hub (``hf_hub_download``, and the ``hf download`` command that
``--repair`` prints, run as printed); clones are made by git.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable, Dict, List, Mapping, Tuple

import pytest

import belle_patch
from hub_endpoint import (
    REPO_ID,
    SHARDS,
    CacheDownload,
    HubEndpoint,
    LocalDirDownload,
    etag_of,
    flip_byte,
    model_files,
    require_huggingface_hub,
    xet_hash_of,
)

from helpers import run

require_huggingface_hub()
pytestmark = pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs links")

Builder = Callable[..., CacheDownload]
LocalBuilder = Callable[..., LocalDirDownload]
FILES = model_files()
DEV = model_files("-dev")  # shares the second shard with main
OTHER = "Other/BELLE-Copy"
KEPT = ".belle-patch-bad"


def two_repos(hub_cache: Builder, root: Path, *, shared: bool = False) -> List[CacheDownload]:
    first = hub_cache(root, revisions={"main": FILES, "dev": DEV}, shared=shared)
    second = hub_cache(root, repo_id=OTHER, shared=shared)
    return [first, second]


def state_of(root: Path, leave_out: Tuple[Path, ...] = ()) -> Dict[str, Tuple[int, int, str]]:
    """Every entry under ``root`` (links not followed): inode, mtime and link target or size."""
    found = {}
    for path in sorted(root.rglob("*")):
        if any(path == gone or gone in path.parents for gone in leave_out):
            continue
        info = path.lstat()
        if path.is_dir() and not path.is_symlink():
            found[str(path.relative_to(root))] = (info.st_ino, 0, "folder")  # its mtime moves
            continue
        what = os.readlink(path) if path.is_symlink() else str(info.st_size)
        found[str(path.relative_to(root))] = (info.st_ino, info.st_mtime_ns, what)
    return found


def printed_commands(stderr: str, program: str) -> List[List[str]]:
    return [shlex.split(line) for line in stderr.splitlines() if line.startswith(f"{program} ")]


def kept_files(folder: Path) -> List[Path]:
    """What a run kept in ``folder/RUN/``."""
    return sorted(path for path in folder.glob("*/**/*") if not path.is_dir())


def fetch_again(
    endpoint: HubEndpoint, repo_id: str, name: str, revision: str, **where: object
) -> int:
    """``hf_hub_download`` of one file; the number of requests it made to the Hub's CDN."""
    from huggingface_hub import hf_hub_download

    before = len(endpoint.requests)
    hf_hub_download(repo_id, name, revision=revision, endpoint=endpoint.url, token=False, **where)
    return sum(1 for _, url in endpoint.requests[before:] if url.startswith("cdn:/lfs/"))


def scan_warnings(root: Path) -> List[str]:
    from huggingface_hub import scan_cache_dir

    return [str(warning) for warning in scan_cache_dir(root).warnings]


def hf_executable() -> str:
    found = Path(sys.executable).with_name("hf")
    return str(found) if found.exists() else (shutil.which("hf") or "hf")


# ------------------------------------------------------------------ a cache


def test_a_damaged_blob_is_kept_aside_and_huggingface_hub_fetches_it_again(
    tmp_path: Path, hub_cache: Builder, hub_environment: HubEndpoint
) -> None:
    root = tmp_path / "hub"
    first, second = two_repos(hub_cache, root)
    blob = first.blob(SHARDS[1])  # main's and dev's
    flip_byte(blob)
    damaged = blob.read_bytes()
    before = state_of(root, (blob,))
    result = run("verify", root, "--repair")
    assert result.exit_code == 1  # the file is still missing until it is fetched again
    assert result.stdout.count(": FAILED\n") == 2
    kept = kept_files(first.repo_folder / KEPT)
    assert [path.name for path in kept] == [blob.name]
    assert kept[0].read_bytes() == damaged  # kept, not deleted
    assert not os.path.lexists(blob)
    assert state_of(root, (blob, first.repo_folder / KEPT)) == before  # nothing else touched
    assert f"{blob} -> {kept[0]}" in result.stderr
    commands = printed_commands(result.stderr, "hf")
    assert sorted(commands) == sorted(
        ["hf", "download", "--revision", revision.commit, "--cache-dir", str(root), "--",
         REPO_ID, SHARDS[1]]
        for revision in first.by_branch.values()
    )  # fmt: skip
    assert scan_warnings(root) != []  # the dangling links say it: a file to fetch again
    assert fetch_again(hub_environment, REPO_ID, SHARDS[1], first.commit, cache_dir=root) == 1
    after = run("verify", root)
    assert after.exit_code == 0, after.output
    assert scan_warnings(root) == []
    assert blob.read_bytes() == FILES[SHARDS[1]]
    assert second.repo_folder.joinpath(KEPT).exists() is False


def test_the_printed_hf_download_command_fetches_it_again(
    tmp_path: Path, hub_cache: Builder, hub_environment: HubEndpoint
) -> None:
    root = tmp_path / "hub"
    first, second = two_repos(hub_cache, root)
    flip_byte(second.blob("config.json"))
    flip_byte(first.by_branch["dev"].blob("onnx/model.onnx"))
    result = run("verify", "hf:", "--repair", "-q")
    assert result.exit_code == 1
    commands = printed_commands(result.stderr, "hf")
    assert len(commands) == 2
    for command in commands:
        done = subprocess.run(
            [hf_executable(), *command[1:]],
            capture_output=True,
            text=True,
            timeout=120,
            env=dict(os.environ),
            check=False,
        )
        assert done.returncode == 0, done.stderr
    after = run("verify", "hf:")
    assert after.exit_code == 0, after.output
    assert scan_warnings(root) == []


def test_a_damaged_store_entry_is_kept_aside_with_every_link_to_it(
    tmp_path: Path, hub_cache: Builder, hub_environment: HubEndpoint
) -> None:
    from huggingface_hub.utils._shared_blobs import try_link_from_shared_store

    root = tmp_path / "hub"
    first, second = two_repos(hub_cache, root, shared=True)
    entry = first.store_entry(SHARDS[1])
    flip_byte(entry)
    damaged = entry.read_bytes()
    result = run("verify", root, "--repair", "--json")
    assert result.exit_code == 1
    repair = json.loads(result.stdout)["repair"]
    assert {Path(item["moved"]) for item in repair["kept_aside"]} == {
        entry,
        first.blob(SHARDS[1]),
        second.blob(SHARDS[1]),
    }
    (kept_entry,) = kept_files(root / "blobs" / KEPT)
    assert kept_entry.name == entry.name and kept_entry.read_bytes() == damaged
    for download in (first, second):
        (link,) = kept_files(download.repo_folder / KEPT)
        assert link.is_symlink() and link.name == download.blob(SHARDS[1]).name
    # huggingface_hub would link the file to a store entry left in place, damaged as it is.
    xet = xet_hash_of(FILES[SHARDS[1]])
    blob = first.blob(SHARDS[1])
    assert not try_link_from_shared_store(
        blob_path=str(blob), xet_hash=xet, cache_dir=root, expected_size=len(damaged)
    )
    assert len(repair["commands"]) == 3
    for download in (first, second):
        for revision in download.by_branch.values():
            fetch_again(hub_environment, download.repo_id, SHARDS[1], revision.commit,
                        cache_dir=root)  # fmt: skip
    after = run("verify", root)
    assert after.exit_code == 0, after.output
    assert scan_warnings(root) == []


def test_only_files_that_fail_their_address_are_moved(
    tmp_path: Path, hub_cache: Builder, hub_environment: HubEndpoint
) -> None:
    root = tmp_path / "hub"
    first, second = two_repos(hub_cache, root)
    second.blob("README.md").unlink()  # missing: fetched by the command, nothing to move
    link = first.snapshot / "config.json"  # a valid blob of another file: not read
    link.unlink()
    link.symlink_to(f"../../blobs/{first.blob('tokenizer.json').name}")
    before = state_of(root)
    result = run("verify", root, "--repair", "-q")
    assert result.exit_code == 1
    assert state_of(root) == before
    assert not (first.repo_folder / KEPT).exists() and not (second.repo_folder / KEPT).exists()
    commands = printed_commands(result.stderr, "hf")
    assert commands == [
        ["hf", "download", "--revision", second.commit, "--cache-dir", str(root), "--",
         OTHER, "README.md"]
    ]  # fmt: skip


def test_a_blob_is_never_moved_through_a_link(tmp_path: Path, hub_cache: Builder) -> None:
    root = tmp_path / "hub"
    first, _ = two_repos(hub_cache, root)
    flip_byte(first.blob("config.json"))
    report = belle_patch.verify_cache(root)
    # After the check, the repo's blobs/ becomes a link to a folder outside the cache.
    outside = tmp_path / "outside"
    shutil.copytree(first.repo_folder / "blobs", outside)
    shutil.rmtree(first.repo_folder / "blobs")
    (first.repo_folder / "blobs").symlink_to(outside)
    before = state_of(outside)
    repaired = belle_patch.repair_cache(report)
    assert repaired.kept_aside == ()
    assert [item.name for item in repaired.not_moved] == [
        f"{REPO_ID}@{first.commit[:12]}/config.json"
    ]
    assert "blobs is a link or not a folder: not followed" in repaired.not_moved[0].reason
    assert state_of(outside) == before
    assert repaired.commands == ()


def test_a_planted_kept_aside_folder_that_links_out_is_not_written_through(
    tmp_path: Path, hub_cache: Builder
) -> None:
    root = tmp_path / "hub"
    first, _ = two_repos(hub_cache, root)
    blob = first.blob("config.json")
    flip_byte(blob)
    outside = tmp_path / "outside"
    outside.mkdir()
    (first.repo_folder / KEPT).symlink_to(outside)
    result = run("verify", root, "--repair", "-q")
    assert result.exit_code == 1
    assert list(outside.iterdir()) == []
    assert blob.exists()
    assert "not moved: .belle-patch-bad is a link or not a folder" in result.stderr
    assert printed_commands(result.stderr, "hf") == []  # it would only serve the bad blob


def test_nothing_is_overwritten_when_the_run_folder_exists(
    tmp_path: Path, hub_cache: Builder, monkeypatch: pytest.MonkeyPatch
) -> None:
    from belle_patch.output import aside

    root = tmp_path / "hub"
    first, _ = two_repos(hub_cache, root)
    blob = first.blob("config.json")
    flip_byte(blob)
    taken = first.repo_folder / KEPT / "20000101T000000Z-00000000"
    taken.mkdir(parents=True)
    (taken / blob.name).write_text("an earlier run's file\n")
    monkeypatch.setattr(aside.time, "strftime", lambda *args: "20000101T000000Z")
    monkeypatch.setattr(aside.secrets, "token_hex", lambda n: "0" * (2 * n))
    repaired = belle_patch.repair_cache(belle_patch.verify_cache(root))
    assert (taken / blob.name).read_text() == "an earlier run's file\n"
    assert blob.exists() and repaired.kept_aside == ()
    assert "no new folder could be made" in repaired.not_moved[0].reason


# ------------------------------------------------------------------ a --local-dir download


def test_a_local_dir_file_is_kept_aside_and_fetched_again(
    tmp_path: Path, local_dir_download: LocalBuilder, hub_environment: HubEndpoint
) -> None:
    download = local_dir_download(tmp_path / "BELLE")
    folder = download.folder
    for name in ("config.json", "onnx/model.onnx"):
        flip_byte(folder / name)
    damaged = (folder / "onnx/model.onnx").read_bytes()
    result = run("verify", folder, "--repair")
    assert result.exit_code == 1
    names = ["config.json", "onnx/model.onnx"]
    kept_root = folder / ".cache" / "huggingface" / "belle-patch-bad"
    kept = kept_files(kept_root)
    # RUN/config.json and RUN/onnx/model.onnx: the download's own paths, in one run folder
    assert sorted(path.relative_to(kept_root).as_posix().split("/", 1)[1] for path in kept) == names
    assert len({path.relative_to(kept_root).parts[0] for path in kept}) == 1
    assert next(p for p in kept if p.name == "model.onnx").read_bytes() == damaged
    assert not (folder / "config.json").exists()
    (command,) = printed_commands(result.stderr, "hf")
    assert command == [
        "hf", "download", "--local-dir", str(folder), "--revision", download.commit, "--",
        "ORG/NAME", *names,
    ]  # fmt: skip
    assert "ORG/NAME: the repo this folder was downloaded from" in result.stderr
    command[command.index("ORG/NAME")] = REPO_ID
    done = subprocess.run(
        [hf_executable(), *command[1:]], capture_output=True, text=True, timeout=120,
        env=dict(os.environ), check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    after = run("verify", folder)
    assert after.exit_code == 0, after.output
    assert "belle-patch-bad" not in after.stdout + after.stderr


def test_hf_hub_download_into_the_local_dir_fetches_the_moved_file(
    tmp_path: Path, local_dir_download: LocalBuilder, hub_environment: HubEndpoint
) -> None:
    download = local_dir_download(tmp_path / "BELLE")
    flip_byte(download.folder / SHARDS[0])
    assert run("verify", download.folder, "--repair", "-q").exit_code == 1
    fetched = fetch_again(
        hub_environment, REPO_ID, SHARDS[0], download.commit, local_dir=download.folder
    )
    assert fetched == 1
    assert run("verify", download.folder).exit_code == 0


@pytest.mark.skipif(not hasattr(os, "sysconf"), reason="needs resource limits")
def test_many_failed_files_in_many_folders_never_run_out_of_descriptors(
    tmp_path: Path, local_dir_download: LocalBuilder
) -> None:
    import resource

    files = {f"part-{i:02d}/deep/shard-{i:02d}.txt": f"part {i}\n".encode() for i in range(60)}
    download = local_dir_download(tmp_path / "BELLE", files=files)
    for name in files:
        flip_byte(download.folder / name)
    target = belle_patch.find_download(str(download.folder))
    assert target is not None
    report = belle_patch.verify(download.folder)
    in_use = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else 64
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (in_use + 24, hard))  # far fewer than 60 x 4
    try:
        repaired = belle_patch.repair_download(target, report)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert repaired.not_moved == ()
    assert len(repaired.kept_aside) == 60
    assert all(not (download.folder / name).exists() for name in files)


# ------------------------------------------------------------------ a git clone


def _git(folder: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(HOME=str(folder.parent / "git-home"), GIT_CONFIG_NOSYSTEM="1")
    Path(env["HOME"]).mkdir(exist_ok=True)
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=folder, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout


def _tree_digest(folder: Path) -> Dict[str, str]:
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        if path.is_file() and not path.is_symlink()
        else "folder"
        for path in sorted(folder.rglob("*"))
    }


def _make_clone(folder: Path, files: Mapping[str, bytes]) -> None:
    folder.mkdir()
    _git(folder, "init", "-q")
    for name, content in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(content)
    _git(folder, "add", ".")
    _git(folder, "commit", "-q", "-m", "release")


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_a_clone_file_is_kept_aside_git_is_untouched_and_checkout_restores_it(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "BELLE-7B-1M"
    files = {"config.json": b'{"model_type": "bloom"}\n', "docs/README.md": b"# BELLE\n"}
    _make_clone(folder, files)
    flip_byte(folder / "docs/README.md")
    git_before = _tree_digest(folder / ".git")
    result = run("verify", folder, "--repair")
    assert result.exit_code == 1
    assert _tree_digest(folder / ".git") == git_before
    (kept,) = kept_files(folder / ".belle-patch" / "bad")
    assert kept.relative_to(kept.parents[1]).as_posix() == "docs/README.md"
    (command,) = printed_commands(result.stderr, "git")
    assert command == ["git", "-C", str(folder), "--literal-pathspecs", "checkout", "--",
                       "docs/README.md"]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True)
    assert (folder / "docs/README.md").read_bytes() == files["docs/README.md"]
    assert _git(folder, "status", "--porcelain") == ""  # the kept file is ignored
    after = run("verify", folder)
    assert after.exit_code == 0, after.output


# ------------------------------------------------------------------ usage


def test_repair_of_a_plain_folder_is_a_usage_error_before_any_work(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    result = run("verify", folder, "--repair")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "--repair works on one Hugging Face download" in result.stderr
    assert sorted(p.name for p in folder.iterdir()) == ["config.json"]


def test_repair_json_of_one_download(tmp_path: Path, hub_cache: Builder) -> None:
    download = hub_cache(tmp_path / "hub")
    blob = download.blob("tokenizer.json")
    flip_byte(blob)
    result = run("verify", f"hf:{REPO_ID}", "--repair", "--json")
    assert result.exit_code == 1
    assert result.stderr == ""
    document = json.loads(result.stdout)
    (kept,) = document["repair"]["kept_aside"]
    assert kept["name"] == "tokenizer.json" and kept["moved"] == str(blob)
    assert Path(kept["kept_at"]).parent.parent == download.repo_folder / KEPT
    (command,) = document["repair"]["commands"]
    assert command["files"] == ["tokenizer.json"]
    assert command["argv"][:2] == ["hf", "download"] and download.commit in command["argv"]
    assert etag_of("tokenizer.json", FILES["tokenizer.json"]) == blob.name


# ------------------------------------------------------------------ one download's repair


def test_one_download_never_moves_a_store_entry_another_repo_verified_against(
    tmp_path: Path, hub_cache: Builder, hub_environment: HubEndpoint
) -> None:
    root = tmp_path / "hub"
    first, second = two_repos(hub_cache, root, shared=True)
    used_by_first = first.by_branch["dev"].store_entry(SHARDS[0])  # dev's own first shard
    planted = second.blob(SHARDS[0])
    planted.unlink()  # second's file now reads an entry the first repo verifies against
    planted.symlink_to(f"../../blobs/{used_by_first.name[:2]}/{used_by_first.name}")
    before = state_of(root)
    result = run("verify", f"hf:{OTHER}", "--repair")
    assert result.exit_code == 1
    assert state_of(root) == before  # nothing moved, nothing made
    assert f"belle-patch verify --repair {root}" in result.stderr
    assert printed_commands(result.stderr, "hf") == []  # it would only serve the same file
    assert run("verify", f"hf:{REPO_ID}", "--revision", "dev").exit_code == 0
    # The whole cache's repair, which saw the first repo read it, moves only the planted link.
    whole = run("verify", root, "--repair", "--json")
    repair = json.loads(whole.stdout)["repair"]
    assert [Path(item["moved"]) for item in repair["kept_aside"]] == [planted]
    assert used_by_first.exists()
    fetch_again(hub_environment, OTHER, SHARDS[0], second.commit, cache_dir=root)
    after = run("verify", root)
    assert after.exit_code == 0, after.output


def test_one_download_moves_its_own_regular_blob_but_not_a_damaged_store_entry(
    tmp_path: Path, hub_cache: Builder
) -> None:
    root = tmp_path / "hub"
    first, _ = two_repos(hub_cache, root, shared=True)
    entry = first.store_entry(SHARDS[1])
    flip_byte(entry)
    flip_byte(first.blob("config.json"))  # a regular blob of the repo's own
    target = belle_patch.find_download(f"hf:{REPO_ID}")
    assert target is not None
    repaired = belle_patch.repair_download(target, belle_patch.verify(f"hf:{REPO_ID}"))
    assert [item.moved for item in repaired.kept_aside] == [first.blob("config.json")]
    assert entry.exists() and first.blob(SHARDS[1]).is_symlink()
    (left,) = repaired.not_moved
    assert left.name == SHARDS[1]
    assert "which other repos may read: only a repair of the whole cache" in left.reason
    assert f"belle-patch verify --repair {root}" in left.reason
    (command,) = repaired.commands
    assert command.files == ("config.json",)


def test_a_repo_folder_that_links_out_of_the_cache_is_not_repaired_through(
    tmp_path: Path, hub_cache: Builder
) -> None:
    root = tmp_path / "hub"
    download = hub_cache(root)
    flip_byte(download.blob("config.json"))
    outside = tmp_path / "outside"
    outside.mkdir()
    moved_out = outside / download.repo_folder.name
    shutil.move(str(download.repo_folder), str(moved_out))
    download.repo_folder.symlink_to(moved_out)
    before = state_of(outside)
    result = run("verify", f"hf:{REPO_ID}", "--repair")
    assert result.exit_code == 1
    assert state_of(outside) == before  # no .belle-patch-bad/ outside the cache
    assert str(outside) not in "\n".join(map(" ".join, printed_commands(result.stderr, "hf")))
    assert "is a link" in result.stderr and "not repaired through it" in result.stderr


def test_a_link_replaced_by_a_file_after_the_check_is_not_moved(
    tmp_path: Path, hub_cache: Builder, monkeypatch: pytest.MonkeyPatch
) -> None:
    from belle_patch.jobs import repair_cache

    root = tmp_path / "hub"
    first, _ = two_repos(hub_cache, root, shared=True)
    flip_byte(first.store_entry(SHARDS[1]))
    report = belle_patch.verify_cache(root)

    def replaced(*args: object, **kwargs: object) -> str:
        raise OSError(22, "Invalid argument")  # the link became a regular file meanwhile

    monkeypatch.setattr(repair_cache.os, "readlink", replaced)
    repaired = belle_patch.repair_cache(report)
    assert repaired.kept_aside == ()
    assert all("cannot be read" in item.reason for item in repaired.not_moved)
    assert first.blob(SHARDS[1]).is_symlink() and first.store_entry(SHARDS[1]).exists()


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_the_clone_command_takes_file_names_literally(tmp_path: Path) -> None:
    folder = tmp_path / "BELLE-7B-1M"
    files = {"[ab].txt": b"brackets\n", "a.txt": b"a\n", "*": b"star\n", "b.txt": b"b\n"}
    _make_clone(folder, files)
    flip_byte(folder / "[ab].txt")
    flip_byte(folder / "*")
    result = run("verify", folder, "--repair")
    assert result.exit_code == 1
    (command,) = printed_commands(result.stderr, "git")
    assert command[:5] == ["git", "-C", str(folder), "--literal-pathspecs", "checkout"]
    assert sorted(command[6:]) == ["*", "[ab].txt"]
    # Edits made since the check, to files the names would match as patterns, are kept.
    (folder / "a.txt").write_bytes(b"edited since\n")
    (folder / "b.txt").write_bytes(b"edited since\n")
    subprocess.run(command, check=True, capture_output=True)
    assert (folder / "[ab].txt").read_bytes() == files["[ab].txt"]
    assert (folder / "*").read_bytes() == files["*"]
    assert (folder / "a.txt").read_bytes() == b"edited since\n"
    assert (folder / "b.txt").read_bytes() == b"edited since\n"


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="renameat2 is Linux's")
def test_a_name_taken_between_the_check_and_the_rename_is_never_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from belle_patch.output import aside

    if aside._RENAMEAT2 is None:
        pytest.skip("no renameat2 here")
    (tmp_path / "blobs").mkdir()
    (tmp_path / "blobs" / "x").write_text("bad blob\n")
    run_folder = tmp_path / "kept" / "RUN"
    run_folder.mkdir(parents=True)
    (run_folder / "x").write_text("made after the check\n")
    monkeypatch.setattr(aside, "_exists", lambda *args: False)  # the check saw it free
    with aside.Folders() as folders:
        top = folders.top(tmp_path)
        place = aside.Place(top, tmp_path, ("kept",), run_name="RUN")
        with pytest.raises(aside.NotMovedError, match="already there: never overwritten"):
            aside.move_entry(folders, folders.child(top, "blobs"), "x", place, "x")
    assert (run_folder / "x").read_text() == "made after the check\n"
    assert (tmp_path / "blobs" / "x").read_text() == "bad blob\n"
