"""Pre-flight checks of a git clone: what would make git block, grow or read outside it.

Everything in the folder may have been written by an attacker, ``.git`` included. Before git
runs, every file it may open there is checked without opening it (regular files only, inside
the folder: a FIFO would block git for ever, ``/dev/zero`` would feed it for ever), and a
``.git`` file, ``commondir``, alternates or repository config pointing outside the folder, or
including other config files, is refused.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Iterable, List, Optional, Set, Tuple

from belle_patch.hub.gitrun import _Git, _GitRefused, _one_line
from belle_patch.hub.untrusted import RefusedFile, is_inside, read_small_file

_LINKED_FILE_LIMIT = 64 << 10  # a .git file, commondir, an alternates list
_GITDIR_LINE = re.compile(rb"gitdir: ?([^\r\n]+)\r?\n?")


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
