"""A Hugging Face download checked file by file: each against its content address and, in the
same read, against a listed MD5.

The download's address book (:mod:`belle_patch.hub`) says what each file should hash to; an MD5
list adds a second opinion. A file with neither is NOT VERIFIED, never OK. Files the plan
judges before reading (a link out of the cache, a missing blob) are never opened.
"""

from __future__ import annotations

import os
import stat
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Collection, List, Mapping, Optional, Tuple

from belle_patch.check.filecheck import CheckHooks, check_file
from belle_patch.check.fileindex import FileIndex, regular_size
from belle_patch.check.safetensors_layout import LENGTH_SIZE, header_length
from belle_patch.check.safetensors_layout import check_file as check_layout
from belle_patch.check.verdict import BY_MD5, FileCheck
from belle_patch.errors import BellePatchError
from belle_patch.hub.address import AddressCheck
from belle_patch.hub.book import AddressBook, PlannedFile, plan_checks
from belle_patch.hub.checks import check_planned
from belle_patch.output import state_rules
from belle_patch.stream.hashing import NOT_REGULAR
from belle_patch.vocabulary import DigestKind, Status


@dataclass(frozen=True)
class DownloadPlan:
    """What to check in a download: its planned files and the MD5s listed for some names."""

    planned: Tuple[PlannedFile, ...]
    md5s: Mapping[str, str]
    md5_source: str = ""

    @property
    def listed_only(self) -> List[str]:
        """Listed names the download does not hold (they fail as missing, unread)."""
        held = {entry.name for entry in self.planned}
        return [name for name in self.md5s if name not in held]

    def sizes(self) -> List[int]:
        return [
            (regular_size(entry.path) or 0) if _is_read(entry, self.md5s) else 0
            for entry in self.planned
        ]


def planned_files(
    book: AddressBook, leave_out: Collection[Path] = (), *, complete: bool = False
) -> List[PlannedFile]:
    """Every file of the download to report on. Files of belle-patch's own state folder and
    ``leave_out`` (the MD5 list being used, when it lies in the folder) are left out unless
    the download gives them an address. ``complete``: every file of the revision's listing
    that was not downloaded is MISSING."""
    left_out = {Path(path).resolve() for path in leave_out}

    def kept(entry: PlannedFile) -> bool:
        if entry.address is not None or entry.status != Status.NOT_VERIFIED:
            return True
        if entry.name.split("/")[0] == state_rules.STATE_FOLDER:
            return False
        return entry.path.resolve() not in left_out

    return [entry for entry in plan_checks(book, complete=complete) if kept(entry)]


def readable_index(planned: List[PlannedFile]) -> FileIndex:
    """The planned files that may be read, by name: for telling a release by its names and
    content without opening a link that leads out of the cache."""
    entries = {
        entry.name: entry.path
        for entry in planned
        if entry.to_hash
        or (
            entry.status == Status.NOT_VERIFIED
            and entry.address is None
            # A file with no address is the user's own: read where it is, never followed.
            and not os.path.islink(entry.path)
        )
    }
    return FileIndex((), entries)


def _is_read(entry: PlannedFile, md5s: Mapping[str, str]) -> bool:
    return entry.to_hash or (entry.status == Status.NOT_VERIFIED and entry.name in md5s)


def _judged(entry: PlannedFile, expected_md5: str) -> FileCheck:
    """The verdict of a file the plan decided on without reading it."""
    method = entry.address.kind if entry.address is not None else ""
    if entry.status == Status.MISSING:
        status = Status.MISSING
    elif entry.detail == NOT_REGULAR:
        status = Status.UNREADABLE
    elif entry.status == Status.NOT_VERIFIED:
        status = Status.NOT_VERIFIED
    else:
        status = Status.REFUSED
    return FileCheck(
        entry.name,
        status,
        expected_md5,
        path=entry.path,
        detail=entry.detail,
        method=method,
        address=entry.address.hexdigest if entry.address is not None else "",
    )


def _combined(
    entry: PlannedFile,
    verdict: AddressCheck,
    digests: Mapping[str, str],
    expected_md5: str,
    md5_source: str,
) -> FileCheck:
    """One verdict from the address check and the MD5: any mismatch fails the file; else it
    is OK if either vouched for it, NOT VERIFIED if neither could."""
    address = entry.address
    actual_md5 = digests.get(DigestKind.MD5)
    verified_by: List[str] = []
    problems: List[str] = []
    if address is not None and verdict.ok:
        verified_by.append(address.kind)
    elif address is not None and verdict.status == Status.FAILED:
        problems.append(verdict.detail)
    if expected_md5 and actual_md5 == expected_md5:
        verified_by.append(BY_MD5)
    elif expected_md5:
        against = f" in {md5_source}" if md5_source else ""
        problems.append(f"does not match its MD5{against}")
    if problems:
        status, detail = Status.FAILED, "; ".join(problems)
        if address is not None and verdict.ok:
            detail += f" (it matches its {address.kind}: the list may be for another version)"
    elif verified_by:
        status, detail = Status.OK, verdict.detail if verdict.ok else ""
    else:
        status, detail = Status.NOT_VERIFIED, verdict.detail or entry.detail
    actual_address = None
    if address is not None:
        actual_address = digests.get(address.algorithm)
    return FileCheck(
        entry.name,
        status,
        expected_md5,
        actual_md5,
        entry.path,
        detail=detail,
        method=address.kind if address is not None else DigestKind.MD5,
        verified_by=tuple(verified_by),
        address=address.hexdigest if address is not None else "",
        actual_address=actual_address,
    )


def check_planned_file(
    entry: PlannedFile,
    expected_md5: str = "",
    *,
    md5_source: str = "",
    hooks: Optional[CheckHooks] = None,
) -> FileCheck:
    """One planned file against its address and ``expected_md5`` (if any), in one read;
    never raises for a file that cannot be read."""
    hooks = hooks or CheckHooks()
    if not entry.to_hash and not (entry.status == Status.NOT_VERIFIED and expected_md5):
        judged = _judged(entry, expected_md5)
        if judged.status == Status.NOT_VERIFIED and entry.name.endswith(SAFETENSORS_SUFFIX):
            return by_layout(judged)
        return judged
    size = regular_size(entry.path)
    if size is None:
        return FileCheck(
            entry.name, Status.UNREADABLE, expected_md5, path=entry.path, detail=NOT_REGULAR
        )
    hooks.on_start(entry.path, size)
    try:
        verdict, digests = check_planned(
            entry, (DigestKind.MD5,) if expected_md5 else (), on_progress=hooks.on_progress
        )
    except OSError as exc:
        detail = exc.strerror or str(exc)
        return FileCheck(
            entry.name, Status.UNREADABLE, expected_md5, path=entry.path, detail=detail
        )
    except BellePatchError as exc:
        return FileCheck(
            entry.name, Status.UNREADABLE, expected_md5, path=entry.path, detail=exc.problem
        )
    if expected_md5 and DigestKind.MD5 not in digests:
        return FileCheck(
            entry.name, Status.UNREADABLE, expected_md5, path=entry.path, detail=NOT_REGULAR
        )
    return _combined(entry, verdict, digests, expected_md5, md5_source)


def check_download(
    plan: DownloadPlan, *, jobs: int = 2, hooks: Optional[CheckHooks] = None
) -> List[FileCheck]:
    """Check every planned file (several at once), then the listed names the download does
    not hold (missing). Results in plan order, then list order."""
    hooks = hooks or CheckHooks()

    def planned(entry: PlannedFile) -> FileCheck:
        result = check_planned_file(
            entry, plan.md5s.get(entry.name, ""), md5_source=plan.md5_source, hooks=hooks
        )
        hooks.on_done(result)
        return result

    def listed(name: str) -> FileCheck:
        result = check_file(name, plan.md5s[name], None)
        hooks.on_done(result)
        return result

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        checks = list(pool.map(planned, plan.planned))
    return checks + [listed(name) for name in plan.listed_only]


SAFETENSORS_SUFFIX = ".safetensors"
# A download's header is read whole and parsed; real ones are a few MiB at most. A longer
# one is left unchecked rather than parsed (a hostile header can cost 25 times its size).
DOWNLOAD_HEADER_LIMIT = 16 * 1024 * 1024
STRUCTURE_FAILED = "not a whole safetensors file"
_ONE_HEADER_AT_A_TIME = threading.Lock()
STRUCTURE_VALID = (
    "structure only: its safetensors header is valid and its size is exactly what its "
    "tensors need, but there is no checksum to compare it with"
)


def by_layout(check: FileCheck) -> FileCheck:
    """A safetensors file with no address and no checksum, checked by its structure: its
    header and its exact size (it reads the header only). A truncated or damaged one FAILS;
    a valid one stays NOT VERIFIED, since a structure cannot vouch for the weights."""
    if check.path is None:
        return check
    # Never through a link (a file added as a link may lead anywhere), never blocking.
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(check.path, flags | getattr(os, "O_BINARY", 0))
    except OSError:
        return check
    with os.fdopen(fd, "rb", buffering=0) as source:
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                return check
            length = header_length(source.read(LENGTH_SIZE))
            # A longer header is left unparsed, unless the file cannot even hold it: that is
            # judged without reading on.
            if length is not None and DOWNLOAD_HEADER_LIMIT < length <= info.st_size - 8:
                return check
            source.seek(0)
            # One header parsed at a time: a hostile one costs many times its size.
            with _ONE_HEADER_AT_A_TIME:
                result = check_layout(source, info.st_size)
        except OSError:
            return check
    if result.ok:
        # Why it has no address stays first: that is what the user can act on.
        detail = f"{check.detail}; {STRUCTURE_VALID}" if check.detail else STRUCTURE_VALID
        return replace(check, detail=detail, method=DigestKind.STRUCTURE)
    return replace(
        check,
        status=Status.FAILED,
        detail=f"{STRUCTURE_FAILED}: {result.problem}",
        method=DigestKind.STRUCTURE,
    )
