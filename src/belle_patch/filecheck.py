"""Check files against MD5s, several files at once, and tell which release a folder holds.

Files are looked up by their listed names: direct entries of the given folders, names in
subfolders (``original/params.json``) inside them, or files given one by one. Only regular
files are read; a FIFO, a device or a dangling link fails as unreadable without blocking.
"""

from __future__ import annotations

import os
import stat
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import (
    BinaryIO,
    Callable,
    Dict,
    Iterable,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    cast,
)

from . import state
from .engine import Consumer, ProgressCallback, pump
from .errors import BellePatchError, UsageError
from .expectations import Expectations
from .formats import OASST as OASST_FORMAT
from .hashing import new_hasher
from .keystream import CHUNK_SIZE
from .registry import (
    HASHED_NAME_FORMATS,
    OASST,
    RELEASE_FORMATS,
    Release,
    bundled_releases,
    releases_by_patch_names,
    releases_sharing_restored_names,
)
from .vocabulary import DigestKind, Side, Status

# What vouched for an OK file (FileCheck.verified_by), besides a content address kind.
BY_MD5 = "MD5"
BY_SHA256 = "SHA-256"
BY_RECORD = "xxh3 (recorded when restored)"
# Shared by every OK check rather than a tuple each: a list can name a million files.
_BY_MD5 = (BY_MD5,)
_BY_SHA256 = (BY_SHA256,)
_BY_RECORD = (BY_RECORD,)

NOT_REGULAR = "not a regular file"
NO_SUCH_FILE = "No such file or directory"


# slots: a million-line list makes a million of these.
@dataclass(frozen=True, slots=True)
class FileCheck:
    """The verdict on one listed file.

    ``status`` is ``OK``, ``FAILED`` (content differs, or the name is listed with different
    MD5s), ``MISSING``, ``UNREADABLE`` (cannot be opened or read, or not a regular file),
    ``REFUSED`` (the name would leave the checked folder, or a cache link leads out of its
    repo's blobs/, so it was not read) or ``NOT VERIFIED`` (a downloaded folder's file with
    neither a content address nor a listed MD5). ``method`` is the hash that decided:
    ``md5``, ``xxh3_128`` against what belle-patch recorded when it restored the file, or a
    content address kind (``sha256 (LFS)``, ``git blob id``). ``detail`` says why a file
    failed, in one line. ``verified_by`` names what vouched for an OK file (``MD5``, a
    content address kind); ``address`` and ``actual_address`` are the expected and computed
    content address of a Hugging Face download's file ("" and None elsewhere).
    """

    name: str
    status: str
    expected: str
    actual: Optional[str] = None
    path: Optional[Path] = None
    detail: str = ""
    method: str = DigestKind.MD5
    verified_by: Tuple[str, ...] = ()
    address: str = ""
    actual_address: Optional[str] = None

    @property
    def ok(self) -> bool:
        return self.status == Status.OK

    @property
    def not_verified(self) -> bool:
        return self.status == Status.NOT_VERIFIED

    @property
    def unread(self) -> bool:
        """The file could not be compared at all (md5sum's "FAILED open or read")."""
        return self.status in (Status.MISSING, Status.UNREADABLE, Status.REFUSED)


@dataclass(frozen=True)
class FileIndex:
    """The files a check may look at: direct entries of folders, and files given one by one."""

    folders: Tuple[Path, ...]
    entries: Dict[str, Path] = field(default_factory=dict)

    def find(self, name: str) -> Optional[Path]:
        """The file a listed name stands for (it may not exist as a regular file).

        Raises UsageError when two of the given folders hold different files by this name.
        """
        found = self.entries.get(name)
        if found is not None or "/" not in name:
            return found
        for folder in self.folders:
            candidate = folder / name
            if os.path.lexists(candidate):
                if found is None:
                    found = candidate
                elif not _same_file(found, candidate):
                    raise ambiguous_name_error(found, candidate)
        return found

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.find(name) is not None

    def names(self) -> List[str]:
        return list(self.entries)

    def has_files(self) -> bool:
        return any(not _is_folder(path) for path in self.entries.values())


def _is_folder(path: Path) -> bool:
    try:
        return stat.S_ISDIR(path.lstat().st_mode)
    except OSError:
        return False


def _same_file(first: Path, second: Path) -> bool:
    return first == second or os.path.realpath(first) == os.path.realpath(second)


def ambiguous_name_error(first: Path, second: Path) -> UsageError:
    """Two given paths hold different files by the same name: which one a list means is
    unknowable, so neither is checked."""
    return UsageError(
        f"{first} and {second} have the same name, so a listed name cannot tell them apart",
        hint="verify them one at a time",
    )


def index_files(paths: Sequence[Path]) -> FileIndex:
    """Index ``paths``: folders by their direct entries, other paths by their own name.

    Two different files by the same name (in two folders, or given one by one) are a
    UsageError; the same file reached twice is indexed once.
    """
    found: Dict[str, Path] = {}
    folders: List[Path] = []

    def add(name: str, path: Path) -> None:
        known = found.setdefault(name, path)
        if not _same_file(known, path):
            raise ambiguous_name_error(known, path)

    for path in paths:
        if path.is_dir():
            if any(_same_file(path, folder) for folder in folders):
                continue
            folders.append(path)
            for entry in sorted(path.iterdir()):
                if entry.name != state.STATE_FOLDER:
                    add(entry.name, entry)
        elif os.path.lexists(path):
            add(path.name, path)
        else:
            raise UsageError("no such file or folder", path=path)
    return FileIndex(tuple(folders), found)


class NotRegularFile(OSError):
    """The path is a FIFO, a device, a folder or a socket: it is not read."""


def _open_regular(path: Path) -> BinaryIO:
    # O_NONBLOCK: a FIFO that replaced the file since it was checked must not block open.
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotRegularFile(NOT_REGULAR)
        return os.fdopen(fd, "rb", buffering=0)
    except BaseException:
        os.close(fd)
        raise


def digests(
    path: Path, algorithms: Sequence[str], *, on_progress: Optional[ProgressCallback] = None
) -> Dict[str, str]:
    """Hex digests of a regular file, in one read; anything else raises NotRegularFile."""
    hashers = {name: new_hasher(name) for name in algorithms}
    with _open_regular(path) as source:
        pump(
            source,
            [Consumer(hasher.update) for hasher in hashers.values()],
            chunk_size=CHUNK_SIZE,
            expected_size=os.fstat(source.fileno()).st_size,
            on_progress=on_progress,
        )
    return {name: hasher.hexdigest() for name, hasher in hashers.items()}


def regular_size(path: Path) -> Optional[int]:
    """The size of a regular file (links followed); None for anything else or an error."""
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_size if stat.S_ISREG(info.st_mode) else None


def _recorded_match(
    path: Path, expected: str, on_progress: Optional[ProgressCallback]
) -> Optional[bool]:
    """True if belle-patch verified this very file before (same size, mtime and xxh3);
    False if the file was read and differs from the record; None if it was not read."""
    recorded = state.lookup(path.parent, path.name)
    if recorded is None or recorded.md5 != expected:
        return None
    return (
        digests(path, [DigestKind.XXH3_128], on_progress=on_progress)[DigestKind.XXH3_128]
        == recorded.xxh3_128
    )


def _check_against_record(
    name: str, path: Path, on_progress: Optional[ProgressCallback]
) -> FileCheck:
    """A file restored with no MD5 computed (``--no-md5``): its record's xxh3 is all there
    is, compared whatever the size and mtime, since a changed mtime proves nothing."""
    recorded = state.records(path.parent).get(path.name)
    if recorded is None:
        return FileCheck(
            name, Status.NOT_VERIFIED, "", path=path, detail="no MD5 listed or recorded"
        )
    actual = digests(path, [DigestKind.XXH3_128], on_progress=on_progress)[DigestKind.XXH3_128]
    if actual == recorded.xxh3_128:
        return FileCheck(
            name, Status.OK, "", path=path, method=DigestKind.XXH3_128, verified_by=_BY_RECORD
        )
    detail = "differs from what was verified when belle-patch restored it"
    return FileCheck(name, Status.FAILED, "", path=path, detail=detail, method=DigestKind.XXH3_128)


@dataclass
class CheckHooks:
    """Where a check reports its work; called from worker threads, one call at a time."""

    started: Callable[[Path, int], None] = lambda path, size: None
    advanced: Callable[[int], None] = lambda nbytes: None
    done: Callable[[FileCheck], None] = lambda check: None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def on_start(self, path: Path, size: int) -> None:
        with self.lock:
            self.started(path, size)

    def on_progress(self, nbytes: int) -> None:
        with self.lock:
            self.advanced(nbytes)

    def on_done(self, check: FileCheck) -> None:
        with self.lock:
            self.done(check)


def check_file(
    name: str,
    expected: str,
    path: Optional[Path],
    *,
    full: bool = False,
    known_md5: Optional[str] = None,
    hooks: Optional[CheckHooks] = None,
    known_sha256: Optional[str] = None,
) -> FileCheck:
    """Compare one file with its expected MD5 (or SHA-256, when 64 hex digits are listed);
    never raises for a file that cannot be read."""
    hooks = hooks or CheckHooks()
    if path is None:
        return FileCheck(name, Status.MISSING, expected, detail=NO_SUCH_FILE)
    try:
        info = path.stat()
    except FileNotFoundError:
        if os.path.islink(path):
            return FileCheck(
                name, Status.UNREADABLE, expected, path=path, detail="dangling symbolic link"
            )
        return FileCheck(name, Status.MISSING, expected, path=path, detail=NO_SUCH_FILE)
    except OSError as exc:
        return FileCheck(name, Status.UNREADABLE, expected, path=path, detail=exc.strerror or "")
    if not stat.S_ISREG(info.st_mode):
        return FileCheck(name, Status.UNREADABLE, expected, path=path, detail=NOT_REGULAR)
    hooks.on_start(path, info.st_size)
    try:
        if not expected:
            return _check_against_record(name, path, hooks.on_progress)
        if DigestKind.of_listed(expected) == DigestKind.SHA256:
            actual = (
                known_sha256
                or digests(path, [DigestKind.SHA256], on_progress=hooks.on_progress)[
                    DigestKind.SHA256
                ]
            )
            if actual == expected:
                return FileCheck(
                    name,
                    Status.OK,
                    expected,
                    expected,
                    path,
                    method=DigestKind.SHA256,
                    verified_by=_BY_SHA256,
                )
            return FileCheck(name, Status.FAILED, expected, actual, path, method=DigestKind.SHA256)
        recorded = None
        if known_md5 is None and not full:
            recorded = _recorded_match(path, expected, hooks.on_progress)
        if recorded:
            return FileCheck(
                name,
                Status.OK,
                expected,
                expected,
                path,
                method=DigestKind.XXH3_128,
                verified_by=_BY_RECORD,
            )
        # Progress counts each file's size once: a second read after xxh3 is not reported.
        on_progress = hooks.on_progress if recorded is None else None
        actual = (
            known_md5 or digests(path, [DigestKind.MD5], on_progress=on_progress)[DigestKind.MD5]
        )
    except NotRegularFile:
        return FileCheck(name, Status.UNREADABLE, expected, path=path, detail=NOT_REGULAR)
    except OSError as exc:
        return FileCheck(
            name, Status.UNREADABLE, expected, path=path, detail=exc.strerror or str(exc)
        )
    except BellePatchError as exc:
        return FileCheck(name, Status.UNREADABLE, expected, path=path, detail=exc.problem)
    if actual == expected:
        # The expected string stands for the equal actual one: one copy per OK file, not two.
        return FileCheck(name, Status.OK, expected, expected, path, verified_by=_BY_MD5)
    return FileCheck(name, Status.FAILED, expected, actual, path)


def verify_entries(
    entries: Mapping[str, str],
    files: FileIndex,
    *,
    jobs: int = 2,
    full: bool = False,
    known_md5s: Optional[Dict[Path, str]] = None,
    hooks: Optional[CheckHooks] = None,
    known_sha256s: Optional[Dict[Path, str]] = None,
) -> List[FileCheck]:
    """Hash every listed file that is present (in parallel) and compare with the list.

    Unless ``full``, a file recorded in its folder's state as verified, with unchanged size
    and mtime, is checked with xxh3 against the record instead of MD5. ``known_md5s`` holds
    MD5s computed moments ago (while telling the release), so no file is read twice.
    Returns one check per entry, in the entries' order; memory beyond that list does not
    grow with the number of entries.
    """
    hooks = hooks or CheckHooks()
    known = known_md5s or {}
    known_sha256 = known_sha256s or {}

    def check(name: str, expected: str) -> FileCheck:
        path = files.find(name)
        result = check_file(
            name,
            expected,
            path,
            full=full,
            known_md5=known.get(path) if path is not None and expected else None,
            hooks=hooks,
            known_sha256=known_sha256.get(path) if path is not None else None,
        )
        hooks.on_done(result)
        return result

    return in_order(check, entries.items(), len(entries), jobs)


def in_order(
    work: Callable[[str, str], FileCheck],
    items: Iterable[Tuple[str, str]],
    count: int,
    jobs: int,
) -> List[FileCheck]:
    """``work(name, expected)`` for each of ``count`` items on up to ``jobs`` threads, the
    results in item order.

    The threads take turns drawing from one iterator rather than being handed a future per
    item: ThreadPoolExecutor.map submits every item at once, about 2 KB each, which made a
    million-line list cost 2 GB and most of the run's time. The first exception raised by
    ``work`` stops the others taking items and is raised here once they are done.
    """
    results: List[Optional[FileCheck]] = [None] * count
    numbered = enumerate(items)
    draw = threading.Lock()
    stop = threading.Event()
    raised: List[BaseException] = []

    def run() -> None:
        while not stop.is_set():
            with draw:
                item = next(numbered, None)
            if item is None:
                return
            index, (name, expected) = item
            try:
                results[index] = work(name, expected)
            except BaseException as exc:  # re-raised in the calling thread
                raised.append(exc)
                stop.set()
                return

    threads = [
        threading.Thread(target=run, name=f"belle-patch-check-{n}")
        for n in range(min(max(1, jobs), count))
    ]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            thread.join()
    except BaseException:
        # Ctrl-C in the calling thread: no new file is started; those being read finish, as
        # they did under ThreadPoolExecutor.
        stop.set()
        for thread in threads:
            thread.join()
        raise
    if raised:
        raise raised[0]
    if any(check is None for check in results):
        raise RuntimeError("a check did not run")
    # Every slot is filled: the list is returned as it is rather than copied.
    return cast(List[FileCheck], results)


# ------------------------------------------------------------------ which release


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
        path = self.files.find(name)
        if path is None:
            return None
        if path not in self.md5s:
            try:
                self.md5s[path] = digests(path, [DigestKind.MD5])[DigestKind.MD5]
            except (OSError, BellePatchError):
                return None
        return self.md5s[path]

    def digest(self, name: str, listed: str) -> Optional[str]:
        """The file's digest of the kind ``listed`` is (MD5 or SHA-256)."""
        if DigestKind.of_listed(listed) == DigestKind.MD5:
            return self.md5(name)
        path = self.files.find(name)
        if path is None:
            return None
        if path not in self.sha256s:
            try:
                self.sha256s[path] = digests(path, [DigestKind.SHA256])[DigestKind.SHA256]
            except (OSError, BellePatchError):
                return None
        return self.sha256s[path]

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
    for release in releases_sharing_restored_names(files.names(), RELEASE_FORMATS):
        published = release_md5s(release)
        untelling = shipped_in_clear(release) | same_as_base(release)
        telling = [n for n in published if n in files and n not in untelling]
        smallest = probe.smallest(telling)
        if (
            smallest is not None
            and probe.digest(smallest, published[smallest]) == (published[smallest])
        ):
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
    return OASST_FORMAT.copied_without_base if release.format == OASST else frozenset()


def release_by_downloads(files: FileIndex, probe: ContentProbe) -> Optional[Release]:
    """The OpenBuddy or Open-Assistant release whose published download checksums name the
    most of these files, when the smallest of them has the published digest."""
    fitting: List[Tuple[int, Release]] = []
    for release in bundled_releases():
        if release.format in HASHED_NAME_FORMATS:
            continue
        published = Expectations.for_downloads(release).downloads
        shared = [n for n in published if n in files]
        smallest = probe.smallest(shared)
        if (
            smallest is not None
            and probe.digest(smallest, published[smallest]) == published[smallest]
        ):
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
        smallest = probe.smallest(shared)
        if (
            smallest is not None
            and probe.digest(smallest, published[smallest]) == published[smallest]
        ):
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
            sources.append(str(folder / state.STATE_FOLDER / state.STATE_FILE))
        for name, entry in found.items():
            # A recorded file that is gone is checked too, and fails as missing; unless
            # another given path holds a file by that name, which the record is not about.
            held = files.find(name)
            if held is not None and not _same_file(held, folder / name):
                raise ambiguous_name_error(folder / name, held)
            recorded.setdefault(name, entry.md5)
    for name, path in files.entries.items():
        if path.parent not in files.folders and name not in recorded:
            own = state.records(path.parent).get(name)
            if own is not None:
                recorded[name] = own.md5
                sources.append(str(path.parent / state.STATE_FOLDER / state.STATE_FILE))
    if not recorded:
        return None
    return Expectations(", ".join(dict.fromkeys(sources)), restored=recorded)


def no_release_error() -> UsageError:
    return UsageError(
        "cannot tell which release these files belong to",
        hint="pass the MD5 list with --manifest FILE, or --release NAME (see belle-patch releases)",
    )


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
