"""belle-patch: restore, create and verify XOR weight patches (BELLE / point-alpaca format).

The jobs of the command line, as functions that never print and return frozen reports:

    import belle_patch

    report = belle_patch.decrypt("BELLE-LLaMA-13B-2M-enc/", key="consolidated.00.pth",
                                 out="model/")
    for failure in report.failed:
        print(failure.path, failure.error)

    checked = belle_patch.verify("model/")
    assert checked.ok

``decrypt``, ``encrypt`` and ``verify`` take one path (``str`` or ``os.PathLike``) or a list
of them, and report each file's outcome; they raise :class:`BellePatchError` subclasses only
when the job cannot start (usage errors), and :class:`TypeError`, naming the argument, for an
argument of the wrong type (``jobs="2"``, ``manifest=5``, a list holding an int).
"""

from __future__ import annotations

# Not typing.TYPE_CHECKING: importing typing costs start-up time before Ctrl-C is handled.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict

    __version__: str

    from belle_patch.check.verdict import FileCheck
    from belle_patch.errors import (
        BellePatchError,
        ChecksumMismatch,
        InputError,
        KeyFileError,
        ManifestError,
        OutputError,
        UsageError,
    )
    from belle_patch.expect.releases import Release, ReleaseFile
    from belle_patch.hub.whole_cache import is_hub_cache
    from belle_patch.jobs.batch import FileFailure, Skipped
    from belle_patch.jobs.catalog import (
        SampleRelease,
        key_needed,
        release,
        releases,
        sample_release,
    )
    from belle_patch.jobs.decrypt import decrypt
    from belle_patch.jobs.decrypt_report import DecryptReport
    from belle_patch.jobs.encrypt import EncryptReport, encrypt
    from belle_patch.jobs.repair import find_download, repair_download
    from belle_patch.jobs.repair_cache import repair_cache
    from belle_patch.jobs.repair_types import (
        DownloadTarget,
        KeptAside,
        NotMoved,
        RepairReport,
        RestoreCommand,
    )
    from belle_patch.jobs.restore import restore_patch
    from belle_patch.jobs.restore_types import ALREADY_RESTORED, RESTORED, RestoreResult
    from belle_patch.jobs.seal import SealResult, seal_file
    from belle_patch.jobs.verify import verify
    from belle_patch.jobs.verify_cache import verify_cache
    from belle_patch.jobs.verify_cache_types import (
        CachedFileCheck,
        CacheReport,
        RepoReport,
        RevisionReport,
    )
    from belle_patch.jobs.verify_types import VerifyReport
    from belle_patch.stream.events import Progress, ProgressEvents
    from belle_patch.stream.keystream import CHUNK_SIZE, KeySource
    from belle_patch.vocabulary import CheckKind, DigestKind, Side, Status

    OK = Status.OK
    FAILED = Status.FAILED
    MISSING = Status.MISSING
    REFUSED = Status.REFUSED
    UNREADABLE = Status.UNREADABLE

# Imported on first use: the command line starts (and answers Ctrl-C) before numpy loads.
_EXPORTS: Dict[str, str] = {
    "FileFailure": ".jobs.batch",
    "Skipped": ".jobs.batch",
    "BellePatchError": ".errors",
    "ChecksumMismatch": ".errors",
    "InputError": ".errors",
    "KeyFileError": ".errors",
    "ManifestError": ".errors",
    "OutputError": ".errors",
    "UsageError": ".errors",
    "Progress": ".stream.events",
    "ProgressEvents": ".stream.events",
    "SampleRelease": ".jobs.catalog",
    "key_needed": ".jobs.catalog",
    "release": ".jobs.catalog",
    "releases": ".jobs.catalog",
    "sample_release": ".jobs.catalog",
    "DecryptReport": ".jobs.decrypt_report",
    "decrypt": ".jobs.decrypt",
    "EncryptReport": ".jobs.encrypt",
    "encrypt": ".jobs.encrypt",
    "VerifyReport": ".jobs.verify_types",
    "verify": ".jobs.verify",
    "CacheReport": ".jobs.verify_cache_types",
    "CachedFileCheck": ".jobs.verify_cache_types",
    "RepoReport": ".jobs.verify_cache_types",
    "RevisionReport": ".jobs.verify_cache_types",
    "verify_cache": ".jobs.verify_cache",
    "is_hub_cache": ".hub.whole_cache",
    "DownloadTarget": ".jobs.repair_types",
    "KeptAside": ".jobs.repair_types",
    "NotMoved": ".jobs.repair_types",
    "RepairReport": ".jobs.repair_types",
    "RestoreCommand": ".jobs.repair_types",
    "find_download": ".jobs.repair",
    "repair_cache": ".jobs.repair_cache",
    "repair_download": ".jobs.repair",
    "FileCheck": ".check.verdict",
    # The statuses by their own names too: belle_patch.OK is Status.OK.
    "OK": ".vocabulary:Status",
    "FAILED": ".vocabulary:Status",
    "MISSING": ".vocabulary:Status",
    "REFUSED": ".vocabulary:Status",
    "UNREADABLE": ".vocabulary:Status",
    "Status": ".vocabulary",
    "CheckKind": ".vocabulary",
    "DigestKind": ".vocabulary",
    "Side": ".vocabulary",
    "CHUNK_SIZE": ".stream.keystream",
    "KeySource": ".stream.keystream",
    "Release": ".expect.releases",
    "ReleaseFile": ".expect.releases",
    "ALREADY_RESTORED": ".jobs.restore_types",
    "RESTORED": ".jobs.restore_types",
    "RestoreResult": ".jobs.restore_types",
    "restore_patch": ".jobs.restore",
    "SealResult": ".jobs.seal",
    "seal_file": ".jobs.seal",
}


def _version() -> str:
    """One source for the version: the installed distribution's metadata (pyproject.toml)."""
    from importlib import metadata

    try:
        return metadata.version("belle-patch")
    except metadata.PackageNotFoundError:  # a source tree on PYTHONPATH, not installed
        return "0+unknown"


def __getattr__(name: str) -> Any:
    if name == "__version__":
        globals()[name] = _version()
        return globals()[name]
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'belle_patch' has no attribute {name!r}")
    import importlib

    module, _, holder = module.partition(":")
    value = getattr(importlib.import_module(module, __name__), holder or name)
    if holder:
        value = getattr(value, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS) | {"__version__"})


__all__ = [
    "ALREADY_RESTORED",
    "CHUNK_SIZE",
    "FAILED",
    "MISSING",
    "OK",
    "REFUSED",
    "RESTORED",
    "UNREADABLE",
    "BellePatchError",
    "CacheReport",
    "CachedFileCheck",
    "CheckKind",
    "ChecksumMismatch",
    "DecryptReport",
    "DigestKind",
    "DownloadTarget",
    "EncryptReport",
    "FileCheck",
    "FileFailure",
    "InputError",
    "KeptAside",
    "KeyFileError",
    "KeySource",
    "ManifestError",
    "NotMoved",
    "OutputError",
    "Progress",
    "ProgressEvents",
    "Release",
    "ReleaseFile",
    "RepairReport",
    "RepoReport",
    "RestoreCommand",
    "RestoreResult",
    "RevisionReport",
    "SampleRelease",
    "SealResult",
    "Side",
    "Skipped",
    "Status",
    "UsageError",
    "VerifyReport",
    "__version__",
    "decrypt",
    "encrypt",
    "find_download",
    "is_hub_cache",
    "key_needed",
    "release",
    "releases",
    "repair_cache",
    "repair_download",
    "restore_patch",
    "sample_release",
    "seal_file",
    "verify",
    "verify_cache",
]
