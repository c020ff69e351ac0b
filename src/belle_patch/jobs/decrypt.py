"""Restore a release: choose the inputs, recognise the release, check the key, restore
smallest first, stop when the key is wrong, report every file."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

from belle_patch.errors import BellePatchError, ChecksumMismatch, UsageError
from belle_patch.expect.expectations import Expectations
from belle_patch.expect.keys import check_key_fits, identify_key
from belle_patch.expect.releases import key_description
from belle_patch.formats.basestream import BaseFolder
from belle_patch.formats.families import BELLE, KeyMaterial, XorFormat
from belle_patch.formats.header import HEADER_SIZE
from belle_patch.jobs import arguments
from belle_patch.jobs.batch import BatchReport, Selection, StopRule
from belle_patch.jobs.common import PathInput, PathInputs, as_paths, output_folder, run_files
from belle_patch.jobs.decrypt_report import DecryptReport
from belle_patch.jobs.downloads import DownloadAddresses
from belle_patch.jobs.families import (
    Choice,
    DecryptRequest,
    GivenList,
    choose,
    expectations_for,
    refuse_output_in_inputs,
    unverified_note,
)
from belle_patch.jobs.key_stop import key_stop_rule
from belle_patch.jobs.restore import restore_patch
from belle_patch.jobs.restore_checks import base_mismatch
from belle_patch.jobs.restore_types import RestoreOptions, RestoreResult
from belle_patch.output.guards import check_free_space
from belle_patch.stream.engine import ProgressCallback
from belle_patch.stream.events import Progress, ProgressEvents
from belle_patch.stream.hashing import hash_file
from belle_patch.stream.keystream import KeySource
from belle_patch.vocabulary import DigestKind


def _refuse_two_patches_for_one_name(patches: List[Path], fmt: XorFormat) -> None:
    seen: Dict[str, Path] = {}
    for patch in patches:
        try:
            name = fmt.restored_name(patch.name)
        except BellePatchError:
            continue
        if name in seen:
            raise UsageError(
                f"two patches restore to the same file {name}: {seen[name]} and {patch}",
                hint="pass only one patch for each file",
            )
        seen[name] = patch


def _bytes_to_write(patches: List[Path], out_dir: Path, fmt: XorFormat) -> int:
    """What the batch adds to the output folder: outputs that are not there yet."""
    total = 0
    header = HEADER_SIZE if fmt.header else 0
    for patch in patches:
        try:
            restored = out_dir / fmt.restored_name(patch.name)
        except BellePatchError:
            continue
        if not restored.exists():
            total += max(0, patch.stat().st_size - header)
    return total


def decrypt(
    inputs: PathInputs,
    *,
    key: Optional[PathInput] = None,
    out: PathInput,
    manifest: Optional[PathInput] = None,
    release: Optional[str] = None,
    format: Optional[str] = None,
    base: Optional[PathInput] = None,
    compressed: bool = False,
    force: bool = False,
    check_key: bool = False,
    check_downloads: bool = False,
    compute_md5: bool = True,
    space_check: bool = True,
    jobs: Optional[int] = None,
    progress: Optional[Progress] = None,
) -> DecryptReport:
    """Restore patch files (``<name>.<sha256>.enc``) into ``out`` with the LLaMA ``key``.

    ``inputs`` is a patch, a folder of patches (its other entries are skipped), or a list
    of them. Every restored file is verified before it appears under its final name in
    ``out`` (created if missing): its SHA-256 against the patch header, and its MD5
    against the release's list when one is known. The list comes from ``manifest`` (an
    md5sum-style list or a belle-patch JSON manifest), from ``release`` (a bundled release
    id or name, see :func:`belle_patch.releases`), or from the bundled release the patch
    names belong to. Files run smallest first; when the smallest one fails because of the
    key, or any file fails while its download is intact, the batch stops there.

    Options: ``force`` replaces existing outputs that do not verify (they are otherwise
    left untouched and reported as failed); ``check_key`` identifies the key by its full
    MD5 first; ``check_downloads`` also checks every patch against the release's download
    MD5s; ``compute_md5=False`` skips the MD5 when no list asks for it; ``space_check``
    refuses a batch that cannot fit; ``jobs`` is how many files run at once (default: half
    the cores, at most 4). ``progress`` receives notes, bytes and per-file outcomes (see
    :class:`belle_patch.ProgressEvents`).

    Returns a :class:`DecryptReport`; a file that fails is in ``report.failed``, not
    raised. Raises :class:`belle_patch.UsageError` (or a subclass) when the job cannot
    start: no such input, no usable key, an unreadable list, a key known not to fit the
    release, an output path that is not a folder; :class:`belle_patch.OutputError` when the
    output folder cannot be created or has too little space. Never prints.

    Other formats: ``format="openbuddy"`` restores OpenBuddy's ``<name>.enc`` files with
    ``key`` (LLaMA-1 7B ``consolidated.00.pth``, of which the first 16 MiB are used); it is
    chosen without asking when the names carry no hash and the key starts with OpenBuddy's
    seed (only such names with another key raise UsageError). ``base`` (a folder: the LLaMA
    conversion an Open-Assistant or PygmalionAI payload was made against) restores such a
    payload folder (``format="oasst"``, implied); ``compressed`` for the publisher's gzip
    variant. Restored files are checked against the list's MD5s, or SHA-256s where a list
    gives those (PygmalionAI); a base file against the release's base MD5 or SHA-256 when its
    output fails or has no listed checksum. Files that no checksum can verify are checked for
    the structure of their type (``report.structure_only``), or reported in
    ``report.not_verified``.

    Raises :class:`TypeError`, naming the argument, when one has a wrong type: ``inputs``
    neither a path (``str`` or ``os.PathLike``) nor an iterable of paths, ``out`` not a
    path, ``key``, ``manifest`` or ``base`` not a path or None, ``release`` or ``format``
    not a ``str`` or None, ``jobs`` not an ``int`` or None, a flag not ``True`` or
    ``False``, ``progress`` without the methods of :class:`belle_patch.ProgressEvents`.
    """
    arguments.check(
        "decrypt",
        path_lists={"inputs": inputs},
        paths={"out": out},
        optional_paths={"key": key, "manifest": manifest, "base": base},
        texts={"release": release, "format": format},
        flags={
            "compressed": compressed, "force": force, "check_key": check_key,
            "check_downloads": check_downloads, "compute_md5": compute_md5,
            "space_check": space_check,
        },
        counts={"jobs": jobs},
        progress=progress,
    )  # fmt: skip
    started = time.monotonic()
    events = progress or ProgressEvents()
    out_dir = Path(out)
    if manifest is not None and release is not None:
        raise UsageError("--manifest and --release exclude each other", hint="pass one of them")
    request = DecryptRequest(
        inputs, key, out_dir, manifest, release, format, base, compressed, check_key
    )
    plan = _plan(request, events)
    restore = _restorer(
        plan, out_dir, compute_md5=compute_md5, check_downloads=check_downloads, force=force
    )
    batch = _restore_all(plan, restore, out_dir, events, space_check=space_check, jobs=jobs)
    return _report(plan, batch, out_dir, time.monotonic() - started)


def _report(
    plan: _Plan, batch: BatchReport[RestoreResult], out_dir: Path, seconds: float
) -> DecryptReport:
    known = plan.expected.release if plan.expected else None
    return DecryptReport(
        out=out_dir,
        release=known.id if known else None,
        release_name=known.name if known else None,
        release_source=plan.how,
        key=plan.key_text,
        restored=tuple(batch.done),
        failed=tuple(batch.failed),
        skipped=tuple(batch.skipped),
        stopped=batch.stopped,
        seconds=seconds,
        format=plan.format.name,
        published=plan.published,
    )


@dataclass(frozen=True)
class _Plan:
    """What a decrypt runs: one format, its inputs and key material, what they should hash to."""

    format: XorFormat
    selection: Selection
    key: KeyMaterial
    key_text: str  # what the key (or base folder) was recognised as
    expected: Optional[Expectations]
    how: str  # where ``expected`` came from ("given", "recognised ...", or "")
    stop_rule: Optional[StopRule]
    published: str = ""  # what the release does not publish, when that matters


def _plan(request: DecryptRequest, events: Progress) -> _Plan:
    """The format and key material (chosen once, see families.choose), and everything known
    about the files: the list given is read once, whether the format or the files ask first."""
    given = GivenList(request.manifest, request.release)
    choice = choose(request, given, events)
    fmt, files = choice.format, choice.selection.files
    if not fmt.suffix:
        refuse_output_in_inputs(files, request.out_dir, request.base)
    _refuse_two_patches_for_one_name(files, fmt)
    expected, how = expectations_for(fmt, given, files, as_paths(request.inputs))
    if fmt is BELLE:
        return _belle_plan(choice, expected, how, check_key=request.check_key, events=events)
    return _family_plan(choice, expected, how, events)


def _belle_plan(
    choice: Choice,
    expected: Optional[Expectations],
    how: str,
    *,
    check_key: bool,
    events: Progress,
) -> _Plan:
    """BELLE patches fit a LLaMA key file that can be identified, and refused when known not
    to fit the release."""
    key = choice.key
    # BELLE is keyed by a file, which choose() opened: never a base folder.
    assert isinstance(key, KeySource)
    known = expected.release if expected else None
    if known is not None:
        events.note(f"release: {known.name} ({how})")
    identity = identify_key(key, full_hash=check_key)
    if known is not None:
        check_key_fits(identity, known, key_path=str(key.path))
    if check_key or identity.key is not None:
        events.note(f"key: {identity.describe()}")
    return _Plan(BELLE, choice.selection, key, identity.describe(), expected, how, key_stop_rule)


def _family_plan(
    choice: Choice, expected: Optional[Expectations], how: str, events: Progress
) -> _Plan:
    """The formats without a SHA-256 header: OpenBuddy, TechGPT, Open-Assistant."""
    known = expected.release if expected else None
    if known is not None:
        events.note(f"release: {known.name} ({how})")
    elif expected is not None and how:
        events.note(f"release: {expected.label} ({how})")
    published = unverified_note(choice.format, expected)
    if published:
        events.note(f"note: {published}")
    # One base file per payload file: a wrong one says nothing of the others.
    stop_rule = None if isinstance(choice.key, BaseFolder) else key_stop_rule
    return _Plan(
        choice.format, choice.selection, choice.key, choice.key_text, expected, how, stop_rule,
        published,
    )  # fmt: skip


def _restorer(
    plan: _Plan, out_dir: Path, *, compute_md5: bool, check_downloads: bool, force: bool
) -> Callable[[Path, ProgressCallback], RestoreResult]:
    """Restore one input of the plan: what is known of it becomes its RestoreOptions."""
    expected, fmt, key = plan.expected, plan.format, plan.key
    known = expected.release if expected else None
    key_hint = key_description(known.key.needs) if known else ""
    base_hint = _environment_hint(expected)
    # A base list only assumed for a release (another release's) must not fail a file.
    bases = expected.base if expected and not (known and known.base_uncertain) else {}
    addresses = DownloadAddresses(read_metadata=check_downloads)

    def restore(path: Path, on_progress: ProgressCallback) -> RestoreResult:
        restored_name = fmt.restored_name(path.name)
        listed = expected.restored.get(restored_name) if expected else None
        expected_md5, expected_sha256 = _split(listed)
        base_digest = bases.get(restored_name)
        options = RestoreOptions(
            expected_md5=expected_md5,
            expected_sha256=expected_sha256,
            expected_enc_md5=expected.downloads.get(path.name) if expected else None,
            headerless=bool(expected and path.name in expected.headerless),
            compute_md5=compute_md5,
            check_download=check_downloads,
            force=force,
            key_hint=key_hint,
            # An output that matches its checksum proves its base right; hashing the base too
            # would cost a second hash over as many bytes. It is hashed when the output fails.
            expected_base=None if listed else base_digest,
            base_hint=base_hint,
            download_address=addresses.address_of(path),
        )
        try:
            return restore_patch(path, key, out_dir, options, format=fmt, on_progress=on_progress)
        except ChecksumMismatch as exc:
            if listed and base_digest and isinstance(key, BaseFolder):
                raise _base_or(exc, key.path_for(restored_name), base_digest, options) from None
            raise

    return restore


def _restore_all(
    plan: _Plan,
    restore: Callable[[Path, ProgressCallback], RestoreResult],
    out_dir: Path,
    events: Progress,
    *,
    space_check: bool,
    jobs: Optional[int],
) -> BatchReport[RestoreResult]:
    """Every format's batch: the output folder, the space check, the files smallest first."""
    fmt, selection = plan.format, plan.selection
    with output_folder(out_dir, events) as keep:
        if space_check:
            check_free_space(out_dir, _bytes_to_write(selection.files, out_dir, fmt))
        batch = run_files(
            selection, restore, events, jobs=jobs, what="input file", stop_rule=plan.stop_rule,
            header_size=HEADER_SIZE if fmt.header else 0,
        )  # fmt: skip
        if batch.done:
            keep()
    return batch


def _base_or(
    error: ChecksumMismatch, base_path: Path, listed: str, options: RestoreOptions
) -> BellePatchError:
    """The output failed its checksum: blame the base file when it is not the listed one."""
    if error.algorithm not in (DigestKind.MD5, DigestKind.SHA256) or not base_path.is_file():
        return error
    algorithm = DigestKind.of_listed(listed)
    try:
        actual = hash_file(base_path, [algorithm])[algorithm]
    except OSError:
        return error
    if actual == listed:
        return error
    return base_mismatch(base_path, listed, actual, options.base_hint)


def _split(digest: Optional[str]) -> Tuple[Optional[str], Optional[str]]:
    """A listed digest as (MD5, SHA-256): lists hold either, told apart by length."""
    if digest is None:
        return None, None
    return (None, digest) if DigestKind.of_listed(digest) == DigestKind.SHA256 else (digest, None)


def _environment_hint(expected: Optional[Expectations]) -> str:
    if expected is None or not expected.environment:
        return ""
    return f"the release names: {expected.environment}"
