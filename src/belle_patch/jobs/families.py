"""What a decrypt restores with, decided once: the format, its key material and inputs, and
the list given with --manifest or --release (read once); then what a release publishes.

The format comes from ``--format``, else from a list that records one, else from the patch
names, where names without a SHA-256 are OpenBuddy's only if the key starts with its seed.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from belle_patch.errors import BellePatchError, UsageError
from belle_patch.expect.expectations import Expectations, load_manifest_file
from belle_patch.expect.keys import SeedCheck, check_seed
from belle_patch.expect.releases import (
    Release,
    find_release,
    releases_by_patch_names,
    releases_by_payload_folder,
    releases_by_restored_names,
)
from belle_patch.formats.basestream import BaseFolder
from belle_patch.formats.families import (
    BASE_FOLDER,
    BELLE,
    FORMATS,
    OASST,
    OASST_GZIP,
    OPENBUDDY,
    TECHGPT,
    KeyMaterial,
    XorFormat,
    format_by_file_name,
    format_named,
)
from belle_patch.formats.header import PATCH_SUFFIX, parse_patch_name
from belle_patch.jobs.batch import Selection, select_inputs
from belle_patch.jobs.common import PathInput, PathInputs, as_paths, open_key
from belle_patch.jobs.downloads import resolve_download_inputs
from belle_patch.stream.events import Progress
from belle_patch.stream.keystream import KeySource

# What sits beside a payload in the publishers' repositories (and the lists encrypt writes),
# never XORed.
NOT_PAYLOAD_SUFFIXES = (".py", ".md", ".txt")
NOT_PAYLOAD_NAMES = frozenset({"manifest.json"})


@dataclass(frozen=True)
class DecryptRequest:
    """What the caller asked decrypt for, before anything was looked at."""

    inputs: PathInputs
    key: Optional[PathInput]
    out_dir: Path
    manifest: Optional[PathInput]
    release: Optional[str]
    format: Optional[str]
    base: Optional[PathInput]
    compressed: bool
    check_key: bool

    @property
    def keyed_by_base(self) -> bool:
        """Open-Assistant payloads, XORed with a base folder instead of a key file."""
        named = FORMATS.get(self.format) if self.format is not None else None
        by_base = named is not None and named.key_kind == BASE_FOLDER
        return self.base is not None or self.compressed or by_base


class GivenList:
    """The list given with --manifest, or the bundled release given with --release.

    Read when first asked for, and only then: whatever asks (the format, the checksums),
    a decrypt reads it once.
    """

    def __init__(self, manifest: Optional[PathInput], release: Optional[str]) -> None:
        self._manifest = manifest
        self._release = release

    @functools.cached_property
    def expectations(self) -> Optional[Expectations]:
        if self._manifest is not None:
            return load_manifest_file(Path(self._manifest))
        if self._release is not None:
            return Expectations.from_release(find_release(self._release))
        return None

    @property
    def format(self) -> Optional[XorFormat]:
        """The format the list records; None for an md5sum list, or when none is given."""
        given = self.expectations
        return given.release.patch_format if given is not None and given.release else None


@dataclass(frozen=True)
class Choice:
    """The format a decrypt runs in, its key material and the inputs it takes."""

    format: XorFormat
    key: KeyMaterial
    key_text: str  # what the key (or base) was recognised as; BELLE's key is identified later
    selection: Selection


def _is_patch(path: Path) -> bool:
    return path.name.endswith(PATCH_SUFFIX)


def _is_payload(path: Path) -> bool:
    name = path.name
    return not (
        name.startswith(".") or name.endswith(NOT_PAYLOAD_SUFFIXES) or name in NOT_PAYLOAD_NAMES
    )


def choose(request: DecryptRequest, given: GivenList, events: Progress) -> Choice:
    """The one place a decrypt's format and key material are decided.

    The key file is opened once and, when OpenBuddy's format is asked for or possible, its
    seed hashed once; the given list is read only if the decision needs it (then once).
    """
    if request.keyed_by_base:
        return _base_choice(request)
    if request.key is None:
        raise UsageError(
            "missing the key",
            hint="pass the original LLaMA consolidated.00.pth with --key (or a base folder "
            "with --base for Open-Assistant payloads)",
        )
    named = format_named(request.format) if request.format is not None else None
    key = open_key(request.key)
    found = resolve_download_inputs(as_paths(request.inputs))
    selection = select_inputs(found, _is_patch, "a patch (.enc) file")
    seed: Optional[SeedCheck] = None
    if named is not None:
        fmt = named
    else:
        fmt, seed = _unnamed_format(request.inputs, selection, key, given, events)
    if fmt.seed_key is None:
        return Choice(fmt, key, "key file", selection)
    seed = seed or check_seed(key, fmt)
    if seed.matches:
        events.note(f"format: OpenBuddy; key: {seed.describe()}")
    else:
        events.note(
            f"warning: {key.path}: {seed.describe()}; "
            "the MD5 list or the structure checks decide each file"
        )
    return Choice(fmt, key, seed.describe(), selection)


def _unnamed_format(
    inputs: PathInputs, selection: Selection, key: KeySource, given: GivenList, events: Progress
) -> Tuple[XorFormat, Optional[SeedCheck]]:
    """No --format: BELLE, unless names without a SHA-256 are OpenBuddy's by the key's seed
    or by the list given (which may also say TechGPT); the seed check is returned for reuse."""
    hashless, hashed = _name_kinds(inputs)
    if not hashless:
        return BELLE, None
    seed = check_seed(key, OPENBUDDY)
    listed = given.format
    if seed.matches or listed is OPENBUDDY:
        if listed is OPENBUDDY or listed is TECHGPT:
            return listed, seed
        return _format_from_names(selection.files), seed
    if not hashed:
        # Neither BELLE patches as published nor OpenBuddy's with this key: guessing
        # would fail every file for a reason the user cannot see.
        raise UsageError(
            "the .enc names carry no SHA-256, so these are not BELLE patches as published, "
            f"and they are not OpenBuddy's with this key: {seed.describe()}",
            path=str(key.path),
            hint="pass that key with --key, add --format openbuddy to use this one anyway, "
            "or give BELLE patches their published names (<name>.<sha256>.enc)",
        )
    # Some names are BELLE's: the others are BELLE patches with a name to fix.
    events.note(
        "note: some .enc names carry no SHA-256, as OpenBuddy's do, but "
        f"{seed.describe()}; pass the right key, or add --format openbuddy to restore "
        "them with this key (each file is then checked by its MD5 list or by its structure)"
    )
    return BELLE, seed


def _name_kinds(inputs: PathInputs) -> Tuple[int, int]:
    """How many input patches are named ``<name>.enc`` without a SHA-256 (OpenBuddy's way),
    and how many ``<name>.<sha256>.enc`` (BELLE's)."""
    hashless = hashed = 0
    for path in as_paths(inputs):
        try:
            candidates = list(path.iterdir()) if path.is_dir() else [path]
        except OSError:
            continue  # select_inputs words the unreadable folder
        for candidate in candidates:
            name = candidate.name
            if _is_patch(candidate) and not name.startswith(".") and candidate.is_file():
                try:
                    parse_patch_name(name)
                except BellePatchError:
                    hashless += 1
                else:
                    hashed += 1
    return hashless, hashed


def _base_choice(request: DecryptRequest) -> Choice:
    """Open-Assistant: the payload folder and the base folder it was made against."""
    if request.format not in (None, OASST.name, OASST_GZIP.name):
        raise UsageError(
            f"--base goes with Open-Assistant payloads, not with --format {request.format}",
            hint="leave out --base, or --format",
        )
    if request.key is not None:
        raise UsageError(
            "--key and --base exclude each other: Open-Assistant payloads are XORed with a "
            "base folder, not a key file",
            hint="pass the converted LLaMA folder with --base only",
        )
    if request.base is None:
        raise UsageError(
            "Open-Assistant payloads need the base folder they were made against",
            hint="pass the LLaMA model converted to Hugging Face format with --base DIR",
        )
    fmt = OASST_GZIP if request.compressed or request.format == OASST_GZIP.name else OASST
    folder = BaseFolder(Path(request.base))
    found = resolve_download_inputs(as_paths(request.inputs))
    selection = select_inputs(found, _is_payload, "a payload file")
    return Choice(fmt, folder, f"base folder {folder.folder}", selection)


def _format_from_names(files: Sequence[Path]) -> XorFormat:
    kinds = {format_by_file_name(p.name) for p in files}
    if OPENBUDDY in kinds and BELLE in kinds:
        raise UsageError(
            "some .enc names carry a SHA-256 (BELLE / point-alpaca) and some do not "
            "(OpenBuddy): one run restores one release",
            hint="pass the files of one release at a time",
        )
    return OPENBUDDY if OPENBUDDY in kinds else BELLE


def refuse_output_in_inputs(
    files: Sequence[Path],
    out_dir: Path,
    base: Optional[PathInput],
    *,
    holds: str = "the payload or the base files",
    outputs: str = "the restored files",
) -> None:
    """Outputs that keep their inputs' names must not land on the inputs or the base."""
    try:
        target = out_dir.resolve()
        folders = {f.parent.resolve() for f in files}
        if base is not None:
            folders.add(Path(base).resolve())
    except OSError:
        return
    if target in folders:
        raise UsageError(
            f"the output folder holds {holds}, and {outputs} take the same names",
            path=out_dir,
            hint="choose another folder with --out",
        )


def expectations_for(
    fmt: XorFormat, given: GivenList, files: Sequence[Path], inputs: Sequence[Path]
) -> Tuple[Optional[Expectations], str]:
    """What the files should hash to, and where that came from: the list given, else the
    bundled release these inputs belong to, recognised from their names."""
    if given.expectations is not None:
        return given.expectations, "given"
    names = [p.name for p in files]
    if fmt is OPENBUDDY:
        found = releases_by_patch_names(names, formats=(OPENBUDDY,))
    elif fmt.key_kind == BASE_FOLDER:
        found = _oasst_releases(names, inputs)
    else:
        found = releases_by_patch_names(names)
    if len(found) == 1:
        return Expectations.from_release(found[0]), "recognised from the file names"
    shared = _shared_base(found)
    if shared:
        ids = ", ".join(r.id for r in found)
        return (
            Expectations(
                f"the base list shared by {ids}",
                base=shared,
                environment=found[0].environment,
            ),
            "the names match several releases",
        )
    return None, ""


def _oasst_releases(names: Sequence[str], inputs: Sequence[Path]) -> List[Release]:
    """The releases a payload is, by its folder's published name or by all of its names.

    Their base lists fail files, so a few common names (config.json ...) are not enough:
    any payload made against another conversion shares those.
    """
    present = set(names)
    if len(inputs) == 1 and inputs[0].is_dir():
        by_folder = [
            r
            for r in releases_by_payload_folder(inputs[0].name)
            if present and present <= {f.name for f in r.files}
        ]
        if by_folder:
            return by_folder
    by_names = releases_by_restored_names(names, formats=(OASST,))
    return [r for r in by_names if {f.name for f in r.files} == present]


def _shared_base(found: Sequence[Release]) -> Dict[str, str]:
    # A list only assumed for one of them could fail the files of that one.
    if len(found) < 2 or any(r.base_uncertain for r in found):
        return {}
    first = found[0].base_digests()
    if first and all(r.base_digests() == first for r in found[1:]):
        return first
    return {}


def unverified_note(fmt: XorFormat, expected: Optional[Expectations]) -> str:
    """What to tell a user whose files no published checksum can verify."""
    if fmt.header:
        return ""
    if expected is None:
        return (
            "no checksum list is known for these files: each restored file is checked for "
            "the structure of its type only (pass the release's MD5 list with --manifest)"
        )
    if not expected.restored and expected.release is None and expected.base:
        return (
            "no list of the restored files is known (pass --release NAME to use one of the "
            "matching releases): each is checked for the structure of its type only"
        )
    assumed = ""
    if expected.release is not None and expected.release.base_uncertain and expected.base:
        assumed = (
            "; its base list is assumed, not confirmed, so base files are not checked (compare "
            f"them with belle-patch verify BASE --base --release {expected.release.id})"
        )
    if not expected.restored:
        who = expected.release.name if expected.release is not None else expected.label
        return (
            f"no checksums of {who}'s restored files are known: each is checked for the "
            f"structure of its type only{assumed}"
        )
    return assumed.lstrip("; ")
