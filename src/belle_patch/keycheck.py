"""Recognise the key file before any work: by its size, a cheap partial hash, or its MD5.

LLaMA-2 7B's consolidated.00.pth is only 14,353 bytes shorter than LLaMA-1 7B's, and a 13B
release may need the 7B file: a wrong key should be named before a 13 GB pass, not after.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional

from .engine import ProgressCallback
from .errors import UsageError
from .hashing import hash_file, new_hasher
from .keystream import KeySource
from .registry import KnownKey, Release, key_description, known_keys
from .vocabulary import DigestKind

FIRST_16MIB = 16 * 1024 * 1024


@dataclass(frozen=True)
class KeyIdentity:
    """What the key file was recognised as, and by which evidence."""

    key: Optional[KnownKey]
    evidence: str

    def describe(self) -> str:
        if self.key is None:
            return "not a known LLaMA file"
        return f"{self.key.description} (by {self.evidence})"


def _md5_of_prefix(key: KeySource, length: int) -> str:
    hasher = new_hasher(DigestKind.MD5)
    with key.path.open("rb", buffering=0) as source:
        data = source.read(length)
    hasher.update(data)
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
        if _md5_of_prefix(key, FIRST_16MIB) != candidate.md5_first_16mib:
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
