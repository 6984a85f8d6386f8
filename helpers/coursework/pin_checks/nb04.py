"""Pinned data of notebook 04's checks: the instructor solutions on the visible inputs."""
from __future__ import annotations

from helpers.checks import nb04 as checks
from helpers.checks.common import ANY, digest, model_key, tokenizer_key


def pin_top_k_filter(sol, objects) -> dict:
    return {ANY: {f"{seed}|{k}": checks.kept_rows(sol["top_k_filter"](checks.random_logits(seed), k))
                  for seed, k in checks.TOP_K_CASES}}


def _unambiguous(logits, p: float) -> None:
    """Refuse a case where the mass before a token sits on p up to rounding (two right answers)."""
    import torch

    probs = torch.softmax(logits, dim=-1).sort(dim=-1, descending=True).values
    before = torch.cumsum(probs, -1) - probs
    if 0 < p < 1 and bool(((before - p).abs() < 1e-6).any()):
        raise ValueError(f"top-p case p={p} has a token whose preceding mass is p up to rounding: choose another seed")


def pin_top_p_filter(sol, objects) -> dict:
    import torch

    entry = {}
    for seed, p in checks.TOP_P_CASES:
        logits = checks.random_logits(seed)
        _unambiguous(logits, p)
        out = sol["top_p_filter"](logits, p)
        entry[f"{seed}|{p}"] = {"rows": checks.kept_rows(out), "counts": torch.isfinite(out).sum(-1).tolist()}
    return {ANY: entry}


def pin_inputs(sol, objects) -> dict:
    """The templated prompt of check 4.3, made by the instructor's prompt_ids (exercise 1.1)."""
    from helpers.coursework.pin_checks.core import solutions

    _, tokenizer = objects.lm
    return {tokenizer_key(tokenizer): {checks.SAMPLE_QUESTION: _prompt(tokenizer)[0].tolist()}}


def _prompt(tokenizer):
    from helpers.coursework.pin_checks.core import solutions

    return solutions("01")["prompt_ids"](tokenizer, checks.SAMPLE_QUESTION, True)


def pin_sample_with_filter(sol, objects) -> dict:
    model, tokenizer = objects.lm
    texts = sol["sample_with_filter"](model, tokenizer, _prompt(tokenizer), checks.argmax_filter,
                                      checks.SAMPLE_N, checks.SAMPLE_NEW, 0)
    return {model_key(model): {"argmax_filter": digest(texts[0].strip())}}


PINNERS = {"inputs": pin_inputs, "check_top_k_filter": pin_top_k_filter, "check_top_p_filter": pin_top_p_filter,
           "check_sample_with_filter": pin_sample_with_filter}
