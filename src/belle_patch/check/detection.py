"""Which release a set of files holds, told by their names and, when names are not enough,
by hashing as few and as small files as possible."""

from __future__ import annotations

from pathlib import Path
from typing import (
    Dict,
    Iterable,
    List,
    Optional,
    Tuple,
)

from belle_patch.check.fileindex import FileIndex, ambiguous_name_error, regular_size, same_file
from belle_patch.errors import BellePatchError, UsageError
from belle_patch.expect.expectations import Expectations
from belle_patch.expect.releases import (
    Release,
    bundled_releases,
    releases_by_patch_names,
    releases_sharing_restored_names,
)
from belle_patch.formats.families import LISTED_FORMATS
from belle_patch.output import state, state_rules
from belle_patch.stream.hashing import hash_file
from belle_patch.vocabulary import DigestKind


class ContentProbe:
    """MD5s of the indexed files, each computed at most once."""

    def __init__(self, files: FileIndex) -> None:
        self.files = files
        self.md5s: Dict[Path, str] = {}
        self.sha256s: Dict[Path, str] = {}

    def size(self, name: str) -> Optional[int]:
        path = self.files.find(name)
        return regular_size(path) if path is not None else None

    def md5(self, name: str) -> Optional[str]:
        return self._cached(name, DigestKind.MD5, self.md5s)

    def digest(self, name: str, listed: str) -> Optional[str]:
        """The file's digest of the kind ``listed`` is (MD5 or SHA-256)."""
        if DigestKind.of_listed(listed) == DigestKind.MD5:
            return self.md5(name)
        return self._cached(name, DigestKind.SHA256, self.sha256s)

    def _cached(self, name: str, kind: DigestKind, computed: Dict[Path, str]) -> Optional[str]:
        """The ``kind`` digest of the file listed as ``name``, hashed on the first asking;
        None if no such file is indexed or it cannot be read (that is not remembered)."""
        path = self.files.find(name)
        if path is None:
            return None
        if path not in computed:
            try:
                computed[path] = hash_file(path, [kind], regular_only=True)[kind]
            except (OSError, BellePatchError):
                return None
        return computed[path]

    def read_paths(self) -> set[Path]:
        return set(self.md5s) | set(self.sha256s)

    def smallest(self, names: Iterable[str]) -> Optional[str]:
        sized = [(size, name) for name in names if (size := self.size(name)) is not None]
        return min(sized)[1] if sized else None


def release_md5s(release: Release) -> Dict[str, str]:
    """Every restored name a release publishes an MD5 for, the model card included."""
    return {**release.restored_digests(), **dict(release.other_files)}


def release_of_patches(files: FileIndex) -> Optional[Release]:
    """The bundled release whose patch names these are (patch names carry a SHA-256)."""
    found = releases_by_patch_names(files.names())
    return found[0] if len(found) == 1 else None


def release_by_content(files: FileIndex, probe: ContentProbe) -> Optional[Release]:
    """The release listing the most of these names whose MD5s the files agree with.

    A release is taken only when the smallest file it shares with the folder has the
    MD5 it publishes; among equally good releases, the smallest file on which they differ
    decides. None when no release fits or the files cannot tell them apart.
    """
    fitting: List[Tuple[int, Release]] = []
    for release in releases_sharing_restored_names(files.names(), LISTED_FORMATS):
        published = release_md5s(release)
        untelling = shipped_in_clear(release) | same_as_base(release)
        telling = [n for n in published if n in files and n not in untelling]
        if _smallest_agrees(probe, published, telling):
            fitting.append((sum(1 for n in published if n in files), release))
    fitting = _agreeing(fitting, files, probe)
    if not fitting:
        return None
    best = max(score for score, _ in fitting)
    tied = [release for score, release in fitting if score == best]
    while len(tied) > 1:
        maps = [release_md5s(r) for r in tied]
        differing = {
            n for n in set().union(*maps) if n in files and len({m.get(n) for m in maps}) > 1
        }
        smallest = probe.smallest(differing)
        if smallest is None:
            return None
        md5 = probe.md5(smallest)
        tied = [r for r, m in zip(tied, maps, strict=True) if m.get(smallest) == md5]
    return tied[0] if tied else None


def _smallest_agrees(probe: ContentProbe, published: Dict[str, str], names: List[str]) -> bool:
    """Whether the smallest file of ``names`` has the digest ``published`` lists for it (MD5
    or SHA-256); False when none of them is present."""
    smallest = probe.smallest(names)
    return (
        smallest is not None and probe.digest(smallest, published[smallest]) == published[smallest]
    )


def _agreeing(
    fitting: List[Tuple[int, Release]], files: FileIndex, probe: ContentProbe
) -> List[Tuple[int, Release]]:
    """Releases that publish different digests of one file cannot both be right, whatever
    their scores (one may publish MD5s of more files, another SHA-256s of fewer): the
    smallest such file keeps those its digest matches. A file matching none of them (a
    damaged one) decides nothing."""
    decided: set[str] = set()
    while len(fitting) > 1:
        maps = [release_md5s(release) for _, release in fitting]
        disputed = {
            n
            for n in set().union(*maps)
            if n in files and n not in decided and len({m[n] for m in maps if n in m}) > 1
        }
        name = probe.smallest(disputed)
        if name is None:
            break
        decided.add(name)
        matching = [
            (pair, m)
            for pair, m in zip(fitting, maps, strict=True)
            if name not in m or probe.digest(name, m[name]) == m[name]
        ]
        if any(name in m for _, m in matching):
            fitting = [pair for pair, _ in matching]
    return fitting


def same_as_base(release: Release) -> frozenset[str]:
    """Restored files published with the same digest as their base file (PygmalionAI's
    tokenizer.model is LLaMA's): they cannot tell restored files from a base folder."""
    base = release.base_digests()
    return frozenset(n for n, d in release.restored_digests().items() if base.get(n) == d)


def shipped_in_clear(release: Release) -> frozenset[str]:
    """Files a release's payload holds unchanged: their MD5 cannot tell a payload from the
    files restored from it, so they never choose the release."""
    return release.patch_format.copied_without_base


def release_by_downloads(files: FileIndex, probe: ContentProbe) -> Optional[Release]:
    """The OpenBuddy or Open-Assistant release whose published download checksums name the
    most of these files, when the smallest of them has the published digest."""
    fitting: List[Tuple[int, Release]] = []
    for release in bundled_releases():
        if release.patch_format.hash_in_name:
            continue
        published = Expectations.for_downloads(release).downloads
        shared = [n for n in published if n in files]
        if _smallest_agrees(probe, published, shared):
            fitting.append((len(shared), release))
    best = max((score for score, _ in fitting), default=0)
    tied = [release for score, release in fitting if score == best]
    return tied[0] if len(tied) == 1 else None


def releases_of_base(files: FileIndex, probe: ContentProbe) -> List[Release]:
    """The releases whose base list names the most of these files, when the smallest file it
    shares with them has the published checksum (MD5, else SHA-256). Several only when they
    list the same base, made against one conversion; none when different lists tie."""
    present = set(files.names())
    fitting: List[Tuple[int, Release, Dict[str, str]]] = []
    for release in bundled_releases():
        published = Expectations.for_base(release).restored
        shared = [n for n in published if n in present]
        if _smallest_agrees(probe, published, shared):
            fitting.append((len(shared), release, published))
    best = max((score for score, _, _ in fitting), default=0)
    tied = [(release, listed) for score, release, listed in fitting if score == best]
    if tied and all(listed == tied[0][1] for _, listed in tied):
        return [release for release, _ in tied]
    return []


def recorded_expectations(files: FileIndex) -> Optional[Expectations]:
    """What belle-patch verified when it restored these files, from the folders' state."""
    recorded: Dict[str, str] = {}
    sources: List[str] = []
    for folder in files.folders:
        found = state.records(folder)
        if found:
            sources.append(str(folder / state_rules.STATE_FOLDER / state.STATE_FILE))
        for name, entry in found.items():
            # A recorded file that is gone is checked too, and fails as missing; unless
            # another given path holds a file by that name, which the record is not about.
            held = files.find(name)
            if held is not None and not same_file(held, folder / name):
                raise ambiguous_name_error(folder / name, held)
            recorded.setdefault(name, entry.md5)
    for name, path in files.entries.items():
        if path.parent not in files.folders and name not in recorded:
            own = state.records(path.parent).get(name)
            if own is not None:
                recorded[name] = own.md5
                sources.append(str(path.parent / state_rules.STATE_FOLDER / state.STATE_FILE))
    if not recorded:
        return None
    return Expectations(", ".join(dict.fromkeys(sources)), restored=recorded)


def no_release_error() -> UsageError:
    return UsageError(
        "cannot tell which release these files belong to",
        hint="pass the MD5 list with --manifest FILE, or --release NAME (see belle-patch releases)",
    )
