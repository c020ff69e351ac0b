"""Talk to a restored or downloaded causal language model in the BELLE model cards' format.

    python scripts/restore-and-chat.py MODEL_FOLDER "What is a llama?"
    python scripts/restore-and-chat.py MODEL_FOLDER --chat          # one question per line

Loads any folder AutoModelForCausalLM reads: the BLOOM-based BELLE-7B-* releases as downloaded,
and the LLaMA releases once belle-patch decrypt has restored them. Each question is sent as
"Human: {input}\\n\\nAssistant:"; with --chat every earlier turn is sent again before it, as
"Human: {input}\\n\\nAssistant:{answer}", so the model sees the conversation. Generation follows
the cards (sampling with top_k 30, top_p 0.85, temperature 0.35, repetition penalty 1.2), each
setting overridable. Needs torch and transformers (pip install 'belle-patch[e2e]').
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, List, Optional, Sequence, Tuple

HUMAN = "Human: {input}\n\nAssistant:"
TURN_SEPARATOR = "\n\n"
# The cards' generation settings.
CARD_SETTINGS = {"top_k": 30, "top_p": 0.85, "temperature": 0.35, "repetition_penalty": 1.2}


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").splitlines()[0],
        epilog="Defaults are the BELLE model cards' settings.",
    )
    parser.add_argument("model", type=Path, help="model folder (config.json, weights, tokenizer)")
    parser.add_argument("question", nargs="?", help="what to ask (with --chat: the first turn)")
    parser.add_argument(
        "--chat",
        action="store_true",
        help="multi-turn: read further questions from standard input, one a line, until an "
        "empty line or end of input; earlier turns are sent with each question",
    )
    parser.add_argument("--max-new-tokens", type=int, default=200)
    parser.add_argument("--top-k", type=int, default=CARD_SETTINGS["top_k"])
    parser.add_argument("--top-p", type=float, default=CARD_SETTINGS["top_p"])
    parser.add_argument("--temperature", type=float, default=CARD_SETTINGS["temperature"])
    parser.add_argument(
        "--repetition-penalty", type=float, default=CARD_SETTINGS["repetition_penalty"]
    )
    parser.add_argument("--greedy", action="store_true", help="no sampling: the likeliest token")
    parser.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    parser.add_argument("--device", help="torch device (default: cuda if available, else cpu)")
    parser.add_argument(
        "--dtype",
        choices=["auto", "float32", "float16", "bfloat16"],
        default="auto",
        help="weights' type in memory (default: as saved)",
    )
    parser.add_argument(
        "--show-prompt", action="store_true", help="print each prompt sent to the model to stderr"
    )
    args = parser.parse_args(argv)
    if args.question is None and not args.chat:
        parser.error("give a question, or --chat to read questions from standard input")
    return args


def build_prompt(history: Sequence[Tuple[str, str]], question: str) -> str:
    """The cards' format, earlier turns first."""
    turns = [HUMAN.format(input=q.strip()) + a for q, a in history]
    turns.append(HUMAN.format(input=question.strip()))
    return TURN_SEPARATOR.join(turns)


def clean_answer(text: str) -> str:
    """The answer alone: a model that goes on to write the next "Human:" turn is cut there."""
    return text.split("\nHuman:", 1)[0].strip()


def questions(first: Optional[str], chat: bool) -> Any:
    if first is not None:
        yield first
    if not chat:
        return
    interactive = sys.stdin.isatty()
    while True:
        if interactive:
            print("Human: ", end="", file=sys.stderr, flush=True)
        line = sys.stdin.readline()
        if not line.strip():
            return
        yield line.rstrip("\n")


def dtype_argument(transformers: Any, torch: Any, name: str) -> dict[str, Any]:
    if name == "auto":
        value: Any = "auto"
    else:
        value = getattr(torch, name)
    major, minor = (int(part) for part in transformers.__version__.split(".")[:2])
    keyword = "dtype" if (major, minor) >= (4, 56) else "torch_dtype"
    return {keyword: value}


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    try:
        import torch
        import transformers
    except ImportError:
        print("needs torch and transformers: pip install 'belle-patch[e2e]'", file=sys.stderr)
        return 2
    if not (args.model / "config.json").is_file():
        print(f"{args.model}: no config.json; give a model folder", file=sys.stderr)
        return 2
    torch.manual_seed(args.seed)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    tokenizer = transformers.AutoTokenizer.from_pretrained(args.model)
    model = transformers.AutoModelForCausalLM.from_pretrained(
        args.model, **dtype_argument(transformers, torch, args.dtype)
    )
    model = model.to(device).eval()
    limit = getattr(model.config, "max_position_embeddings", None)
    sampling = {
        "do_sample": not args.greedy,
        "repetition_penalty": args.repetition_penalty,
    }
    if not args.greedy:
        sampling.update(top_k=args.top_k, top_p=args.top_p, temperature=args.temperature)
    history: List[Tuple[str, str]] = []
    for question in questions(args.question, args.chat):
        while True:
            prompt = build_prompt(history, question)
            inputs = tokenizer(prompt, return_tensors="pt").to(device)
            length = inputs.input_ids.shape[1]
            # Forget the oldest turns rather than overflow a model with a fixed context.
            if not history or limit is None or length + args.max_new_tokens <= limit:
                break
            history.pop(0)
        if args.show_prompt:
            print(prompt, file=sys.stderr)
        with torch.no_grad():
            generated = model.generate(
                inputs.input_ids,
                attention_mask=inputs.attention_mask,
                max_new_tokens=args.max_new_tokens,
                pad_token_id=tokenizer.pad_token_id
                if tokenizer.pad_token_id is not None
                else tokenizer.eos_token_id,
                **sampling,
            )
        answer = clean_answer(tokenizer.decode(generated[0][length:], skip_special_tokens=True))
        print(f"Assistant: {answer}", flush=True)
        history.append((question, answer))
    return 0


if __name__ == "__main__":
    sys.exit(main())
