"""Reference computations for maintainer and TA tools — never shipped, since each is an exercise's answer.

One copy each of what the asset build (``helpers.offline.build``), the full-size check
(``helpers.offline.fullsize``) and the pinned check data (``helpers.coursework.pin_checks``) need:

* :func:`decoder_layer_outputs` — every decoder layer's output (resid_post) caught by forward hooks,
  independent of ``hidden_states`` and its off-by-one (exercises 7.1, 7.3, 7.4 are checked against it);
* :func:`jumprelu` — Gemma Scope's JumpReLU encoder (exercise 7.2);
* :func:`generation_attention_rows` — the attention rows of generated tokens from one forward (exercise 6.1).
"""
from __future__ import annotations

import torch


@torch.no_grad()
def decoder_layer_outputs(model, input_ids: torch.Tensor, layers: list[int] | None = None) -> dict[int, torch.Tensor]:
    """``{layer: [batch, pos, d_model]}``: decoder layer outputs (all layers, or ``layers``), from forward hooks."""
    blocks = model.model.layers
    wanted = range(len(blocks)) if layers is None else layers
    caught: dict[int, torch.Tensor] = {}

    def keep(index):
        def record(module, args, output):
            caught[index] = (output[0] if isinstance(output, tuple) else output).detach()
        return record

    handles = [blocks[i].register_forward_hook(keep(i)) for i in wanted]
    try:
        model(input_ids.to(model.device))
    finally:
        for handle in handles:
            handle.remove()
    return {i: caught[i] for i in wanted}


def jumprelu(x: torch.Tensor, W_enc: torch.Tensor, b_enc: torch.Tensor, threshold: torch.Tensor) -> torch.Tensor:
    """JumpReLU features ``[..., d_sae]``: ``pre`` where ``pre > threshold``, else 0, with ``pre = x @ W_enc + b_enc``."""
    pre = x.to(device=W_enc.device, dtype=W_enc.dtype) @ W_enc + b_enc
    return torch.where(pre > threshold, pre, torch.zeros_like(pre))


@torch.no_grad()
def generation_attention_rows(model, ids: torch.Tensor, prompt_len: int, layer: int) -> torch.Tensor:
    """``rows[head, G, T-1]``: the attention of each generated token, from one forward over ``ids[:, :-1]``."""
    out = model(ids[:, :-1].to(model.device), output_attentions=True)
    return out.attentions[layer][0, :, prompt_len - 1:, :].float().cpu()
