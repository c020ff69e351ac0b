"""A git clone's addresses, read from its HEAD commit with git's plumbing, safely.

The files are checked against the commit HEAD names (its tree), not the index, so a staged
change or ``git rm`` fails rather than pass as the commit; the index only adds merge
conflicts and sparse-checkout tags. Before the first commit, the index is all there is.

A folder from a tarball can carry a hostile ``.git/config``: git runs here with hooks and
``core.fsmonitor`` off, no system config, no transport allowed (no lazy fetch of a partial
clone), no optional locks (the index is never refreshed or written), and without git-lfs. A
repository git refuses (``safe.directory``) gives one note and no addresses.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from .address import (
    EOL_CONVERSION,
    GIT_BLOB_ID,
    LFS_POINTER_MAX,
    OTHER_CONVERSION,
    SHA256_LFS,
    ContentAddress,
    parse_lfs_pointer,
)
from .book import GIT_CLONE, AddressBook, is_bookkeeping

GIT_TIMEOUT = 300
_REGULAR_MODES = ("100644", "100755")
_SYMLINK_MODE = "120000"
_SUBMODULE_MODE = "160000"
_ATTRIBUTES = ("text", "eol", "ident", "working-tree-encoding", "filter")


def is_git_clone(folder: Path) -> bool:
    return os.path.lexists(folder / ".git")


class _GitRefused(Exception):
    """git could not read the repository; the message is one line for the user."""


@dataclass(frozen=True)
class _IndexEntry:
    mode: str
    blob_id: str
    stage: str
    tag: str
    path: str


def _environment() -> Dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("GIT_")}
    env.update(
        GIT_CONFIG_NOSYSTEM="1",
        GIT_OPTIONAL_LOCKS="0",
        GIT_TERMINAL_PROMPT="0",
        GIT_NO_LAZY_FETCH="1",
        GIT_NO_REPLACE_OBJECTS="1",
        GIT_PAGER="cat",
        PAGER="cat",
        LC_ALL="C",
        LANGUAGE="C",
    )
    return env


class _Git:
    def __init__(self, executable: str, folder: Path) -> None:
        self._folder = folder
        self._env = _environment()
        self._env["GIT_CEILING_DIRECTORIES"] = str(folder.parent)
        self._base = [
            executable,
            "--no-pager",
            "--no-replace-objects",
            "-c", "core.fsmonitor=false",
            "-c", f"core.hooksPath={os.devnull}",
            "-c", "core.untrackedCache=false",
            "-c", "protocol.allow=never",
            "-C", str(folder),
        ]  # fmt: skip

    def run(self, args: Sequence[str], stdin: bytes = b"") -> bytes:
        try:
            done = subprocess.run(
                [*self._base, *args],
                input=stdin,
                capture_output=True,
                env=self._env,
                timeout=GIT_TIMEOUT,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise _GitRefused(f"git {args[0]} did not run ({exc})") from exc
        if done.returncode != 0:
            lines = done.stderr.decode("utf-8", "replace").strip().splitlines()
            reason = next((line for line in lines if line.startswith("fatal:")), "")
            raise _GitRefused(reason or (lines[0] if lines else f"git {args[0]} failed"))
        return done.stdout


def _parse_index(raw: bytes) -> List[_IndexEntry]:
    entries = []
    for record in raw.split(b"\0"):
        if not record:
            continue
        head, _, path = record.partition(b"\t")
        tag, mode, blob_id, stage = head.decode("ascii").split(" ")
        entries.append(
            _IndexEntry(mode, blob_id, stage, tag, path.decode("utf-8", "surrogateescape"))
        )
    return entries


def _parse_tree(raw: bytes) -> Dict[str, Tuple[str, str]]:
    """``git ls-tree -r -z`` output: path -> (mode, object id)."""
    tree: Dict[str, Tuple[str, str]] = {}
    for record in raw.split(b"\0"):
        if not record:
            continue
        head, _, path = record.partition(b"\t")
        mode, _kind, object_id = head.decode("ascii").split(" ")
        tree[path.decode("utf-8", "surrogateescape")] = (mode, object_id)
    return tree


def _against_head(
    index: List[_IndexEntry], head: Mapping[str, Tuple[str, str]]
) -> Tuple[List[_IndexEntry], int, Dict[str, str]]:
    """The entries of commit ``head``, with the index's merge conflicts and sparse-checkout
    tags; how many files the index holds differently (staged changes, ``git rm``); and the
    files staged but not in the commit, with why they are not verified."""
    staged = {e.path: e for e in index if e.stage == "0"}
    conflicted = {e.path for e in index if e.stage != "0"}
    entries = [e for e in index if e.stage != "0"]
    differing = 0
    for path, (mode, object_id) in head.items():
        if path in conflicted:
            continue
        known = staged.get(path)
        if known is None or (known.mode, known.blob_id) != (mode, object_id):
            differing += 1
        entries.append(_IndexEntry(mode, object_id, "0", known.tag if known else "H", path))
    added = {
        path: "staged in the git index but not in the commit: not verified"
        for path in staged
        if path not in head
    }
    return entries, differing + len(added), added


def _object_sizes(git: _Git, blob_ids: Sequence[str]) -> Dict[str, int]:
    """Sizes of the blobs present in the object store (missing ones are left out)."""
    if not blob_ids:
        return {}
    out = git.run(["cat-file", "--batch-check"], "\n".join(blob_ids).encode() + b"\n")
    sizes = {}
    for line in out.decode("ascii", "replace").splitlines():
        parts = line.split(" ")
        if len(parts) == 3 and parts[1] == "blob":
            sizes[parts[0]] = int(parts[2])
    return sizes


def _small_blobs(git: _Git, blob_ids: Sequence[str]) -> Dict[str, bytes]:
    if not blob_ids:
        return {}
    out = git.run(["cat-file", "--batch"], "\n".join(blob_ids).encode() + b"\n")
    contents: Dict[str, bytes] = {}
    position = 0
    while position < len(out):
        header_end = out.index(b"\n", position)
        parts = out[position:header_end].decode("ascii").split(" ")
        position = header_end + 1
        if len(parts) != 3:
            continue
        size = int(parts[2])
        contents[parts[0]] = out[position : position + size]
        position += size + 1
    return contents


def _attributes(git: _Git, paths: Sequence[str]) -> Dict[str, Dict[str, str]]:
    if not paths:
        return {}
    stdin = b"".join(p.encode("utf-8", "surrogateescape") + b"\0" for p in paths)
    out = git.run(["check-attr", "-z", "--stdin", *_ATTRIBUTES], stdin)
    fields = out.split(b"\0")
    found: Dict[str, Dict[str, str]] = {}
    for index in range(0, len(fields) - 2, 3):
        path = fields[index].decode("utf-8", "surrogateescape")
        found.setdefault(path, {})[fields[index + 1].decode()] = fields[index + 2].decode()
    return found


def _config(git: _Git, key: str) -> str:
    try:
        return git.run(["config", "--get", key]).decode("utf-8", "replace").strip().lower()
    except _GitRefused:
        return ""  # unset


def _conversion(attributes: Mapping[str, str], autocrlf: str) -> Optional[str]:
    """What git may change in this file between blob and work tree, if anything."""
    if attributes.get("ident") == "set":
        return OTHER_CONVERSION
    if attributes.get("working-tree-encoding", "unspecified") not in ("unspecified", "unset"):
        return OTHER_CONVERSION
    if attributes.get("filter", "unspecified") not in ("unspecified", "unset", "lfs"):
        return OTHER_CONVERSION
    text = attributes.get("text", "unspecified")
    if text == "unset":
        return None
    if text != "unspecified" or attributes.get("eol", "unspecified") != "unspecified":
        return EOL_CONVERSION
    # Text unspecified: only core.autocrlf (or Git for Windows' system default) converts.
    if autocrlf in ("true", "input", "1", "yes", "on") or (os.name == "nt" and not autocrlf):
        return EOL_CONVERSION
    return None


def _read(git: _Git, folder: Path) -> AddressBook:
    toplevel = git.run(["rev-parse", "--show-toplevel"]).decode("utf-8", "replace").strip()
    if os.path.realpath(toplevel) != os.path.realpath(folder):
        raise _GitRefused(f"the top of this git repository is {toplevel}, not this folder")
    try:
        object_format = git.run(["rev-parse", "--show-object-format"]).decode().strip()
    except _GitRefused:
        object_format = "sha1"  # git older than 2.25 knows no other
    try:
        revision: Optional[str] = git.run(["rev-parse", "--verify", "-q", "HEAD"]).decode().strip()
    except _GitRefused:
        revision = None  # no commit yet
    entries = _parse_index(git.run(["ls-files", "-s", "-t", "-z"]))
    # The files are checked against the commit named, not the index: a staged change or a
    # "git rm" must not pass as the commit's content.
    staged_only: Dict[str, str] = {}
    notes: List[str] = []
    if revision is not None:
        head = _parse_tree(git.run(["ls-tree", "-r", "-z", "--full-tree", revision]))
        entries, differing, staged_only = _against_head(entries, head)
        if differing:
            notes.append(
                f"the git index differs from commit {revision[:12]} for {differing} "
                f"file{'' if differing == 1 else 's'} (staged changes or git rm): "
                "files are checked against the commit"
            )
    else:
        notes.append("no commit yet: files are checked against the git index")
    regular = [e for e in entries if e.mode in _REGULAR_MODES and e.stage == "0"]
    sizes = _object_sizes(git, sorted({e.blob_id for e in regular}))
    small = _small_blobs(git, sorted(b for b, size in sizes.items() if size < LFS_POINTER_MAX))
    pointers = {b: pointer for b, data in small.items() if (pointer := parse_lfs_pointer(data))}
    in_git = [e.path for e in regular if e.blob_id not in pointers]
    attributes = _attributes(git, in_git)
    autocrlf = _config(git, "core.autocrlf")
    blob_ids_usable = object_format == "sha1"
    source = "git commit" if revision is not None else "git index"

    addresses: Dict[str, ContentAddress] = {}
    unaddressed: Dict[str, str] = {
        path: reason for path, reason in staged_only.items() if not is_bookkeeping(path)
    }
    for entry in entries:
        if is_bookkeeping(entry.path):
            continue
        if entry.stage != "0":
            unaddressed[entry.path] = "a merge conflict in the git index: no content address"
        elif entry.mode == _SYMLINK_MODE:
            unaddressed[entry.path] = "a symbolic link in git: not verified"
        elif entry.mode == _SUBMODULE_MODE:
            unaddressed[entry.path] = "a git submodule: not verified"
        elif entry.blob_id in pointers:
            oid, size = pointers[entry.blob_id]
            addresses[entry.path] = ContentAddress(
                SHA256_LFS,
                oid,
                size,
                f"{source} (LFS pointer)",
                pointer_blob_id=entry.blob_id if blob_ids_usable else None,
            )
        elif entry.tag == "S" and not os.path.lexists(folder / entry.path):
            unaddressed[entry.path] = "left out by sparse checkout: not verified"
        elif entry.blob_id not in sizes:
            unaddressed[entry.path] = "its blob is not in .git (a partial clone): not verified"
        elif not blob_ids_usable:
            unaddressed[entry.path] = f"a {object_format} repository: git blob ids not compared"
        else:
            addresses[entry.path] = ContentAddress(
                GIT_BLOB_ID,
                entry.blob_id,
                None,
                source,
                conversion=_conversion(attributes.get(entry.path, {}), autocrlf),
            )
    return AddressBook(
        layout=GIT_CLONE,
        root=folder,
        revision=revision,
        addresses=addresses,
        unaddressed=unaddressed,
        notes=tuple(notes),
    )


def git_clone_book(folder: Path, *, git: Optional[str] = None) -> AddressBook:
    """The addresses of a git clone's files, from its HEAD commit (LFS pointers and blob ids).

    Without git, or for a repository git refuses, the book has one note and no addresses.
    ``git`` names the executable (default: ``git`` on the PATH).
    """
    executable = git if git is not None else shutil.which("git")
    if executable is None:
        note = "git is not installed: the clone's files are not checked against its index"
        return AddressBook(layout=GIT_CLONE, root=folder, notes=(note,))
    try:
        return _read(_Git(executable, folder), folder)
    except _GitRefused as exc:
        note = f"git cannot read this repository ({exc}): its files are not checked against it"
        return AddressBook(layout=GIT_CLONE, root=folder, notes=(note,))
