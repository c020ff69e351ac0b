"""What belle-patch knows without any input: the bundled releases and the sample release."""

from __future__ import annotations

from typing import Tuple

from belle_patch.expect.releases import Release, bundled_releases, find_release, key_description
from belle_patch.sample import SampleRelease, sample_release


def releases() -> Tuple[Release, ...]:
    """The releases whose MD5 lists and key requirements are bundled with belle-patch.

    Each :class:`belle_patch.Release` has an ``id`` and ``name`` (either is accepted where a
    release is asked for), its ``files`` (restored name, SHA-256, MD5, patch name and
    download MD5, as far as the publisher printed them), the ``key`` it needs and whether
    its lists are ``complete``.
    """
    return bundled_releases()


def release(name: str) -> Release:
    """The bundled release with this id or name (case-insensitive); UsageError otherwise."""
    return find_release(name)


def key_needed(release_: Release) -> str:
    """A readable description of the key file ``release_`` needs (size and MD5 if known)."""
    return key_description(release_.key.needs)


__all__ = ["SampleRelease", "key_needed", "release", "releases", "sample_release"]
