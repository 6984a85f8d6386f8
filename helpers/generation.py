"""Generation plumbing: argument checks, seeding, and a probe of the filters ``generate`` really applies.

The sampling itself is exercise 4.3 of notebook 04 (``sample_with_filter``), and what the filters
do at their extremes is for notebook 04's questions: neither is written here.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch

from helpers.numerics import check_finite
from helpers.validation import check_count, check_ids, context_window, vocab_size


class FiniteLogits:
    """A logits processor for ``generate(logits_processor=[FiniteLogits()])``: a :class:`~helpers.numerics.NumericsError`
    as soon as the model's logits hold NaN or +inf (float16 overflow), instead of garbage text or, when sampling,
    an obscure error from ``torch.multinomial`` (a device-side assert on a GPU). ``-inf`` passes: it is how
    an earlier processor removes a token. The scores go on unchanged."""

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        if bool(torch.isnan(scores).any()) or bool(torch.isposinf(scores).any()):
            check_finite(scores, "logits")
        return scores


def check_max_new_tokens(max_new_tokens: object, model=None, prompt_len: int = 0) -> int:
    """``max_new_tokens`` if it is an int ≥ 1 (bool and float rejected) and, given ``model``, the prompt's
    ``prompt_len`` tokens plus the new ones fit the context window (``model.config.max_position_embeddings``)."""
    if model is None:
        return check_count(max_new_tokens, "max_new_tokens", 1)
    window = context_window(model)
    room = window - prompt_len
    if room < 1:
        raise ValueError(f"the prompt has {prompt_len} tokens, which fills the model's context window of {window} tokens "
                         "(model.config.max_position_embeddings): shorten the prompt.")
    return check_count(max_new_tokens, "max_new_tokens", 1, room,
                       f": the prompt has {prompt_len} tokens and the model's context window of {window} tokens "
                       "(model.config.max_position_embeddings) holds the prompt and the new tokens together")


def check_top_k(top_k: object, vocab: int | None = None) -> int | None:
    """``None``/``0`` (no top-k filter) or a positive int (at most ``vocab`` if given); anything else raises a clear error."""
    if top_k is None:
        return None
    if isinstance(top_k, bool) or not isinstance(top_k, int):
        raise TypeError(f"top_k must be an integer ≥ 1 (or None for no top-k filter), got {top_k!r}.")
    if top_k < 0:
        raise ValueError(f"top_k must be ≥ 1, or None/0 for no top-k filter; got {top_k}.")
    if vocab is not None and top_k > vocab:
        raise ValueError(f"top_k={top_k} is more than the vocabulary's {vocab} tokens: use 1..{vocab} (or None for no top-k filter).")
    return top_k or None


def check_top_p(top_p: object) -> float | None:
    """``None`` (no nucleus filter) or a float in [0, 1]; anything else raises a clear error."""
    if top_p is None:
        return None
    if isinstance(top_p, bool) or not isinstance(top_p, (int, float)):
        raise TypeError(f"top_p must be a number in [0, 1] (or None for no top-p filter), got {top_p!r}.")
    top_p = float(top_p)
    if not 0.0 <= top_p <= 1.0:
        raise ValueError(f"top_p must lie in [0, 1], got {top_p}.")
    return top_p


def check_positive(value: object, name: str, minimum: int = 1) -> int:
    """An integer ≥ ``minimum`` or a clear error (``TypeError`` for a non-int, bool and float included)."""
    return check_count(value, name, minimum)


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Run the block with torch's RNG seeded to ``seed`` and restore the caller's RNG state afterwards."""
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an integer, got {seed!r}.")
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


@torch.no_grad()
def first_step_kept(model, input_ids: torch.Tensor, **generate_kwargs) -> int:
    """How many tokens ``generate(**generate_kwargs)`` leaves to choose from at the first step (finite scores).

    ``input_ids[1, prompt_len]`` is one prompt. Pass the keyword arguments you would give ``generate``
    (e.g. ``do_sample=True, top_p=0.999``) to see which filters it really applies.
    """
    if not torch.is_tensor(input_ids) or input_ids.dim() != 2 or input_ids.shape[0] != 1:
        shape = tuple(input_ids.shape) if torch.is_tensor(input_ids) else type(input_ids).__name__
        raise ValueError(f"expected input_ids of shape [1, prompt_len] (one prompt), got {shape}.")
    ids = check_ids(model, input_ids).to(model.device)
    check_max_new_tokens(1, model, ids.shape[1])
    if "top_k" in generate_kwargs:
        check_top_k(generate_kwargs["top_k"], vocab_size(model))
    if "top_p" in generate_kwargs:
        check_top_p(generate_kwargs["top_p"])
    processors = list(generate_kwargs.pop("logits_processor", None) or [])
    from transformers import LogitsProcessorList

    out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=1, output_scores=True,
                         return_dict_in_generate=True, logits_processor=LogitsProcessorList([FiniteLogits(), *processors]),
                         **generate_kwargs)
    return int(torch.isfinite(out.scores[0][0]).sum())
