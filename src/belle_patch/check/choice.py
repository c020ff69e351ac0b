"""What a set of files is checked against, chosen in one place for folders and downloads.

The order is the same for both: a list the user gave, then a release the user named, then
(with ``base``) the release a base folder was converted for, then the release the files
themselves point to. A download's files carry content addresses, so there finding no release
is not an error: the addresses alone decide.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Dict, List, Mapping, Optional

from belle_patch.check.detection import (
    ContentProbe,
    no_release_error,
    recorded_expectations,
    release_by_content,
    release_by_downloads,
    release_of_patches,
    releases_of_base,
    shipped_in_clear,
)
from belle_patch.check.fileindex import FileIndex
from belle_patch.errors import UsageError
from belle_patch.expect.expectations import Expectations, load_manifest_file
from belle_patch.expect.releases import Release, find_release
from belle_patch.formats.families import OASST, OPENBUDDY
from belle_patch.vocabulary import Side

FAMILY_FORMATS = (OPENBUDDY, OASST)
# A JSON file's first bytes, enough to tell a readable config from an XORed one.
JSON_PROBE_LIMIT = 1024 * 1024


def choose_expectations(
    files: FileIndex,
    probe: ContentProbe,
    *,
    manifest: Optional[Path],
    release: Optional[str],
    base: bool,
    addressed: bool,
    note: Callable[[str], None],
) -> Optional[Expectations]:
    """The checksums ``files`` are checked against; None only for ``addressed`` files (a
    download's) that no list or release fits.

    Raises :class:`UsageError` when a folder's files fit nothing, or ``base`` is asked of
    something that lists no base files."""
    if manifest is not None:
        expected = load_manifest_file(manifest, strict=False)
        if expected.release is not None:
            return release_side(expected.release, files, probe, base)
        if base and not addressed:
            raise UsageError(
                "a base folder is checked against a release's base list, which an MD5 list "
                "does not hold",
                hint="give --release NAME or a JSON manifest with base_files",
            )
        return expected
    if release is not None:
        return release_side(find_release(release), files, probe, base)
    if base:
        return _base_release(files, probe, addressed=addressed, note=note)
    if addressed:
        found = release_of_patches(files) or release_by_content(files, probe)
        return Expectations.from_release(found) if found is not None else None
    expected = _detect(files, probe, note)
    if expected.release is None:
        note(f"checking against what was verified when belle-patch restored these files "
             f"({expected.label})")  # fmt: skip
    else:
        note(f"checking against {expected.label}")
    return expected


def _base_release(
    files: FileIndex, probe: ContentProbe, *, addressed: bool, note: Callable[[str], None]
) -> Optional[Expectations]:
    found = releases_of_base(files, probe)
    if not found:
        if addressed:
            return None
        raise UsageError(
            "cannot tell which release this base folder was converted for",
            hint="pass --release NAME (see belle-patch releases)",
        )
    expected = Expectations.for_base(found[0])
    if not addressed:
        note(f"checking against {expected.label}")
        if len(found) > 1:
            others = ", ".join(r.name for r in found[1:])
            note(f"{others} {'is' if len(found) == 2 else 'are'} made against the same base")
    return expected


def release_side(
    release: Release, files: FileIndex, probe: ContentProbe, base: bool
) -> Expectations:
    """What of a release these files are checked against: its base, its downloads or its
    restored files."""
    if base:
        if not release.base_files:
            raise UsageError(
                f"{release.name} is not made against a base folder, so it lists no base files",
                hint="check its restored files or downloads without --base",
            )
        return Expectations.for_base(release)
    if release.patch_format in FAMILY_FORMATS and _holds_payload(release, files, probe):
        return Expectations.for_downloads(release)
    return Expectations.from_release(release)


def _holds_payload(release: Release, files: FileIndex, probe: ContentProbe) -> bool:
    """Whether the files are a family release's downloads rather than what they restore to.

    OpenBuddy downloads carry their own names (``.enc``). An Open-Assistant payload has the
    restored names: it is told by its folder name, by the published checksums of either side,
    and else by its JSON files, which are XORed and so no longer parse.
    """
    if release.patch_format is OPENBUDDY:
        return any(
            f.enc_name and f.enc_name != f.name and f.enc_name in files for f in release.files
        )
    if release.payload_folder and any(
        folder.name == release.payload_folder for folder in files.folders
    ):
        return True
    clear = shipped_in_clear(release)
    restored = {n: m for n, m in release.restored_digests().items() if n not in clear}
    smallest = probe.smallest(n for n in restored if n in files)
    if smallest is not None and probe.digest(smallest, restored[smallest]) == restored[smallest]:
        return False
    downloads = Expectations.for_downloads(release).downloads
    smallest = probe.smallest(n for n in downloads if n in files)
    if smallest is not None and probe.digest(smallest, downloads[smallest]) == downloads[smallest]:
        return True
    configs = [f.name for f in release.files if f.name.endswith(".json") and f.name not in clear]
    smallest = probe.smallest(n for n in configs if n in files)
    return smallest is not None and not _parses_as_json(files.find(smallest))


def _parses_as_json(path: Optional[Path]) -> bool:
    if path is None:
        return False
    try:
        with open(path, "rb") as source:
            json.loads(source.read(JSON_PROBE_LIMIT).decode("utf-8"))
    except (OSError, ValueError):
        return False
    return True


def _detect(files: FileIndex, probe: ContentProbe, note: Callable[[str], None]) -> Expectations:
    """The release the files belong to, or else what belle-patch recorded restoring them."""
    found = release_of_patches(files)
    if found is None:
        found = release_by_content(files, probe)
    if found is not None:
        return Expectations.from_release(found)
    found = release_by_downloads(files, probe)
    if found is not None:
        return Expectations.for_downloads(found)
    recorded = recorded_expectations(files)
    if recorded is None:
        raise no_release_error()
    note("no bundled release fits these files")
    return recorded


def checks_for(expected: Expectations, files: FileIndex) -> Mapping[str, str]:
    """Which names to check.

    With a release: its downloads if the folder holds any (missing ones fail), else its
    restored files (missing ones fail); in both cases also every other listed file that is
    present, so a folder holding patches and restored files is checked in full. With a
    user's list: everything it names.
    """
    if expected.release is None or expected.side != Side.RESTORED:
        return expected.listed
    wanted: Dict[str, str] = {}
    if any(name in files for name in expected.downloads):
        wanted.update(expected.downloads)
        wanted.update({n: m for n, m in expected.restored.items() if n in files})
        return wanted
    patch_files = expected.patch_files
    wanted.update({n: m for n, m in expected.restored.items() if n in patch_files or n in files})
    wanted.update({n: m for n, m in expected.downloads.items() if n in files})
    return wanted


def unchecked_names(expected: Expectations, files: FileIndex) -> List[str]:
    """Names the release lists without a checksum (MD5, or SHA-256 where that is what it
    publishes) on the side being checked."""
    release = expected.release
    if release is None:
        return []
    if expected.side == Side.DOWNLOADS:
        return [
            name for f in release.files
            if (name := f.enc_name or f.name) not in expected.downloads
        ]  # fmt: skip
    if expected.side != Side.RESTORED:
        return [b.name for b in release.base_files if b.name not in expected.restored]
    if any(name in files for name in expected.downloads):
        return [f.enc_name for f in release.files if f.enc_name and not f.enc_md5]
    return [f.name for f in release.files if f.name not in expected.restored]
