"""``verify``: check restored files or ``.enc`` downloads against MD5s, like ``md5sum -c``."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List, Optional, Sequence, Tuple, Union

from belle_patch.errors import UsageError
from belle_patch.events import Progress, ProgressEvents
from belle_patch.expectations import Expectations, load_manifest_file
from belle_patch.filecheck import (
    CheckHooks,
    ContentProbe,
    FileCheck,
    FileIndex,
    checks_for,
    index_files,
    no_release_error,
    recorded_expectations,
    release_by_content,
    release_of_patches,
    unchecked_names,
    verify_entries,
)
from belle_patch.registry import find_release

PathArg = Union[str, "os.PathLike[str]"]


@dataclass(frozen=True)
class VerifyReport:
    """The outcome of :func:`verify`.

    ``ok`` is true only if at least one file was checked and every checked file matched
    (and, with ``strict``, every list line was well formed), as ``md5sum -c`` decides.
    ``against`` names what the files were checked against (a release name, a list's path
    or the state file of a folder belle-patch restored); ``release`` is the bundled
    release's id, or None. ``files`` holds one :class:`~belle_patch.filecheck.FileCheck`
    per checked name, in list order. ``problems`` holds ``(line number, problem)`` for the
    list lines that could not be read (the first 100; ``problem_count`` counts them all).
    ``notes`` are the one-line remarks made along the way; ``unchecked`` names the files
    the release lists without an MD5, which could not be checked.
    """

    ok: bool
    against: str
    release: Optional[str]
    files: Tuple[FileCheck, ...]
    problems: Tuple[Tuple[int, str], ...] = ()
    problem_count: int = 0
    notes: Tuple[str, ...] = ()
    unchecked: Tuple[str, ...] = ()

    @property
    def failed(self) -> Tuple[FileCheck, ...]:
        """The files that did not match or could not be read."""
        return tuple(check for check in self.files if not check.ok)


def verify(
    paths: Sequence[PathArg],
    *,
    manifest: Optional[PathArg] = None,
    release: Optional[str] = None,
    full: bool = False,
    jobs: Optional[int] = None,
    ignore_missing: bool = False,
    strict: bool = False,
    progress: Optional[Progress] = None,
) -> VerifyReport:
    """Check files against MD5s, like ``md5sum -c``; return a report, never print.

    ``paths`` are folders (listed names are looked up inside them, subfolders included)
    or single files (looked up by their own name).

    What the files are checked against:

    * ``manifest``: an md5sum-style list (GNU, binary ``*``, BSD ``MD5 (name) = ...``,
      escaped names) or a belle-patch JSON release manifest;
    * ``release``: a bundled release by id or name (see ``belle-patch releases``);
    * neither: patch names identify their release; restored files are matched to the
      bundled release that lists their names and whose MD5s their content agrees with;
      a folder belle-patch restored falls back to what was verified when it was restored
      (its ``.belle-patch/state.json``).

    A release's downloads are checked when the folder holds any, else its restored files;
    other listed files are checked when present. Names that would leave the folder
    (``../x``, absolute names) and names listed with different MD5s fail without being
    read; a FIFO, device or dangling link fails as unreadable.

    Files belle-patch restored and that are unchanged since (size and mtime) are checked
    with xxh3 against the record, much faster than MD5; ``full`` always uses MD5. ``jobs``
    files are hashed at once (default: the number of cores). ``ignore_missing`` skips
    listed files that are absent; ``strict`` fails on malformed list lines.

    ``progress`` (see :class:`belle_patch.events.ProgressEvents`) gets ``note`` for each
    remark, ``started`` once, ``file_started``/``advanced`` while hashing and
    ``file_done`` with each :class:`~belle_patch.filecheck.FileCheck`.

    Returns a :class:`VerifyReport`: ``ok`` (every checked file matched, as ``md5sum -c``
    decides), ``against`` and ``release`` (what was used), ``files`` (one ``FileCheck``
    per listed name: ``name``, ``status`` of ``OK``, ``FAILED``, ``MISSING``,
    ``UNREADABLE`` or ``REFUSED``, ``expected`` and ``actual`` MD5, ``method``, ``path``,
    ``detail``), ``problems`` (malformed list lines), ``notes`` and ``unchecked`` (files
    a release lists without an MD5). A damaged file is a ``FAILED`` entry, not an error.

    Raises :class:`belle_patch.errors.UsageError` (and its subclass ``ManifestError``)
    when a path does not exist, the list cannot be read or the release is unknown or
    cannot be told.

    >>> report = verify(["model/"], manifest="md5sums.txt")  # doctest: +SKIP
    >>> report.ok, [(f.name, f.status) for f in report.failed]  # doctest: +SKIP
    (False, [('pytorch_model.bin', 'FAILED')])
    """
    events: Progress = progress if progress is not None else ProgressEvents()
    notes: List[str] = []

    def note(message: str) -> None:
        notes.append(message)
        events.note(message)

    if manifest is not None and release is not None:
        raise UsageError("give a manifest or a release, not both")
    if not paths:
        raise UsageError("no file or folder to check")
    files = index_files([Path(os.fspath(p)) for p in paths])
    probe = ContentProbe(files)
    if manifest is not None:
        expected = load_manifest_file(Path(os.fspath(manifest)), strict=False)
    elif release is not None:
        expected = Expectations.from_release(find_release(release))
    elif not files.has_files():
        note("no files to check")
        return VerifyReport(False, "", None, (), notes=tuple(notes))
    else:
        expected = _detect(files, probe, note)
        if expected.release is None:
            note(f"checking against what was verified when belle-patch restored these files "
                 f"({expected.label})")  # fmt: skip
        else:
            note(f"checking against {expected.label}")

    entries = checks_for(expected, files)
    if ignore_missing:
        entries = {name: md5 for name, md5 in entries.items() if name in files}
    unchecked = unchecked_names(expected, files)
    if not expected.listed and not expected.failed:
        if expected.release is not None:
            note(f"{expected.label} publishes no MD5s, so no file could be checked")
        else:
            note(f"{expected.label}: no properly formatted checksum lines found")
    elif unchecked:
        note(
            f"{expected.label} publishes no MD5 for {len(unchecked)} of its files, "
            f"which were not checked: {', '.join(unchecked)}"
        )

    worker_count = jobs or os.cpu_count() or 1
    sizes = [probe.size(name) or 0 for name in entries]
    events.started(len(entries), sum(sizes), worker_count)
    checks = verify_entries(
        entries,
        files,
        jobs=worker_count,
        full=full,
        known_md5s=probe.md5s,
        hooks=CheckHooks(events.file_started, events.advanced, events.file_done),
    )
    for name, (status, detail) in expected.failed.items():
        refused = FileCheck(name, status, "", path=None, detail=detail)
        events.file_done(refused)
        checks.append(refused)
    if expected.listed and not checks:
        note(f"{expected.label}: no file was verified")
    ok = bool(checks) and all(c.ok for c in checks) and not (strict and expected.problem_count)
    return VerifyReport(
        ok=ok,
        against=expected.label,
        release=expected.release.id if expected.release else None,
        files=tuple(checks),
        problems=expected.problems,
        problem_count=expected.problem_count,
        notes=tuple(notes),
        unchecked=tuple(unchecked),
    )


def _detect(files: FileIndex, probe: ContentProbe, note: Callable[[str], None]) -> Expectations:
    """The release the files belong to, or else what belle-patch recorded restoring them."""
    found = release_of_patches(files)
    if found is None:
        found = release_by_content(files, probe)
    if found is not None:
        return Expectations.from_release(found)
    recorded = recorded_expectations(files)
    if recorded is None:
        raise no_release_error()
    note("no bundled release fits these files")
    return recorded


__all__ = ["FileCheck", "VerifyReport", "verify"]
