"""The XOR patch families as values: one read loop, four ways to name, key and verify.

This is the one registry of formats: a format is found by its ``--format`` name
(:func:`format_named`), by the name a release list records for it (:func:`format_listed_as`)
or by a patch's file name (:func:`format_by_file_name`).

- BELLE / point-alpaca: ``<name>.<sha256>.enc``, a 32-byte SHA-256 header, the key file
  tiled in 10 MiB chunks.
- TechGPT: the same name (carrying the SHA-256 of nothing) without a header; an MD5 list
  is the only way to verify it.
- OpenBuddy: ``<name>.enc``, no header; every 16 MiB block is XORed with the first
  len(block) bytes of the seed, the first 16 MiB of LLaMA-1 7B ``consolidated.00.pth``.
  That is the BELLE tiling with 8 MiB chunks over the key cut to 16 MiB (two key chunks,
  data chunk i uses key chunk i mod 2), which keeps the read loop's buffers small.
- Open-Assistant (``xor_codec.py``, also PygmalionAI): same name in and out, no header,
  each file XORed with the base file of the same name (see basestream.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Dict, FrozenSet, Optional, Union

from belle_patch.errors import KeyFileError, PatchFormatError, UsageError
from belle_patch.formats.basestream import BaseFolder
from belle_patch.formats.header import EMPTY_SHA256, PATCH_SUFFIX, check_safe_name, parse_patch_name
from belle_patch.formats.header import patch_name as hashed_patch_name
from belle_patch.stream.keystream import ChunkKey, KeySource
from belle_patch.vocabulary import ReleaseFormat

KeyMaterial = Union[KeySource, BaseFolder]

MIB = 1024 * 1024
OPENBUDDY_SEED_SIZE = 16 * MIB
OPENBUDDY_KEY_NAME = "LLaMA-1 7B consolidated.00.pth (the original Meta file, not a conversion)"

_HASHED_NAME = re.compile(r"^.+\.[0-9a-f]{64}\.enc$", re.DOTALL)

KEY_FILE = "key file"
BASE_FOLDER = "base folder"


@dataclass(frozen=True)
class XorFormat:
    """How one family names, heads, keys and verifies its files."""

    name: str  # the --format name, and DecryptReport.format
    listed_as: ReleaseFormat  # the "format" a release list of this format records
    description: str
    header: bool  # a 32-byte SHA-256 of the restored file leads the patch
    hash_in_name: bool  # ``<name>.<sha256>.enc``
    suffix: str  # what the patch name adds to the restored name ("" for Open-Assistant)
    key_kind: str  # KEY_FILE or BASE_FOLDER
    key_chunk_size: Optional[int] = None  # None: the KeySource's own (10 MiB)
    key_limit: Optional[int] = None  # the key is cut to its first bytes
    # The known key (its id in manifests/keys.json) whose first key_limit bytes are the seed:
    # the seed's MD5 is that key's recorded one (keycheck.seed_md5), kept as data only.
    seed_key: Optional[str] = None
    needs_md5: bool = False  # refuse to restore without an MD5 (nothing else can verify it)
    copied_without_base: FrozenSet[str] = field(default_factory=frozenset)
    compressed: bool = False  # the payload is a gzip stream of the XORed bytes
    summary: str = ""  # what ``releases`` says of a release in this format (BELLE: nothing)

    @property
    def key_noun(self) -> str:
        return "base file" if self.key_kind == BASE_FOLDER else "key file"

    def restored_name(self, patch_file_name: str) -> str:
        """The name a patch restores to; raise PatchFormatError if it is not this format's."""
        if self.hash_in_name:
            return parse_patch_name(patch_file_name).restored_name
        if self.suffix:
            if not patch_file_name.endswith(self.suffix) or len(patch_file_name) <= len(
                self.suffix
            ):
                raise PatchFormatError(
                    f"the name does not end in {self.suffix}, "
                    f"so it is not a {self.description} file",
                    path=patch_file_name,
                    hint="pass the files as published, without renaming them",
                )
            return check_safe_name(patch_file_name[: -len(self.suffix)])
        return check_safe_name(patch_file_name)

    def patch_name(self, restored_name: str, sha256_hex: str = "") -> str:
        """The published name of the patch for ``restored_name``."""
        if self.hash_in_name:
            return hashed_patch_name(restored_name, sha256_hex if self.header else EMPTY_SHA256)
        return check_safe_name(restored_name) + self.suffix

    def open_key(
        self, key: KeyMaterial, restored_name: str, *, base_algorithm: Optional[str] = None
    ) -> ChunkKey:
        """The key stream for one file (a base file hashed with ``base_algorithm`` as it is
        read); the caller closes it."""
        if self.key_kind == BASE_FOLDER:
            if not isinstance(key, BaseFolder):
                raise KeyFileError(
                    f"{self.description} files are XORed with a base folder, not a key file",
                    path=getattr(key, "path", None),
                    hint="pass the converted LLaMA folder the release was made against",
                )
            return key.open_for(restored_name, hash_algorithm=base_algorithm)
        if not isinstance(key, KeySource):
            raise KeyFileError(
                f"{self.description} files are XORed with a key file, not a folder",
                path=key.folder,
                hint="pass the LLaMA consolidated.00.pth file",
            )
        if self.key_limit is not None and key.size < self.key_limit:
            raise KeyFileError(
                f"the key file is {key.size} bytes, shorter than the {self.key_limit // MIB} MiB "
                f"seed {self.description} files are XORed with",
                path=key.path,
                hint=f"pass {OPENBUDDY_KEY_NAME}",
            )
        return key.open(chunk_size=self.key_chunk_size, limit=self.key_limit)

    def copies_as_is(self, key: KeyMaterial, restored_name: str) -> bool:
        """Files the publisher's tool copies unchanged (added_tokens.json without a base)."""
        return (
            restored_name in self.copied_without_base
            and isinstance(key, BaseFolder)
            and not key.has(restored_name)
        )


BELLE = XorFormat(
    name="belle",
    listed_as=ReleaseFormat.HEADER,
    description="BELLE / point-alpaca",
    header=True,
    hash_in_name=True,
    suffix=PATCH_SUFFIX,
    key_kind=KEY_FILE,
)
TECHGPT = XorFormat(
    name="techgpt",
    listed_as=ReleaseFormat.NO_HEADER,
    description="header-less (TechGPT)",
    header=False,
    hash_in_name=True,
    suffix=PATCH_SUFFIX,
    key_kind=KEY_FILE,
    needs_md5=True,
    summary="header-less patches, verified by MD5 only",
)
OPENBUDDY = XorFormat(
    name="openbuddy",
    listed_as=ReleaseFormat.OPENBUDDY,
    description="OpenBuddy",
    header=False,
    hash_in_name=False,
    suffix=PATCH_SUFFIX,
    key_kind=KEY_FILE,
    key_chunk_size=OPENBUDDY_SEED_SIZE // 2,
    key_limit=OPENBUDDY_SEED_SIZE,
    seed_key="llama1-7b/consolidated.00.pth",
    summary="OpenBuddy <name>.enc, no header; key: the first 16 MiB of the key file",
)
OASST = XorFormat(
    name="oasst",
    listed_as=ReleaseFormat.OASST,
    description="Open-Assistant",
    header=False,
    hash_in_name=False,
    suffix="",
    key_kind=BASE_FOLDER,
    copied_without_base=frozenset({"added_tokens.json"}),
    summary="Open-Assistant xor_codec.py payload, XORed with a converted LLaMA folder",
)
OASST_GZIP = replace(OASST, name="oasst-gzip", description="Open-Assistant (gzip)", compressed=True)

FORMATS = {f.name: f for f in (BELLE, TECHGPT, OPENBUDDY, OASST, OASST_GZIP)}
FORMAT_NAMES = tuple(FORMATS)
# One format per name a release list records: the gzip variant is read from OASST's releases.
LISTED_FORMATS = (BELLE, TECHGPT, OPENBUDDY, OASST)
# Those whose patch names carry the restored SHA-256, which only a release list tells apart.
HASHED_NAME_FORMATS = tuple(f for f in LISTED_FORMATS if f.hash_in_name)
_BY_LISTED_NAME: Dict[ReleaseFormat, XorFormat] = {f.listed_as: f for f in LISTED_FORMATS}


def format_named(name: str) -> XorFormat:
    """The format ``--format NAME`` asks for; UsageError for a name no format has."""
    try:
        return FORMATS[name]
    except KeyError:
        raise UsageError(
            f"unknown format {name!r}", hint=f"known formats: {', '.join(FORMAT_NAMES)}"
        ) from None


def format_listed_as(release_format: ReleaseFormat) -> XorFormat:
    """The format of the releases whose lists record ``release_format``."""
    return _BY_LISTED_NAME[release_format]


def format_by_file_name(file_name: str) -> Optional[XorFormat]:
    """The format a file's name alone points to: BELLE for ``<name>.<sha256>.enc``, OpenBuddy
    for any other ``<name>.enc``; None when the name says nothing (Open-Assistant payloads
    keep their names, TechGPT's names look like BELLE's: a release list decides those)."""
    if _HASHED_NAME.match(file_name):
        return BELLE
    if file_name.endswith(PATCH_SUFFIX) and len(file_name) > len(PATCH_SUFFIX):
        return OPENBUDDY
    return None
