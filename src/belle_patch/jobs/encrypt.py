"""Create a release: a patch per file, and the lists a publisher puts on the model card."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from belle_patch.errors import BellePatchError, UsageError
from belle_patch.expect.keys import check_seed
from belle_patch.formats.basestream import BaseFolder
from belle_patch.formats.families import BELLE, OASST, OPENBUDDY, KeyMaterial, XorFormat
from belle_patch.formats.header import PATCH_SUFFIX, parse_patch_name
from belle_patch.jobs import arguments
from belle_patch.jobs.batch import FileFailure, Selection, Skipped, select_inputs
from belle_patch.jobs.common import (
    PathInput,
    PathInputs,
    as_paths,
    open_key,
    output_folder,
    run_files,
)
from belle_patch.jobs.families import refuse_output_in_inputs
from belle_patch.jobs.publish import (
    DOWNLOADS_LIST,
    JSON_MANIFEST,
    MANIFEST_SCHEMA,
    RESTORED_LIST,
    write_release_lists,
)
from belle_patch.jobs.seal import SealResult, seal_file
from belle_patch.stream.engine import ProgressCallback
from belle_patch.stream.events import Progress, ProgressEvents

LIST_NAMES = (DOWNLOADS_LIST, RESTORED_LIST, JSON_MANIFEST)


@dataclass(frozen=True)
class EncryptReport:
    """What an encrypt wrote: ``encrypted`` holds a result per patch under its final name,
    ``failed`` the inputs that gave none, ``lists`` the MD5 lists and manifest written."""

    out: Path
    encrypted: Tuple[SealResult, ...]
    failed: Tuple[FileFailure, ...]
    skipped: Tuple[Skipped, ...]
    lists: Tuple[Path, ...]
    seconds: float

    @property
    def ok(self) -> bool:
        """True when every input gave a patch (and the lists, when asked for, were written)."""
        return not self.failed


def _is_plain_file(path: Path) -> bool:
    return not path.name.startswith(".") and not path.name.endswith(PATCH_SUFFIX)


def _written_by_encrypt(folder: Path) -> bool:
    """True if ``folder`` holds the JSON manifest an encrypt writes next to its lists."""
    try:
        with (folder / JSON_MANIFEST).open("rb") as handle:
            head = handle.read(4096)
    except OSError:
        return False
    return MANIFEST_SCHEMA.encode() in head


def _without_own_outputs(sources: List[Path], out_dir: Path) -> List[Path]:
    """The lists an encrypt wrote (into this output folder, or into an input folder that
    was an earlier run's output) are not model files."""
    try:
        out_resolved = out_dir.resolve()
    except OSError:
        return sources
    kept = []
    for source in sources:
        if source.name in LIST_NAMES and (
            source.parent.resolve() == out_resolved or _written_by_encrypt(source.parent)
        ):
            continue
        kept.append(source)
    return kept


def _refuse_same_names(sources: List[Path]) -> None:
    seen: Dict[str, Path] = {}
    for source in sources:
        if source.name in seen:
            raise UsageError(
                f"two inputs have the same name {source.name}: {seen[source.name]} and {source}",
                hint="a release holds one file of each name: pass only one of them",
            )
        seen[source.name] = source


def _refuse_overwrites(
    sources: List[Path], out_dir: Path, lists: bool, fmt: XorFormat = BELLE
) -> None:
    """Files of a release already in the output folder are the user's: keep them."""
    in_the_way: List[str] = []
    if out_dir.is_dir():
        names = {source.name for source in sources}
        for entry in sorted(out_dir.iterdir()):
            if lists and entry.name in LIST_NAMES:
                in_the_way.append(entry.name)
                continue
            try:
                restored = (
                    parse_patch_name(entry.name).restored_name
                    if fmt.hash_in_name
                    else fmt.restored_name(entry.name)
                )
            except BellePatchError:
                continue
            if restored in names:
                in_the_way.append(entry.name)
    if in_the_way:
        shown = ", ".join(in_the_way[:3]) + (" ..." if len(in_the_way) > 3 else "")
        raise UsageError(
            f"the output folder already holds {shown}, which this run would replace",
            path=out_dir,
            hint="choose another folder with --out, or pass --force to replace them",
        )


def encrypt(
    inputs: PathInputs,
    *,
    key: Optional[PathInput] = None,
    out: PathInput,
    format: Optional[str] = None,
    base: Optional[PathInput] = None,
    name: Optional[str] = None,
    lists: bool = True,
    force: bool = False,
    jobs: Optional[int] = None,
    progress: Optional[Progress] = None,
) -> EncryptReport:
    """Create ``<name>.<sha256>.enc`` patches in ``out`` from fine-tuned files or folders.

    ``inputs`` is a file, a folder (its visible files that are not patches), or a list of
    them; ``key`` the original LLaMA ``consolidated.00.pth``. Each patch is written under
    a temporary name and appears under its final name only when complete and synced.

    With ``lists`` (the default), each file is read twice (the download MD5 starts with
    the SHA-256 header, known only after a first pass), and ``out`` also receives
    md5sums-enc.txt (MD5s of the patches), md5sums.txt (MD5s of the restored files), both
    accepted by ``md5sum -c``, and manifest.json (for decrypt and verify ``manifest=``),
    named ``name`` (default: the output folder's name). ``lists=False`` writes only the
    patches, in one pass.

    Patches or lists already in ``out`` that this run would replace are refused unless
    ``force``; two inputs with the same name are refused. ``jobs`` is how many files run
    at once (default: half the cores, at most 4); ``progress`` receives notes, bytes and
    per-file outcomes.

    Returns an :class:`EncryptReport`; a file that fails is in ``report.failed``, not
    raised. Raises :class:`belle_patch.UsageError` (or a subclass) when the job cannot
    start: no such input, no usable key, outputs in the way. Never prints.

    Other formats: ``format="openbuddy"`` writes OpenBuddy's ``<name>.enc`` (no header)
    with ``key``, whose first 16 MiB are the seed; ``base`` (``format="oasst"``, implied)
    writes Open-Assistant payloads under the sources' own names, each XORed with the base
    file of its name (``added_tokens.json`` without a base file is copied as is). The
    manifest records the format, so decrypt ``manifest=`` restores them without asking.

    Raises :class:`TypeError`, naming the argument, when one has a wrong type: ``inputs``
    neither a path (``str`` or ``os.PathLike``) nor an iterable of paths, ``out`` not a
    path, ``key`` or ``base`` not a path or None, ``format`` or ``name`` not a ``str`` or
    None, ``jobs`` not an ``int`` or None, ``lists`` or ``force`` not ``True`` or
    ``False``, ``progress`` without the methods of :class:`belle_patch.ProgressEvents`.
    """
    arguments.check(
        "encrypt",
        path_lists={"inputs": inputs},
        paths={"out": out},
        optional_paths={"key": key, "base": base},
        texts={"format": format, "name": name},
        flags={"lists": lists, "force": force},
        counts={"jobs": jobs},
        progress=progress,
    )
    started = time.monotonic()
    events = progress or ProgressEvents()
    out_dir = Path(out)
    fmt, key_material = _format_and_key(format, key, base, events)
    selection = _sources(as_paths(inputs), out_dir, fmt, base=base, lists=lists, force=force)

    def seal(path: Path, on_progress: ProgressCallback) -> SealResult:
        return seal_file(
            path, key_material, out_dir, format=fmt, download_md5=lists, on_progress=on_progress
        )

    written: List[Path] = []
    with output_folder(out_dir, events) as keep:
        batch = run_files(selection, seal, events, jobs=jobs, what="input file")
        if batch.done:
            keep()
        if lists and batch.done:
            release_name = name or out_dir.resolve().name
            written = write_release_lists(out_dir, release_name, batch.done, format=fmt)
    return EncryptReport(
        out=out_dir,
        encrypted=tuple(batch.done),
        failed=tuple(batch.failed),
        skipped=tuple(batch.skipped),
        lists=tuple(written),
        seconds=time.monotonic() - started,
    )


def _sources(
    inputs: List[Path],
    out_dir: Path,
    fmt: XorFormat,
    *,
    base: Optional[PathInput],
    lists: bool,
    force: bool,
) -> Selection:
    """The files to encrypt, refused before any work when their patches would collide with
    each other, with the inputs, or with what the output folder already holds."""
    selection = select_inputs(inputs, _is_plain_file, "a file to encrypt")
    selection.files[:] = _without_own_outputs(selection.files, out_dir)
    _refuse_same_names(selection.files)
    if not fmt.suffix:
        refuse_output_in_inputs(
            selection.files,
            out_dir,
            base,
            holds="the files to encrypt or the base files",
            outputs="the payloads",
        )
    if not force:
        _refuse_overwrites(selection.files, out_dir, lists, fmt)
    return selection


def _format_and_key(
    format: Optional[str],
    key: Optional[PathInput],
    base: Optional[PathInput],
    events: Progress,
) -> Tuple[XorFormat, KeyMaterial]:
    if base is not None or format == OASST.name:
        if format not in (None, OASST.name):
            raise UsageError(
                f"--base goes with Open-Assistant payloads, not with --format {format}",
                hint="leave out --base, or --format",
            )
        if key is not None:
            raise UsageError(
                "--key and --base exclude each other: Open-Assistant payloads are XORed with "
                "a base folder, not a key file",
                hint="pass the converted LLaMA folder with --base only",
            )
        if base is None:
            raise UsageError(
                "Open-Assistant payloads are XORed with a base folder",
                hint="pass the LLaMA model converted to Hugging Face format with --base DIR",
            )
        return OASST, BaseFolder(Path(base))
    if format not in (None, BELLE.name, OPENBUDDY.name):
        raise UsageError(
            f"cannot write the {format} format",
            hint="choose --format belle, openbuddy, or --base DIR for Open-Assistant",
        )
    if key is None:
        raise UsageError("missing the key", hint="pass the key file with --key")
    key_source = open_key(key)
    if format != OPENBUDDY.name:
        return BELLE, key_source
    seed = check_seed(key_source, OPENBUDDY)
    if not seed.matches:
        events.note(
            f"warning: {key_source.path}: {seed.describe()}; OpenBuddy's own script will "
            "refuse this key"
        )
    return OPENBUDDY, key_source
