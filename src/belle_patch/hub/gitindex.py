"""A git clone's addresses, read from its HEAD commit with git's plumbing, safely.

The files are checked against the commit HEAD names (its tree), not the index, so a staged
change or ``git rm`` fails rather than pass as the commit; the index only adds merge
conflicts and sparse-checkout tags. Before the first commit, the index is all there is.

Everything in the folder may have been written by an attacker, ``.git`` included. Before git
runs, every file it may open there is checked without opening it (regular files only, inside
the folder: a FIFO would block git for ever, ``/dev/zero`` would feed it for ever), and a
``.git`` file, ``commondir``, alternates or repository config pointing outside the folder, or
including other config files, is refused. git then runs with hooks and ``core.fsmonitor`` off,
no system config, no transport (no lazy fetch of a partial clone), no optional locks (the
index is never refreshed or written), without git-lfs, for a few seconds at most, in bounded
memory, and its output is read up to a cap. A repository git refuses (``safe.directory``), or
any of the above, gives one note and no addresses.

The checks before git runs are in :mod:`belle_patch.hub.gitguard`, running git bounded in
:mod:`belle_patch.hub.gitrun`; this module builds the address book from git's output.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from belle_patch.hub.address import (
    EOL_AUTO_CONVERSION,
    EOL_CONVERSION,
    LFS_POINTER_MAX,
    OTHER_CONVERSION,
    ContentAddress,
    parse_lfs_pointer,
)
from belle_patch.hub.book import GIT_CLONE, AddressBook, is_bookkeeping
from belle_patch.hub.gitguard import (
    _check_attribute_files,
    _check_repository_config,
    _parse_config,
    _preflight,
)
from belle_patch.hub.gitrun import _Git, _GitRefused, _one_line
from belle_patch.vocabulary import AddressKind

_REGULAR_MODES = ("100644", "100755")
_SYMLINK_MODE = "120000"
_SUBMODULE_MODE = "160000"
_TREE_MODES = (*_REGULAR_MODES, _SYMLINK_MODE, _SUBMODULE_MODE, "100664")
_ATTRIBUTES = ("text", "crlf", "eol", "ident", "working-tree-encoding", "filter")
_OBJECT_ID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_SIZE = re.compile(r"0|[1-9][0-9]{0,17}")


def is_git_clone(folder: Path) -> bool:
    return os.path.lexists(folder / ".git")


@dataclass(frozen=True)
class _IndexEntry:
    mode: str
    blob_id: str
    stage: str
    tag: str
    path: str


# --- git's output, parsed without trusting it ---


def _unexpected(what: str) -> _GitRefused:
    return _GitRefused(f"git printed an unexpected {what}")


def _object_id(text: str) -> str:
    if not _OBJECT_ID.fullmatch(text):
        raise _unexpected("object id")
    return text


def _parse_index(raw: bytes) -> List[_IndexEntry]:
    entries = []
    for record in raw.split(b"\0"):
        if not record:
            continue
        head, tab, path = record.partition(b"\t")
        fields = head.decode("ascii", "replace").split(" ")
        if not tab or not path or len(fields) != 4:
            raise _unexpected("index entry")
        tag, mode, blob_id, stage = fields
        if stage not in ("0", "1", "2", "3") or len(tag) != 1 or not mode.isdigit():
            raise _unexpected("index entry")
        entries.append(
            _IndexEntry(
                mode, _object_id(blob_id), stage, tag, path.decode("utf-8", "surrogateescape")
            )
        )
    return entries


def _parse_tree(raw: bytes) -> Dict[str, Tuple[str, str]]:
    """``git ls-tree -r -z`` output: path -> (mode, object id)."""
    tree: Dict[str, Tuple[str, str]] = {}
    for record in raw.split(b"\0"):
        if not record:
            continue
        head, tab, path = record.partition(b"\t")
        fields = head.decode("ascii", "replace").split(" ")
        if not tab or not path or len(fields) != 3 or not fields[0].isdigit():
            raise _unexpected("tree entry")
        tree[path.decode("utf-8", "surrogateescape")] = (fields[0], _object_id(fields[2]))
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
    wanted = set(blob_ids)
    sizes = {}
    for line in out.decode("ascii", "replace").splitlines():
        parts = line.split(" ")
        if len(parts) == 2 and parts[1] == "missing":
            continue
        if len(parts) != 3 or parts[0] not in wanted or not _SIZE.fullmatch(parts[2]):
            raise _unexpected("object size")
        if parts[1] == "blob":
            sizes[parts[0]] = int(parts[2])
    return sizes


def _small_blobs(git: _Git, blob_ids: Sequence[str]) -> Dict[str, bytes]:
    if not blob_ids:
        return {}
    out = git.run(["cat-file", "--batch"], "\n".join(blob_ids).encode() + b"\n")
    contents: Dict[str, bytes] = {}
    position = 0
    while position < len(out):
        header_end = out.find(b"\n", position)
        if header_end < 0:
            raise _unexpected("object header")
        parts = out[position:header_end].decode("ascii", "replace").split(" ")
        position = header_end + 1
        if len(parts) != 3:
            continue  # "<id> missing"
        if not _SIZE.fullmatch(parts[2]) or position + int(parts[2]) > len(out):
            raise _unexpected("object size")
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
        name = fields[index + 1].decode("utf-8", "replace")
        found.setdefault(path, {})[name] = fields[index + 2].decode("utf-8", "replace")
    return found


def _autocrlf(raw: bytes) -> str:
    """core.autocrlf as git reads it: "true", "input" or "false" (last one set wins)."""
    value: Optional[str] = ""
    for key, found in _parse_config(raw):
        if key.lower() == "core.autocrlf":
            value = found
    if value is None:
        return "true"  # a bare key is a true boolean
    lowered = value.strip().lower()
    if lowered == "input":
        return "input"
    if lowered in ("true", "yes", "on"):
        return "true"
    if lowered in ("false", "no", "off"):
        return "false"
    if lowered == "":
        # Unset: Git for Windows sets it in its system config, which git is told not to read.
        return "true" if os.name == "nt" and value == "" else "false"
    number = re.fullmatch(r"[-+]?([0-9]+)[kmg]?", lowered)
    return "false" if number is not None and int(number.group(1)) == 0 else "true"


def _crlf_action(value: str) -> Optional[str]:
    """git's reading of the text (or old crlf) attribute: "text", "auto", "binary" or None."""
    if value in ("set", "input"):
        return "text"
    if value == "unset":
        return "binary"
    if value == "auto":
        return "auto"
    return None


def _conversion(attributes: Mapping[str, str], autocrlf: str) -> Optional[str]:
    """What git may change in this file between blob and work tree, if anything."""
    if attributes.get("ident") == "set":
        return OTHER_CONVERSION
    if attributes.get("working-tree-encoding", "unspecified") not in ("unspecified", "unset"):
        return OTHER_CONVERSION
    if attributes.get("filter", "unspecified") not in ("unspecified", "unset", "lfs"):
        return OTHER_CONVERSION
    action = _crlf_action(attributes.get("text", "unspecified"))
    if action is None:
        action = _crlf_action(attributes.get("crlf", "unspecified"))
    if action != "binary" and attributes.get("eol") in ("lf", "crlf"):
        action = "auto" if action == "auto" else "text"  # eol alone makes a file text
    if action is None and autocrlf in ("true", "input"):
        action = "auto"
    if action == "text":
        return EOL_CONVERSION
    if action == "auto":
        return EOL_AUTO_CONVERSION
    return None


def _read(git: _Git, folder: Path) -> AddressBook:
    toplevel = git.run(["rev-parse", "--show-toplevel"]).decode("utf-8", "replace").strip()
    if os.path.realpath(toplevel) != os.path.realpath(folder):
        raise _GitRefused(
            f"the top of this git repository is {_one_line(toplevel)}, not this folder"
        )
    _check_repository_config(git, folder)
    try:
        object_format = git.run(["rev-parse", "--show-object-format"]).decode("ascii", "replace")
        object_format = _one_line(object_format, 20)
    except _GitRefused:
        object_format = "sha1"  # git older than 2.25 knows no other
    try:
        head = git.run(["rev-parse", "--verify", "-q", "HEAD"]).decode("ascii", "replace").strip()
        revision: Optional[str] = _object_id(head)
    except _GitRefused:
        revision = None  # no commit yet
    entries = _parse_index(git.run(["ls-files", "-s", "-t", "-z"]))
    # The files are checked against the commit named, not the index: a staged change or a
    # "git rm" must not pass as the commit's content.
    staged_only: Dict[str, str] = {}
    notes: List[str] = []
    if revision is not None:
        tree = _parse_tree(git.run(["ls-tree", "-r", "-z", "--full-tree", revision]))
        entries, differing, staged_only = _against_head(entries, tree)
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
    paths = sorted({e.path for e in regular})
    _check_attribute_files(folder, paths)
    attributes = _attributes(git, paths)
    autocrlf = _autocrlf(git.run(["config", "--null", "--list"]))
    blob_ids_usable = object_format == "sha1"
    source = "git commit" if revision is not None else "git index"

    addresses: Dict[str, ContentAddress] = {}
    unaddressed: Dict[str, str] = {
        path: reason for path, reason in staged_only.items() if not is_bookkeeping(path)
    }
    for entry in entries:
        if is_bookkeeping(entry.path):
            continue
        found = attributes.get(entry.path, {})
        if entry.stage != "0":
            unaddressed[entry.path] = "a merge conflict in the git index: no content address"
        elif entry.mode == _SYMLINK_MODE:
            unaddressed[entry.path] = "a symbolic link in git: not verified"
        elif entry.mode == _SUBMODULE_MODE:
            unaddressed[entry.path] = "a git submodule: not verified"
        elif entry.mode not in _REGULAR_MODES:
            unaddressed[entry.path] = f"an entry of git mode {entry.mode}: not verified"
        elif entry.blob_id in pointers and found.get("filter") == "lfs":
            # Only git-lfs's filter turns a pointer into the file: without it, git itself
            # checks out (and compares) the pointer text, so that is what is checked.
            oid, size = pointers[entry.blob_id]
            addresses[entry.path] = ContentAddress(
                AddressKind.SHA256_LFS,
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
                AddressKind.GIT_BLOB_ID,
                entry.blob_id,
                sizes[entry.blob_id],
                source,
                conversion=_conversion(found, autocrlf),
            )
    return AddressBook(
        layout=GIT_CLONE,
        root=folder,
        revision=revision,
        addresses=addresses,
        unaddressed=unaddressed,
        notes=tuple(notes),
    )


def _index_size(git_dirs: Sequence[Path]) -> int:
    try:
        return max(0, os.lstat(git_dirs[0] / "index").st_size)
    except OSError:
        return 0


def git_clone_book(folder: Path, *, git: Optional[str] = None) -> AddressBook:
    """The addresses of a git clone's files, from its HEAD commit (LFS pointers and blob ids).

    Without git, for a repository git refuses, or one that would make git block, grow without
    bound or read outside ``folder``, the book has one note and no addresses.
    ``git`` names the executable (default: ``git`` on the PATH).
    """
    executable = git if git is not None else shutil.which("git")
    if executable is None:
        note = "git is not installed: the clone's files are not checked against its index"
        return AddressBook(layout=GIT_CLONE, root=folder, notes=(note,))
    try:
        git_dirs = _preflight(folder)
        runner = _Git(executable, folder, _index_size(git_dirs))
        return _read(runner, folder)
    except _GitRefused as exc:
        note = f"git cannot read this repository ({exc}): its files are not checked against it"
        return AddressBook(layout=GIT_CLONE, root=folder, notes=(note,))
    except (ValueError, LookupError, UnicodeError, OverflowError) as exc:
        # A backstop for output no parser above foresaw: still one line, never a traceback.
        note = (
            f"git cannot read this repository (unexpected output: {_one_line(str(exc))}): "
            "its files are not checked against it"
        )
        return AddressBook(layout=GIT_CLONE, root=folder, notes=(note,))
