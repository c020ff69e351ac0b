"""The tiny sample release shipped in the package, for ``belle-patch demo``.

A synthetic key (not LLaMA) and patches of a few small LLaMA-style files, made by
``scripts/make_sample.py`` with belle-patch's own encrypt.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SAMPLE_FOLDER = Path(__file__).resolve().parent / "sample"


@dataclass(frozen=True)
class SampleRelease:
    folder: Path
    key: Path
    md5_list: Path


def sample_release() -> SampleRelease:
    return SampleRelease(
        folder=SAMPLE_FOLDER / "patches",
        key=SAMPLE_FOLDER / "key" / "consolidated.00.pth",
        md5_list=SAMPLE_FOLDER / "md5sums.txt",
    )
