"""One planned file checked in one read: its content address and any other digest wanted."""

from __future__ import annotations

from typing import Dict, Optional, Sequence, Tuple

from belle_patch.hub.address import (
    AddressCheck,
    algorithms_for,
    check_file_against,
    content_digests,
)
from belle_patch.hub.book import PlannedFile
from belle_patch.stream.engine import ProgressCallback
from belle_patch.vocabulary import Status


def check_planned(
    entry: PlannedFile,
    also: Sequence[str] = (),
    *,
    on_progress: Optional[ProgressCallback] = None,
) -> Tuple[AddressCheck, Dict[str, str]]:
    """The verdict on ``entry`` and every digest computed (its address's and ``also``, e.g.
    MD5 for a published list), all from one read.

    A file judged FAILED or MISSING by the plan (a link out of the cache, a missing blob) is
    never read. A file with no address is read only for ``also`` (a list may still vouch for
    it). OSError from reading propagates: the caller reports the file as unreadable.
    """
    if not entry.to_hash or entry.address is None:
        judged = AddressCheck(entry.status, "", "", detail=entry.detail)
        if entry.status != Status.NOT_VERIFIED or not also or not entry.path.is_file():
            return judged, {}
        return judged, content_digests(entry.path, also, on_progress=on_progress)
    wanted = (*algorithms_for(entry.address), *also)
    digests = content_digests(entry.path, wanted, on_progress=on_progress)
    size = entry.path.stat().st_size
    verdict = check_file_against(entry.address, digests, size=size, path=entry.path)
    return verdict, digests
