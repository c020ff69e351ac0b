"""When a batch stops early: the key, not one file, is what failed."""

from __future__ import annotations

from typing import Optional

from belle_patch.check.structure import StructureMismatch
from belle_patch.errors import BellePatchError, ChecksumMismatch
from belle_patch.jobs.restore_types import DownloadDamaged, KeyMismatch, ListMismatch
from belle_patch.vocabulary import DigestKind


def key_stop_rule(error: BellePatchError, done: int) -> Optional[BellePatchError]:
    """Stop the batch when the key is what failed.

    Files go smallest first, and a larger file covers every key byte a smaller one does:
    once a file fails because of the key, every later file fails too. That is certain when
    the download is intact (KeyMismatch), and the likely cause when the very first file
    fails its checksum or its structure; a damaged download only costs its own file.
    """
    if not isinstance(error, ChecksumMismatch) or isinstance(
        error, (DownloadDamaged, ListMismatch)
    ):
        return None
    if isinstance(error, KeyMismatch):
        if error.algorithm not in (DigestKind.SHA256, DigestKind.MD5):
            return None
        return BellePatchError(
            "the key does not fit this release: its download is intact, so no larger file can "
            "restore with this key either; the batch stopped",
            path=error.path,
            hint=_KEY_HINT,
        )
    if done == 0 and (
        error.algorithm in (DigestKind.SHA256, DigestKind.MD5)
        or isinstance(error, StructureMismatch)
    ):
        return BellePatchError(
            "most likely the key does not fit this release: the first (smallest) file did not "
            "restore, and no larger file restores with a key a smaller one fails; the batch "
            "stopped",
            path=error.path,
            hint=f"{_KEY_HINT}; if the key is right, this file's download is damaged: download "
            "it again",
        )
    return None


_KEY_HINT = (
    "check that --key is the original LLaMA-1 consolidated.00.pth the release needs "
    "(a key that only starts like it restores the small files, not the weights)"
)
