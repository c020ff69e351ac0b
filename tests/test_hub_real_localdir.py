"""verify of ``--local-dir`` downloads written by huggingface_hub itself (a local Hub)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable, Dict

import pytest

import belle_patch
from hub_endpoint import (
    INDEX,
    SHARDS,
    LocalDirDownload,
    cli_verdicts,
    flip_byte,
    json_strings_and_numbers,
    model_files,
    replace_with_fifo,
    require_huggingface_hub,
    run_verify_subprocess,
)

from helpers import run

require_huggingface_hub()

Builder = Callable[..., LocalDirDownload]
FILES = model_files()
NAMES = sorted(FILES)
BAD = ("FAILED", "FAILED open or read")


def statuses(report: belle_patch.VerifyReport) -> Dict[str, str]:
    return {check.name: check.status for check in report.files}


@pytest.mark.parametrize("via", ["snapshot", "files"])
def test_a_local_dir_download_verifies_ok(
    tmp_path: Path, local_dir_download: Builder, via: str
) -> None:
    download = local_dir_download(tmp_path / "BELLE", via=via)
    assert download.tree_listing.exists() == (via == "snapshot")
    assert download.metadata("onnx/model.onnx").read_text().startswith(download.commit + "\n")
    result = run("verify", download.folder)
    assert result.exit_code == 0, result.output
    assert cli_verdicts(result.stdout) == dict.fromkeys(NAMES, "OK")
    assert f"--local-dir download at {download.commit[:12]}" in result.stderr
    assert ".cache" not in result.stdout
    report = belle_patch.verify([download.folder])
    assert report.ok and statuses(report) == dict.fromkeys(NAMES, belle_patch.OK)


@pytest.mark.parametrize("name", [SHARDS[0], "config.json", "tokenizer/vocab.txt"])
def test_a_modified_file_fails_even_with_its_old_mtime(
    tmp_path: Path, local_dir_download: Builder, name: str
) -> None:
    download = local_dir_download(tmp_path / "BELLE")
    path = download.folder / name
    before = path.stat()
    flip_byte(path)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # looks untouched
    result = run("verify", download.folder)
    assert result.exit_code == 1
    assert cli_verdicts(result.stdout) == {n: "FAILED" if n == name else "OK" for n in NAMES}
    assert f"{name}: does not match" in result.stderr
    assert statuses(belle_patch.verify([download.folder]))[name] == belle_patch.FAILED


def test_files_the_listing_names_but_not_downloaded_are_reported_exit_0(
    tmp_path: Path, local_dir_download: Builder
) -> None:
    patterns = ["*.json", "*.safetensors", "*.md", ".gitattributes"]
    download = local_dir_download(tmp_path / "BELLE", allow_patterns=patterns)
    left_out = ["onnx/model.onnx", "tokenizer/vocab.txt"]
    assert not any((download.folder / name).exists() for name in left_out)
    assert download.tree_listing.exists()
    result = run("verify", download.folder)
    assert result.exit_code == 0, result.output
    present = [n for n in NAMES if n not in left_out]
    assert all(cli_verdicts(result.stdout).get(n) == "OK" for n in present), result.stdout
    assert all(name in result.stdout for name in left_out)
    assert "not downloaded" in result.stdout + result.stderr
    as_json = run("verify", download.folder, "--json")
    assert as_json.exit_code == 0
    report = json.loads(as_json.stdout)
    assert report["ok"] is True
    strings, numbers = json_strings_and_numbers(report)
    assert all(any(name in s for s in strings) for name in left_out)
    sizes = [len(FILES[name]) for name in left_out]
    assert sum(sizes) in numbers or all(size in numbers for size in sizes)


def test_a_file_deleted_with_its_metadata_is_reported_not_downloaded(
    tmp_path: Path, local_dir_download: Builder
) -> None:
    download = local_dir_download(tmp_path / "BELLE")
    (download.folder / "tokenizer" / "vocab.txt").unlink()
    download.metadata("tokenizer/vocab.txt").unlink()
    result = run("verify", download.folder)
    assert result.exit_code == 0, result.output
    assert "tokenizer/vocab.txt" in result.stdout
    assert "not downloaded" in result.stdout + result.stderr
    assert all(
        cli_verdicts(result.stdout).get(n) == "OK" for n in NAMES if n != "tokenizer/vocab.txt"
    )


@pytest.mark.parametrize("via", ["snapshot", "files"])
def test_a_shard_not_downloaded_fails(
    tmp_path: Path, local_dir_download: Builder, via: str
) -> None:
    names = [n for n in NAMES if n != SHARDS[1]]
    patterns = [*names]
    download = local_dir_download(
        tmp_path / "BELLE", via=via, filenames=names, allow_patterns=patterns
    )
    assert not (download.folder / SHARDS[1]).exists() and (download.folder / INDEX).exists()
    result = run("verify", download.folder)
    assert result.exit_code == 1
    assert SHARDS[1] in result.stdout
    assert all(cli_verdicts(result.stdout).get(n) == "OK" for n in names)
    as_json = run("verify", download.folder, "--json")
    assert as_json.exit_code == 1
    assert any(SHARDS[1] in s for s in json_strings_and_numbers(json.loads(as_json.stdout))[0])


def test_a_file_deleted_after_download_is_missing(
    tmp_path: Path, local_dir_download: Builder
) -> None:
    download = local_dir_download(tmp_path / "BELLE")
    (download.folder / "config.json").unlink()  # its metadata says it was downloaded
    result = run("verify", download.folder)
    assert result.exit_code == 1
    assert cli_verdicts(result.stdout)["config.json"] == "FAILED open or read"
    assert statuses(belle_patch.verify([download.folder]))["config.json"] == belle_patch.MISSING


# ------------------------------------------------------------------ nothing hangs


def _fifo_metadata(download: LocalDirDownload) -> None:
    replace_with_fifo(download.metadata("config.json"))


def _fifo_tree_listing(download: LocalDirDownload) -> None:
    replace_with_fifo(download.tree_listing)


def _fifo_file(download: LocalDirDownload) -> None:
    replace_with_fifo(download.folder / "config.json")


FIFOS: Dict[str, Callable[[LocalDirDownload], None]] = {
    "metadata": _fifo_metadata,
    "tree-listing": _fifo_tree_listing,
    "downloaded-file": _fifo_file,
}


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
@pytest.mark.parametrize("where", sorted(FIFOS))
def test_a_planted_fifo_gets_a_verdict_within_seconds(
    tmp_path: Path, local_dir_download: Builder, where: str
) -> None:
    download = local_dir_download(tmp_path / "BELLE")
    FIFOS[where](download)
    result = run_verify_subprocess(download.folder)  # raises TimeoutExpired (after 60 s) on a hang
    assert "Traceback" not in result.stderr, result.stderr
    if where == "tree-listing":
        assert result.returncode in (0, 1)
        assert cli_verdicts(result.stdout).get(SHARDS[0]) == "OK"
    else:
        assert result.returncode == 1
        assert cli_verdicts(result.stdout).get("config.json") in (*BAD, "NOT VERIFIED")
