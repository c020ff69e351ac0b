"""A downloaded .safetensors file with no content address is checked by its structure."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Callable, Dict

import pytest

import belle_patch
from hub_endpoint import (
    CacheDownload,
    LocalDirDownload,
    cli_verdicts,
    model_files,
    require_huggingface_hub,
)

from helpers import run

require_huggingface_hub()

WEIGHTS = "model.safetensors"


def safetensors_bytes(tensors: int = 3) -> bytes:
    header: Dict[str, object] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for index in range(tensors):
        header[f"layer.{index}.weight"] = {
            "dtype": "F32",
            "shape": [4, 8],
            "data_offsets": [offset, offset + 128],
        }
        offset += 128
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + b"\x01" * offset


def statuses(report: belle_patch.VerifyReport) -> Dict[str, str]:
    return {check.name: check.status for check in report.files}


def details(report: belle_patch.VerifyReport) -> Dict[str, str]:
    return {check.name: check.detail for check in report.files}


def added_by_hand(download: LocalDirDownload, content: bytes) -> Path:
    path = download.folder / "added.safetensors"
    path.write_bytes(content)
    return path


def test_a_valid_file_added_by_hand_is_structure_only_and_not_verified(
    tmp_path: Path, local_dir_download: Callable[..., LocalDirDownload]
) -> None:
    download = local_dir_download(tmp_path / "BELLE")
    added_by_hand(download, safetensors_bytes())
    result = run("verify", download.folder)
    assert result.exit_code == 1
    assert cli_verdicts(result.stdout)["added.safetensors"] == "NOT VERIFIED"
    assert "structure only" in result.stderr
    report = belle_patch.verify([download.folder])
    assert statuses(report)["added.safetensors"] == belle_patch.Status.NOT_VERIFIED
    assert "structure only" in details(report)["added.safetensors"]
    allowed = run("verify", "--allow-unverified", download.folder)
    assert allowed.exit_code == 0, allowed.output


@pytest.mark.parametrize("cut", [1, 100])
def test_a_truncated_file_added_by_hand_fails(
    tmp_path: Path, local_dir_download: Callable[..., LocalDirDownload], cut: int
) -> None:
    download = local_dir_download(tmp_path / "BELLE")
    added_by_hand(download, safetensors_bytes()[:-cut])
    result = run("verify", "--allow-unverified", download.folder)
    assert result.exit_code == 1
    assert cli_verdicts(result.stdout)["added.safetensors"] == "FAILED"
    assert "truncated" in result.stderr and "added.safetensors" in result.stderr
    report = belle_patch.verify([download.folder], allow_unverified=True)
    assert statuses(report)["added.safetensors"] == belle_patch.FAILED


def test_one_byte_too_many_fails(
    tmp_path: Path, local_dir_download: Callable[..., LocalDirDownload]
) -> None:
    download = local_dir_download(tmp_path / "BELLE")
    added_by_hand(download, safetensors_bytes() + b"\0")
    report = belle_patch.verify([download.folder], allow_unverified=True)
    assert statuses(report)["added.safetensors"] == belle_patch.FAILED
    assert "after its last tensor" in details(report)["added.safetensors"]


def test_a_huge_header_length_is_left_unchecked_not_failed(
    tmp_path: Path, local_dir_download: Callable[..., LocalDirDownload]
) -> None:
    # Over the 16 MiB a download's header may take, the structure is not parsed at all.
    download = local_dir_download(tmp_path / "BELLE")
    path = added_by_hand(download, struct.pack("<Q", 17 * 1024 * 1024) + b"{")
    with path.open("r+b") as grown:
        grown.truncate(8 + 17 * 1024 * 1024 + 64)
    report = belle_patch.verify([download.folder], allow_unverified=True)
    assert statuses(report)["added.safetensors"] == belle_patch.Status.NOT_VERIFIED
    assert "structure only" not in details(report)["added.safetensors"]


def test_a_truncated_copy_in_a_cache_snapshot_fails(
    tmp_path: Path, hub_cache: Callable[..., CacheDownload]
) -> None:
    # A copied cache: the snapshot holds a regular file, not a link, so it has no address.
    files = {**model_files(), WEIGHTS: safetensors_bytes()}
    download = hub_cache(tmp_path / "hub", files=files)
    link = download.snapshot / WEIGHTS
    content = link.read_bytes()
    link.unlink()
    link.write_bytes(content[:-7])
    result = run("verify", "--allow-unverified", download.repo_folder)
    assert result.exit_code == 1
    assert cli_verdicts(result.stdout)[WEIGHTS] == "FAILED"
    assert "7 bytes shorter" in result.stderr


def test_an_addressed_file_is_judged_by_its_address_only(
    tmp_path: Path, hub_cache: Callable[..., CacheDownload]
) -> None:
    files = {**model_files(), WEIGHTS: safetensors_bytes()}
    download = hub_cache(tmp_path / "hub", files=files)
    report = belle_patch.verify([download.repo_folder])
    assert statuses(report)[WEIGHTS] == belle_patch.OK
    assert "structure" not in details(report)[WEIGHTS]


def test_random_bytes_fail_even_with_a_huge_header_length(
    tmp_path: Path, local_dir_download: Callable[..., LocalDirDownload]
) -> None:
    download = local_dir_download(tmp_path / "BELLE")
    added_by_hand(download, struct.pack("<Q", 2**40) + bytes(992))
    report = belle_patch.verify([download.folder], allow_unverified=True)
    assert statuses(report)["added.safetensors"] == belle_patch.FAILED


def test_a_file_added_as_a_link_is_not_read_for_its_structure(
    tmp_path: Path, local_dir_download: Callable[..., LocalDirDownload]
) -> None:
    download = local_dir_download(tmp_path / "BELLE")
    outside = tmp_path / "outside.safetensors"
    outside.write_bytes(safetensors_bytes()[:-1])
    (download.folder / "link.safetensors").symlink_to(outside)
    report = belle_patch.verify([download.folder], allow_unverified=True)
    assert "structure" not in details(report).get("link.safetensors", "")
    assert statuses(report).get("link.safetensors") != belle_patch.OK
