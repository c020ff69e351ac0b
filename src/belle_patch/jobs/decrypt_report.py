"""What a decrypt did, file by file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence, Tuple

from belle_patch.errors import BellePatchError
from belle_patch.formats.families import BELLE
from belle_patch.jobs.batch import FileFailure, Skipped
from belle_patch.jobs.restore_types import RESTORED, RestoreResult
from belle_patch.vocabulary import CheckKind


@dataclass(frozen=True)
class DecryptReport:
    """What a decrypt did, file by file.

    ``restored`` holds the files now under their final names, each with its ``status``
    ("restored", or "already restored" for an output that verified and was left as is);
    ``failed`` the inputs that gave no verified output, with the error saying why;
    ``skipped`` the folder entries that are not patches. ``stopped`` is set when the
    batch stopped early (a key that does not fit the release).
    """

    out: Path
    release: Optional[str]  # the release id whose lists were used, if any
    release_name: Optional[str]
    release_source: str  # "given", "recognised from the file names" or ""
    key: str  # what the key file was recognised as
    restored: Tuple[RestoreResult, ...]
    failed: Tuple[FileFailure, ...]
    skipped: Tuple[Skipped, ...]
    stopped: Optional[BellePatchError]
    seconds: float
    format: str = BELLE.name  # "belle", "techgpt", "openbuddy", "oasst" or "oasst-gzip"
    published: str = ""  # what the release publishes, when that is less than full lists

    @property
    def ok(self) -> bool:
        """True when every input gave a verified output and the batch ran to its end."""
        return not self.failed and self.stopped is None

    @staticmethod
    def verified_by(checks: Sequence[str]) -> str:
        """Which check verified a file: "SHA-256", "MD5" (or both), "structure only" or
        "not verified"."""
        sums = [c for c in (CheckKind.SHA256, CheckKind.MD5) if c in checks]
        if sums:
            return " + ".join(sums)
        if CheckKind.STRUCTURE_ONLY in checks:
            return CheckKind.STRUCTURE_ONLY
        return CheckKind.NOT_VERIFIED

    @property
    def structure_only(self) -> Tuple[RestoreResult, ...]:
        """Outputs no checksum verified: only the structure of their file type."""
        return tuple(r for r in self.restored if CheckKind.STRUCTURE_ONLY in r.checks)

    @property
    def not_verified(self) -> Tuple[RestoreResult, ...]:
        """Outputs nothing verified: no checksum is known and their type has no structure."""
        return tuple(r for r in self.restored if CheckKind.NOT_VERIFIED in r.checks)

    @property
    def new_files(self) -> Tuple[RestoreResult, ...]:
        """The outputs this run wrote (not those that were already there)."""
        return tuple(r for r in self.restored if r.status == RESTORED)
