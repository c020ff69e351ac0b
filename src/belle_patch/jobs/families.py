"""What decrypt needs for the formats without a SHA-256 header: which format, which key
material, which published lists, and what to say when a release publishes nothing."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from belle_patch.basestream import BaseFolder
from belle_patch.batch import Selection, select_inputs
from belle_patch.errors import UsageError
from belle_patch.events import Progress
from belle_patch.expectations import Expectations
from belle_patch.formats import (
    BELLE,
    FORMATS,
    OASST,
    OASST_GZIP,
    OPENBUDDY,
    TECHGPT,
    KeyMaterial,
    XorFormat,
    check_openbuddy_seed,
    format_by_name,
)
from belle_patch.patchformat import PATCH_SUFFIX
from belle_patch.registry import (
    NO_HEADER,
    Release,
    releases_by_patch_names,
    releases_by_payload_folder,
    releases_by_restored_names,
)
from belle_patch.registry import OASST as OASST_RELEASE
from belle_patch.registry import OPENBUDDY as OPENBUDDY_RELEASE

from .common import PathInput, open_key

# What sits beside a payload in the publishers' repositories (and the lists encrypt writes),
# never XORed.
NOT_PAYLOAD_SUFFIXES = (".py", ".md", ".txt")
NOT_PAYLOAD_NAMES = frozenset({"manifest.json"})
FORMAT_NAMES = tuple(FORMATS)


@dataclass(frozen=True)
class FamilySetup:
    """The format a decrypt runs in, its key material and the inputs it takes."""

    format: XorFormat
    key: KeyMaterial
    key_text: str  # what the key (or base) was recognised as
    selection: Selection


def _is_patch(path: Path) -> bool:
    return path.name.endswith(PATCH_SUFFIX)


def _is_payload(path: Path) -> bool:
    name = path.name
    return not (
        name.startswith(".") or name.endswith(NOT_PAYLOAD_SUFFIXES) or name in NOT_PAYLOAD_NAMES
    )


def _named_format(name: str) -> XorFormat:
    try:
        return FORMATS[name]
    except KeyError:
        raise UsageError(
            f"unknown format {name!r}", hint=f"known formats: {', '.join(FORMAT_NAMES)}"
        ) from None


def family_setup(
    paths: List[Path],
    *,
    key: Optional[PathInput],
    base: Optional[PathInput],
    format: Optional[str],
    compressed: bool,
    listed_format: str,
    events: Progress,
) -> FamilySetup:
    """Decide the format from the options, the list given, the names and the key's seed."""
    wants_base = base is not None or format in (OASST.name, OASST_GZIP.name) or compressed
    if wants_base:
        return _base_setup(paths, key=key, base=base, format=format, compressed=compressed)
    if key is None:
        raise UsageError("missing the key", hint="pass the key file with --key")
    key_source = open_key(key)
    selection = select_inputs(paths, _is_patch, "a patch (.enc) file")
    if format is not None:
        fmt = _named_format(format)
    elif listed_format == OPENBUDDY_RELEASE:
        fmt = OPENBUDDY
    elif listed_format == NO_HEADER:
        fmt = TECHGPT
    else:
        fmt = _format_from_names(selection.files)
    if fmt is not OPENBUDDY:
        return FamilySetup(fmt, key_source, "key file", selection)
    seed = check_openbuddy_seed(key_source)
    if not seed.matches and format is None and listed_format != OPENBUDDY_RELEASE:
        raise UsageError(
            f"these .enc names carry no SHA-256, as OpenBuddy's do, but {seed.describe()}",
            path=key_source.path,
            hint="pass the right key, or add --format openbuddy to restore with this key "
            "anyway (each file is then checked by its MD5 list or by its structure)",
        )
    if seed.matches:
        events.note(f"format: OpenBuddy; key: {seed.describe()}")
    else:
        events.note(
            f"warning: {key_source.path}: {seed.describe()}; "
            "the MD5 list or the structure checks decide each file"
        )
    return FamilySetup(OPENBUDDY, key_source, seed.describe(), selection)


def _base_setup(
    paths: List[Path],
    *,
    key: Optional[PathInput],
    base: Optional[PathInput],
    format: Optional[str],
    compressed: bool,
) -> FamilySetup:
    if format not in (None, OASST.name, OASST_GZIP.name):
        raise UsageError(
            f"--base goes with Open-Assistant payloads, not with --format {format}",
            hint="leave out --base, or --format",
        )
    if key is not None:
        raise UsageError(
            "--key and --base exclude each other: Open-Assistant payloads are XORed with a "
            "base folder, not a key file",
            hint="pass the converted LLaMA folder with --base only",
        )
    if base is None:
        raise UsageError(
            "Open-Assistant payloads need the base folder they were made against",
            hint="pass the LLaMA model converted to Hugging Face format with --base DIR",
        )
    fmt = OASST_GZIP if compressed or format == OASST_GZIP.name else OASST
    folder = BaseFolder(Path(base))
    selection = select_inputs(paths, _is_payload, "a payload file")
    return FamilySetup(fmt, folder, f"base folder {folder.folder}", selection)


def _format_from_names(files: Sequence[Path]) -> XorFormat:
    kinds = {format_by_name(p.name) for p in files}
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


def family_expectations(
    fmt: XorFormat, files: Sequence[Path], inputs: Sequence[Path]
) -> Tuple[Optional[Expectations], str]:
    """The bundled release these inputs belong to, recognised from their names."""
    names = [p.name for p in files]
    if fmt is OPENBUDDY:
        found = releases_by_patch_names(names, formats=(OPENBUDDY_RELEASE,))
    elif fmt in (OASST, OASST_GZIP):
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
    by_names = releases_by_restored_names(names, formats=(OASST_RELEASE,))
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
