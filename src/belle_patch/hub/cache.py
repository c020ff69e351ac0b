"""The huggingface_hub cache: finding a repo in it, and the addresses its snapshot links carry.

``ROOT/models--ORG--NAME/snapshots/REV/PATH`` is a relative link to ``../../blobs/ADDRESS``; the
link target's name is the content address. Links are followed only into that repo's ``blobs/``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath
from typing import Dict, Mapping, Optional, Tuple

from belle_patch.errors import UsageError

from .address import FAILED, MISSING, ContentAddress, address_from_hex
from .book import CACHE_SNAPSHOT, AddressBook, EntryFailure

HUB_PREFIX = "hf:"
REPO_KINDS = {"models": "models", "datasets": "datasets", "spaces": "spaces"}
_REPO_FOLDER = re.compile(r"(models|datasets|spaces)--[^/\\]+")
_REVISION = re.compile(r"[0-9a-f]{40}")


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


def snapshot_of(repo_folder: Path, revision: Optional[str] = None) -> Path:
    """The snapshot folder of ``revision`` (a branch under refs/ or a commit under snapshots/;
    default: refs/main)."""
    snapshots = repo_folder / "snapshots"
    wanted = revision or "main"
    ref = repo_folder / "refs" / wanted
    if ".." not in PurePosixPath(wanted).parts and ref.is_file():
        commit = ref.read_text(encoding="utf-8", errors="replace").strip()
        if (snapshots / commit).is_dir():
            return snapshots / commit
        raise UsageError(
            f"refs/{wanted} names {commit}, which has no snapshot",
            path=repo_folder,
            hint="download it again",
        )
    available = sorted(p.name for p in snapshots.iterdir()) if snapshots.is_dir() else []
    if revision is not None and revision in available:
        return snapshots / revision
    if revision is None and len(available) == 1:
        return snapshots / available[0]
    shown = ", ".join(available) if available else "none"
    raise UsageError(
        f"no snapshot for revision {wanted} (snapshots: {shown})",
        path=repo_folder,
        hint="name one with --revision",
    )


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
    try:
        partial = any(p.name.startswith(address) for p in blobs.glob(f"{address}*.incomplete"))
    except OSError:
        partial = False
    return " (an interrupted download left it incomplete)" if partial else ""


def _link_entry(
    link: Path, blobs_real: Path, blobs: Path
) -> Tuple[Optional[ContentAddress], Optional[EntryFailure]]:
    target = os.readlink(link)
    resolved = Path(os.path.realpath(link))
    if resolved.parent != blobs_real:
        return None, EntryFailure(
            FAILED,
            f"link leads outside this repo's blobs/ (to {target}), not read",
            "download it again",
        )
    address = address_from_hex(resolved.name, source=f"blobs/{resolved.name}")
    if address is None:
        return None, EntryFailure(FAILED, f"link into blobs/ names no content address ({target})")
    if not os.path.lexists(resolved):
        note = _incomplete_note(blobs, resolved.name)
        return None, EntryFailure(
            MISSING, f"missing blob blobs/{resolved.name}{note}", "download it again"
        )
    if not resolved.is_file():
        return None, EntryFailure(FAILED, f"blobs/{resolved.name} is not a regular file")
    return address, None


def snapshot_book(snapshot: Path) -> AddressBook:
    """The addresses of a snapshot folder's files, read from their links into blobs/."""
    repo = snapshot.parent.parent
    blobs = repo / "blobs"
    blobs_real = Path(os.path.realpath(blobs))
    addresses: Dict[str, ContentAddress] = {}
    unaddressed: Dict[str, str] = {}
    failed: Dict[str, EntryFailure] = {}
    for folder, dirnames, filenames in os.walk(snapshot, followlinks=False):
        base = Path(folder)
        relative = PurePosixPath(base.relative_to(snapshot).as_posix())
        entries = [(d, True) for d in dirnames] + [(f, False) for f in filenames]
        for entry, is_dir in entries:
            name = (relative / entry).as_posix()
            path = base / entry
            if path.is_symlink():
                if is_dir:
                    failed[name] = EntryFailure(FAILED, "a link to a folder, not followed")
                    continue
                address, failure = _link_entry(path, blobs_real, blobs)
                if address is not None:
                    addresses[name] = address
                if failure is not None:
                    failed[name] = failure
            elif is_dir:
                continue
            elif path.is_file():
                unaddressed[name] = "a copy, not a link into blobs/: no content address"
            else:
                failed[name] = EntryFailure(FAILED, "not a regular file")
    return AddressBook(
        layout=CACHE_SNAPSHOT,
        root=snapshot,
        revision=snapshot.name if _REVISION.fullmatch(snapshot.name) else None,
        repo_id=repo_id_of(repo),
        addresses=addresses,
        unaddressed=unaddressed,
        failed=failed,
    )


def cache_repo_book(repo_folder: Path, revision: Optional[str] = None) -> AddressBook:
    """The book of the snapshot ``revision`` (default refs/main) of a cache repo folder."""
    return snapshot_book(snapshot_of(repo_folder, revision))
