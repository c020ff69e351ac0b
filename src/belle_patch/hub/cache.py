"""The huggingface_hub cache: finding a repo in it, and the addresses its snapshot links carry.

::

    CACHE/
      blobs/                                the shared blob store (Xet files), when marked:
        .huggingface-shared-blobs           "1\n"
        XX/XXHASH                           regular files, named by their Xet hash
      models--ORG--NAME/
        refs/main                           a commit hash
        blobs/ETAG                          a regular file, or a link to blobs/XX/XXHASH above
        snapshots/COMMIT/PATH               a link to ../../blobs/ETAG
        trees/COMMIT.json                   the revision's file listing (huggingface_hub 2.4)

The address of ``PATH`` is ``ETAG``, the name its snapshot link names (the SHA-256 of LFS and Xet
files, the git blob id of the others). A snapshot link is followed only into its repo's
``blobs/``, and a repo blob only into the marked store, one hop each; anything else fails unread.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import replace
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Tuple

from belle_patch.errors import UsageError
from belle_patch.hub import untrusted
from belle_patch.hub.address import ContentAddress, address_from_hex
from belle_patch.hub.book import (
    CACHE_SNAPSHOT,
    FOLDER_LINK,
    LINK,
    REGULAR,
    AddressBook,
    EntryFailure,
    Walk,
    walk_download,
)
from belle_patch.hub.listing import repo_listing
from belle_patch.hub.untrusted import RefusedFile, is_inside, read_small_file, regular_file_size
from belle_patch.vocabulary import Status

HUB_PREFIX = "hf:"
REPO_KINDS = {"models": "models", "datasets": "datasets", "spaces": "spaces"}
_REPO_FOLDER = re.compile(r"(models|datasets|spaces)--[^/\\]+")
_REVISION = re.compile(r"[0-9a-f]{40}")
_XET_HASH = re.compile(r"[0-9a-f]{64}")
# Git's ref names, less what huggingface_hub never writes (spaces, control characters).
_REF_NAME = re.compile(r"[A-Za-z0-9._/+-]+")
REF_FILE_LIMIT = 256
SHARED_STORE = "blobs"
STORE_MARKER = ".huggingface-shared-blobs"
# The one layout of the store huggingface_hub writes today; another is not read.
STORE_MARKER_TEXT = b"1\n"
_Entry = Tuple[Optional[ContentAddress], Optional[EntryFailure]]


def cache_root(environ: Optional[Mapping[str, str]] = None) -> Path:
    """The hub cache folder huggingface_hub would use (a variable set but empty counts as unset)."""
    env = os.environ if environ is None else environ

    def expand(value: str) -> Path:
        return Path(os.path.expanduser(os.path.expandvars(value)))

    for variable in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if env.get(variable):
            return expand(env[variable])
    if env.get("HF_HOME"):
        return expand(env["HF_HOME"]) / "hub"
    if env.get("XDG_CACHE_HOME"):
        return expand(env["XDG_CACHE_HOME"]) / "huggingface" / "hub"
    return Path(os.path.expanduser("~")) / ".cache" / "huggingface" / "hub"


def is_hub_spec(text: str) -> bool:
    return text.startswith(HUB_PREFIX)


def repo_folder_name(repo_id: str) -> str:
    """``ORG/NAME`` -> ``models--ORG--NAME``; ``datasets/ORG/NAME`` -> ``datasets--ORG--NAME``."""
    parts = repo_id.strip("/").split("/")
    kind = "models"
    if len(parts) == 3 and parts[0] in REPO_KINDS:
        kind, parts = REPO_KINDS[parts[0]], parts[1:]
    if len(parts) not in (1, 2) or not all(parts) or any(p in (".", "..") for p in parts):
        raise UsageError(
            f"{HUB_PREFIX}{repo_id}: not a repo id",
            hint=f"write {HUB_PREFIX}ORG/NAME or {HUB_PREFIX}datasets/ORG/NAME",
        )
    return "--".join([kind, *parts])


def repo_id_of(repo_folder: Path) -> Optional[str]:
    """``models--ORG--NAME`` -> ``ORG/NAME`` (other kinds keep their prefix)."""
    if not _REPO_FOLDER.fullmatch(repo_folder.name):
        return None
    kind, _, rest = repo_folder.name.partition("--")
    repo_id = rest.replace("--", "/")
    return repo_id if kind == "models" else f"{kind}/{repo_id}"


def is_repo_folder(folder: Path) -> bool:
    return bool(_REPO_FOLDER.fullmatch(folder.name)) and (
        (folder / "snapshots").is_dir() or (folder / "refs").is_dir()
    )


def is_snapshot_folder(folder: Path) -> bool:
    return folder.parent.name == "snapshots" and bool(
        _REPO_FOLDER.fullmatch(folder.parent.parent.name)
    )


def _ref_name_is_safe(name: str) -> bool:
    """A ref name as huggingface_hub writes them (``main``, ``pr/1``, a tag): relative, no
    ``..``, no empty part, none of git's forbidden characters."""
    parts = name.split("/")
    return (
        bool(_REF_NAME.fullmatch(name))
        and all(part and part not in (".", "..") for part in parts)
        and not name.endswith(".lock")
    )


def _snapshot_folder(repo_folder: Path, commit: str, named_by: str) -> Path:
    """``snapshots/COMMIT``, a real folder inside the repo folder (never a link leading out)."""
    snapshot = repo_folder / "snapshots" / commit
    try:
        info = os.lstat(snapshot)
    except OSError:
        raise UsageError(
            f"{named_by} names {commit}, which has no snapshot",
            path=repo_folder,
            hint="download it again",
        ) from None
    if not stat.S_ISDIR(info.st_mode) or not is_inside(snapshot, repo_folder):
        raise UsageError(
            f"snapshots/{commit} is not a folder inside the repo folder, not read",
            path=repo_folder,
            hint="download it again",
        )
    return snapshot


def _read_ref(repo_folder: Path, name: str) -> Optional[str]:
    """The commit ``refs/NAME`` holds, None if there is no such ref; a ref that is not a
    small regular file holding a commit is a usage error (it is never followed)."""
    ref = repo_folder / "refs" / name
    if not os.path.lexists(ref):
        return None
    try:
        text = read_small_file(ref, REF_FILE_LIMIT, root=repo_folder).decode("ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.reason if isinstance(exc, RefusedFile) else "not a commit"
        raise UsageError(
            f"refs/{name} cannot be used: {reason}", path=repo_folder, hint="download it again"
        ) from None
    if not _REVISION.fullmatch(text):
        raise UsageError(
            f"refs/{name} does not hold a commit hash, not followed",
            path=repo_folder,
            hint="download it again",
        )
    return text


def snapshot_of(repo_folder: Path, revision: Optional[str] = None) -> Path:
    """The snapshot folder of ``revision`` (a ref name under refs/ or a 40-hex commit under
    snapshots/; default: refs/main, else the only snapshot).

    Nothing a ref file or ``revision`` says leads out of ``snapshots/``: a revision is a
    commit or an existing ref name, a ref holds a commit, anything else is a usage error.
    """
    snapshots = repo_folder / "snapshots"
    wanted = revision or "main"
    if (
        revision is not None
        and not _REVISION.fullmatch(revision)
        and not _ref_name_is_safe(revision)
    ):
        raise UsageError(
            f"--revision {revision!r} is neither a commit hash nor a ref name",
            path=repo_folder,
            hint="give a branch or tag under refs/ or a 40-digit commit hash",
        )
    if revision is not None and _REVISION.fullmatch(revision):
        # A commit is used as it is, as huggingface_hub does: never a ref of that name.
        return _snapshot_folder(repo_folder, revision, "--revision")
    commit = _read_ref(repo_folder, wanted) if _ref_name_is_safe(wanted) else None
    if commit is not None:
        return _snapshot_folder(repo_folder, commit, f"refs/{wanted}")
    available = _snapshot_names(snapshots)
    if revision is None and len(available) == 1:
        return _snapshot_folder(repo_folder, available[0], "snapshots/")
    shown = ", ".join(available[:10]) if available else "none"
    if len(available) > 10:
        shown += f" and {len(available) - 10} more"
    raise UsageError(
        f"no snapshot for revision {wanted} (snapshots: {shown})",
        path=repo_folder,
        hint="name one with --revision",
    )


def _snapshot_names(snapshots: Path) -> List[str]:
    try:
        with os.scandir(snapshots) as entries:
            return sorted(entry.name for entry in entries if _REVISION.fullmatch(entry.name))
    except OSError:
        return []


def resolve_hub_spec(
    spec: str, revision: Optional[str] = None, *, environ: Optional[Mapping[str, str]] = None
) -> Path:
    """The snapshot folder of ``hf:ORG/NAME`` (or ``hf:ORG/NAME@REV``) in the local cache.

    No network: only the cache folders huggingface_hub itself would use are looked at.
    """
    repo_id = spec[len(HUB_PREFIX) :] if is_hub_spec(spec) else spec
    if "@" in repo_id:
        repo_id, _, at_revision = repo_id.partition("@")
        if revision is not None and revision != at_revision:
            raise UsageError(f"{spec}: two revisions given ({at_revision} and {revision})")
        revision = at_revision
    name = repo_folder_name(repo_id)
    root = cache_root(environ)
    if is_repo_folder(root / name):
        return snapshot_of(root / name, revision)
    raise UsageError(
        f"{spec}: not in the Hugging Face cache {root}",
        hint="download it first (hf download), or set HF_HUB_CACHE to the cache it is in",
    )


def _incomplete_note(blobs: Path, address: str) -> str:
    # huggingface_hub writes ADDRESS.incomplete, and since 2.4 ADDRESS.<8 hex>.incomplete.
    partial = os.path.lexists(blobs / f"{address}.incomplete") or any(
        blobs.glob(f"{address}.*.incomplete")
    )
    return " (an interrupted download left it incomplete)" if partial else ""


class _SnapshotFacts(untrusted.LinkFolders):
    """What the links of one snapshot lead into, looked at once: the realpath of its repo's
    ``blobs/`` (None if a link or out of the repo) and of the cache's store, if marked."""

    def __init__(self, repo: Path) -> None:
        super().__init__()
        self.repo = repo
        self.blobs = repo / "blobs"
        inside = not os.path.islink(self.blobs) and is_inside(self.blobs, repo)
        self.blobs_real: Optional[str] = os.path.realpath(self.blobs) if inside else None
        self._store: Optional[Tuple[str, bool]] = None

    def store(self) -> Tuple[str, bool]:
        if self._store is None:  # the cache the repo folder really is in (it may be a link)
            store = Path(os.path.realpath(self.repo)).parent / SHARED_STORE
            marked = untrusted.is_marked_folder(store, STORE_MARKER, STORE_MARKER_TEXT)
            self._store = (os.path.realpath(store), marked)
        return self._store


def _store_entry(blob: Path, facts: _SnapshotFacts) -> Tuple[Optional[Path], bool]:
    """The shared store entry a repo blob links to, if the link is one huggingface_hub makes
    (one hop to ``CACHE/blobs/XX/XXHASH`` in a marked store), and whether that entry exists.
    The entry is returned only when it is a regular file."""
    try:
        target = os.readlink(blob)
    except OSError:
        return None, False
    name = os.path.basename(target)
    store_real, marked = facts.store() if _XET_HASH.fullmatch(name) else ("", False)
    if not marked or facts.parent_of(blob, target) != os.path.join(store_real, name[:2]):
        return None, True
    entry = Path(store_real) / name[:2] / name
    if not os.path.lexists(entry):
        return None, False
    return (entry if regular_file_size(entry) is not None else None), True


def _link_entry(link: Path, facts: _SnapshotFacts) -> _Entry:
    """The address a snapshot link names: the name of the repo blob it links to, in one hop.

    The blob is a regular file in the repo's ``blobs/``, or a link (one more hop) to a regular
    file in the cache's shared store; anything else fails, unread. The address is the repo
    blob's name (the download's etag), never the name at the end of a chain.
    """
    try:
        target = os.readlink(link)
    except OSError as exc:
        return None, EntryFailure(Status.FAILED, f"the link cannot be read ({exc.strerror})")
    blobs = facts.blobs
    if facts.blobs_real is None:
        return None, EntryFailure(
            Status.FAILED, "the repo's blobs/ is a link, not a folder of the repo: not read"
        )
    if facts.parent_of(link, target) != facts.blobs_real:
        return None, EntryFailure(
            Status.FAILED,
            f"link leads outside this repo's blobs/ (to {target}), not read",
            "download it again",
        )
    name = os.path.basename(target)
    address = address_from_hex(name, source=f"blobs/{name}") if name == name.lower() else None
    if address is None or address.hexdigest != name:
        return None, EntryFailure(
            Status.FAILED, f"link into blobs/ names no content address ({target})"
        )
    try:
        mode = os.lstat(os.path.join(os.fspath(blobs), name)).st_mode
    except OSError:
        note = _incomplete_note(blobs, name)
        return None, EntryFailure(
            Status.MISSING, f"missing blob blobs/{name}{note}", "download it again"
        )
    if stat.S_ISREG(mode):
        return address, None
    if stat.S_ISLNK(mode):
        entry, exists = _store_entry(blobs / name, facts)
        if entry is not None:
            return replace(address, source=f"blobs/{name}, in the shared blob store"), None
        if not exists:
            return None, EntryFailure(
                Status.MISSING,
                f"blobs/{name} links to an entry of the shared blob store that is missing",
                "download it again",
            )
        return None, EntryFailure(
            Status.FAILED,
            f"blobs/{name} links elsewhere than to a file of the cache's shared blob store, "
            "not read",
            "download it again",
        )
    return None, EntryFailure(Status.FAILED, f"blobs/{name} is not a regular file")


def snapshot_link_address(path: Path) -> Optional[ContentAddress]:
    """The address of one file of a cache snapshot from its own link alone, or None when
    ``path`` is not such a link (or the link fails its checks)."""
    for folder in path.parents:
        if is_snapshot_folder(folder):
            if not os.path.islink(path):
                return None
            address, _failure = _link_entry(path, _SnapshotFacts(folder.parent.parent))
            return address
    return None


def snapshot_book(snapshot: Path) -> AddressBook:
    """The addresses of a snapshot folder's files, read from their links into blobs/."""
    repo = snapshot.parent.parent
    if not is_inside(snapshot, repo) or os.path.islink(snapshot):
        raise UsageError(
            "this snapshot folder is a link, or leads out of its repo folder: not read",
            path=snapshot,
            hint="give the snapshot folder inside the cache",
        )
    addresses: Dict[str, ContentAddress] = {}
    unaddressed: Dict[str, str] = {}
    failed: Dict[str, EntryFailure] = {}
    facts = _SnapshotFacts(repo)
    walked: Dict[str, Path] = {}
    for name, path, kind in walk_download(snapshot, failed):
        walked[name] = path
        if kind == LINK:
            address, failure = _link_entry(path, facts)
            if address is not None:
                addresses[name] = address
            if failure is not None:
                failed[name] = failure
        elif kind == FOLDER_LINK:
            failed[name] = EntryFailure(Status.FAILED, "a link to a folder, not followed")
        elif kind == REGULAR:
            unaddressed[name] = "a copy, not a link into blobs/: no content address"
        else:
            failed[name] = EntryFailure(Status.FAILED, "not a regular file")
    revision = snapshot.name if _REVISION.fullmatch(snapshot.name) else None
    listing, notes = (None, ()) if revision is None else repo_listing(repo, revision)
    return AddressBook(
        layout=CACHE_SNAPSHOT,
        root=snapshot,
        revision=revision,
        repo_id=repo_id_of(repo),
        addresses=addresses,
        unaddressed=unaddressed,
        failed=failed,
        notes=notes,
        listing=listing,
        walk=Walk.of(snapshot, walked, failed),
    )


def cache_repo_book(repo_folder: Path, revision: Optional[str] = None) -> AddressBook:
    """The book of the snapshot ``revision`` (default refs/main) of a cache repo folder."""
    return snapshot_book(snapshot_of(repo_folder, revision))
