"""Small releases built at test time."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Tuple

from click.testing import CliRunner, Result

from belle_patch.cli import cli
from belle_patch.expect.manifest import format_md5_list
from belle_patch.jobs.seal import seal_file
from belle_patch.stream.events import ProgressEvents
from belle_patch.stream.keystream import KeySource

from conftest import generated


@dataclass
class Release:
    key: Path
    enc_dir: Path
    plain: Dict[str, bytes]
    patches: Dict[str, Path]
    md5_list: Path


def make_release(root: Path, files: Dict[str, bytes], key: bytes) -> Release:
    key_path = root / "llama" / "consolidated.00.pth"
    key_path.parent.mkdir(parents=True)
    key_path.write_bytes(key)
    plain_dir = root / "finetuned"
    plain_dir.mkdir()
    enc_dir = root / "release-enc"
    enc_dir.mkdir()
    patches = {}
    for name, content in files.items():
        (plain_dir / name).write_bytes(content)
        patches[name] = seal_file(plain_dir / name, KeySource(key_path), enc_dir).output
    md5_list = root / "md5sums.txt"
    md5_list.write_text(
        format_md5_list({name: hashlib.md5(data).hexdigest() for name, data in files.items()})
    )
    return Release(key_path, enc_dir, dict(files), patches, md5_list)


def default_files() -> Dict[str, bytes]:
    return {
        "config.json": b'{"model_type": "llama"}\n',
        "tokenizer_config.json": b'{"tokenizer_class": "LlamaTokenizer"}\n',
        "pytorch_model.bin": generated("weights", 70_000),
    }


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def final_names(folder: Path) -> list[str]:
    """What a user would take for results: every non-hidden entry."""
    if not folder.exists():
        return []
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


def all_names(folder: Path) -> list[str]:
    """Every entry but belle-patch's state folder: temporary files included."""
    if not folder.exists():
        return []
    return sorted(p.name for p in folder.iterdir() if p.name != ".belle-patch")


class Recorder(ProgressEvents):
    """Every progress call a job makes, in order."""

    def __init__(self) -> None:
        self.calls: List[Tuple[str, object]] = []

    def started(self, files: int, total_bytes: int, jobs: int) -> None:
        self.calls.append(("started", (files, total_bytes, jobs)))

    def note(self, message: str) -> None:
        self.calls.append(("note", message))

    def file_started(self, path: Path, size: int) -> None:
        self.calls.append(("file_started", (path.name, size)))

    def advanced(self, nbytes: int) -> None:
        self.calls.append(("advanced", nbytes))

    def file_done(self, outcome: object) -> None:
        self.calls.append(("file_done", outcome))
