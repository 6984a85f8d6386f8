"""Text generation: greedy answers, chat replies and batched sampling with top-k / top-p.

All sampling runs as ONE ``generate`` call with ``num_return_sequences=n`` — the prompt is
encoded once and the ``n`` continuations advance together, which is many times faster than
``n`` separate calls.

How ``top_k`` / ``top_p`` map onto ``generate`` (transformers 5.x):

* ``top_p`` alone: ``top_k=0`` is passed too, because ``generate`` would otherwise keep its
  default ``top_k=50`` on top of the nucleus and quietly cut the tail.
* ``top_k`` alone: ``top_p=1.0`` is passed, so no nucleus cut is inherited from a config.
* ``top_k=1`` keeps one token per step: greedy decoding, every sample identical.
* ``top_p=0`` keeps the smallest set of tokens whose probability reaches 0 — that would be
  no token at all, so (like transformers' ``TopPLogitsWarper``, which always keeps at least
  one) the most likely token alone survives: greedy as well. As ``p → 0`` the nucleus shrinks
  to the single top token.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Iterator, Mapping, Sequence

import torch

from helpers.chat import encode_messages, encode_text


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


def prompt_inputs(tokenizer, prompt: str | Sequence[Mapping[str, str]], chat_template: bool = True) -> dict[str, torch.Tensor]:
    """Encode a prompt: through the chat template (default) or as plain text (``<bos>`` + text)."""
    if chat_template:
        return encode_messages(tokenizer, prompt)
    if not isinstance(prompt, str):
        raise TypeError("without the chat template the prompt must be one string, not a list of messages.")
    return encode_text(tokenizer, prompt)


@torch.no_grad()
def generate_from(model, tokenizer, inputs: Mapping[str, torch.Tensor], max_new_tokens: int, **gen_kwargs) -> list[str]:
    """Run ``generate`` on encoded ``inputs`` and decode only the new tokens of every returned sequence."""
    check_positive(max_new_tokens, "max_new_tokens")
    dev = model.device
    inputs = {k: v.to(dev) for k, v in inputs.items()}
    output = model.generate(**inputs, max_new_tokens=max_new_tokens, **gen_kwargs)
    new_tokens = output[:, inputs["input_ids"].shape[1]:]
    return [text.strip() for text in tokenizer.batch_decode(new_tokens, skip_special_tokens=True)]


def greedy(model, tokenizer, prompt: str | Sequence[Mapping[str, str]], max_new_tokens: int = 100, chat_template: bool = True) -> str:
    """The greedy answer to ``prompt``, with Gemma's chat template (default) or on the raw text."""
    return generate_from(model, tokenizer, prompt_inputs(tokenizer, prompt, chat_template), max_new_tokens, do_sample=False)[0]


def greedy_from(model, tokenizer, inputs: Mapping[str, torch.Tensor], max_new_tokens: int = 100) -> str:
    """The greedy continuation of already encoded ``inputs`` (one prompt)."""
    return generate_from(model, tokenizer, inputs, max_new_tokens, do_sample=False)[0]


def _sampling_setup(tokenizer, prompt, n: int, top_k: int | None, top_p: float | None) -> tuple[dict, dict]:
    """Validated ``(inputs, generate kwargs)`` shared by :func:`sample` and :func:`sample_one_by_one`."""
    check_positive(n, "n (number of samples)")
    kwargs = sampling_kwargs(top_k, top_p)
    return prompt_inputs(tokenizer, prompt, chat_template=True), kwargs


def sample(
    model,
    tokenizer,
    prompt: str | Sequence[Mapping[str, str]],
    n: int = 20,
    top_k: int | None = None,
    top_p: float | None = None,
    max_new_tokens: int = 30,
    seed: int = 0,
) -> list[str]:
    """``n`` sampled answers to ``prompt`` (chat template applied) from ONE batched ``generate`` call.

    ``top_k=1`` and ``top_p=0`` are greedy; with neither filter the full distribution is sampled.
    The same ``seed`` gives the same samples on the same device and dtype.
    """
    inputs, kwargs = _sampling_setup(tokenizer, prompt, n, top_k, top_p)
    with seeded(seed):
        return generate_from(model, tokenizer, inputs, max_new_tokens, num_return_sequences=n, **kwargs)


def sample_one_by_one(
    model,
    tokenizer,
    prompt: str | Sequence[Mapping[str, str]],
    n: int = 20,
    top_k: int | None = None,
    top_p: float | None = None,
    max_new_tokens: int = 30,
    seed: int = 0,
) -> list[str]:
    """Like :func:`sample` but with ``n`` separate ``generate`` calls — only to measure what batching saves."""
    inputs, kwargs = _sampling_setup(tokenizer, prompt, n, top_k, top_p)
    with seeded(seed):
        return [generate_from(model, tokenizer, inputs, max_new_tokens, **kwargs)[0] for _ in range(n)]


def time_batched_vs_loop(model, tokenizer, prompt: str, n: int = 20, max_new_tokens: int = 30, repeats: int = 3) -> dict[str, float]:
    """Median seconds of :func:`sample` (one call) and :func:`sample_one_by_one` (``n`` calls), and their ratio.

    Both use the same prompt, seeds and filter (top_k=50) and stop at ``<end_of_turn>``; the
    batched call runs until its longest sample ends, so the ratio is what a student really saves.
    """
    check_positive(repeats, "repeats")
    batched, loop = [], []
    for repeat in range(repeats):
        start = time.perf_counter()
        sample(model, tokenizer, prompt, n=n, top_k=50, max_new_tokens=max_new_tokens, seed=repeat)
        batched.append(time.perf_counter() - start)
        start = time.perf_counter()
        sample_one_by_one(model, tokenizer, prompt, n=n, top_k=50, max_new_tokens=max_new_tokens, seed=repeat)
        loop.append(time.perf_counter() - start)
    batched_s, loop_s = sorted(batched)[len(batched) // 2], sorted(loop)[len(loop) // 2]
    return {"batched_s": batched_s, "loop_s": loop_s, "ratio": loop_s / batched_s}


@torch.no_grad()
def first_step_kept(model, tokenizer, prompt: str | Sequence[Mapping[str, str]], **generate_kwargs) -> int:
    """How many tokens ``generate(**generate_kwargs)`` leaves to choose from at the first step (finite scores).

    Pass the keyword arguments you would give ``generate`` (e.g. ``do_sample=True, top_p=0.999``)
    to see which filters it really applies.
    """
    inputs = {k: v.to(model.device) for k, v in prompt_inputs(tokenizer, prompt).items()}
    out = model.generate(**inputs, max_new_tokens=1, output_scores=True, return_dict_in_generate=True, **generate_kwargs)
    return int(torch.isfinite(out.scores[0][0]).sum())
