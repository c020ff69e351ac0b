"""What the files of a job should hash to, from a bundled release or a user's list."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, FrozenSet, Optional, Tuple

from .errors import ManifestError
from .manifest import parse_md5_list, read_list_text
from .patchformat import PATCH_SUFFIX
from .registry import Release, release_from_json


@dataclass(frozen=True)
class Expectations:
    """MD5s of restored files and of downloads, keyed by file name."""

    label: str
    restored: Dict[str, str] = field(default_factory=dict)
    downloads: Dict[str, str] = field(default_factory=dict)
    headerless: FrozenSet[str] = frozenset()
    release: Optional[Release] = None
    problems: Tuple[Tuple[int, str], ...] = ()

    @classmethod
    def from_release(cls, release: Release) -> Expectations:
        restored = release.restored_md5s()
        restored.update(dict(release.other_files))
        headerless = frozenset(
            f.enc_name for f in release.files if release.headerless and f.enc_name
        )
        return cls(release.name, restored, release.enc_md5s(), headerless, release)

    @property
    def listed(self) -> Dict[str, str]:
        """Every listed name with its MD5, downloads and restored files together."""
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
    text = read_list_text(path)
    if text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ManifestError(f"not valid JSON ({exc})", path=path) from None
        if not isinstance(data, dict):
            raise ManifestError("not a belle-patch release manifest", path=path)
        return Expectations.from_release(release_from_json(data, source=str(path)))
    parsed = parse_md5_list(text, source=path)
    if strict:
        parsed.raise_for_problems()
    restored = {n: m for n, m in parsed.entries.items() if not n.endswith(PATCH_SUFFIX)}
    downloads = {n: m for n, m in parsed.entries.items() if n.endswith(PATCH_SUFFIX)}
    return Expectations(str(path), restored, downloads, problems=tuple(parsed.problems))
