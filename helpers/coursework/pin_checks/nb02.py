"""Pinned data of notebook 02's checks: the instructor solutions and the usual mistakes on the visible inputs."""
from __future__ import annotations

from helpers.checks import nb02 as checks
from helpers.checks.common import digest, model_key, tokenizer_key
from helpers.coursework.pin_checks.nb01 import greedy_eos_only


def pin_render_prompt(sol, objects) -> dict:
    _, tokenizer = objects.lm
    entry = {}
    for index, history in enumerate(checks.HISTORIES):
        text = sol["render_prompt"](tokenizer, [dict(m) for m in history])
        entry[str(index)] = {"text": digest(text)}
    return {tokenizer_key(tokenizer): entry}


def _template_ids(tokenizer, messages):
    return tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)["input_ids"]


def pin_chat_round(sol, objects) -> dict:
    model, tokenizer = objects.lm
    entry, history = {}, []
    for round_number, user_text in enumerate(checks.ROUNDS, start=1):
        got = sol["chat_round"](model, tokenizer, [dict(m) for m in history], user_text, checks.ROUND_TOKENS)
        answer = got[-1]["content"]
        last_only = sol["chat_round"](model, tokenizer, [], user_text, checks.ROUND_TOKENS)[-1]["content"]
        entry[str(round_number)] = {"answer": digest(answer), "last_turn_only": digest(last_only),
                                    "eos_only": digest(greedy_eos_only(model, tokenizer, _template_ids(tokenizer, got[:-1]),
                                                                       checks.ROUND_TOKENS))}
        history = got
    return {model_key(model): entry}


def _top_probs(model, input_ids, k: int, position: int = -1) -> list[float]:
    """The top k probabilities at ``position`` (for the mistakes: another prompt or position)."""
    import torch

    with torch.no_grad():
        logits = model(input_ids=input_ids.to(model.device)).logits[0, position]
    return [round(float(p), 8) for p in torch.topk(torch.softmax(logits.float(), -1), k).values]


def pin_top_next_tokens(sol, objects) -> dict:
    model, tokenizer = objects.lm
    entry = {}
    for index, (history, k) in enumerate(checks.TOP_CASES):
        wide = sol["top_next_tokens"](model, tokenizer, [dict(m) for m in history], k + 5)
        rendered = tokenizer.apply_chat_template(history, tokenize=False, add_generation_prompt=True)
        no_gen = tokenizer.apply_chat_template(history, add_generation_prompt=False, return_tensors="pt", return_dict=True)
        entry[str(index)] = {
            "wide_texts": [digest(t) for t, _ in wide], "wide_probs": [round(p, 8) for _, p in wide],
            "double_bos": _top_probs(model, tokenizer(rendered, return_tensors="pt")["input_ids"], k),
            "no_generation_prompt": _top_probs(model, no_gen["input_ids"], k),
            "first_position": _top_probs(model, _template_ids(tokenizer, history), k, position=0)}
    return {model_key(model): entry}


PINNERS = {"check_render_prompt": pin_render_prompt, "check_chat_round": pin_chat_round,
           "check_top_next_tokens": pin_top_next_tokens}
