"""Generation plumbing: ``generate``'s sampling arguments, seeding, and a probe of the filters
``generate`` really applies.

The sampling itself is exercise 4.3 of notebook 04 (``sample_with_filter``): ONE ``generate`` call
with ``num_return_sequences=n`` and the student's own top-k / top-p filter as a logits processor.

How ``top_k`` / ``top_p`` map onto ``generate`` (transformers 5.x), used by the Careful box of
notebook 04:

* ``top_p`` alone: ``top_k=0`` is passed too, because ``generate`` would otherwise keep its
  default ``top_k=50`` on top of the nucleus and quietly cut the tail.
* ``top_k`` alone: ``top_p=1.0`` is passed, so no nucleus cut is inherited from a config.
* ``top_k=1`` keeps one token per step: greedy decoding, every sample identical.
* ``top_p=0`` keeps the smallest set of tokens whose probability reaches 0 — that would be
  no token at all, so (like transformers' ``TopPLogitsWarper``, which always keeps at least
  one) the most likely token alone survives: greedy as well.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch



def check_top_k(top_k: object) -> int | None:
    """``None``/``0`` (no top-k filter) or a positive int; anything else raises a clear error."""
    if top_k is None:
        return None
    if isinstance(top_k, bool) or not isinstance(top_k, int):
        raise TypeError(f"top_k must be an integer ≥ 1 (or None for no top-k filter), got {top_k!r}.")
    if top_k < 0:
        raise ValueError(f"top_k must be ≥ 1 (top_k=1 is greedy), or None/0 for no top-k filter; got {top_k}.")
    return top_k or None


def check_top_p(top_p: object) -> float | None:
    """``None`` (no nucleus filter) or a float in [0, 1]; anything else raises a clear error."""
    if top_p is None:
        return None
    if isinstance(top_p, bool) or not isinstance(top_p, (int, float)):
        raise TypeError(f"top_p must be a number in [0, 1] (or None for no top-p filter), got {top_p!r}.")
    top_p = float(top_p)
    if not 0.0 <= top_p <= 1.0:
        raise ValueError(f"top_p must lie in [0, 1] (0 = greedy, 1 = no filter), got {top_p}.")
    return top_p


def check_positive(value: object, name: str, minimum: int = 1) -> int:
    """An integer ≥ ``minimum`` or a clear error."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer ≥ {minimum}, got {value!r}.")
    return value


def sampling_kwargs(top_k: int | None = None, top_p: float | None = None) -> dict:
    """The ``generate`` keyword arguments for sampling with the given filters (see the module docstring)."""
    top_k, top_p = check_top_k(top_k), check_top_p(top_p)
    return {"do_sample": True, "temperature": 1.0, "top_k": top_k or 0, "top_p": 1.0 if top_p is None else top_p}


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
    if input_ids.dim() != 2 or input_ids.shape[0] != 1:
        raise ValueError(f"expected input_ids of shape [1, prompt_len] (one prompt), got {tuple(input_ids.shape)}.")
    ids = input_ids.to(model.device)
    out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=1, output_scores=True,
                         return_dict_in_generate=True, **generate_kwargs)
    return int(torch.isfinite(out.scores[0][0]).sum())
