"""Names and headers of patch files (see FORMAT.md in the README).

A patch is ``<restored name>.<64 lowercase hex>.enc``: a 32-byte SHA-256 header of the
restored file, then the restored bytes XORed with the key stream.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from belle_patch.errors import LfsPointerError, PatchFormatError, UnsafeNameError

HEADER_SIZE = 32
PATCH_SUFFIX = ".enc"
LFS_POINTER_PREFIX = b"version https://git-lfs.github.com/spec/v1"
# Enough to hold the LFS signature and the header in one small read.
PROBE_SIZE = 64
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

_PATCH_NAME = re.compile(r"^(?P<name>.+)\.(?P<sha256>[0-9a-f]{64})\.enc$", re.DOTALL)


@dataclass(frozen=True)
class PatchName:
    """What a patch's file name says: the restored name and its SHA-256."""

    restored_name: str
    sha256: str


def check_safe_name(name: str) -> str:
    """Return ``name`` if it names a file directly inside a folder, else raise."""
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name:
        raise UnsafeNameError(
            f"refusing the file name {name!r}: it is not a plain file name inside the folder"
        )
    return name


def parse_patch_name(file_name: str) -> PatchName:
    """Split ``<name>.<sha256>.enc``; the restored name may itself contain dots."""
    match = _PATCH_NAME.match(file_name)
    if match is None:
        raise PatchFormatError(
            "the name does not end in .<64 hex digits>.enc, so it is not a patch file",
            path=file_name,
            hint="pass the .enc files as published, without renaming them",
        )
    return PatchName(check_safe_name(match["name"]), match["sha256"])


def patch_name(restored_name: str, sha256_hex: str) -> str:
    """The published name of the patch for ``restored_name``."""
    return f"{check_safe_name(restored_name)}.{sha256_hex}{PATCH_SUFFIX}"


def check_lfs(probe: bytes, *, path: str) -> None:
    if probe.startswith(LFS_POINTER_PREFIX):
        raise LfsPointerError(
            "this is a Git LFS pointer, not the patch data",
            path=path,
            hint="run git lfs pull in the cloned repository, then try again",
        )


def check_header(probe: bytes, patch_size: int, expected: PatchName, *, path: str) -> bytes:
    """Validate the first bytes of a patch and return its 32-byte header.

    ``probe`` is the start of the file (at least ``HEADER_SIZE`` bytes when the file has them).
    """
    check_lfs(probe, path=path)
    if patch_size < HEADER_SIZE:
        raise PatchFormatError(
            f"the file is {patch_size} bytes, shorter than the {HEADER_SIZE}-byte header",
            path=path,
            hint="the download is incomplete: download it again",
        )
    header = probe[:HEADER_SIZE]
    if header.hex() != expected.sha256 and expected.sha256 == EMPTY_SHA256 and patch_size:
        raise PatchFormatError(
            "the name carries the SHA-256 of nothing: this is a header-less patch "
            "(TechGPT's variant), which only an MD5 list can verify",
            path=path,
            hint="pass --release techgpt-7b, or the release's MD5 list with --manifest",
        )
    if header.hex() != expected.sha256:
        raise PatchFormatError(
            f"the header ({header.hex()[:12]}...) does not match the SHA-256 in the name "
            f"({expected.sha256[:12]}...)",
            path=path,
            hint="the file was renamed or damaged: download it again",
        )
    return header
