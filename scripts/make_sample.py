"""Regenerate the sample release shipped in src/belle_patch/sample/ (for `belle-patch demo`).

Everything is derived from fixed labels, so the output is the same on every run; a test
checks that the shipped files equal what this script makes. The sample is written to a
new folder that replaces OUT_FOLDER whole once it is complete.

    python scripts/make_sample.py [OUT_FOLDER]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import tempfile
from pathlib import Path
from typing import Dict, List, Optional

from belle_patch.expect.manifest import format_md5_list
from belle_patch.jobs.seal import seal_file
from belle_patch.stream.keystream import KeySource

from staged_folder import check_target, staged_folder

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "src" / "belle_patch" / "sample"


def _generated(label: str, size: int) -> bytes:
    return hashlib.shake_128(label.encode()).digest(size)


def sample_files() -> Dict[str, bytes]:
    """The restored files of the sample release: small LLaMA-style configs and weights."""
    config = {
        "architectures": ["LlamaForCausalLM"],
        "hidden_size": 64,
        "intermediate_size": 172,
        "model_type": "llama",
        "num_attention_heads": 4,
        "num_hidden_layers": 2,
        "rms_norm_eps": 1e-06,
        "vocab_size": 128,
    }
    generation = {"bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0}
    tokenizer = {"model_max_length": 2048, "tokenizer_class": "LlamaTokenizer"}
    return {
        "config.json": (json.dumps(config, indent=2) + "\n").encode(),
        "generation_config.json": (json.dumps(generation, indent=2) + "\n").encode(),
        "tokenizer_config.json": (json.dumps(tokenizer, indent=2) + "\n").encode(),
        "pytorch_model.bin": _generated("belle-patch sample weights", 6000),
    }


SAMPLE_KEY = _generated("belle-patch sample key (not LLaMA)", 1500)


def make_sample(out: Path) -> None:
    """Replace the folder out with the sample release (key, patches, md5sums.txt)."""
    with staged_folder(out) as staging:
        (staging / "key").mkdir()
        (staging / "patches").mkdir()
        key_path = staging / "key" / "consolidated.00.pth"
        key_path.write_bytes(SAMPLE_KEY)
        md5s: Dict[str, str] = {}
        with tempfile.TemporaryDirectory() as tmp:
            for name, content in sample_files().items():
                plain = Path(tmp) / name
                plain.write_bytes(content)
                result = seal_file(plain, KeySource(key_path), staging / "patches")
                md5s[name] = result.md5
        (staging / "md5sums.txt").write_text(format_md5_list(md5s))


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "out",
        nargs="?",
        type=Path,
        default=DEFAULT_OUT,
        help="folder to replace with the sample (default: the package's sample folder)",
    )
    args = parser.parse_args(argv)
    try:
        check_target(args.out)
    except ValueError as exc:
        parser.error(str(exc))
    make_sample(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
