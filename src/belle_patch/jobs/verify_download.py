"""The Hugging Face download part of ``verify``: tell a download among the paths, and check
every file of it against the content address it carries on disk."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from belle_patch.check.choice import checks_for, choose_expectations
from belle_patch.check.detection import ContentProbe
from belle_patch.check.downloads import DownloadPlan, check_download, planned_files, readable_index
from belle_patch.check.filecheck import CheckHooks
from belle_patch.check.verdict import FileCheck
from belle_patch.errors import UsageError
from belle_patch.hub.book import AddressBook, not_downloaded
from belle_patch.hub.cache import is_hub_spec, resolve_hub_spec
from belle_patch.hub.detect import detect_layout
from belle_patch.jobs.batch import files_hashed_at_once
from belle_patch.jobs.verify_types import PathArg, VerifyReport, _Asked, _base_verdict, _Notes
from belle_patch.stream.events import Progress
from belle_patch.units import format_bytes
from belle_patch.vocabulary import Side

REVISION_ONLY = (
    "a revision can be chosen only for a cache repo folder (models--ORG--NAME) or hf:ORG/NAME"
)


def _download_book(paths: Sequence[PathArg], revision: Optional[str]) -> Optional[AddressBook]:
    """The address book of the Hugging Face download named, or None for plain files."""
    books: List[AddressBook] = []
    for path in paths:
        text = os.fspath(path)
        book: Optional[AddressBook] = None
        if is_hub_spec(text):
            book = detect_layout(resolve_hub_spec(text, revision))
        elif os.path.isdir(text):
            book = detect_layout(Path(text), revision)
        elif revision is not None:
            raise UsageError(REVISION_ONLY, path=Path(text))
        if book is not None:
            books.append(book)
    if books and len(paths) > 1:
        raise UsageError(
            f"{books[0].root} is a {books[0].layout}: check one download at a time",
            hint="give it as the only path",
        )
    return books[0] if books else None


def _verify_download(
    book: AddressBook, asked: _Asked, events: Progress, note: _Notes
) -> VerifyReport:
    """Every file of a download against its content address, and a list's MD5s in the same
    read."""
    note(book.summary)
    for remark in book.notes:
        note(remark)
    planned = planned_files(
        book, [asked.manifest] if asked.manifest is not None else [], complete=asked.complete
    )
    absent = tuple(not_downloaded(book))
    if absent:
        size = sum(listed.size for listed in absent)
        note(
            f"{len(absent)} file{'' if len(absent) == 1 else 's'} of the revision "
            f"({format_bytes(size)}) {'was' if len(absent) == 1 else 'were'} not downloaded "
            f"(listed in {book.listing.source if book.listing else 'its file listing'})"
        )
    readable = readable_index(planned)
    expected = choose_expectations(
        readable,
        ContentProbe(readable),
        manifest=asked.manifest,
        release=asked.release,
        base=asked.base,
        addressed=True,
        note=note,
    )
    md5s: Dict[str, str] = {}
    # A list or release the user gave must check something, as md5sum -c decides.
    given_checks_nothing = False
    if expected is not None:
        # Published download SHA-256s are the LFS content addresses, checked as such.
        md5s = {n: d for n, d in checks_for(expected, readable).items() if len(d) != 64}
        if asked.ignore_missing:
            md5s = {name: md5 for name, md5 in md5s.items() if name in readable}
        given = asked.manifest is not None or asked.release is not None
        if md5s or expected.failed:
            note(f"checking the MD5s of {expected.label} in the same read")
        elif expected.side == Side.DOWNLOADS and expected.release is not None:
            # What a family release publishes of its downloads are these same addresses.
            note(f"{expected.release.name} publishes no download MD5s; content addresses only")
        elif not given:
            note(f"{expected.label}: no MD5s to check; content addresses only")
        elif expected.listed:
            given_checks_nothing = True
            note(f"{expected.label}: no file was verified")
        else:
            given_checks_nothing = True
            if expected.release is not None:
                note(f"{expected.label} publishes no MD5s, so no file could be checked")
            else:
                note(f"{expected.label}: no properly formatted checksum lines found")
    plan = DownloadPlan(tuple(planned), md5s, expected.label if expected is not None else "")
    worker_count = files_hashed_at_once(asked.jobs)
    events.started(len(planned) + len(plan.listed_only), sum(plan.sizes()), worker_count)
    checks = check_download(
        plan,
        jobs=worker_count,
        hooks=CheckHooks(events.file_started, events.advanced, events.file_done),
    )
    if expected is not None and expected.side == Side.BASE:
        checks = [_base_verdict(check, expected) for check in checks]
    if expected is not None:
        for name, (status, detail) in expected.failed.items():
            refused = FileCheck(name, status, "", path=None, detail=detail)
            events.file_done(refused)
            checks.append(refused)
    if not checks:
        note(f"{book.description}: no files to check")
    accepted = all(c.ok or (asked.allow_unverified and c.not_verified) for c in checks)
    malformed = asked.strict and expected is not None and expected.problem_count > 0
    against = book.description
    if expected is not None:
        against += f" and {expected.label}"
    return VerifyReport(
        ok=any(c.ok for c in checks) and accepted and not malformed and not given_checks_nothing,
        against=against,
        release=expected.release.id if expected is not None and expected.release else None,
        files=tuple(checks),
        problems=expected.problems if expected is not None else (),
        problem_count=expected.problem_count if expected is not None else 0,
        notes=tuple(note.kept),
        download=book.description,
        not_downloaded=absent,
    )
