"""Attention patterns of a causal LM over a generation.

Naming: ``attn_pattern[head, query, key]`` is the softmax attention of one layer for one
text; row ``q`` says how much the token at position ``q`` attends to every earlier position
``key <= q`` while the model predicts token ``q + 1``. Gemma-2 returns attentions only with
``attn_implementation="eager"``.

The attention rows of a whole generation come from ONE forward pass over prompt + generated
tokens (causal masking makes row ``q`` independent of later tokens), which equals the rows an
incremental KV-cache loop produces; :func:`homework_attention_loop` keeps the homework's
one-full-forward-per-token loop for comparison.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import torch

from helpers.sae import as_one_text, check_layer, check_window


@dataclass(frozen=True)
class Generation:
    """A prompt and its continuation: ``input_ids[pos]`` = prompt tokens then generated tokens."""

    input_ids: torch.Tensor
    prompt_len: int
    tokens: list[str]

    @property
    def generated_ids(self) -> torch.Tensor:
        """Ids of the generated tokens only."""
        return self.input_ids[self.prompt_len :]

    @property
    def generated_tokens(self) -> list[str]:
        """Token strings of the generated tokens only."""
        return self.tokens[self.prompt_len :]


def num_heads(model) -> int:
    """Number of query heads per layer (8 for Gemma-2-2b and the offline model)."""
    return int(model.config.num_attention_heads)


def check_head(model, head: int) -> int:
    """``head`` if it is a query-head index ``0 .. num_heads - 1``, else an ``IndexError`` naming the range."""
    n = num_heads(model)
    if not isinstance(head, int) or isinstance(head, bool) or not 0 <= head < n:
        raise IndexError(f"head {head!r} is out of range: each layer of this model has heads 0..{n - 1}.")
    return head


def check_eager(model) -> None:
    """Raise a ``ValueError`` unless the model computes attention eagerly (needed for ``output_attentions``)."""
    impl = getattr(model.config, "_attn_implementation", None)
    if impl != "eager":
        raise ValueError(
            f"this model uses attn_implementation={impl!r}, which returns no attention weights: "
            "load it with attn_implementation='eager' (helpers.backend.load_lm does)."
        )


def display_tokens(tokenizer, input_ids: torch.Tensor) -> list[str]:
    """Readable token labels: the tokenizer's pieces with the space marker ``▁`` kept, one per id."""
    return tokenizer.convert_ids_to_tokens(as_one_text(input_ids)[0].tolist())


@torch.no_grad()
def greedy_generate(model, tokenizer, prompt: str, max_new_tokens: int = 20, stop_at_eos: bool = True) -> Generation:
    """Greedy continuation of ``prompt`` (with ``<bos>``).

    ``stop_at_eos=True`` stops early at ``<eos>``/``<end_of_turn>``; ``False`` always generates
    ``max_new_tokens`` tokens, like the homework's loop (which never checked for a stop token).
    """
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be at least 1, got {max_new_tokens}.")
    prompt_ids = tokenizer(prompt, return_tensors="pt").input_ids
    check_window(model, prompt_ids.shape[1] + max_new_tokens)
    config = copy.deepcopy(model.generation_config)
    config.max_new_tokens, config.do_sample = max_new_tokens, False
    config.top_k = config.top_p = config.temperature = None
    if not stop_at_eos:
        config.eos_token_id = []  # None would fall back to model.config.eos_token_id
    out = model.generate(
        prompt_ids.to(model.device),
        attention_mask=torch.ones_like(prompt_ids).to(model.device),
        generation_config=config,
    )
    ids = out[0].cpu()
    return Generation(ids, prompt_ids.shape[1], display_tokens(tokenizer, ids))


@torch.no_grad()
def forward_attentions(model, input_ids: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """``output.attentions`` of one forward pass: per layer ``[batch=1, head, query, key]``."""
    check_eager(model)
    input_ids = as_one_text(input_ids).to(model.device)
    check_window(model, input_ids.shape[1])
    return model(input_ids, output_attentions=True).attentions


def layer_pattern(attentions: tuple[torch.Tensor, ...], layer: int) -> torch.Tensor:
    """``attn_pattern[head, query, key]`` of ``layer`` from ``output.attentions`` (first text of the batch)."""
    if not 0 <= layer < len(attentions):
        raise IndexError(f"layer {layer} is out of range: output.attentions has layers 0..{len(attentions) - 1}.")
    return attentions[layer][0].float().cpu()


def generation_attention(model, generation: Generation, layer: int) -> torch.Tensor:
    """``rows[head, generated, key]``: attention rows of the generated tokens from ONE forward pass."""
    check_layer(model, layer)
    if generation.prompt_len >= len(generation.input_ids):
        raise ValueError("the generation has no generated tokens: nothing to show.")
    pattern = layer_pattern(forward_attentions(model, generation.input_ids), layer)
    return pattern[:, generation.prompt_len :, :]


def _place_row(row: torch.Tensor, query: int, n_keys: int) -> torch.Tensor:
    """Row ``[head, k]`` of the query at ``query`` as ``[head, n_keys]``: its keys end at ``query`` (a sliding-window
    cache keeps only the last ``k``), later keys are 0."""
    full = row.new_zeros(row.shape[0], n_keys)
    full[:, query + 1 - row.shape[1] : query + 1] = row
    return full


@torch.no_grad()
def incremental_attention_rows(model, input_ids: torch.Tensor, prompt_len: int, layer: int) -> torch.Tensor:
    """``rows[head, generated, key]`` from a KV-cache loop: the prompt once, then one token per forward."""
    from transformers import DynamicCache

    check_eager(model)
    check_layer(model, layer)
    input_ids = as_one_text(input_ids).to(model.device)
    n = input_ids.shape[1]
    if not 1 <= prompt_len < n:
        raise ValueError(f"prompt_len must be in 1..{n - 1} for {n} tokens, got {prompt_len}.")
    cache = DynamicCache(config=model.config)
    model(input_ids[:, :prompt_len], cache=cache, use_cache=True)
    rows = []
    for pos in range(prompt_len, n):
        out = model(input_ids[:, pos : pos + 1], cache=cache, use_cache=True, output_attentions=True)
        rows.append(_place_row(out.attentions[layer][0, :, -1, :].float().cpu(), pos, n))
    return torch.stack(rows, dim=1)


def stop_ids(model) -> set[int]:
    """Token ids that end a generation (the generation config's ``eos_token_id``, one id or a list)."""
    eos = model.generation_config.eos_token_id
    if eos is None:
        return set()
    return {int(e) for e in eos} if isinstance(eos, (list, tuple)) else {int(eos)}


@dataclass(frozen=True)
class HomeworkLoop:
    """The homework's loop: ``rows[head, step, key]`` (key padded with zeros) and the forwards it ran."""

    input_ids: torch.Tensor
    prompt_len: int
    rows: torch.Tensor
    forwards: int


@torch.no_grad()
def homework_attention_loop(
    model, prompt_ids: torch.Tensor, max_new_tokens: int, layer: int, stop_at_eos: bool = False
) -> HomeworkLoop:
    """The homework's loop: a full forward per new token, keeping the LAST row (query = last input token).

    Row ``step`` is the attention of the token at position ``prompt_len - 1 + step`` — the token
    *before* the one generated at that step, which is what the homework labelled it with. Like the
    homework, it does not stop at ``<eos>`` unless ``stop_at_eos=True``.
    """
    check_eager(model)
    check_layer(model, layer)
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be at least 1, got {max_new_tokens}.")
    ids = as_one_text(prompt_ids).to(model.device)
    prompt_len = ids.shape[1]
    check_window(model, prompt_len + max_new_tokens)
    stop = stop_ids(model) if stop_at_eos else set()
    rows, forwards = [], 0
    for _ in range(max_new_tokens):
        out = model(ids, output_attentions=True)
        forwards += 1
        rows.append(out.attentions[layer][0, :, -1, :].float().cpu())
        next_id = out.logits[0, -1].argmax().view(1, 1)
        ids = torch.cat([ids, next_id], dim=1)
        if next_id.item() in stop:
            break
    n_keys = ids.shape[1]
    padded = torch.stack([torch.nn.functional.pad(r, (0, n_keys - r.shape[1])) for r in rows], dim=1)
    return HomeworkLoop(ids[0].cpu(), prompt_len, padded, forwards)


def previous_token_score(attn_pattern: torch.Tensor) -> torch.Tensor:
    """Mean attention each head puts on the previous token: ``attn_pattern[head, q, k]`` -> ``[head]`` (queries 1..)."""
    if attn_pattern.shape[-2] < 2:
        raise ValueError("previous_token_score needs at least two positions.")
    return attn_pattern.diagonal(offset=-1, dim1=-2, dim2=-1).mean(dim=-1)


def first_token_score(attn_pattern: torch.Tensor) -> torch.Tensor:
    """Mean attention each head puts on position 0 (``<bos>``, the "attention sink"): ``[head, q, k]`` -> ``[head]``."""
    return attn_pattern[..., 1:, 0].mean(dim=-1)
