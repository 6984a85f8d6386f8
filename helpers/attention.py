"""Attention over a generation: plumbing for notebook 06 (the exercises compute the rows and labels).

Naming: ``attn_pattern[head, query, key]`` is the softmax attention of one layer for one text;
row ``q`` says how much the token at position ``q`` attends to every position ``key <= q`` while
the model predicts token ``q + 1``. Gemma-2 returns attentions only with
``attn_implementation="eager"``.

:func:`homework_attention_loop` reproduces the original homework's loop: a manual KV-cache loop
(the prompt once, then one token per step, ``output_attentions=True``) with the homework's axis
labels, ``tokenizer.tokenize(prompt + generated_text)``; notebook 06 asks what to make of them.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import torch

from helpers.numerics import check_finite
from helpers.chat import check_text
from helpers.generation import FiniteLogits, check_max_new_tokens
from helpers.validation import check_count, check_ids, check_index, check_layer


@dataclass(frozen=True)
class Generation:
    """A prompt and its continuation: ``input_ids[0, pos]`` = prompt tokens, then generated tokens."""

    input_ids: torch.Tensor  # [1, T]
    prompt_len: int

    @property
    def generated_ids(self) -> torch.Tensor:
        """Ids of the generated tokens only, ``[G]``."""
        return self.input_ids[0, self.prompt_len :]


def num_heads(model) -> int:
    """Number of query heads per layer (8 for Gemma-2-2b and the offline model)."""
    return int(model.config.num_attention_heads)


def check_head(model, head: int) -> int:
    """``head`` if it is a query-head index ``0 .. num_heads - 1``, else an error naming the range."""
    return check_index(head, "head", num_heads(model), "each layer of this model has heads")


def check_eager(model) -> None:
    """Raise a ``ValueError`` unless the model computes attention eagerly (needed for ``output_attentions``)."""
    impl = getattr(model.config, "_attn_implementation", None)
    if impl != "eager":
        raise ValueError(
            f"this model uses attn_implementation={impl!r}, which returns no attention weights: "
            "load it with attn_implementation='eager' (helpers.backend.load_lm does)."
        )


HOMEWORK_PROMPTS = ("Google ", "Google")  # the original homework's prompt, and the same without its trailing space


def not_the_homework_prompt(prompt: object) -> str:
    """Why ``prompt`` is refused: the generation helpers below reproduce the homework's Problem 6 on its own prompt
    (``HOMEWORK_PROMPTS``). On any prompt they would be greedy decoding, exercise 1.2 (``generate_answer``), which
    you write yourself. (The helpers test the prompt against a literal, so changing this module changes nothing.)"""
    shown = prompt[:40] if isinstance(prompt, str) else type(prompt).__name__
    return (f"this helper generates from the original homework's prompt only, 'Google ' (or 'Google'), not {shown!r}: "
            "for another prompt call model.generate yourself (exercise 1.2 of notebook 01).")


def stop_ids(model) -> set[int]:
    """Token ids that end a generation (the generation config's ``eos_token_id``, one id or a list)."""
    eos = model.generation_config.eos_token_id
    if eos is None:
        return set()
    return {int(e) for e in eos} if isinstance(eos, (list, tuple)) else {int(eos)}


@torch.no_grad()
def greedy_generate(model, tokenizer, prompt: str, max_new_tokens: int = 20, stop_at_eos: bool = True) -> Generation:
    """Greedy continuation of the homework's ``prompt`` (``HOMEWORK_PROMPTS``, with ``<bos>``), as ids ``[1, T]`` on the CPU.

    ``stop_at_eos=True`` stops early at ``<eos>``/``<end_of_turn>``; ``False`` always generates
    ``max_new_tokens`` tokens, like the homework's loop (which never checked for a stop token).
    """
    from transformers import LogitsProcessorList

    check_text(prompt)
    if prompt not in ("Google ", "Google"):  # HOMEWORK_PROMPTS, as a literal
        raise ValueError(not_the_homework_prompt(prompt))
    check_max_new_tokens(max_new_tokens)
    prompt_ids = check_ids(model, tokenizer(prompt, return_tensors="pt").input_ids)
    check_max_new_tokens(max_new_tokens, model, prompt_ids.shape[1])
    config = copy.deepcopy(model.generation_config)
    config.max_new_tokens, config.do_sample = max_new_tokens, False
    config.top_k = config.top_p = config.temperature = None
    if not stop_at_eos:
        config.eos_token_id = []  # None would fall back to model.config.eos_token_id
    out = model.generate(
        prompt_ids.to(model.device),
        attention_mask=torch.ones_like(prompt_ids).to(model.device),
        generation_config=config,
        logits_processor=LogitsProcessorList([FiniteLogits()]),  # NumericsError on float16 overflow, not garbage
    )
    return Generation(out[:1].cpu(), prompt_ids.shape[1])


@dataclass(frozen=True)
class HomeworkLoop:
    """What the homework's loop produced.

    ``attentions[head, query, key]`` is square: one row per token fed, keys padded with zeros
    where the static cache was not filled yet. ``labels`` are the homework's axis labels,
    ``tokenizer.tokenize(prompt + generated_text)``.
    """

    input_ids: torch.Tensor  # [1, T]: prompt + the G greedy tokens
    prompt_len: int
    attentions: torch.Tensor  # [head, fed, fed]
    labels: list[str]
    forwards: int


@torch.no_grad()
def homework_attention_loop(model, tokenizer, prompt: str, max_new_tokens: int = 20, layer: int = 10) -> HomeworkLoop:
    """The original homework's Problem 6 loop on its prompt (``HOMEWORK_PROMPTS``), rewritten for transformers 5
    (``DynamicCache``, not ``HybridCache``).

    Step 0 feeds the whole prompt, every later step only the previous greedy token, with the KV
    cache and ``output_attentions=True``; the rows of ``layer`` are stacked along the query axis
    (all heads kept; the homework kept one). It never stops at ``<eos>``. The labels are built the
    homework's way.
    """
    from transformers import DynamicCache

    check_eager(model)
    check_layer(model, layer)
    check_text(prompt)
    if prompt not in ("Google ", "Google"):  # HOMEWORK_PROMPTS, as a literal
        raise ValueError(not_the_homework_prompt(prompt))
    check_max_new_tokens(max_new_tokens)
    prompt_ids = check_ids(model, tokenizer(prompt, return_tensors="pt").input_ids)
    prompt_len = prompt_ids.shape[1]
    check_max_new_tokens(max_new_tokens, model, prompt_len)
    n_keys = prompt_len + max_new_tokens - 1  # the homework's `total_tokens`, the static cache's length
    cache = DynamicCache(config=model.config)
    step_ids, fed, rows, generated = prompt_ids.to(model.device), 0, [], []
    for _ in range(max_new_tokens):
        out = model(step_ids, cache=cache, use_cache=True, output_attentions=True)
        fed += step_ids.shape[1]
        check_finite(out.logits[:, -1, :], "logits")
        att = check_finite(out.attentions[layer][0], f"attentions[{layer}]").float().cpu()  # [head, new queries, keys kept]
        full = att.new_zeros(att.shape[0], att.shape[1], n_keys)
        full[..., fed - att.shape[-1] : fed] = att  # a sliding-window cache keeps only the last keys
        rows.append(full)
        step_ids = out.logits[:, -1, :].float().argmax(dim=-1, keepdim=True)  # greedy, decided in float32 as generate does
        generated.append(int(step_ids.item()))
    attentions = torch.cat(rows, dim=1)
    labels = tokenizer.tokenize(prompt + tokenizer.decode(generated, skip_special_tokens=True))
    input_ids = torch.cat([prompt_ids, torch.tensor([generated])], dim=1)
    return HomeworkLoop(input_ids, prompt_len, attentions, labels, max_new_tokens)


def _check_rows(rows: torch.Tensor, first_query: int) -> None:
    """Attention rows ``[head, query, key]`` whose last query still has a key (``first_query + queries <= keys``)."""
    if not torch.is_tensor(rows) or rows.dim() != 3:
        shape = tuple(rows.shape) if torch.is_tensor(rows) else type(rows).__name__
        raise ValueError(f"expected attention rows of shape [head, query, key], got {shape}.")
    check_count(first_query, "first_query", 0)
    if first_query + rows.shape[1] > rows.shape[2]:
        raise ValueError(f"{rows.shape[1]} rows from query position {first_query} need at least "
                         f"{first_query + rows.shape[1]} keys, but the rows have {rows.shape[2]}: "
                         "first_query is the position of the first row's query.")


def previous_token_score(rows: torch.Tensor, first_query: int = 0) -> torch.Tensor:
    """Mean attention each head puts on the previous token: ``rows[head, i, key]`` -> ``[head]``.

    Row ``i`` is the query at position ``first_query + i`` (0 for a full square pattern); a query
    at position 0 has no previous token and is skipped.
    """
    _check_rows(rows, first_query)
    queries = torch.arange(rows.shape[-2]) + first_query
    keep = queries >= 1
    if not bool(keep.any()):
        raise ValueError("previous_token_score needs a query at position 1 or later.")
    index = (queries[keep] - 1).view(1, -1, 1).expand(rows.shape[0], -1, 1)
    return rows[:, keep, :].gather(-1, index.to(rows.device)).squeeze(-1).mean(dim=-1)


def first_token_score(rows: torch.Tensor, first_query: int = 0) -> torch.Tensor:
    """Mean attention each head puts on position 0 (``<bos>``), queries at position 1 or later."""
    _check_rows(rows, first_query)
    queries = torch.arange(rows.shape[-2]) + first_query
    keep = queries >= 1
    if not bool(keep.any()):
        raise ValueError("first_token_score needs a query at position 1 or later.")
    return rows[:, keep, 0].mean(dim=-1)
