"""Pinned data of notebook 06's check 6.1: the instructor solution, checked against a KV-cache loop, and its neighbours."""
from __future__ import annotations

from helpers.checks import nb06 as checks
from helpers.checks.common import model_key, tensor_sketch, tensor_values


def kv_cache_rows(model, ids, prompt_len: int):
    """``rows[layer, head, i, key]`` from a KV-cache loop: the prompt once, then one token per step.

    Row ``i`` is the query at position ``prompt_len - 1 + i`` (it predicted generated token ``i``),
    over keys ``0 .. T-2``; keys after the query are 0. An independent route (no full forward).
    """
    import torch
    from transformers import DynamicCache

    n_keys = ids.shape[1] - 1
    cache = DynamicCache(config=model.config)
    rows = []
    with torch.no_grad():
        steps = [ids[:, :prompt_len]] + [ids[:, pos : pos + 1] for pos in range(prompt_len, n_keys)]
        fed = 0
        for step in steps:
            out = model(step.to(model.device), cache=cache, use_cache=True, output_attentions=True)
            fed += step.shape[1]
            last = torch.stack([a[0, :, -1, :] for a in out.attentions]).float().cpu()  # [layer, head, keys kept]
            full = last.new_zeros(*last.shape[:2], n_keys)
            full[..., fed - last.shape[-1] : fed] = last
            rows.append(full)
    return torch.stack(rows, dim=2)


def pin_generation_attention(sol, objects) -> dict:
    model, tokenizer = objects.lm
    ids = tokenizer(checks.CHECK_TEXT_06, return_tensors="pt").input_ids
    n_layers = model.config.num_hidden_layers
    entry = {}
    for prompt_len, layer in checks.attention_cases(n_layers):
        loop = kv_cache_rows(model, ids, prompt_len)
        rows = sol["generation_attention"](model, ids, prompt_len, layer).float().cpu()
        diff = float((rows - loop[layer]).abs().max())
        if diff > 1e-5:
            raise ValueError(f"the instructor's generation_attention differs from a KV-cache loop by {diff:.3g}")
        entry[f"{prompt_len}|{layer}"] = {"correct": tensor_values(rows),
                                          **{f"layer_{o}": tensor_sketch(loop[o], rows) for o in (layer - 1, layer + 1)
                                             if 0 <= o < n_layers}}
    return {model_key(model): entry}


PINNERS = {"check_generation_attention": pin_generation_attention}
