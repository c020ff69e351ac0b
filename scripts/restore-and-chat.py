"""Load a restored model and answer one prompt, in the model cards' prompt format.

    python scripts/restore-and-chat.py RESTORED_FOLDER "What is a llama?" [--max-new-tokens N]

Needs torch and transformers (pip install 'belle-patch[e2e]'). Generation settings follow
the BELLE model cards: top_k 30, top_p 0.85, temperature 0.35, repetition penalty 1.2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

PROMPT = "Human: {input} \n\nAssistant:"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path, help="folder restored by belle-patch decrypt")
    parser.add_argument("question", help="what to ask")
    parser.add_argument("--max-new-tokens", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    try:
        import torch
        from transformers import AutoTokenizer, LlamaForCausalLM
    except ImportError:
        print("needs torch and transformers: pip install 'belle-patch[e2e]'", file=sys.stderr)
        return 2
    torch.manual_seed(args.seed)
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    model = LlamaForCausalLM.from_pretrained(args.model).eval()
    inputs = tokenizer(PROMPT.format(input=args.question), return_tensors="pt")
    with torch.no_grad():
        generated = model.generate(
            inputs.input_ids,
            attention_mask=inputs.attention_mask,
            max_new_tokens=args.max_new_tokens,
            do_sample=True,
            top_k=30,
            top_p=0.85,
            temperature=0.35,
            repetition_penalty=1.2,
        )
    answer = tokenizer.decode(generated[0][inputs.input_ids.shape[1] :], skip_special_tokens=True)
    print(f"Assistant: {answer.strip()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
