"""Recognise the key file before any work: by its size, a cheap partial hash, or its MD5.

LLaMA-2 7B's consolidated.00.pth is only 14,353 bytes shorter than LLaMA-1 7B's, and a 13B
release may need the 7B file: a wrong key should be named before a 13 GB pass, not after.
OpenBuddy's files are XORed with the key's first 16 MiB only: those are compared with the
MD5 the known keys record for them (:func:`check_seed`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

from belle_patch.errors import KeyFileError, ManifestError, UsageError
from belle_patch.expect.releases import KnownKey, Release, key_description, known_keys
from belle_patch.formats.families import OPENBUDDY, OPENBUDDY_KEY_NAME, XorFormat
from belle_patch.stream.engine import ProgressCallback
from belle_patch.stream.hashing import hash_file, new_hasher
from belle_patch.stream.keystream import KeySource
from belle_patch.vocabulary import DigestKind

MIB = 1024 * 1024
# What keys.json records the MD5 of (md5_first_16mib): also the length of OpenBuddy's seed.
FIRST_16MIB = 16 * MIB


@dataclass(frozen=True)
class KeyIdentity:
    """What the key file was recognised as, and by which evidence."""

    key: Optional[KnownKey]
    evidence: str

    def describe(self) -> str:
        if self.key is None:
            return "not a known LLaMA file"
        return f"{self.key.description} (by {self.evidence})"


def md5_of_start(key: KeySource, length: int) -> str:
    """The MD5 of the key's first ``length`` bytes (of all of it when shorter)."""
    hasher = new_hasher(DigestKind.MD5)
    try:
        with key.path.open("rb", buffering=0) as source:
            remaining = length
            while remaining:
                data = source.read(min(remaining, 4 * MIB))
                if not data:
                    break
                hasher.update(data)
                remaining -= len(data)
    except OSError as exc:
        raise KeyFileError(f"cannot read the key file: {exc.strerror}", path=key.path) from None
    return hasher.hexdigest()


def identify_key(
    key: KeySource, *, full_hash: bool = False, on_progress: Optional[ProgressCallback] = None
) -> KeyIdentity:
    """Recognise ``key`` among the known LLaMA files; ``full_hash`` reads it all (MD5)."""
    if full_hash:
        md5 = hash_file(key.path, [DigestKind.MD5], on_progress=on_progress)[DigestKind.MD5]
        for known in known_keys():
            if md5 in known.md5s:
                return KeyIdentity(known, "MD5")
        return KeyIdentity(None, "MD5")
    by_size: List[KnownKey] = [k for k in known_keys() if k.size == key.size]
    if len(by_size) != 1:
        return KeyIdentity(None, "size")
    candidate = by_size[0]
    if candidate.md5_first_16mib and key.size >= FIRST_16MIB:
        if md5_of_start(key, FIRST_16MIB) != candidate.md5_first_16mib:
            return KeyIdentity(None, "size and first 16 MiB")
        return KeyIdentity(candidate, "size and first 16 MiB")
    return KeyIdentity(candidate, "size")


def check_key_fits(identity: KeyIdentity, release: Release, *, key_path: str) -> None:
    """Refuse a key that is known not to be the one ``release`` needs."""
    known = identity.key
    if known is None:
        return
    fits = known.fits and (known.id in release.key.candidates or not release.key.candidates)
    if fits:
        return
    raise UsageError(
        f"the key is {identity.describe()}, which does not fit {release.name}",
        path=key_path,
        hint=f"{release.name} needs {key_description(release.key.needs)}",
    )


@dataclass(frozen=True)
class SeedCheck:
    """Whether a key file starts with the seed a format XORs with (OpenBuddy's)."""

    path: Path
    md5: str  # of the first 16 MiB (or of the whole file when shorter)
    expected: str
    size: int

    @property
    def matches(self) -> bool:
        return self.md5 == self.expected

    def describe(self) -> str:
        if self.matches:
            return "the first 16 MiB match OpenBuddy's seed"
        if self.size < FIRST_16MIB:
            return (
                f"the key is {self.size} bytes, shorter than OpenBuddy's 16 MiB seed; "
                f"it should be {OPENBUDDY_KEY_NAME}"
            )
        return (
            f"the key's first 16 MiB hash to {self.md5}, not {self.expected}; "
            f"it should be {OPENBUDDY_KEY_NAME}"
        )


def seed_md5(fmt: XorFormat) -> str:
    """The MD5 of the seed ``fmt`` XORs with: what the known keys record of its key's start."""
    for known in known_keys():
        if known.id == fmt.seed_key and known.md5_first_16mib:
            return known.md5_first_16mib
    raise ManifestError(
        f"the bundled keys record no seed MD5 for {fmt.description} ({fmt.seed_key})",
        path="keys.json",
    )


def check_seed(key: KeySource, fmt: XorFormat = OPENBUDDY) -> SeedCheck:
    """Hash the key's first 16 MiB and compare them with the seed ``fmt``'s script checks."""
    return SeedCheck(key.path, md5_of_start(key, FIRST_16MIB), seed_md5(fmt), key.size)
