"""Open-Assistant's key material: a folder of base files, one per payload file of the same name.

Output byte i is payload byte i XOR base byte i; the base counts as zeros past its end and is
cut when it is longer than the payload. The base is read in the same pass as the payload, and
hashed as it is read when its MD5 (or SHA-256) is to be checked.
"""

from __future__ import annotations

from io import FileIO
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Optional

import numpy as np

from belle_patch.errors import InputError, KeyFileError
from belle_patch.stream.hashing import Hasher, new_hasher
from belle_patch.stream.keystream import CHUNK_SIZE

if TYPE_CHECKING:
    from belle_patch.stream.keystream import ByteArray


class MissingBaseFile(InputError):
    """The base folder has no file of the payload's name."""


class BaseFolder:
    """The converted LLaMA folder (``llama30b_hf/``) a payload folder was made against.

    Each payload file is XORed with the base file of the same name in ``folder``, unless
    ``paths`` names another file for it.
    """

    def __init__(
        self,
        folder: Path,
        *,
        paths: Optional[Mapping[str, Path]] = None,
        chunk_size: int = CHUNK_SIZE,
    ) -> None:
        self.folder = folder
        self.paths = dict(paths or {})
        self.chunk_size = chunk_size
        if not folder.is_dir():
            problem = "the base is not a folder" if folder.exists() else "no base folder there"
            raise KeyFileError(
                problem,
                path=folder,
                hint="pass the LLaMA model converted to Hugging Face format (e.g. llama30b_hf/)",
            )

    def path_for(self, name: str) -> Path:
        return self.paths.get(name, self.folder / name)

    def has(self, name: str) -> bool:
        return self.path_for(name).is_file()

    def open_for(self, name: str, *, hash_algorithm: Optional[str] = None) -> BaseStream:
        path = self.path_for(name)
        try:
            handle = path.open("rb", buffering=0)
        except FileNotFoundError:
            raise MissingBaseFile(
                f"the base file for {name} is missing: each payload file is XORed with the "
                "base file of its name",
                path=path,
                hint="pass the complete converted LLaMA folder the release was made against",
            ) from None
        except OSError as exc:
            raise InputError(f"cannot open the base file: {exc.strerror}", path=path) from None
        hasher = new_hasher(hash_algorithm) if hash_algorithm else None
        return BaseStream(handle, path, self.chunk_size, hasher)


class BaseStream:
    """Base bytes for each data chunk, read in order, zeros past the base's end."""

    def __init__(
        self, handle: FileIO, path: Path, chunk_size: int, hasher: Optional[Hasher]
    ) -> None:
        self._handle = handle
        self.path = path
        self.chunk_size = chunk_size
        self._hasher = hasher
        self._buffer: ByteArray = np.empty(chunk_size, dtype=np.uint8)
        self._position = 0
        self._ended = False

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> BaseStream:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def chunk(self, data_chunk: int, length: int) -> ByteArray:
        offset = data_chunk * self.chunk_size
        if offset != self._position:
            raise RuntimeError("base chunks must be asked for in order")
        out = self._buffer[:length]
        filled = 0 if self._ended else self._read_into(out)
        if filled < length:
            out[filled:] = 0
        self._position += length
        return out

    def _read_into(self, out: ByteArray) -> int:
        view = memoryview(out)  # type: ignore[arg-type, unused-ignore]
        filled = 0
        try:
            while filled < len(view):
                count = self._handle.readinto(view[filled:])
                if not count:
                    self._ended = True
                    break
                filled += count
        except OSError as exc:
            raise InputError(f"reading failed: {exc.strerror}", path=self.path) from None
        if self._hasher is not None:
            self._hasher.update(view[:filled])
        return filled

    def digest_of_whole_base(self) -> str:
        """The whole base file's digest: the part past the payload is read now, once."""
        if self._hasher is None:
            raise RuntimeError("the base was not hashed")
        while not self._ended:
            self._read_into(self._buffer)
        return self._hasher.hexdigest()
