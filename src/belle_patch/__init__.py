"""belle-patch: restore, create and verify XOR weight patches (BELLE / point-alpaca format)."""

from __future__ import annotations

from importlib import metadata as _metadata

from .errors import BellePatchError
from .keystream import CHUNK_SIZE, KeySource
from .restore import RestoreResult, restore_patch
from .seal import SealResult, seal_file

try:  # one source for the version: the installed distribution's metadata (pyproject.toml)
    __version__ = _metadata.version("belle-patch")
except _metadata.PackageNotFoundError:  # run from a source tree (PYTHONPATH=src), not installed
    __version__ = "0+unknown"

__all__ = [
    "CHUNK_SIZE",
    "BellePatchError",
    "KeySource",
    "RestoreResult",
    "SealResult",
    "__version__",
    "restore_patch",
    "seal_file",
]
