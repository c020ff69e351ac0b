"""The Python API's argument checks: a wrong type is a TypeError naming the argument.

Without them a caller's mistake surfaced far from its cause: ``verify("model/")`` checked
the folders ``m``, ``o``, ``d`` ..., ``jobs="2"`` failed in a comparison inside the batch,
``manifest=5`` as an ``AttributeError`` from pathlib. Values (a path that does not exist, an
unknown release) stay the jobs' own usage errors.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Callable, List, Mapping, Optional, Tuple, TypeGuard, Union

PathArg = Union[str, "os.PathLike[str]"]

# What a ``progress`` object is called with (see belle_patch.stream.events.Progress).
PROGRESS_METHODS = ("started", "note", "file_started", "advanced", "file_done")


def _kind(value: object) -> str:
    return type(value).__name__


def _is_path(value: object) -> TypeGuard[PathArg]:
    if isinstance(value, str):
        return True
    if isinstance(value, os.PathLike):
        # A PathLike may give bytes (os.DirEntry[bytes]): the jobs work on text paths.
        return isinstance(os.fspath(value), str)
    return False


def path_list(value: object, argument: str, job: str) -> List[PathArg]:
    """One path (``str`` or ``os.PathLike``) or an iterable of them, as a list; the items are
    kept as given (``"hf:ORG/NAME"`` must reach verify as written)."""
    if _is_path(value):
        return [value]
    if isinstance(value, (bytes, bytearray, memoryview, os.PathLike)):
        raise TypeError(f"{job}(): {argument} must be a str or os.PathLike path, not bytes")
    if not isinstance(value, Iterable):
        raise TypeError(
            f"{job}(): {argument} must be a path (str or os.PathLike) or a list of paths, "
            f"not {_kind(value)}"
        )
    items: List[PathArg] = []
    for index, item in enumerate(value):
        if not _is_path(item):
            raise TypeError(
                f"{job}(): {argument}[{index}] must be a path (str or os.PathLike), "
                f"not {_kind(item)}"
            )
        items.append(item)
    return items


def optional_path(value: object, argument: str, job: str) -> Optional[PathArg]:
    if value is None:
        return None
    return required_path(value, argument, job, "or None")


def required_path(value: object, argument: str, job: str, alternative: str = "") -> PathArg:
    if not _is_path(value):
        also = f" {alternative}" if alternative else ""
        raise TypeError(
            f"{job}(): {argument} must be a path (str or os.PathLike){also}, not {_kind(value)}"
        )
    return value


def optional_text(value: object, argument: str, job: str) -> Optional[str]:
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{job}(): {argument} must be a str or None, not {_kind(value)}")
    return value


def flag(value: object, argument: str, job: str) -> bool:
    # bool only: a string such as "no" would be true.
    if not isinstance(value, bool):
        raise TypeError(f"{job}(): {argument} must be True or False, not {_kind(value)}")
    return value


def optional_count(value: object, argument: str, job: str) -> Optional[int]:
    # bool is an int subclass, but jobs=True is a mistake, not one job.
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise TypeError(f"{job}(): {argument} must be an int or None, not {_kind(value)}")
    return value


def progress_object(value: object, job: str) -> None:
    """``progress`` must be None or have the methods a job calls (it may implement them all
    itself or subclass belle_patch.ProgressEvents)."""
    if value is None:
        return
    missing = [name for name in PROGRESS_METHODS if not callable(getattr(value, name, None))]
    if missing:
        raise TypeError(
            f"{job}(): progress must be None or an object with the methods of "
            f"belle_patch.ProgressEvents; {_kind(value)} lacks {', '.join(missing)}"
        )


def check(
    job: str,
    *,
    path_lists: Optional[Mapping[str, object]] = None,
    paths: Optional[Mapping[str, object]] = None,
    optional_paths: Optional[Mapping[str, object]] = None,
    texts: Optional[Mapping[str, object]] = None,
    flags: Optional[Mapping[str, object]] = None,
    counts: Optional[Mapping[str, object]] = None,
    progress: object = None,
) -> None:
    """Check each argument, by name, as its kind requires; the first wrong one raises."""
    kinds: List[Tuple[Optional[Mapping[str, object]], Callable[[object, str, str], object]]] = [
        (path_lists, path_list),
        (paths, required_path),
        (optional_paths, optional_path),
        (texts, optional_text),
        (flags, flag),
        (counts, optional_count),
    ]
    for arguments, check_kind in kinds:
        for argument, value in (arguments or {}).items():
            check_kind(value, argument, job)
    progress_object(progress, job)
