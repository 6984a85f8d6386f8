"""Checks of notebook 08 (papers): exercises 8.1 attention_from_scratch, 8.2 differential_attention,
8.3 majority_vote, 8.4 best_of_n."""
from __future__ import annotations

from helpers.checks.common import (ANY, close, digest, distinct, float_atol, max_diff, model_key, ok, pinned, require,
                                   unpinned_note)

NOTEBOOK = "08"
CHECK_TEXT_08 = "Attention lets a model focus on the most relevant parts of its input, one token at a time."
ATTENTION_MISTAKES = {  # most specific first
    "rope_none": "Your weights equal attention WITHOUT rotary position embeddings: rotate q and k (RoPE) before "
                 "the dot product, with position p's angles p · θ^(-2i/d), θ = config.rope_parameters['rope_theta'].",
    "rope_interleaved": "You rotated neighbouring pairs (0,1), (2,3), …: Gemma's RoPE (transformers' rotate_half) "
                        "pairs dimension i with i + d/2: rotate_half(x) = cat(-x[..., d/2:], x[..., :d/2]).",
    "gqa_tile": "Query head h must use key head h // (n_heads / n_kv_heads): repeat each key head in place, "
                "k.repeat_interleave(groups, dim=0), not k.repeat(groups, 1, 1) (that tiles the whole stack).",
    "scale_head_dim": "You scaled by 1/sqrt(head_dim): Gemma-2 scales q·k by "
                      "config.query_pre_attn_scalar ** -0.5 (equal to head_dim on Gemma-2-2b, not on every model).",
    "softcap_none": "Your weights equal attention without the soft-cap: Gemma-2 caps the scaled logits, "
                    "cap * tanh(logits / cap) with cap = config.attn_logit_softcapping, before the mask.",
    "rope_theta_10000": "Your RoPE uses θ = 10000: read θ from the config, config.rope_parameters['rope_theta'] "
                        "(every setting comes from `config`).",
    "softcap_50": "Your soft-cap is 50: read it from the config, config.attn_logit_softcapping.",
    "softcap_unscaled": "You capped q·k before scaling it: scale first (× query_pre_attn_scalar ** -0.5), then "
                        "cap * tanh(scaled / cap).",
    "window_none": "This layer slides (config.layer_types[layer] == 'sliding_attention'), but your query sees keys "
                   "further back than config.sliding_window tokens: allow key j for query i only if i - j < window.",
    "window_everywhere": "You applied the sliding window on a full-attention layer: only layers with "
                         "config.layer_types[layer] == 'sliding_attention' slide.",
    "window_plus_one": "Your window is one token too wide: a query sees itself and the window - 1 keys before it "
                       "(i - j < window, as transformers' sliding_window_overlay).",
    "window_no_causal": "Queries attend to later keys: mask key j > i (causal mask) before the softmax.",
}
RANDOM_CONFIG = dict(query_pre_attn_scalar=9, attn_logit_softcapping=5.0, sliding_window=4, rope_theta=100.0)


def _half_logit_atol(q, k, config, dtype) -> float:
    """Tolerance for a half-precision model's attention weights: its logits are rounded to the dtype's epsilon
    relative to their size, and a weight moves by up to about that much (w(1-w) <= 1/4, q and k rounded too).

    |logit| <= max|q| * max|k| * scale (RoPE keeps norms), and never above the soft-cap.
    """
    import torch

    scale = config.query_pre_attn_scalar ** -0.5
    bound = float(q.float().norm(dim=-1).max() * k.float().norm(dim=-1).max()) * scale
    cap = config.attn_logit_softcapping or bound
    return 0.5 * torch.finfo(dtype).eps * min(bound, cap)




def _diagnose_attention(got, want: dict, atol: float, where: str) -> None:
    """Raise with the hint of the first pinned mistake that reproduces ``got``, or a generic message."""
    diff = max_diff(got, want["correct"])
    if diff <= atol:
        return
    for mistake, hint in ATTENTION_MISTAKES.items():
        variant = want.get(mistake)
        if distinct(variant, 10 * atol) and close(got, variant, atol):
            require(False, f"{hint} {where}")
    require(False, f"Your weights differ from Gemma-2's by up to {diff:.3g} {where}. The steps: RoPE on q and k, key heads "
                   "repeated for their query heads, × query_pre_attn_scalar ** -0.5, soft-cap, causal (and sliding-window) "
                   "mask, softmax over keys.")


def _call_attention(fn, q, k, config, layer: int, where: str):
    """Call the student's function on copies and check type, shape, rows and the causal zeros."""
    import torch

    q0, k0 = q.clone(), k.clone()
    got = fn(q, k, config, layer)
    require(torch.equal(q, q0) and torch.equal(k, k0), "attention_from_scratch changed q or k in place: compute on new tensors.")
    require(isinstance(got, torch.Tensor), f"Return a tensor attn[head, query, key], got {type(got).__name__}.")
    n_heads, T = q.shape[0], q.shape[1]
    require(got.dim() != 4 or got.shape[0] != 1, f"Shape {tuple(got.shape)}: drop the batch dimension, return [head, query, key].")
    require(tuple(got.shape) != (k.shape[0], T, T) or k.shape[0] == n_heads,
            f"{k.shape[0]} heads: that is one map per KEY head. Every one of the {n_heads} query heads has its own map; "
            "repeat each key head for the query heads that share it.")
    require(tuple(got.shape) == (n_heads, T, T), f"Expected attn[head, query, key] of shape {(n_heads, T, T)}, got {tuple(got.shape)} {where}.")
    got = got.detach().float().cpu()
    require(bool(torch.isfinite(got).all()), f"Your weights contain inf or NaN {where}: mask with -inf BEFORE the softmax, "
                                             "and softmax over the last axis (keys).")
    sums = got.sum(dim=-1)
    require(torch.allclose(sums, torch.ones_like(sums), atol=1e-4),
            f"Rows sum to {float(sums.min()):.3f} … {float(sums.max()):.3f}, not 1 {where}: softmax over the keys (last axis).")
    return got




def attention_layers(config) -> tuple[list[int], list[int], list[int]]:
    """``(layers checked, sliding layers, full layers)`` of check 8.1."""
    from helpers import hooks

    n_layers = config.num_hidden_layers
    sliding = hooks.sliding_layers(config)
    full = [i for i in range(n_layers) if i not in sliding]
    layers = sorted({sliding[0], full[0], full[len(full) // 2], n_layers - 1} if sliding and full else {0, n_layers - 1})
    return layers, sliding, full


def attention_cases(model, tokenizer):
    """``[(name, q, k, config, layer, where)]``: the visible inputs of check 8.1 (the model's q and k on the check's
    text, with the model's window and a shrunk one; random q and k with a config where every setting differs)."""
    import contextlib
    import copy

    import torch

    from helpers import hooks

    ids = tokenizer(CHECK_TEXT_08, return_tensors="pt").input_ids
    config = model.config
    layers, sliding, full = attention_layers(config)
    window = max(2, ids.shape[1] // 3)
    cases = []
    for shrink in (False, True):
        for layer in layers:
            if shrink and layer not in (sliding[:1] + full[:1]):
                continue
            with hooks.sliding_window(model, window) if shrink else contextlib.nullcontext():
                q, k = hooks.capture_qk(model, ids, layer)
                cfg = copy.deepcopy(model.config)
            where = (f"(layer {layer}, {config.layer_types[layer]}, T={ids.shape[1]}"
                     + (f", sliding window shrunk to {window}" if shrink else "") + ")")
            cases.append((f"{layer}|{shrink}", q, k, cfg, layer, where))
    gen = torch.Generator().manual_seed(81)
    other = copy.deepcopy(config)
    other.query_pre_attn_scalar, other.attn_logit_softcapping, other.sliding_window = 9, 5.0, 4
    other.rope_parameters = dict(config.rope_parameters, rope_theta=100.0)
    head_dim = cases[0][1].shape[-1]
    q = torch.randn(config.num_attention_heads, 12, head_dim, generator=gen) * 1.5
    k = torch.randn(config.num_key_value_heads, 12, head_dim, generator=gen) * 1.5
    for layer in (sliding[0] if sliding else 0, full[0] if full else 1):
        where = (f"(random q and k, config with query_pre_attn_scalar=9, attn_logit_softcapping=5, sliding_window=4, "
                 f"rope_theta=100; layer {layer}, {other.layer_types[layer]})")
        cases.append((f"random|{layer}", q, k, other, layer, where))
    return cases


def check_attention_from_scratch(attention_from_scratch, model, tokenizer) -> None:
    """Exercise 8.1: ``attention_from_scratch(q, k, config, layer) -> attn[head, query, key]`` equals Gemma-2's eager attention."""
    import torch

    dtype = next(model.parameters()).dtype
    atol = 1e-5 if dtype == torch.float32 else float_atol(model)
    entry = pinned(NOTEBOOK, "check_attention_from_scratch", model_key(model))
    worst, checked = 0.0, []
    for name, q, k, config, layer, where in attention_cases(model, tokenizer):
        got = _call_attention(attention_from_scratch, q, k, config, layer, where)
        random = name.startswith("random")
        tol = 1e-5 if random or atol < 1e-4 else max(atol, _half_logit_atol(q, k, config, dtype))
        if entry is not None:
            _diagnose_attention(got, entry[name], tol, where)
            if not random:
                worst = max(worst, max_diff(got, entry[name]["correct"]))
        checked.append(layer)
    ok(f"matches the model's attention on layers {sorted(set(checked))} and with a shrunk window (max error {worst:.1e}), "
       "and Gemma-2's recipe on a config where the scale, cap, window and θ all differ" + unpinned_note(entry))


DIFFERENTIAL_SHAPES = [((2, 7, 8), 0.8), ((9, 12), 0.3), ((2, 3, 5, 4), 1.0)]
DIFFERENTIAL_MISTAKES = {
    "added": "You ADDED the second map: the differential map is softmax(A1) − λ·softmax(A2).",
    "swapped": "The maps are swapped: the FIRST half of q and k (dims 0..d-1) gives the positive map A1, "
               "the second half the subtracted one.",
    "one_softmax": "You subtracted the logits and took one softmax: take two softmax maps first, then subtract them.",
    "scale_2d": "You scaled by 1/sqrt(2d): each map uses half of the dims, d = q.shape[-1] // 2, and is scaled by 1/sqrt(d).",
    "no_mask": "No causal mask: a query must not see later keys (mask j > i with -inf before each softmax).",
    "even_odd": "You split the dims into even and odd ones: split into two halves, q[..., :d] and q[..., d:].",
    "normalised": "Return the raw difference: the paper's (1 − λ_init) factor and GroupNorm act on the head's output, not on the map.",
}


def differential_inputs():
    """``[(q, k, lam)]``: the visible inputs of check 8.2."""
    import torch

    gen = torch.Generator().manual_seed(82)
    cases = []
    for shape, lam in DIFFERENTIAL_SHAPES:
        q = torch.randn(*shape, generator=gen) * 2
        k = torch.randn(*shape, generator=gen) * 2
        cases.append((q, k, lam))
    return cases


def check_differential_attention(differential_attention) -> None:
    """Exercise 8.2: ``differential_attention(q, k, lam) = softmax(q1·k1/√d) − λ·softmax(q2·k2/√d)``, causal."""
    import torch

    entry = pinned(NOTEBOOK, "check_differential_attention", ANY)
    for index, (q, k, lam) in enumerate(differential_inputs()):
        shape, T = tuple(q.shape), q.shape[-2]
        where = f"(q, k of shape {shape}, λ={lam})"
        q0, k0 = q.clone(), k.clone()
        got = differential_attention(q, k, lam)
        require(torch.equal(q, q0) and torch.equal(k, k0), "differential_attention changed q or k in place.")
        require(isinstance(got, torch.Tensor), f"Return a tensor, got {type(got).__name__}.")
        require(tuple(got.shape) == (*shape[:-1], T), f"Expected shape {(*shape[:-1], T)} (one [T, T] map per leading index), "
                                                      f"got {tuple(got.shape)} {where}.")
        got = got.detach().float()
        want = entry[str(index)]
        if close(got, want["correct"], 1e-5):
            continue
        for mistake, hint in DIFFERENTIAL_MISTAKES.items():
            if mistake in want and close(got, want[mistake], 1e-5):
                require(False, f"{hint} {where}")
        require(False, f"Your map differs from softmax(q1·k1ᵀ/√d) − λ·softmax(q2·k2ᵀ/√d) by up to "
                       f"{max_diff(got, want['correct']):.3g} {where} (causal mask, d = q.shape[-1] // 2).")
    ok("equals the pinned softmax(q1·k1ᵀ/√d) − λ·softmax(q2·k2ᵀ/√d) with a causal mask on 3 shapes and λ ∈ {0.8, 0.3, 1.0}")


def _expect_choice(fn, args, want: str, hint: str) -> None:
    got = fn(*args)
    require(isinstance(got, str), f"Return the chosen answer as a string, got {type(got).__name__}.")
    require(digest(got) == want, f"{hint} (got {got!r} for {', '.join(repr(a) for a in args)})")


MAJORITY_CASES = [
    (["paris", "lyon", "paris"], "The most frequent answer wins."),
    (["", "", "", "nice", "nice", "lyon"], "An empty answer (nothing was extracted) never wins: skip \"\"."),
    (["", ""], "When every answer is empty, return \"\"."),
    ([], "An empty list has no answer: return \"\"."),
    (["paris", "lyon", "lyon", "paris"], "Ties go to the answer that appears FIRST in the list (here 'paris', at index 0)."),
    (["nice", "lyon", "paris", "lyon", "nice", "paris"], "Ties go to the answer that appears FIRST in the list."),
    (["b", "a", "c", "a", "b"], "Ties go to the answer that appears first in the list, not the alphabetically first."),
    (["Paris", "Paris", "paris"], "Compare answers exactly as given (no lower-casing or stripping)."),
]


def check_majority_vote(majority_vote) -> None:
    """Exercise 8.3: the most frequent non-empty answer; ties -> the one that appears first; none -> ``""``."""
    entry = pinned(NOTEBOOK, "check_majority_vote", ANY)
    for index, (answers, hint) in enumerate(MAJORITY_CASES):
        _expect_choice(majority_vote, (list(answers),), entry[str(index)], hint)
    ok(f"most frequent non-empty answer; ties to the first to appear; \"\" when there is none ({len(MAJORITY_CASES)} cases)")


def check_best_of_n(best_of_n) -> None:
    """Exercise 8.4: ``best_of_n(answers, scores, weighted=False)``; weighted sums the scores of equal answers."""
    cases = [
        ((["a", "b", "a", "c"], [0.4, 0.7, 0.5, 0.2]), "b",
         "Plain best-of-N returns the answer of the single highest-scoring sample (the HIGHEST score wins)."),
        ((["a", "a", "b"], [0.4, 0.4, 0.7], True), "a", "weighted=True SUMS the scores of equal answers (not their mean or max)."),
        ((["a", "b", "a", "c"], [0.4, 0.7, 0.5, 0.2], True), "a",
         "weighted=True sums the scores of samples with the same answer ('a': 0.4 + 0.5 = 0.9 beats 'b': 0.7)."),
        ((["a", "b"], [-2.0, -1.0]), "b", "Pick the HIGHEST score (-1 > -2), not the lowest."),
        ((["x", "y", "z"], [0.5, 0.5, 0.1]), "x", "Equal scores: the earliest sample wins (compare with >, not >=)."),
        ((["y", "x", "x", "y"], [0.2, 0.3, 0.1, 0.2], True), "y", "Equal totals: the answer that appears first wins."),
        ((["", "a"], [5.0, 1.0]), "a", "An empty answer never wins, whatever its score: skip \"\"."),
        ((["", "a", ""], [5.0, 1.0, 9.0], True), "a", "An empty answer never wins, whatever its score: skip \"\"."),
        ((["", ""], [1.0, 2.0]), "", "When every answer is empty, return \"\"."),
        (([], []), "", "No samples: return \"\"."),
    ]
    for args, want, hint in cases:
        _expect_choice(best_of_n, args, digest(want), hint)
    ok("best-of-N and weighted best-of-N, with ties, negative scores and empty answers (10 cases)")
