"""End to end with the ecosystem's real loader: a tiny LLaMA saved as the 2023 releases are,
patched with a torch-saved key, restored with the CLI, loaded with transformers; a tiny BLOOM
(the BELLE-7B-* releases' architecture) answering through the chat script.

Needs torch and transformers (the ``e2e`` extra). Skipped without them, unless
BELLE_PATCH_REQUIRE_E2E=1 (as in CI), which turns a missing dependency into a failure.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List

import pytest

from helpers import all_names

pytestmark = pytest.mark.e2e

PROMPT = "Human: {input} \n\nAssistant:"
WORDS = ["<unk>", "<s>", "</s>", "Human:", "Assistant:", "what", "is", "a", "llama", "hello"]
SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"


@pytest.fixture(scope="module")
def ml() -> Dict[str, Any]:
    try:
        import torch
        import transformers
        from tokenizers import Tokenizer, models, pre_tokenizers
    except ImportError as exc:
        if os.environ.get("BELLE_PATCH_REQUIRE_E2E") == "1":
            pytest.fail(f"BELLE_PATCH_REQUIRE_E2E=1 but {exc.name} is missing: {exc}")
        pytest.skip(f"needs the e2e extra ({exc.name} is missing)")
    return {
        "torch": torch,
        "transformers": transformers,
        "Tokenizer": Tokenizer,
        "models": models,
        "pre_tokenizers": pre_tokenizers,
    }


def cli(*args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "belle_patch", *[str(a) for a in args]],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def save_2023_layout(ml: Dict[str, Any], folder: Path) -> Any:
    """A tiny LLaMA as the 2023 releases ship it: two torch.save shards and an index."""
    torch, transformers = ml["torch"], ml["transformers"]
    torch.manual_seed(1234)
    config = transformers.LlamaConfig(
        vocab_size=len(WORDS),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=64,
        bos_token_id=1,
        eos_token_id=2,
    )
    model = transformers.LlamaForCausalLM(config).eval()
    folder.mkdir()
    config.save_pretrained(folder)
    transformers.GenerationConfig(bos_token_id=1, eos_token_id=2, pad_token_id=0).save_pretrained(
        folder
    )
    state = {name: tensor.contiguous() for name, tensor in model.state_dict().items()}
    names = list(state)
    shards: List[List[str]] = [names[: len(names) // 2], names[len(names) // 2 :]]
    weight_map = {}
    for number, shard in enumerate(shards, start=1):
        file_name = f"pytorch_model-{number:05d}-of-{len(shards):05d}.bin"
        torch.save({name: state[name] for name in shard}, folder / file_name)
        weight_map.update(dict.fromkeys(shard, file_name))
    total = sum(t.numel() * t.element_size() for t in state.values())
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    (folder / "pytorch_model.bin.index.json").write_text(json.dumps(index, indent=2))
    save_word_tokenizer(ml, folder)
    return model


def save_word_tokenizer(ml: Dict[str, Any], folder: Path) -> None:
    """A word-level tokenizer over WORDS, made offline."""
    word_level = ml["models"].WordLevel({w: i for i, w in enumerate(WORDS)}, unk_token="<unk>")
    tokenizer = ml["Tokenizer"](word_level)
    tokenizer.pre_tokenizer = ml["pre_tokenizers"].WhitespaceSplit()
    ml["transformers"].PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, unk_token="<unk>", bos_token="<s>", eos_token="</s>"
    ).save_pretrained(folder)


def save_tiny_bloom(ml: Dict[str, Any], folder: Path) -> None:
    """A random BLOOM as small as it gets, saved as a downloaded BELLE-7B-* folder is."""
    torch, transformers = ml["torch"], ml["transformers"]
    torch.manual_seed(99)
    config = transformers.BloomConfig(
        vocab_size=len(WORDS),
        hidden_size=32,
        n_layer=2,
        n_head=4,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=0,
    )
    transformers.BloomForCausalLM(config).eval().save_pretrained(folder)
    save_word_tokenizer(ml, folder)


def chat(*args: object, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPTS / "restore-and-chat.py"), *[str(a) for a in args]],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def meta_style_key(ml: Dict[str, Any], path: Path, seed: int) -> None:
    """A consolidated.00.pth as Meta ships it: a torch.save'd dict of named tensors."""
    torch = ml["torch"]
    generator = torch.Generator().manual_seed(seed)
    state = {
        "tok_embeddings.weight": torch.randn(64, 48, generator=generator),
        "layers.0.attention.wq.weight": torch.randn(48, 48, generator=generator),
        "norm.weight": torch.ones(48),
        "output.weight": torch.randn(64, 48, generator=generator),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)


def test_restored_model_loads_and_answers_like_the_original(
    ml: Dict[str, Any], tmp_path: Path
) -> None:
    torch, transformers = ml["torch"], ml["transformers"]
    original = save_2023_layout(ml, tmp_path / "finetuned")
    key = tmp_path / "llama" / "7B" / "consolidated.00.pth"
    meta_style_key(ml, key, seed=7)
    assert key.stat().st_size < sum(p.stat().st_size for p in (tmp_path / "finetuned").iterdir())

    published = tmp_path / "model-enc"
    sealed = cli("encrypt", tmp_path / "finetuned", "--key", key, "--out", published)
    assert sealed.returncode == 0, sealed.stderr
    assert (published / "md5sums.txt").is_file()

    restored = tmp_path / "model"
    result = cli(
        "decrypt", published, "--key", key, "--out", restored,
        "--manifest", published / "md5sums.txt",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "SHA-256 + MD5 verified" in result.stdout
    assert cli("verify", restored, "--manifest", published / "md5sums-enc.txt").returncode == 1
    assert cli("verify", published, "--manifest", published / "md5sums-enc.txt").returncode == 0

    loaded = transformers.LlamaForCausalLM.from_pretrained(restored).eval()
    original_state, loaded_state = original.state_dict(), loaded.state_dict()
    assert set(original_state) == set(loaded_state)
    for name, tensor in original_state.items():
        assert torch.equal(tensor, loaded_state[name]), name
    tokenizer = transformers.AutoTokenizer.from_pretrained(restored)
    ids = tokenizer(PROMPT.format(input="what is a llama"), return_tensors="pt").input_ids
    assert ids.tolist() == [[3, 5, 6, 7, 8, 4]]
    with torch.no_grad():
        assert torch.equal(original(ids).logits, loaded(ids).logits)

    chat = subprocess.run(
        [sys.executable, str(SCRIPTS / "restore-and-chat.py"), restored, "what is a llama",
         "--max-new-tokens", "4"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert chat.returncode == 0, chat.stderr
    assert chat.stdout.startswith("Assistant:")


def test_wrong_key_is_caught_before_anything_loadable_appears(
    ml: Dict[str, Any], tmp_path: Path
) -> None:
    transformers = ml["transformers"]
    save_2023_layout(ml, tmp_path / "finetuned")
    key = tmp_path / "llama" / "consolidated.00.pth"
    meta_style_key(ml, key, seed=7)
    wrong = tmp_path / "llama2" / "consolidated.00.pth"
    meta_style_key(ml, wrong, seed=8)
    published = tmp_path / "model-enc"
    assert cli("encrypt", tmp_path / "finetuned", "-k", key, "-o", published).returncode == 0

    restored = tmp_path / "model"
    result = cli(
        "decrypt", published, "-k", wrong, "-o", restored, "-m", published / "manifest.json"
    )
    assert result.returncode == 1
    assert "the key file is wrong" in result.stderr
    assert "the key does not fit this release" in result.stderr
    # Both keys are torch.save zip files with the same first bytes, so the smallest files
    # do restore (and verify); no weight shard does, and nothing half-written remains.
    assert result.stderr.count("so the key file is wrong") == 1  # the batch stopped there
    names = all_names(restored)
    assert not [n for n in names if n.startswith("pytorch_model")]
    assert not [n for n in names if ".belle-patch-" in n]
    with pytest.raises(OSError):
        transformers.LlamaForCausalLM.from_pretrained(restored)


def test_chat_script_answers_with_a_bloom_model_one_turn_and_several(
    ml: Dict[str, Any], tmp_path: Path
) -> None:
    model = tmp_path / "BELLE-7B-tiny"
    save_tiny_bloom(ml, model)
    assert json.loads((model / "config.json").read_text())["model_type"] == "bloom"

    one = chat(model, "what is a llama", "--max-new-tokens", "4")
    assert one.returncode == 0, one.stderr
    lines = one.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Assistant: ")

    two = chat(
        model, "--chat", "--show-prompt", "--max-new-tokens", "3", "--top-k", "5",
        stdin="what is a llama\nhello\n",
    )  # fmt: skip
    assert two.returncode == 0, two.stderr
    answers = two.stdout.splitlines()
    assert len(answers) == 2 and all(a.startswith("Assistant: ") for a in answers)
    first = answers[0][len("Assistant: ") :]
    # The second prompt carries the first turn back in the cards' format.
    assert (
        f"Human: what is a llama\n\nAssistant:{first}\n\nHuman: hello\n\nAssistant:" in two.stderr
    )


def test_chat_script_help_loads_nothing(tmp_path: Path) -> None:
    fake = tmp_path / "fake" / "torch"
    fake.mkdir(parents=True)
    marker = tmp_path / "torch-imported"
    (fake / "__init__.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    result = subprocess.run(
        [sys.executable, str(SCRIPTS / "restore-and-chat.py"), "--help"],
        env={**os.environ, "PYTHONPATH": str(tmp_path / "fake")},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "--chat" in result.stdout and "--temperature" in result.stdout
    assert result.stderr == ""
    assert not marker.exists()
    missing = chat(tmp_path / "nothing-here")
    assert missing.returncode == 2
    assert "give a question, or --chat" in missing.stderr
