"""verify's verdicts are never softer than md5sum -c, and never fail a good file."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path
from typing import Callable, List, Sequence

import pytest

import belle_patch
from belle_patch.errors import UsageError
from belle_patch.stream.events import ProgressEvents
from hub_endpoint import CacheDownload, LocalDirDownload, require_huggingface_hub
from test_hub_git import git, git_env, make_clone

from conftest import generated
from helpers import default_files, make_release, run

needs_links = pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symbolic links")
needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
GOOD = b'{"a": 1}'


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def md5sum_exit(folder: Path, sums: Path, *options: str) -> int:
    done = subprocess.run(
        ["md5sum", "-c", *options, str(sums)], cwd=folder, capture_output=True, check=False
    )
    return done.returncode


def restored(tmp_path: Path, name: str) -> Path:
    """A folder belle-patch restored (its state records every file), from an unbundled release."""
    made = make_release(tmp_path / f"{name}-release", default_files(), generated("key", 4000))
    out = tmp_path / name
    assert run("decrypt", made.enc_dir, "-k", made.key, "-o", out).exit_code == 0
    return out


# ------------------------------------------------------------------ 1. one name, two files


@pytest.fixture
def two_folders(tmp_path: Path) -> List[Path]:
    good, damaged = tmp_path / "d1", tmp_path / "d2"
    for folder in (good, damaged):
        (folder / "sub").mkdir(parents=True)
        (folder / "config.json").write_bytes(GOOD)
        (folder / "sub" / "x.bin").write_bytes(b"x")
    (damaged / "config.json").write_bytes(b'{"a": 2}')
    return [good, damaged]


@pytest.mark.parametrize("order", [(0, 1), (1, 0)])
def test_two_folders_holding_one_name_are_a_usage_error(
    tmp_path: Path, two_folders: List[Path], order: Sequence[int]
) -> None:
    sums = tmp_path / "md5sums.txt"
    sums.write_text(f"{md5(GOOD)}  config.json\n")
    first, second = (two_folders[i] for i in order)
    result = run("verify", first, second, "--manifest", sums)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert str(first / "config.json") in result.stderr
    assert str(second / "config.json") in result.stderr
    assert "verify them one at a time" in result.stderr
    with pytest.raises(UsageError, match="same name"):
        belle_patch.verify([first, second], manifest=sums)


def test_files_given_one_by_one_with_one_name_are_a_usage_error(
    tmp_path: Path, two_folders: List[Path]
) -> None:
    sums = tmp_path / "md5sums.txt"
    sums.write_text(f"{md5(GOOD)}  config.json\n")
    good, damaged = (folder / "config.json" for folder in two_folders)
    result = run("verify", good, damaged, "--manifest", sums)
    assert (result.exit_code, result.stdout) == (2, "")
    assert str(good) in result.stderr and str(damaged) in result.stderr
    assert "verify them one at a time" in result.stderr


def test_a_name_in_subfolders_of_two_folders_is_a_usage_error(
    tmp_path: Path, two_folders: List[Path]
) -> None:
    for folder in two_folders:
        (folder / "config.json").unlink()
    sums = tmp_path / "md5sums.txt"
    sums.write_text(f"{md5(b'x')}  sub/x.bin\n")
    result = run("verify", *two_folders, "--manifest", sums)
    assert (result.exit_code, result.stdout) == (2, "")
    assert "verify them one at a time" in result.stderr


def test_the_same_file_reached_twice_is_checked_once(
    tmp_path: Path, two_folders: List[Path]
) -> None:
    good = two_folders[0]
    sums = tmp_path / "md5sums.txt"
    sums.write_text(f"{md5(GOOD)}  config.json\n")
    result = run("verify", good, good / "config.json", "--manifest", sums)
    assert result.exit_code == 0
    assert result.stdout == "config.json: OK\n"
    assert result.stderr == ""


def test_two_restored_folders_without_a_list_are_a_usage_error(tmp_path: Path) -> None:
    first, second = restored(tmp_path, "out1"), restored(tmp_path, "out2")
    (second / "config.json").write_bytes(b'{"model_type": "damaged"}\n')
    for paths in ((first, second), (second, first)):
        result = run("verify", *paths)
        assert (result.exit_code, result.stdout) == (2, "")
        assert "verify them one at a time" in result.stderr


# ------------------------------------------------------------------ 2. recorded but gone


def test_a_recorded_file_that_is_gone_fails(tmp_path: Path) -> None:
    out = restored(tmp_path, "out")
    (out / "pytorch_model.bin").unlink()
    result = run("verify", out)
    assert result.exit_code == 1
    assert sorted(result.stdout.splitlines()) == [
        "config.json: OK",
        "pytorch_model.bin: FAILED open or read",
        "tokenizer_config.json: OK",
    ]
    assert "belle-patch: pytorch_model.bin: No such file or directory\n" in result.stderr
    assert "WARNING: 1 listed file could not be read" in result.stderr
    report = belle_patch.verify([out])
    assert not report.ok
    assert [c.status for c in report.failed] == ["MISSING"]


# ------------------------------------------------------------------ 3. a download and a list


Download = Callable[[Path, pytest.FixtureRequest], Path]


def _local_dir(tmp_path: Path, request: pytest.FixtureRequest) -> Path:
    """A ``--local-dir`` download huggingface_hub wrote (``local_dir_download``,
    conftest_hub.py), asked for only once huggingface_hub is known to be there, as in
    ``_snapshot``."""
    require_huggingface_hub()
    local_dir_download: Callable[..., LocalDirDownload] = request.getfixturevalue(
        "local_dir_download"
    )
    return local_dir_download(tmp_path / "local").folder


def _snapshot(tmp_path: Path, request: pytest.FixtureRequest) -> Path:
    """A snapshot huggingface_hub wrote (``hub_cache``, conftest_hub.py), the fixture asked for
    only once huggingface_hub is known to be there: without it this variant skips (fails under
    BELLE_PATCH_REQUIRE_HUB=1) while the rest of the module still runs."""
    if not hasattr(os, "symlink"):
        pytest.skip("needs symbolic links")
    require_huggingface_hub()
    hub_cache: Callable[..., CacheDownload] = request.getfixturevalue("hub_cache")
    return hub_cache(tmp_path / "hub").snapshot


@pytest.mark.parametrize("make", [_local_dir, _snapshot], ids=["local-dir", "snapshot"])
@pytest.mark.parametrize(
    "text",
    ["not a checksum line\n", f"{hashlib.sha256(b'x').hexdigest()}  config.json\n"],
    ids=["no-valid-line", "sha256-list"],
)
def test_a_download_with_a_list_that_checks_nothing_fails(
    tmp_path: Path, request: pytest.FixtureRequest, make: Download, text: str
) -> None:
    folder = make(tmp_path, request)
    sums = tmp_path / "sums.txt"
    sums.write_text(text)
    result = run("verify", folder, "--manifest", sums)
    assert result.exit_code == 1
    assert "FAILED" not in result.stdout and result.stdout.endswith(": OK\n")
    assert f"belle-patch: {sums}: no properly formatted checksum lines found\n" in result.stderr
    assert "content addresses only" not in result.stderr
    assert "WARNING: 1 line is improperly formatted" in result.stderr
    assert not belle_patch.verify([folder], manifest=sums).ok


@pytest.mark.parametrize("make", [_local_dir, _snapshot], ids=["local-dir", "snapshot"])
def test_a_download_with_ignore_missing_and_only_absent_names_fails(
    tmp_path: Path, request: pytest.FixtureRequest, make: Download
) -> None:
    folder = make(tmp_path, request)
    sums = tmp_path / "sums.txt"
    sums.write_text(f"{md5(b'x')}  absent.bin\n")
    result = run("verify", folder, "--manifest", sums, "--ignore-missing")
    assert result.exit_code == 1
    assert "FAILED" not in result.stdout and result.stdout.endswith(": OK\n")
    assert f"belle-patch: {sums}: no file was verified\n" in result.stderr


# ------------------------------------------------------------------ 4. names md5sum cannot open


@pytest.mark.parametrize("listed", ["a/", "a/.", "sub/x/", "./a/"])
def test_a_name_ending_in_a_slash_fails_unread(tmp_path: Path, listed: str) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "a").write_bytes(b"a")
    (tmp_path / "sub" / "x").write_bytes(b"a")
    sums = tmp_path.parent / f"{tmp_path.name}-sums.txt"
    sums.write_text(f"{md5(b'a')}  {listed}\n")
    result = run("verify", tmp_path, "--manifest", sums)
    assert result.exit_code == 1
    assert result.stdout == f"{listed}: FAILED open or read\n"
    assert "names a folder, not a file, so it was not read" in result.stderr
    assert "WARNING: 1 listed file could not be read" in result.stderr
    if shutil.which("md5sum"):
        assert md5sum_exit(tmp_path, sums) == 1


def test_nul_inside_a_name_is_not_dropped(tmp_path: Path) -> None:
    (tmp_path / "ab").write_bytes(b"a")
    sums = tmp_path.parent / f"{tmp_path.name}-sums.txt"
    sums.write_bytes(f"{md5(b'a')}  a^@b\n{md5(b'a')}  a\0b\n".encode())
    result = run("verify", tmp_path, "--manifest", sums)
    assert result.exit_code == 1
    # Shown, never dropped; as a control character it is shown inert (U+FFFD).
    assert result.stdout.splitlines() == [
        "a^@b: FAILED open or read",
        "a\ufffdb: FAILED open or read",
    ]
    assert "belle-patch: a^@b: No such file or directory\n" in result.stderr
    assert "holds a NUL byte" in result.stderr


def test_nul_pasted_at_the_end_of_a_line_is_still_tolerated(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"a")
    sums = tmp_path.parent / f"{tmp_path.name}-sums.txt"
    sums.write_text(f"{md5(b'a')}  a^@\r\n")
    result = run("verify", tmp_path, "--manifest", sums)
    assert (result.exit_code, result.stdout, result.stderr) == (0, "a: OK\n", "")


# ------------------------------------------------------------------ 5. a git clone is its commit


@needs_git
def test_a_staged_change_fails_against_the_commit(tmp_path: Path) -> None:
    folder = make_clone(tmp_path)
    with (folder / ".gitattributes").open("ab") as attributes:
        attributes.write(b"# x\n")
    git(folder, git_env(tmp_path), "add", ".gitattributes")
    result = run("verify", folder)
    assert result.exit_code == 1
    assert result.stdout == ".gitattributes: FAILED\nconfig.json: OK\nmodel.bin: OK\n"
    assert "belle-patch: git clone at " in result.stderr
    assert "the git index differs from commit " in result.stderr
    assert "for 1 file (staged changes or git rm)" in result.stderr
    assert "WARNING: 1 computed checksum did NOT match" in result.stderr


@needs_git
def test_git_rm_fails_as_missing_and_a_staged_new_file_is_not_verified(tmp_path: Path) -> None:
    folder = make_clone(tmp_path)
    env = git_env(tmp_path)
    git(folder, env, "rm", "-q", "config.json")
    (folder / "new.txt").write_text("new")
    git(folder, env, "add", "new.txt")
    result = run("verify", folder)
    assert result.exit_code == 1
    assert result.stdout == (
        ".gitattributes: OK\nconfig.json: FAILED open or read\nmodel.bin: OK\n"
        "new.txt: NOT VERIFIED\n"
    )
    assert "for 2 files (staged changes or git rm)" in result.stderr
    assert "new.txt: staged in the git index but not in the commit" in result.stderr


# ------------------------------------------------------------------ 6. progress adds up


class Totals(ProgressEvents):
    def __init__(self) -> None:
        self.total = -1
        self.advanced_bytes = 0

    def started(self, files: int, total_bytes: int, jobs: int) -> None:
        self.total = total_bytes

    def advanced(self, nbytes: int) -> None:
        self.advanced_bytes += nbytes


def test_progress_total_is_what_is_read(tmp_path: Path) -> None:
    out = restored(tmp_path, "out")
    # Hashed once while telling the release (TechGPT-7B lists these names): not read again.
    totals = Totals()
    assert belle_patch.verify([out], progress=totals).ok
    assert totals.advanced_bytes == totals.total > 0
    # Same size and mtime, other content: xxh3 differs from the record, then MD5 decides.
    weights = out / "pytorch_model.bin"
    info = weights.stat()
    data = bytearray(weights.read_bytes())
    data[0] ^= 1
    weights.write_bytes(bytes(data))
    os.utime(weights, ns=(info.st_atime_ns, info.st_mtime_ns))
    totals = Totals()
    report = belle_patch.verify([out], progress=totals)
    assert [c.name for c in report.failed] == ["pytorch_model.bin"]
    assert totals.advanced_bytes == totals.total > 0


# ------------------------------------------------------------------ restored with --no-md5


def test_a_folder_restored_without_md5s_is_checked_by_its_records(tmp_path: Path) -> None:
    made = make_release(tmp_path / "release", default_files(), generated("key", 4000))
    out = tmp_path / "out"
    assert run("decrypt", made.enc_dir, "-k", made.key, "-o", out, "--no-md5").exit_code == 0
    config = out / "config.json"
    os.utime(config, ns=(0, config.stat().st_mtime_ns + 10**9))  # touched, not changed
    intact = run("verify", out)
    assert intact.exit_code == 0, intact.stdout + intact.stderr
    assert sorted(intact.stdout.splitlines()) == [
        "config.json: OK",
        "pytorch_model.bin: OK",
        "tokenizer_config.json: OK",
    ]
    assert "FAILED" not in intact.stderr and "WARNING" not in intact.stderr
    config.write_bytes(config.read_bytes().replace(b"llama", b"LLAMA"))
    damaged = run("verify", out)
    assert damaged.exit_code == 1
    assert "config.json: FAILED\n" in damaged.stdout
    assert "differs from what was verified when belle-patch restored it" in damaged.stderr
    assert "WARNING: 1 computed checksum did NOT match" in damaged.stderr
