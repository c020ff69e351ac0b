"""``verify``: check restored files or ``.enc`` downloads against MD5s, like ``md5sum -c``, and
Hugging Face downloads against the content addresses they carry on disk."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Union

from belle_patch.check.choice import checks_for, choose_expectations, unchecked_names
from belle_patch.check.detection import ContentProbe
from belle_patch.check.filecheck import CheckHooks, verify_entries
from belle_patch.check.fileindex import FileIndex, index_files, regular_size
from belle_patch.check.verdict import FileCheck
from belle_patch.errors import UsageError
from belle_patch.expect.expectations import Expectations
from belle_patch.jobs import arguments
from belle_patch.jobs.batch import files_hashed_at_once
from belle_patch.jobs.verify_download import _download_book, _verify_download
from belle_patch.jobs.verify_types import PathArg, VerifyReport, _Asked, _base_verdict, _Notes
from belle_patch.stream.events import Progress, ProgressEvents
from belle_patch.vocabulary import Side

# Structure read to tell a payload's JSON from a restored one: configs are a few KiB.
JSON_PROBE_LIMIT = 1024 * 1024


def verify(
    paths: Union[PathArg, Sequence[PathArg]],
    *,
    manifest: Optional[PathArg] = None,
    release: Optional[str] = None,
    revision: Optional[str] = None,
    full: bool = False,
    jobs: Optional[int] = None,
    ignore_missing: bool = False,
    strict: bool = False,
    allow_unverified: bool = False,
    base: bool = False,
    complete: bool = False,
    progress: Optional[Progress] = None,
) -> VerifyReport:
    """Check files against MD5s, like ``md5sum -c``; return a report, never print.

    ``paths`` is one path (``str`` or ``os.PathLike``, such as ``"model/"`` or a
    :class:`pathlib.Path`) or a list of them: folders (listed names are looked up inside
    them, subfolders included) or single files (looked up by their own name). Two
    different files by the same name (in two folders, or given one by one) are a usage
    error: verify them one at a time.

    What the files are checked against:

    * ``manifest``: an md5sum-style list (GNU, binary ``*``, BSD ``MD5 (name) = ...``,
      escaped names) or a belle-patch JSON release manifest;
    * ``release``: a bundled release by id or name (see ``belle-patch releases``);
    * neither: patch names identify their release; restored files are matched to the
      bundled release that lists their names and whose MD5s their content agrees with;
      a folder belle-patch restored falls back to what was verified when it was restored
      (its ``.belle-patch/state.json``; a recorded file that is gone fails as missing).

    A Hugging Face download is checked file by file against the content address it carries
    on disk (the SHA-256 of LFS files, the git blob id of small ones), with no network: give
    a cache snapshot folder (``.../models--ORG--NAME/snapshots/COMMIT``), a cache repo folder
    (``models--ORG--NAME``: the snapshot of ``refs/main``, or of ``revision``, a branch or a
    commit), ``"hf:ORG/NAME"`` (or ``"hf:ORG/NAME@REV"``: found in ``$HF_HUB_CACHE``, else
    ``$HF_HOME/hub``, else ``~/.cache/huggingface/hub``), a ``--local-dir`` download or a git
    clone (checked against its HEAD commit, not the index), as the only path. Where
    huggingface_hub kept the revision's file listing (``trees/COMMIT.json``), each file is
    also held to the address the listing gives its path, and the listed files the folder
    lacks are ``not_downloaded`` (they fail only with ``complete``); a shard that a present
    ``*.index.json`` names and the folder lacks is ``MISSING`` either way. An MD5 list
    (``manifest``, ``release`` or a bundled release its files match) is checked in the same
    read; a list or release given that checks no file makes ``ok`` false. Every file under
    the folder is reported: one with neither an address nor a listed MD5 is
    ``NOT VERIFIED`` and makes ``ok`` false unless ``allow_unverified``; a file the download
    names but lacks is ``MISSING``; a cache link leading out of its repo's ``blobs/`` is
    ``REFUSED`` and never read. A folder with none of these layouts is checked as below.

    A release's downloads are checked when the folder holds any, else its restored files;
    other listed files are checked when present. Names that would leave the folder
    (``../x``, absolute names) and names listed with different MD5s fail without being
    read; a FIFO, device or dangling link fails as unreadable.

    OpenBuddy and Open-Assistant / PygmalionAI releases are told the same way (by names,
    taken only when the smallest shared file has the published checksum). Their download
    folders (``.enc`` files, or an Open-Assistant payload folder) are checked against the
    published download checksums (MD5 or SHA-256); a release that publishes none checks
    nothing, so ``ok`` is false. ``base`` checks a converted LLaMA folder against the MD5s
    (or SHA-256s) of the base an Open-Assistant release was made against: the release given,
    the one a JSON ``manifest`` describes, or else the one whose base list the folder's names
    and smallest file match; a differing file's ``detail`` names the conversion environment
    the release pins.

    Files belle-patch restored and that are unchanged since (size and mtime) are checked
    with xxh3 against the record, much faster than MD5; ``full`` always uses MD5. ``jobs``
    files are hashed at once (default: the number of cores). ``ignore_missing`` skips
    listed files that are absent; ``strict`` fails on malformed list lines.

    ``progress`` (see :class:`belle_patch.stream.events.ProgressEvents`) gets ``note`` for each
    remark, ``started`` once, ``file_started``/``advanced`` while hashing and
    ``file_done`` with each :class:`~belle_patch.check.verdict.FileCheck`.

    Returns a :class:`VerifyReport`: ``ok`` (every checked file matched, as ``md5sum -c``
    decides), ``against`` and ``release`` (what was used), ``files`` (one ``FileCheck``
    per listed name: ``name``, ``status`` of ``OK``, ``FAILED``, ``MISSING``,
    ``UNREADABLE``, ``REFUSED`` or ``NOT VERIFIED``, ``expected`` and ``actual`` MD5,
    ``method``, ``verified_by``, ``address`` and ``actual_address``, ``path``, ``detail``),
    ``problems`` (malformed list lines), ``notes``, ``unchecked`` (files a release lists
    without an MD5), ``download`` and ``not_downloaded`` (the listed files a download lacks,
    each a :class:`belle_patch.hub.ListedFile` with ``name`` and ``size``). A damaged file
    is a ``FAILED`` entry, not an error.

    Raises :class:`belle_patch.errors.UsageError` (and its subclass ``ManifestError``)
    when a path does not exist, two paths hold different files by one name, the list
    cannot be read, the release is unknown or cannot be told, ``hf:ORG/NAME`` is not in
    the cache, or ``revision`` is given for anything but a cache repo folder or
    ``hf:ORG/NAME``.

    Raises :class:`TypeError`, naming the argument, when one has a wrong type: ``paths``
    neither a path nor an iterable of paths (``str`` or ``os.PathLike``; bytes paths are
    refused), ``manifest`` not a path or None, ``release`` or ``revision`` not a ``str`` or
    None, ``jobs`` not an ``int`` or None, a flag not ``True`` or ``False``, ``progress``
    without the methods of :class:`belle_patch.stream.events.ProgressEvents`.

    >>> report = verify(["model/"], manifest="md5sums.txt")  # doctest: +SKIP
    >>> report.ok, [(f.name, f.status) for f in report.failed]  # doctest: +SKIP
    (False, [('pytorch_model.bin', 'FAILED')])
    """
    given = _checked_arguments(
        paths,
        manifest=manifest,
        release=release,
        revision=revision,
        jobs=jobs,
        flags={
            "full": full,
            "ignore_missing": ignore_missing,
            "strict": strict,
            "allow_unverified": allow_unverified,
            "base": base,
            "complete": complete,
        },
        progress=progress,
    )
    events: Progress = progress if progress is not None else ProgressEvents()
    if manifest is not None and release is not None:
        raise UsageError("give a manifest or a release, not both")
    if not given:
        raise UsageError("no file or folder to check")
    asked = _Asked(
        manifest=Path(os.fspath(manifest)) if manifest is not None else None,
        release=release,
        jobs=jobs,
        full=full,
        ignore_missing=ignore_missing,
        strict=strict,
        allow_unverified=allow_unverified,
        base=base,
        complete=complete,
    )
    note = _Notes(events)
    book = _download_book(given, revision)
    if book is not None:
        return _verify_download(book, asked, events, note)
    return _verify_folders(index_files([Path(os.fspath(p)) for p in given]), asked, events, note)


def _verify_folders(
    files: FileIndex, asked: _Asked, events: Progress, note: _Notes
) -> VerifyReport:
    """Folders and files given one by one, against a list, a release or what belle-patch
    recorded restoring them."""
    if asked.manifest is None and asked.release is None and not files.has_files():
        note("no files to check")
        return VerifyReport(False, "", None, (), notes=tuple(note.kept))
    probe = ContentProbe(files)
    expected = choose_expectations(
        files,
        probe,
        manifest=asked.manifest,
        release=asked.release,
        base=asked.base,
        addressed=False,
        note=note,
    )
    assert expected is not None  # only a download's files may fit nothing
    assumed = expected.release
    if asked.base and assumed is not None and assumed.base_uncertain:
        note(
            f"the base list of {assumed.name} is assumed, not confirmed (see belle-patch "
            "releases): a file that differs may still be the conversion the release was made "
            "against"
        )
    entries = checks_for(expected, files)
    if asked.ignore_missing:
        entries = {name: md5 for name, md5 in entries.items() if name in files}
    unchecked = unchecked_names(expected, files)
    _note_unchecked(expected, unchecked, note)
    checks = _check_entries(entries, files, probe, asked, events)
    if expected.side == Side.BASE:
        checks = [_base_verdict(check, expected) for check in checks]
    for name, (status, detail) in expected.failed.items():
        refused = FileCheck(name, status, "", path=None, detail=detail)
        events.file_done(refused)
        checks.append(refused)
    if not checks and (expected.listed or expected.release is not None):
        note(f"{expected.label}: no file was verified")
    strict_failure = asked.strict and expected.problem_count > 0
    return VerifyReport(
        ok=bool(checks) and all(c.ok for c in checks) and not strict_failure,
        against=expected.label,
        release=expected.release.id if expected.release else None,
        files=tuple(checks),
        problems=expected.problems,
        problem_count=expected.problem_count,
        notes=tuple(note.kept),
        unchecked=tuple(unchecked),
    )


def _note_unchecked(expected: Expectations, unchecked: List[str], note: _Notes) -> None:
    """Say what the list or release leaves unchecked: everything, or the files it gives no
    checksum for."""
    if not expected.listed and not expected.failed:
        if expected.release is not None and expected.side == Side.DOWNLOADS:
            note(f"{expected.release.name} publishes no download checksums, "
                 "so no file could be checked")  # fmt: skip
        elif expected.release is not None and expected.side == Side.BASE:
            note(f"{expected.release.name} publishes no base checksums, "
                 "so no file could be checked")  # fmt: skip
        elif expected.release is not None:
            note(f"{expected.label} publishes no MD5s, so no file could be checked")
        else:
            note(f"{expected.label}: no properly formatted checksum lines found")
    elif unchecked:
        sha256s = any(len(d) == 64 for d in expected.listed.values())
        digest = "MD5" if expected.side == Side.RESTORED and not sha256s else "checksum"
        note(
            f"{expected.label} publishes no {digest} for {len(unchecked)} of its files, "
            f"which were not checked: {', '.join(unchecked)}"
        )


def _check_entries(
    entries: Mapping[str, str],
    files: FileIndex,
    probe: ContentProbe,
    asked: _Asked,
    events: Progress,
) -> List[FileCheck]:
    worker_count = files_hashed_at_once(asked.jobs)
    # Files hashed while telling the release are not read again: no progress for them.
    already_read = probe.read_paths()
    total_size = sum(
        0
        if (path := files.find(name)) is None or (md5 and path in already_read)
        else (regular_size(path) or 0)
        for name, md5 in entries.items()
    )
    events.started(len(entries), total_size, worker_count)
    return verify_entries(
        entries,
        files,
        jobs=worker_count,
        full=asked.full,
        known_md5s=probe.md5s,
        hooks=CheckHooks(events.file_started, events.advanced, events.file_done),
        known_sha256s=probe.sha256s,
    )


def _checked_arguments(
    paths: object,
    *,
    manifest: object,
    release: object,
    revision: object,
    jobs: object,
    flags: Dict[str, object],
    progress: object,
) -> List[PathArg]:
    """The paths as a list; a TypeError naming the first argument of a wrong type."""
    checked = arguments.path_list(paths, "paths", "verify")
    arguments.optional_path(manifest, "manifest", "verify")
    arguments.optional_text(release, "release", "verify")
    arguments.optional_text(revision, "revision", "verify")
    arguments.optional_count(jobs, "jobs", "verify")
    for name, value in flags.items():
        arguments.flag(value, name, "verify")
    arguments.progress_object(progress, "verify")
    return checked


__all__ = ["FileCheck", "VerifyReport", "verify"]
