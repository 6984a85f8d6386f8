"""Pinned decoded text of the offline model: an oracle that does not recompute the answer.

Each case runs course code (the instructor solutions read from the notebooks, or a shipped helper)
on the committed offline model and decodes text; ``golden_outputs.json`` holds what it gave when it was
last reviewed, with the sha256 of the model it came from. After a deliberate change of the model
or of a case, refresh and review the diff:

    .venv/bin/python -m tests.golden --refresh     # rewrites tests/golden_outputs.json, prints what changed
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
OUTPUTS = HERE / "golden_outputs.json"


def model_sha256() -> str:
    """sha256 of the offline LM weights, from the committed manifest."""
    from helpers.assets import offline_dir

    files = json.loads((offline_dir() / "manifest.json").read_text())["files"]
    return next(f["sha256"] for f in files if f["path"] == "lm/model.safetensors")


def cases(model, tokenizer) -> dict[str, object]:
    """Every pinned output, computed now."""
    from helpers import attention
    from helpers.coursework.grading import grader
    from helpers.offline import corpus
    from tests.hidden_inputs import solution_namespace

    course = grader.load_course()  # the instructor solutions with their notebook's imports
    nb01, nb02, nb04 = (solution_namespace(course, name)
                        for name in ("01_chat_template", "02_multi_turn_chat", "04_sampling_self_bleu"))
    out: dict[str, object] = {}
    question = corpus.SUPERVISED_QUESTION
    for use_template in (True, False):
        ids = nb01["prompt_ids"](tokenizer, question, use_template)
        out[f"01 generate_answer, template={use_template}, 60 tokens"] = nb01["generate_answer"](model, tokenizer, ids, 60)
    history: list[dict] = []
    for user_text in corpus.rainbow_conversation_prompts():
        history = nb02["chat_round"](model, tokenizer, history, user_text, 10)
    out["02 three chat rounds, answers"] = [m["content"] for m in history if m["role"] == "assistant"]
    ids = nb01["prompt_ids"](tokenizer, corpus.PARAPHRASE_PROMPT, True)
    out["04 sample_with_filter, top_k=2, seed 0"] = nb04["sample_with_filter"](
        model, tokenizer, ids, lambda z: nb04["top_k_filter"](z, 2), 3, 25, 0)
    out["04 sample_with_filter, top_p=0.6, seed 1"] = nb04["sample_with_filter"](
        model, tokenizer, ids, lambda z: nb04["top_p_filter"](z, 0.6), 3, 25, 1)
    gen = attention.greedy_generate(model, tokenizer, "Google", max_new_tokens=20)
    out["06 greedy_generate('Google', 20)"] = tokenizer.decode(gen.generated_ids)
    for prompt in ("The weather is", "Yesterday I went to the"):  # the helper takes the homework's prompt only
        ids = tokenizer(prompt, return_tensors="pt").input_ids
        with torch.no_grad():
            new = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=15, do_sample=False)[0, ids.shape[1]:]
        out[f"greedy_generate({prompt!r}, 15)"] = tokenizer.decode(new)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Refresh the pinned outputs of the offline model.")
    parser.add_argument("--refresh", action="store_true", help="rewrite tests/golden_outputs.json")
    args = parser.parse_args(argv)
    import tests.conftest  # noqa: F401  (offline backend, one thread: the numbers the tests see)
    from helpers.backend import load_lm

    torch.manual_seed(0)
    model, tokenizer = load_lm("offline")
    now = {"model_sha256": model_sha256(), "outputs": cases(model, tokenizer)}
    old = json.loads(OUTPUTS.read_text()) if OUTPUTS.is_file() else {"outputs": {}}
    for key, value in now["outputs"].items():
        if old["outputs"].get(key) != value:
            print(f"changed: {key}\n  was: {old['outputs'].get(key)!r}\n  now: {value!r}")
    if args.refresh:
        OUTPUTS.write_text(json.dumps(now, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"written {OUTPUTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
