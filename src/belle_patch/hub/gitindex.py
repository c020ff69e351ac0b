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
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Dict, Iterable, List, Mapping, Optional, Sequence, Set, Tuple

from belle_patch.hub.address import (
    EOL_AUTO_CONVERSION,
    EOL_CONVERSION,
    LFS_POINTER_MAX,
    OTHER_CONVERSION,
    ContentAddress,
    parse_lfs_pointer,
)
from belle_patch.hub.book import GIT_CLONE, AddressBook, is_bookkeeping
from belle_patch.hub.untrusted import RefusedFile, is_inside, read_small_file
from belle_patch.vocabulary import AddressKind

# Seconds a git child may run: enough for a clone of a few hundred thousand files, never the
# minutes a FIFO or an endless file would hold the user for.
GIT_TIMEOUT = 15.0
GIT_TIMEOUT_MAX = 120.0
_INDEX_BYTES_PER_SECOND = 2 << 20
# Address space a git child may map: git itself, the index mapped whole (a large clone's
# index is tens of MB), pack windows capped below. /dev/zero as an attributes file would
# otherwise grow git by hundreds of MB a second.
GIT_MEMORY = 1 << 30
_INDEX_MEMORY_FACTOR = 8
# What belle-patch reads of git's output: ls-files and ls-tree print about a line per entry.
GIT_OUTPUT_MAX = 64 << 20
_INDEX_OUTPUT_FACTOR = 4
_STDERR_KEPT = 8192
_LINKED_FILE_LIMIT = 64 << 10  # a .git file, commondir, an alternates list

_REGULAR_MODES = ("100644", "100755")
_SYMLINK_MODE = "120000"
_SUBMODULE_MODE = "160000"
_TREE_MODES = (*_REGULAR_MODES, _SYMLINK_MODE, _SUBMODULE_MODE, "100664")
_ATTRIBUTES = ("text", "crlf", "eol", "ident", "working-tree-encoding", "filter")
_OBJECT_ID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_SIZE = re.compile(r"0|[1-9][0-9]{0,17}")
_GITDIR_LINE = re.compile(rb"gitdir: ?([^\r\n]+)\r?\n?")


def is_git_clone(folder: Path) -> bool:
    return os.path.lexists(folder / ".git")


class _GitRefused(Exception):
    """git could not read the repository; the message is one line for the user."""


def _one_line(text: str, limit: int = 200) -> str:
    """Text from git or the folder, made fit for one line of a note."""
    cleaned = "".join(c if c.isprintable() else "?" for c in text.strip())
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 3] + "..."


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


def _memory_capped(limit: int) -> List[str]:
    """The words that start git with its address space capped at ``limit`` bytes, where the
    system can: the shell's ``ulimit`` rather than a ``preexec_fn``, which is not safe while
    other threads run (a decrypt's workers may be). A shell that cannot lower the limit
    (a lower hard limit already) leaves it as it is: the timeout still applies."""
    shell = "/bin/sh"
    if os.name != "posix" or not os.path.exists(shell):
        return []
    kib = max(1, limit // 1024)
    return [shell, "-c", f'ulimit -v {kib} 2>/dev/null; exec "$@"', "git"]


class _Git:
    def __init__(self, executable: str, folder: Path, index_size: int = 0) -> None:
        self._folder = folder
        self._env = _environment()
        self._env["GIT_CEILING_DIRECTORIES"] = str(folder.parent)
        self.timeout = min(GIT_TIMEOUT_MAX, GIT_TIMEOUT + index_size / _INDEX_BYTES_PER_SECOND)
        self._output_max = GIT_OUTPUT_MAX + _INDEX_OUTPUT_FACTOR * index_size
        self._base = [
            *_memory_capped(GIT_MEMORY + _INDEX_MEMORY_FACTOR * index_size),
            executable,
            "--no-pager",
            "--no-replace-objects",
            "-c", "core.fsmonitor=false",
            "-c", f"core.hooksPath={os.devnull}",
            "-c", "core.untrackedCache=false",
            "-c", "protocol.allow=never",
            # Pack access within the memory cap, whatever the repository's config asks.
            "-c", "core.packedGitWindowSize=32m",
            "-c", "core.packedGitLimit=256m",
            "-c", "core.deltaBaseCacheLimit=32m",
            "-c", "core.bigFileThreshold=32m",
            "-c", "index.threads=1",
            "-C", str(folder),
        ]  # fmt: skip

    def run(self, args: Sequence[str], stdin: bytes = b"") -> bytes:
        what = f"git {args[0]}"
        try:
            process = subprocess.Popen(
                [*self._base, *args],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=self._env,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            raise _GitRefused(f"{what} did not run ({_one_line(str(exc))})") from exc
        assert process.stdin is not None and process.stdout is not None
        assert process.stderr is not None
        timed_out = threading.Event()

        def stop() -> None:
            timed_out.set()
            process.kill()

        errors: List[bytes] = []
        helpers = [
            threading.Thread(target=_feed, args=(process.stdin, stdin), daemon=True),
            threading.Thread(target=_drain, args=(process.stderr, errors), daemon=True),
        ]
        timer = threading.Timer(self.timeout, stop)
        timer.daemon = True
        timer.start()
        try:
            for helper in helpers:
                helper.start()
            output, overflow = _read_capped(process.stdout, self._output_max)
            if overflow:
                process.kill()
            returncode = process.wait()
        finally:
            timer.cancel()
            if process.poll() is None:
                process.kill()
                process.wait()
            for helper in helpers:
                helper.join()
            process.stdout.close()
        if timed_out.is_set():
            raise _GitRefused(f"{what} did not finish within {self.timeout:.0f} s")
        if overflow:
            raise _GitRefused(f"{what} printed over {self._output_max >> 20} MiB")
        if returncode != 0:
            lines = b"".join(errors).decode("utf-8", "replace").strip().splitlines()
            reason = next((line for line in lines if line.startswith("fatal:")), "")
            reason = reason or (lines[0] if lines else f"{what} failed ({returncode})")
            raise _GitRefused(_one_line(reason))
        return output


def _feed(pipe: IO[bytes], data: bytes) -> None:
    try:
        pipe.write(data)
    except OSError:
        pass  # git stopped reading: its exit status says why
    finally:
        with contextlib.suppress(OSError):
            pipe.close()


def _drain(pipe: IO[bytes], kept: List[bytes]) -> None:
    size = 0
    try:
        while chunk := pipe.read(65536):
            if size < _STDERR_KEPT:
                kept.append(chunk[: _STDERR_KEPT - size])
                size += len(chunk)
    except OSError:
        pass
    finally:
        pipe.close()


def _read_capped(pipe: IO[bytes], limit: int) -> Tuple[bytes, bool]:
    chunks: List[bytes] = []
    size = 0
    while chunk := pipe.read(1 << 20):
        size += len(chunk)
        if size > limit:
            return b"", True
        chunks.append(chunk)
    return b"".join(chunks), False


# --- before git runs: what it will open, checked without opening ---


def _refuse_outside(path: str, folder: Path, what: str) -> None:
    if not is_inside(path, folder):
        raise _GitRefused(f"{what} points to {_one_line(path)}, outside this folder: not read")


def _read_link_file(path: Path, folder: Path, what: str) -> bytes:
    try:
        return read_small_file(path, _LINKED_FILE_LIMIT, root=folder)
    except RefusedFile as exc:
        raise _GitRefused(f"{what}: {exc.reason}") from None
    except OSError as exc:
        raise _GitRefused(f"{what} cannot be read ({exc.strerror})") from None


def _git_dirs(folder: Path) -> List[Path]:
    """The repository folders git will read (the git dir, and a worktree's common dir), each
    checked to lie inside ``folder``."""
    dot_git = folder / ".git"
    try:
        info = os.lstat(dot_git)
    except OSError as exc:
        raise _GitRefused(f".git cannot be read ({exc.strerror})") from None
    if stat.S_ISLNK(info.st_mode):
        _refuse_outside(os.path.realpath(dot_git), folder, "its .git link")
        git_dir = Path(os.path.realpath(dot_git))
    elif stat.S_ISREG(info.st_mode):
        content = _read_link_file(dot_git, folder, "its .git file")
        match = _GITDIR_LINE.fullmatch(content)
        if match is None:
            raise _GitRefused("its .git file does not name a git folder")
        named = os.fsdecode(match.group(1))
        git_dir = Path(os.path.join(folder, named))
        _refuse_outside(str(git_dir), folder, "its .git file")
    elif stat.S_ISDIR(info.st_mode):
        git_dir = dot_git
    else:
        raise _GitRefused(".git is neither a folder nor a file")
    if not git_dir.is_dir():
        raise _GitRefused("its .git file names a git folder that does not exist")
    found = [git_dir]
    common = git_dir / "commondir"
    if os.path.lexists(common):
        named = os.fsdecode(_read_link_file(common, folder, ".git commondir").strip())
        common_dir = Path(os.path.join(git_dir, named))
        _refuse_outside(str(common_dir), folder, ".git commondir")
        found.append(common_dir)
    return found


def _check_tree(git_dir: Path, folder: Path) -> None:
    """Every entry under ``git_dir`` is a folder or a regular file inside ``folder``."""
    for base, dirnames, filenames in os.walk(git_dir, followlinks=False):
        for name in [*dirnames, *filenames]:
            path = os.path.join(base, name)
            relative = os.path.relpath(path, folder)
            try:
                info = os.lstat(path)
                if stat.S_ISLNK(info.st_mode):
                    _refuse_outside(os.path.realpath(path), folder, f"{relative} (a link)")
                    info = os.stat(path)
            except OSError as exc:
                raise _GitRefused(f"{relative} cannot be read ({exc.strerror})") from None
            if not (stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode)):
                raise _GitRefused(f"{relative} is not a regular file (a FIFO or a device)")


def _check_alternates(git_dir: Path, folder: Path) -> None:
    alternates = git_dir / "objects" / "info" / "alternates"
    if not os.path.lexists(alternates):
        return
    listed = _read_link_file(alternates, folder, ".git/objects/info/alternates")
    for raw in listed.splitlines():
        line = os.fsdecode(raw).strip()
        if line and not line.startswith("#"):
            where = os.path.join(git_dir, "objects", line)
            _refuse_outside(where, folder, "its git object store (alternates)")


def _preflight(folder: Path) -> List[Path]:
    """Refuse, before git opens anything, what would make it block, grow or read outside."""
    git_dirs = _git_dirs(folder)
    for git_dir in git_dirs:
        _check_tree(git_dir, folder)
        _check_alternates(git_dir, folder)
    return git_dirs


def _parse_config(raw: bytes) -> List[Tuple[str, Optional[str]]]:
    """``git config --null --list`` output: (key, value or None for a bare key)."""
    entries: List[Tuple[str, Optional[str]]] = []
    for record in raw.split(b"\0"):
        if not record:
            continue
        key, newline, value = record.partition(b"\n")
        entries.append(
            (key.decode("utf-8", "replace"), value.decode("utf-8", "replace") if newline else None)
        )
    return entries


def _check_repository_config(git: _Git, folder: Path) -> None:
    """The repository's own config (never the user's) may not send git outside the folder."""
    scopes = ["--local"]
    for scope in scopes:
        raw = git.run(["config", scope, "--no-includes", "--null", "--list"])
        for key, value in _parse_config(raw):
            lowered = key.lower()
            if lowered == "include.path" or (
                lowered.startswith("includeif.") and lowered.endswith(".path")
            ):
                raise _GitRefused(
                    f"its git config includes another file ({_one_line(value or '')}): not read"
                )
            if lowered in ("core.attributesfile", "core.worktree"):
                target = os.path.expanduser(value or "")
                target = os.path.join(folder, target)
                _refuse_outside(target, folder, f"its git config's {key}")
                if lowered == "core.worktree" and os.path.realpath(target) != os.path.realpath(
                    folder
                ):
                    raise _GitRefused(f"its git config's {key} names another work tree")
                if lowered == "core.attributesfile" and os.path.lexists(target):
                    info = os.lstat(target)
                    if not stat.S_ISREG(info.st_mode):
                        raise _GitRefused(f"its git config's {key} is not a regular file")
            if (
                lowered == "extensions.worktreeconfig"
                and (value or "true").lower() in ("true", "yes", "on", "1")
                and "--worktree" not in scopes
            ):
                scopes.append("--worktree")  # git reads config.worktree too


def _check_attribute_files(folder: Path, paths: Iterable[str]) -> None:
    """The work tree's ``.gitattributes`` files git check-attr will open for ``paths``."""
    folders: Set[str] = {""}
    for path in paths:
        parts = path.split("/")[:-1]
        for depth in range(1, len(parts) + 1):
            folders.add("/".join(parts[:depth]))
    for name in sorted(folders):
        candidate = folder / name / ".gitattributes" if name else folder / ".gitattributes"
        try:
            info = os.lstat(candidate)
        except OSError:
            continue  # absent, or under a path that is not a folder: git skips it too
        if not stat.S_ISREG(info.st_mode):
            shown = f"{name}/.gitattributes" if name else ".gitattributes"
            raise _GitRefused(f"{_one_line(shown)} is not a regular file: not read")


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
