"""Forward hooks on one attention layer: plumbing for notebook 08 (the exercises compute the attention).

Naming: ``q[head, pos, d_head]`` are the query projections of one layer for one text,
``k[kv_head, pos, d_head]`` the key projections (Gemma-2: 8 query heads share 4 key/value heads).
By default they are caught *before* rotary position embeddings (RoPE), as ``q_proj``/``k_proj``
write them; ``rotary=True`` returns them rotated exactly as the model rotates them (the model's
own ``cos``/``sin`` tables and transformers' ``apply_rotary_pos_emb``).

``attn_pattern[head, query, key]`` is the model's softmax attention of one layer (eager
attention only: Gemma-2 returns no weights otherwise).
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch

from helpers.attention import check_eager
from helpers.numerics import check_finite
from helpers.validation import check_ids, check_layer


def _attention_module(model, layer: int):
    """The ``self_attn`` module of decoder layer ``layer``."""
    check_layer(model, layer)
    return model.model.layers[layer].self_attn


def _heads(x: torch.Tensor, d_head: int) -> torch.Tensor:
    """``[1, pos, heads * d_head]`` (a projection's output) -> ``[heads, pos, d_head]``."""
    return x[0].reshape(x.shape[1], -1, d_head).transpose(0, 1)


@torch.no_grad()
def capture_qk(model, input_ids: torch.Tensor, layer: int, rotary: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """``(q[head, pos, d_head], k[kv_head, pos, d_head])`` of decoder layer ``layer`` for one text, float32 on the CPU.

    Caught with forward hooks on ``q_proj`` and ``k_proj`` during one forward pass over
    ``input_ids [1, T]`` (positions 0 .. T-1). ``rotary=False`` (default): before RoPE;
    ``rotary=True``: after RoPE, as the model uses them.
    """
    from transformers.models.gemma2.modeling_gemma2 import apply_rotary_pos_emb

    attn = _attention_module(model, layer)
    input_ids = check_ids(model, input_ids).to(model.device)
    caught: dict[str, torch.Tensor] = {}

    def keep(name):
        def hook(module, args, output):
            caught[name] = output.detach()
        return hook

    def keep_rotary(module, args, kwargs):
        caught["cos"], caught["sin"] = kwargs["position_embeddings"]

    handles = [attn.q_proj.register_forward_hook(keep("q")), attn.k_proj.register_forward_hook(keep("k")),
               attn.register_forward_pre_hook(keep_rotary, with_kwargs=True)]
    try:
        model(input_ids, use_cache=False)
    finally:
        for handle in handles:
            handle.remove()
    d_head = attn.head_dim
    q, k = _heads(caught["q"], d_head), _heads(caught["k"], d_head)
    if rotary:
        q, k = apply_rotary_pos_emb(q[None], k[None], caught["cos"], caught["sin"])
        q, k = q[0], k[0]
    return check_finite(q, f"q of layer {layer}").float().cpu(), check_finite(k, f"k of layer {layer}").float().cpu()


@torch.no_grad()
def attention_error(model, input_ids: torch.Tensor, layer: int, pattern: torch.Tensor) -> float:
    """Largest ``|pattern - the model's own attention weights|`` of layer ``layer`` on one text.

    ``pattern[head, query, key]`` covers every position of ``input_ids [1, T]``. Only the one number comes
    back: the model's weights themselves (an exercise's output) are not returned.
    """
    check_eager(model)
    check_layer(model, layer)
    input_ids = check_ids(model, input_ids).to(model.device)
    weights = check_finite(model(input_ids, output_attentions=True, use_cache=False).attentions[layer][0],
                           f"attentions[{layer}]").float().cpu()
    if not torch.is_tensor(pattern) or tuple(pattern.shape) != tuple(weights.shape):
        shape = tuple(pattern.shape) if torch.is_tensor(pattern) else type(pattern).__name__
        raise ValueError(f"expected attention weights of shape {tuple(weights.shape)} [head, query, key], got {shape}.")
    return float((pattern.detach().float().cpu() - weights).abs().max())


@contextmanager
def sliding_window(model, window: int) -> Iterator[None]:
    """Run the block with the model's sliding window set to ``window`` tokens (restored afterwards).

    Gemma-2 builds its sliding-window mask from ``config.sliding_window`` at every forward pass,
    so a short window makes the local layers' band visible on a short text (the offline model's
    window is 256 tokens, Gemma-2-2b's 4096). The model then computes something it was not
    trained for; use it to test code, not to read the model.
    """
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise ValueError(f"window must be a positive number of tokens, got {window!r}.")
    old = model.config.sliding_window
    model.config.sliding_window = window
    try:
        yield
    finally:
        model.config.sliding_window = old


def sliding_layers(config) -> list[int]:
    """Indices of the layers whose attention uses the sliding window (``config.layer_types``)."""
    return [i for i, kind in enumerate(config.layer_types) if kind == "sliding_attention"]
