"""Pinned data of notebook 01's checks: the instructor solutions and the usual mistakes on the visible inputs."""
from __future__ import annotations

from helpers.checks import nb01 as checks
from helpers.checks.common import digest, model_key, tokenizer_key


def greedy_eos_only(model, tokenizer, input_ids, max_new_tokens: int) -> str:
    """The mistake of 1.2 and 2.2: greedy decoding that stops on <eos> only, so it runs past <end_of_turn>."""
    import torch

    input_ids = input_ids.to(model.device)
    with torch.no_grad():
        out = model.generate(input_ids, attention_mask=torch.ones_like(input_ids), max_new_tokens=max_new_tokens,
                             do_sample=False, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    return tokenizer.decode(out[0, input_ids.shape[1]:], skip_special_tokens=True).strip()


def pin_inputs(sol, objects) -> dict:
    """The templated visible inputs of check 1.2, made by the instructor's prompt_ids (1.1)."""
    _, tokenizer = objects.lm
    return {tokenizer_key(tokenizer): {text: sol["prompt_ids"](tokenizer, text, True)[0].tolist()
                                       for templated, text, _, _ in checks.ANSWER_CASES if templated}}


def pin_prompt_ids(sol, objects) -> dict:
    _, tokenizer = objects.lm
    entry = {}
    for question in checks.PROMPT_QUESTIONS:
        for use_template in (True, False):
            row = sol["prompt_ids"](tokenizer, question, use_template)[0].tolist()
            entry[f"{question}|{use_template}"] = {"ids": digest(row)}
    return {tokenizer_key(tokenizer): entry}


def pin_generate_answer(sol, objects) -> dict:
    model, tokenizer = objects.lm
    entry = {}
    for templated, text, max_new_tokens, name in checks.ANSWER_CASES:
        ids = sol["prompt_ids"](tokenizer, text, templated)  # what the check reads from the pinned inputs
        answer = sol["generate_answer"](model, tokenizer, ids.clone(), max_new_tokens)
        entry[name] = {"answer": digest(answer),
                       "eos_only": digest(greedy_eos_only(model, tokenizer, ids, max_new_tokens))}
    return {model_key(model): entry}


def pin_coherence(sol, objects) -> dict:
    cross_encoder = objects.cross_encoder
    entry = {}
    for q, a in checks.COHERENCE_PAIRS:
        entry[f"{q}|{a}"] = round(sol["coherence"](cross_encoder, q, a), 6)
        entry[f"{a}|{q}"] = round(sol["coherence"](cross_encoder, a, q), 6)  # the swapped pair (a mistake)
    return {model_key(cross_encoder.model): entry}


PINNERS = {"inputs": pin_inputs, "check_prompt_ids": pin_prompt_ids, "check_generate_answer": pin_generate_answer,
           "check_coherence": pin_coherence}
