"""Pinned data of notebook 08's checks: the instructor solutions, checked against the model, and the usual mistakes."""
from __future__ import annotations

from helpers.checks import nb08 as checks
from helpers.checks.common import ANY, digest, model_key, tensor_sketch, tensor_values


def _rotate(q, k, config, rope: str):
    """RoPE on ``q, k [1, head, T, d]`` with transformers' Gemma-2 rotary embedding (or a mistaken variant)."""
    import copy

    import torch
    from transformers.models.gemma2.modeling_gemma2 import Gemma2RotaryEmbedding, apply_rotary_pos_emb

    if rope == "none":
        return q, k
    T, d = q.shape[-2], q.shape[-1]
    perm = torch.cat([torch.arange(0, d, 2), torch.arange(1, d, 2)]) if rope == "interleaved" else torch.arange(d)
    rotary_config = copy.deepcopy(config)
    rotary_config.head_dim = d
    if rope == "theta_10000":
        rotary_config.rope_parameters = dict(config.rope_parameters, rope_theta=10000.0)
    cos, sin = Gemma2RotaryEmbedding(rotary_config)(q, torch.arange(T)[None])
    return apply_rotary_pos_emb(q[..., perm], k[..., perm], cos, sin)


def _mask(T: int, config, layer: int, window: str):
    """The additive mask ``[1, 1, T, T]`` from transformers' mask functions (or a mistaken variant)."""
    import torch
    from transformers.masking_utils import causal_mask_function, sliding_window_causal_mask_function

    slides = {"none": False, "everywhere": True}.get(window, config.layer_types[layer] == "sliding_attention")
    w = config.sliding_window + (1 if window == "plus_one" else 0)
    positions = torch.arange(T)
    rule = sliding_window_causal_mask_function(w) if slides else causal_mask_function
    allowed = rule(0, 0, positions[:, None], positions[None, :])
    if window == "no_causal":
        allowed = torch.ones(T, T, dtype=torch.bool)
    return torch.zeros(T, T).masked_fill(~allowed, torch.finfo(torch.float32).min)[None, None]


def attention_reference(q, k, config, layer: int, rope: str = "half", scaling: float | None = None,
                        softcap: str = "before", window: str = "config", gqa: str = "interleave"):
    """Gemma-2's attention weights ``[head, query, key]`` from transformers' own pieces (RoPE, repeat_kv, eager attention,
    mask functions); the keyword arguments switch on one usual mistake each, so a check can name it."""
    import types

    import torch
    from transformers.models.gemma2.modeling_gemma2 import eager_attention_forward

    q, k = _rotate(q.detach().float().cpu()[None], k.detach().float().cpu()[None], config, rope)
    groups = q.shape[1] // k.shape[1]
    if gqa == "tile":
        k, groups = k.repeat(1, groups, 1, 1), 1
    scale = config.query_pre_attn_scalar ** -0.5 if scaling is None else scaling
    cap = {"none": None, "cap_50": 50.0}.get(softcap, config.attn_logit_softcapping)
    mask = _mask(q.shape[-2], config, layer, window)
    if softcap == "unscaled":  # tanh cap on q·k before the scaling
        logits = (q @ k.repeat_interleave(groups, dim=1).transpose(-1, -2))
        return (cap * torch.tanh(logits / cap) * scale + mask).softmax(dim=-1)[0]
    module = types.SimpleNamespace(num_key_value_groups=groups, training=False, head_dim=q.shape[-1])
    _, weights = eager_attention_forward(module, q, k, k, mask, scaling=scale, softcap=cap)
    return weights[0]


def mistake_kwargs(head_dim: int) -> dict[str, dict]:
    """The ``attention_reference`` switches of each named mistake of exercise 8.1."""
    return {"rope_none": dict(rope="none"), "rope_interleaved": dict(rope="interleaved"), "gqa_tile": dict(gqa="tile"),
            "scale_head_dim": dict(scaling=head_dim ** -0.5), "softcap_none": dict(softcap="none"),
            "rope_theta_10000": dict(rope="theta_10000"), "softcap_50": dict(softcap="cap_50"),
            "softcap_unscaled": dict(softcap="unscaled"), "window_none": dict(window="none"),
            "window_everywhere": dict(window="everywhere"), "window_plus_one": dict(window="plus_one"),
            "window_no_causal": dict(window="no_causal")}


def pin_attention_from_scratch(sol, objects) -> dict:
    model, tokenizer = objects.lm
    entry = {}
    for name, q, k, config, layer, _ in checks.attention_cases(model, tokenizer):
        got = sol["attention_from_scratch"](q, k, config, layer).float().cpu()
        reference = attention_reference(q, k, config, layer)
        if float((got - reference).abs().max()) > 1e-5:
            raise ValueError(f"the instructor's attention_from_scratch differs from transformers' pieces on {name}")
        entry[name] = {"correct": tensor_values(got),
                       **{m: tensor_sketch(attention_reference(q, k, config, layer, **kw), got)
                          for m, kw in mistake_kwargs(q.shape[-1]).items()}}
    return {model_key(model): entry}


def causal_weights(q, k, scale: float):
    """Causal softmax weights ``[..., T, T]`` from torch's own attention: SDPA with the identity matrix as values."""
    import torch
    import torch.nn.functional as F

    eye = torch.eye(k.shape[-2], dtype=q.dtype).expand(*k.shape[:-1], k.shape[-2])
    return F.scaled_dot_product_attention(q, k, eye, is_causal=True, scale=scale)


def differential_mistakes(q, k, lam: float) -> dict:
    """The outputs of the named mistakes of exercise 8.2."""
    import torch

    d, T = q.shape[-1] // 2, q.shape[-2]
    a1, a2 = causal_weights(q[..., :d], k[..., :d], d ** -0.5), causal_weights(q[..., d:], k[..., d:], d ** -0.5)
    future = torch.ones(T, T, dtype=torch.bool).triu(1)
    s1 = q[..., :d] @ k[..., :d].transpose(-1, -2) / d ** 0.5
    s2 = q[..., d:] @ k[..., d:].transpose(-1, -2) / d ** 0.5
    out = {"added": a1 + lam * a2, "swapped": a2 - lam * a1,
           "one_softmax": (s1 - lam * s2).masked_fill(future, float("-inf")).softmax(-1),
           "scale_2d": causal_weights(q[..., :d], k[..., :d], (2 * d) ** -0.5)
           - lam * causal_weights(q[..., d:], k[..., d:], (2 * d) ** -0.5),
           "no_mask": s1.softmax(-1) - lam * s2.softmax(-1),
           "even_odd": causal_weights(q[..., 0::2], k[..., 0::2], d ** -0.5)
           - lam * causal_weights(q[..., 1::2], k[..., 1::2], d ** -0.5)}
    if lam != 1:
        out["normalised"] = (a1 - lam * a2) / (1 - lam)
    return out, a1 - lam * a2


def pin_differential_attention(sol, objects) -> dict:
    entry = {}
    for index, (q, k, lam) in enumerate(checks.differential_inputs()):
        got = sol["differential_attention"](q, k, lam).float()
        mistakes, reference = differential_mistakes(q, k, lam)
        if float((got - reference).abs().max()) > 1e-5:
            raise ValueError(f"the instructor's differential_attention differs from torch's attention on case {index}")
        entry[str(index)] = {"correct": tensor_values(got), **{m: tensor_sketch(v, got) for m, v in mistakes.items()}}
    return {ANY: entry}


def pin_majority_vote(sol, objects) -> dict:
    return {ANY: {str(i): digest(sol["majority_vote"](list(answers))) for i, (answers, _) in enumerate(checks.MAJORITY_CASES)}}


PINNERS = {"check_attention_from_scratch": pin_attention_from_scratch,
           "check_differential_attention": pin_differential_attention, "check_majority_vote": pin_majority_vote}
