"""Values the harness builds inside the sandbox for hidden tests (``spec.make(name, ...)``).

Runs inside the sandbox next to the student's code, so nothing here may be a solution of an
exercise: test filters are deliberately *not* top-k or top-p, and prompt ids (exercise 1.1's
output) are made by the grader outside the sandbox (``cases/nb04.py``), never here.
"""
from __future__ import annotations

import functools

import torch


def batched(maker):
    """``maker(..., rows=n)``: the filter also checks that it gets the batched ``[n, vocab]`` scores of one step."""
    @functools.wraps(maker)
    def build(*args, rows: int | None = None, **kwargs):
        filter_fn = maker(*args, **kwargs)
        if rows is None:
            return filter_fn

        def checked(logits):
            if not hasattr(logits, "shape") or tuple(logits.shape[:1]) != (rows,) or logits.dim() != 2:
                shape = list(getattr(logits, "shape", ()))
                raise ValueError(f"filter_fn needs the batched [n, vocab] scores of a step, got shape {shape}")
            return filter_fn(logits)
        return checked
    return build


@batched
def keep_ids_filter(ids):
    """A logits filter that keeps only the given token ids (all others -> -inf)."""
    keep = torch.tensor(sorted(set(int(i) for i in ids)), dtype=torch.long)

    def filter_fn(logits: torch.Tensor) -> torch.Tensor:
        mask = torch.ones_like(logits, dtype=torch.bool)
        mask[..., keep.to(logits.device)] = False
        return logits.masked_fill(mask, float("-inf"))
    return filter_fn


@batched
def argmax_filter():
    """A logits filter that keeps only the largest logit of each row (ties: the first)."""
    def filter_fn(logits: torch.Tensor) -> torch.Tensor:
        out = torch.full_like(logits, float("-inf"))
        index = logits.argmax(dim=-1, keepdim=True)
        return out.scatter(-1, index, logits.gather(-1, index))
    return filter_fn


@batched
def identity_filter():
    """A logits filter that keeps every token."""
    return lambda logits: logits


def _word_ids(tokenizer, words) -> list[int]:
    """Token ids of one-token words (written with their leading space); ints pass through as ids."""
    ids = []
    for word in words:
        if isinstance(word, int):
            ids.append(word)
            continue
        found = tokenizer(" " + word, add_special_tokens=False)["input_ids"]
        if len(found) != 1:
            raise ValueError(f"{word!r} is {len(found)} tokens for this tokenizer: pick a one-token word")
        ids.append(int(found[0]))
    return ids


@batched
def uniform_words_filter(tokenizer, words):
    """A logits filter that gives the given one-token words (or ids) the same logit 0 and removes all others."""
    keep = torch.tensor(sorted(set(_word_ids(tokenizer, words))), dtype=torch.long)

    def filter_fn(logits: torch.Tensor) -> torch.Tensor:
        out = torch.full_like(logits, float("-inf"))
        out[..., keep.to(logits.device)] = 0.0
        return out
    return filter_fn


@batched
def script_filter(tokenizer, steps):
    """A logits filter that keeps only ``steps[i]`` (a one-token word or an id) at its i-th call, then ``steps[-1]``.

    Stateful: the harness builds a fresh one for every case and every run.
    """
    ids = _word_ids(tokenizer, steps)
    calls = [0]

    def filter_fn(logits: torch.Tensor) -> torch.Tensor:
        keep = ids[min(calls[0], len(ids) - 1)]
        calls[0] += 1
        out = torch.full_like(logits, float("-inf"))
        out[..., keep] = 0.0
        return out
    return filter_fn


@batched
def kept_words_filter(tokenizer, words):
    """A logits filter that keeps the given one-token words (or ids) with their logits and removes all others."""
    return keep_ids_filter(_word_ids(tokenizer, words))


MAKERS = {
    "keep_ids_filter": keep_ids_filter,
    "argmax_filter": argmax_filter,
    "identity_filter": identity_filter,
    "uniform_words_filter": uniform_words_filter,
    "script_filter": script_filter,
    "kept_words_filter": kept_words_filter,
}


# --- notebook 08: attention from q and k ---------------------------------------------------

def lm_config(model, **overrides):
    """A copy of the model's config with some settings changed (e.g. ``sliding_window=5``); the model is untouched."""
    import copy

    config = copy.deepcopy(model.config)
    for name, value in overrides.items():
        setattr(config, name, value)
    return config


def captured_projection(model, tokenizer, text: str, layer: int, part: str) -> torch.Tensor:
    """``q[head, pos, d_head]`` (part ``"q"``) or ``k[kv_head, pos, d_head]`` (``"k"``) of one layer before RoPE."""
    from helpers.hooks import capture_qk

    q, k = capture_qk(model, tokenizer(text, return_tensors="pt").input_ids, layer)
    return {"q": q, "k": k}[part]


MAKERS.update({"lm_config": lm_config, "captured_projection": captured_projection})
