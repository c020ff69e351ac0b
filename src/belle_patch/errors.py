"""The project's exceptions.

Every message is one line: which file, what went wrong, what to do. The CLI maps
``exit_code`` to the process status in one place; the core only raises.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Union

PathLike = Union[str, Path]

EXIT_FILE_FAILED = 1
EXIT_USAGE = 2


class BellePatchError(Exception):
    """Base of every error belle-patch reports to a user."""

    exit_code = EXIT_FILE_FAILED

    def __init__(self, problem: str, *, path: Optional[PathLike] = None, hint: str = "") -> None:
        super().__init__(problem)
        self.problem = problem
        self.path = Path(path) if path is not None else None
        self.hint = hint

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path is not None else ""
        advice = f"; {self.hint}" if self.hint else ""
        return f"{where}{self.problem}{advice}"


class UsageError(BellePatchError):
    """The command line asked for something that cannot work (exit 2)."""

    exit_code = EXIT_USAGE


class KeyFileError(UsageError):
    """The key file is missing, empty or unreadable."""


class ManifestError(UsageError):
    """A checksum list cannot be parsed; names the line."""

    def __init__(self, problem: str, *, path: Optional[PathLike] = None, line: int = 0) -> None:
        super().__init__(f"line {line}: {problem}" if line else problem, path=path)
        self.line = line


class UnsafeNameError(BellePatchError):
    """A file name from a patch or a list would leave the named folder."""


class PatchFormatError(BellePatchError):
    """The file is not a well-formed patch (name, size or header)."""


class LfsPointerError(PatchFormatError):
    """A Git LFS pointer stands where the patch should be."""


class ChecksumMismatch(BellePatchError):
    """Restored or listed bytes do not hash to what they should."""

    def __init__(
        self,
        problem: str,
        *,
        path: Optional[PathLike] = None,
        hint: str = "",
        algorithm: str,
        expected: str,
        actual: str,
    ) -> None:
        super().__init__(problem, path=path, hint=hint)
        self.algorithm = algorithm
        self.expected = expected
        self.actual = actual


class OutputExistsError(BellePatchError):
    """An output that does not verify is in the way; it is left untouched."""


class OutputError(BellePatchError):
    """The output folder or file cannot be written."""


class InputError(BellePatchError):
    """An input cannot be read."""
