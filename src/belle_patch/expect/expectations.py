"""What the files of a job should hash to, from a bundled release or a user's list."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, FrozenSet, Mapping, Optional, Tuple

from belle_patch.errors import ManifestError
from belle_patch.expect.manifest import MAX_LIST_BYTES, iter_list_lines, open_list, parse_md5_lines
from belle_patch.expect.names import decode_line
from belle_patch.expect.releases import Release, release_from_json
from belle_patch.formats.header import PATCH_SUFFIX
from belle_patch.vocabulary import Side


@dataclass(frozen=True)
class Expectations:
    """MD5s of restored files and of downloads, keyed by file name (64 hex digits: a SHA-256).

    With ``side`` set, only that side of a release is listed: its downloads (MD5s or, with
    64 hex digits, SHA-256s) or its base files (in ``restored``).
    """

    label: str
    restored: Dict[str, str] = field(default_factory=dict)
    downloads: Dict[str, str] = field(default_factory=dict)
    headerless: FrozenSet[str] = frozenset()
    release: Optional[Release] = None
    problems: Tuple[Tuple[int, str], ...] = ()
    problem_count: int = 0
    failed: Dict[str, Tuple[str, str]] = field(default_factory=dict)
    base: Dict[str, str] = field(default_factory=dict)  # Open-Assistant: base MD5s or SHA-256s
    environment: str = ""  # Open-Assistant: the conversion environment the base comes from
    side: Side = Side.RESTORED

    @classmethod
    def from_release(cls, release: Release) -> Expectations:
        restored = release.restored_digests()
        restored.update(dict(release.other_files))
        headerless = frozenset(
            f.enc_name for f in release.files if release.headerless and f.enc_name
        )
        return cls(
            release.name,
            restored,
            release.enc_md5s(),
            headerless,
            release,
            base=release.base_digests(),
            environment=release.environment,
        )

    @classmethod
    def for_downloads(cls, release: Release) -> Expectations:
        """A release's published download checksums: MD5 where there is one, else SHA-256."""
        downloads: Dict[str, str] = {}
        for f in release.files:
            name = f.enc_name or f.name
            digest = f.enc_md5 or f.enc_sha256
            if digest:
                downloads[name] = digest
        return cls(
            f"the downloads of {release.name}",
            downloads=downloads,
            release=release,
            environment=release.environment,
            side=Side.DOWNLOADS,
        )

    @classmethod
    def for_base(cls, release: Release) -> Expectations:
        """The checksums of the converted LLaMA folder a release's payload was made against:
        MD5 where published, else SHA-256."""
        listed = {b.name: digest for b in release.base_files if (digest := b.md5 or b.sha256)}
        return cls(
            f"the base of {release.name}",
            restored=listed,
            release=release,
            base=release.base_digests(),
            environment=release.environment,
            side=Side.BASE,
        )

    @property
    def format(self) -> str:
        """The release's format ("header", "no-header", "openbuddy", "oasst"), or ""."""
        return self.release.format if self.release is not None else ""

    @property
    def listed(self) -> Mapping[str, str]:
        """Every listed name with its MD5, downloads and restored files together (read-only).

        One side alone is returned as it is: a million-line list is not copied each time.
        """
        if not self.downloads:
            return self.restored
        if not self.restored:
            return self.downloads
        return {**self.restored, **self.downloads}

    @property
    def patch_files(self) -> FrozenSet[str]:
        """Restored names that come from patches (not the model card and such)."""
        if self.release is None:
            return frozenset(self.restored)
        return frozenset(f.name for f in self.release.files)


def load_manifest_file(path: Path, *, strict: bool = True) -> Expectations:
    """Read an md5sum-style list (restored files and/or .enc downloads) or a JSON manifest.

    Malformed lines fail with their line number; with ``strict`` false they are returned in
    ``problems`` instead, as ``md5sum -c`` reports them.
    """
    with open_list(path) as source:
        head = source.read(4096)
        if head.lstrip()[:1] == b"{":
            return _load_json(path, head + source.read(MAX_LIST_BYTES + 1 - len(head)))
        source.seek(0)
        parsed = parse_md5_lines(iter_list_lines(source, path), source=path)
    if strict:
        parsed.raise_for_problems()
    downloads = {n: m for n, m in parsed.entries.items() if n.endswith(PATCH_SUFFIX)}
    # Most lists name no download: their entries are kept as they are, not copied.
    restored = parsed.entries
    if downloads:
        restored = {n: m for n, m in restored.items() if not n.endswith(PATCH_SUFFIX)}
    return Expectations(
        str(path),
        restored,
        downloads,
        problems=tuple(parsed.problems),
        problem_count=parsed.problem_count,
        failed=parsed.failed,
    )


_TOO_DEEP = "not a belle-patch release manifest (nested too deeply)"


def _load_json(path: Path, raw: bytes) -> Expectations:
    if len(raw) > MAX_LIST_BYTES:
        raise ManifestError(f"larger than {MAX_LIST_BYTES // 2**20} MiB", path=path)
    try:
        data = json.loads(decode_line(raw))
    except ValueError as exc:
        raise ManifestError(f"not valid JSON ({exc})", path=path) from None
    except RecursionError:
        raise ManifestError(_TOO_DEEP, path=path) from None
    if not isinstance(data, dict):
        raise ManifestError("not a belle-patch release manifest", path=path)
    try:
        return Expectations.from_release(release_from_json(data, source=str(path)))
    except RecursionError:
        raise ManifestError(_TOO_DEEP, path=path) from None
