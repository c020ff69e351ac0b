"""Regenerate the bundled manifests of the OpenBuddy and Open-Assistant / PygmalionAI releases.

    python scripts/build_family_manifests.py [DATA_JSON] [OUT_FOLDER]

Reads scripts/data/xor-families-releases.json (what the publishers printed: file names,
MD5s (or SHA-256s) of restored files, download SHA-256s, base-file lists, the pinned conversion
environment, sources) and writes one JSON file per release into
src/belle_patch/manifests/families/. A test checks that the shipped files are what this
script makes.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from staged_folder import check_target, staged_folder

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = HERE / "data" / "xor-families-releases.json"
DEFAULT_OUT = HERE.parent / "src" / "belle_patch" / "manifests" / "families"
SCHEMA = "belle-patch-release/1"
SUFFIX = {"openbuddy": ".enc", "oasst": ""}
# What OpenBuddy's decrypt.py checks: MD5 of the first 16 MiB of LLaMA-1 7B consolidated.00.pth.
OPENBUDDY_SEED_MD5 = "08cf0f43451cc4ae056e0b19e56c1fcf"


def _digests(value: Any) -> Tuple[Optional[str], Optional[str]]:
    """(MD5 of the restored file, SHA-256 of the download) from a release's file entry."""
    if isinstance(value, list):
        return value[0], value[1]
    if isinstance(value, str):
        return value, None
    return None, None


def _files(release: Dict[str, Any]) -> List[Dict[str, Any]]:
    suffix = SUFFIX[release["format"]]
    entries = release["files"]
    if isinstance(entries, dict):
        items = [(name, *_digests(value)) for name, value in entries.items()]
    else:
        items = [(e["name"], e.get("md5"), e.get("enc_sha256")) for e in entries]
    sha256s = release.get("restored_sha256", {})
    unknown = set(sha256s) - {name for name, _, _ in items}
    if unknown:
        raise ValueError(f"{release['id']}: SHA-256s of files it does not have: {sorted(unknown)}")
    return [
        {
            "name": name,
            "sha256": sha256s.get(name),
            "md5": md5,
            "md5_derived": False,
            "enc_name": name + suffix,
            "enc_md5": None,
            "enc_sha256": enc_sha256,
            "uncertain": False,
        }
        for name, md5, enc_sha256 in sorted(items)
    ]


def _base_files(release: Dict[str, Any], data: Dict[str, Any]) -> List[Dict[str, Any]]:
    listed = data["base_lists"].get(release.get("base", ""), {})
    return [
        {"name": name, "md5": digests.get("md5"), "sha256": digests.get("sha256")}
        for name, digests in sorted(listed.items())
    ]


def build_release(release: Dict[str, Any], data: Dict[str, Any]) -> Dict[str, Any]:
    files = _files(release)
    return {
        "schema": SCHEMA,
        "id": release["id"],
        "name": release["name"],
        "publisher": release["publisher"],
        "format": release["format"],
        "key": {
            "needs": release["key"],
            "description": release.get("key_text", ""),
            "candidates": [release["key"]],
            "certainty": release["certainty"],
            "seed_md5": OPENBUDDY_SEED_MD5 if release["format"] == "openbuddy" else "",
        },
        "complete": bool(release.get("complete")) and all(f["md5"] or f["sha256"] for f in files),
        "payload_folder": release.get("payload_folder", ""),
        "environment": data["environments"].get(release.get("environment", ""), ""),
        "base_uncertain": bool(release.get("base_uncertain")),
        "sources": release["sources"],
        "notes": release["notes"],
        "files": files,
        "base_files": _base_files(release, data),
        "other_files": [],
    }


def build_all(data: Dict[str, Any]) -> Dict[str, str]:
    """File name -> JSON text of every family manifest."""
    return {
        f"{release['id']}.json": json.dumps(build_release(release, data), indent=1) + "\n"
        for release in data["releases"]
    }


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "data",
        nargs="?",
        type=Path,
        default=DEFAULT_DATA,
        help="release data (default: scripts/data/xor-families-releases.json)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help="folder to replace with the manifests (default: the package's manifests/families)",
    )
    args = parser.parse_args(argv)
    try:
        check_target(args.out)
        built = build_all(json.loads(args.data.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        parser.error(f"{args.data}: cannot build the manifests: {exc}")
    with staged_folder(args.out) as staging:
        for name, text in built.items():
            (staging / name).write_text(text, encoding="utf-8")
    print(f"wrote {len(built)} manifests to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
