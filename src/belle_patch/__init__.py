"""belle-patch: restore, create and verify XOR weight patches (BELLE / point-alpaca format)."""

from __future__ import annotations

from .errors import BellePatchError
from .jobs.verify import VerifyReport, verify
from .keystream import CHUNK_SIZE, KeySource
from .restore import RestoreResult, restore_patch
from .seal import SealResult, seal_file

__version__ = "0.1.0"

__all__ = [
    "CHUNK_SIZE",
    "BellePatchError",
    "KeySource",
    "RestoreResult",
    "SealResult",
    "VerifyReport",
    "__version__",
    "restore_patch",
    "seal_file",
    "verify",
]
