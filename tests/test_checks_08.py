"""The checks of notebook 08: each passes the instructor solution and names the likely mistake of plausible wrong
ones (the solutions are read from the instructor notebook, never copied here)."""
from collections import Counter

import pytest
import torch

from helpers import checks
from tests.solutions import fails, instructor_functions, passes




@pytest.fixture(scope="module")
def nb08():
    return instructor_functions("08_papers")


# --- 8.1 attention_from_scratch: a from-scratch attention with one switchable mistake ---------

def wrong_attention(mistake: str):
    """Gemma-2's attention from q and k before RoPE, with ``mistake`` made on purpose."""

    def attention(q, k, config, layer):
        n_heads, T, d = q.shape
        theta = 10000.0 if mistake == "theta_10000" else config.rope_parameters["rope_theta"]
        inv_freq = 1.0 / theta ** (torch.arange(0, d, 2, dtype=torch.float32) / d)
        angles = torch.arange(T, dtype=torch.float32)[:, None] * inv_freq[None, :]
        if mistake == "interleaved_rope":  # pairs (0, 1), (2, 3), ...: the RoFormer paper's layout, not transformers'
            cos, sin = angles.cos().repeat_interleave(2, -1), angles.sin().repeat_interleave(2, -1)

            def rope(x):
                pairs = x.reshape(*x.shape[:-1], d // 2, 2)
                rotated = torch.stack([-pairs[..., 1], pairs[..., 0]], dim=-1).reshape(x.shape)
                return x * cos + rotated * sin
        else:
            cos, sin = torch.cat([angles, angles], -1).cos(), torch.cat([angles, angles], -1).sin()

            def rope(x):
                return x * cos + torch.cat([-x[..., d // 2:], x[..., : d // 2]], -1) * sin
        if mistake != "no_rope":
            q, k = rope(q), rope(k)
        groups = n_heads // k.shape[0]
        k = k.repeat(groups, 1, 1) if mistake == "tiled_gqa" else k.repeat_interleave(groups, dim=0)
        scale = d ** -0.5 if mistake == "sqrt_head_dim" else config.query_pre_attn_scalar ** -0.5
        cap = 50.0 if mistake == "cap_50" else config.attn_logit_softcapping
        logits = q @ k.transpose(-1, -2)
        if mistake == "cap_before_scale":
            logits = cap * torch.tanh(logits / cap) * scale
        else:
            logits = logits * scale
            if mistake != "no_softcap":
                logits = cap * torch.tanh(logits / cap)
        pos = torch.arange(T)
        visible = pos[None, :] <= pos[:, None]
        if mistake == "no_causal":
            visible = torch.ones(T, T, dtype=torch.bool)
        slides = config.layer_types[layer] == "sliding_attention"
        window = config.sliding_window + (1 if mistake == "window_plus_one" else 0)
        if (slides and mistake != "no_window") or mistake == "window_everywhere":
            visible = visible & (pos[:, None] - pos[None, :] < window)
        return logits.masked_fill(~visible, float("-inf")).softmax(dim=-1)

    return attention


def test_check_attention_from_scratch_passes(lm, nb08, capsys):
    model, tokenizer = lm
    passes(checks.check_attention_from_scratch, nb08["attention_from_scratch"], model, tokenizer, capsys=capsys)
    passes(checks.check_attention_from_scratch, wrong_attention("none"), model, tokenizer, capsys=capsys)


@pytest.mark.parametrize("mistake, hint", [
    ("no_softcap", "without the soft-cap"),
    ("sqrt_head_dim", r"1/sqrt\(head_dim\)"),
    ("tiled_gqa", "repeat_interleave"),
    ("no_rope", "WITHOUT rotary position embeddings"),
    ("interleaved_rope", "neighbouring pairs"),
    ("no_window", "further back than config.sliding_window"),
    ("window_everywhere", "on a full-attention layer"),
    ("window_plus_one", "one token too wide"),
    ("no_causal", "later keys"),
    ("cap_before_scale", "capped q·k before scaling"),
    ("theta_10000", "θ = 10000"),
    ("cap_50", "soft-cap is 50"),
])
def test_check_attention_from_scratch_names_the_mistake(lm, mistake, hint):
    model, tokenizer = lm
    fails(checks.check_attention_from_scratch, wrong_attention(mistake), model, tokenizer, match=hint)


def test_check_attention_from_scratch_shapes(lm, nb08):
    model, tokenizer = lm
    right = nb08["attention_from_scratch"]
    fails(checks.check_attention_from_scratch, lambda q, k, c, layer: right(q, k, c, layer)[None], model, tokenizer,
          match="drop the batch dimension")
    fails(checks.check_attention_from_scratch, lambda q, k, c, layer: right(q[::2], k, c, layer), model, tokenizer,
          match="one map per KEY head")


# --- 8.2 differential_attention ---------------------------------------------------------------

def _causal_softmax(q, k, scale):
    T = q.shape[-2]
    future = torch.ones(T, T, dtype=torch.bool).triu(1)
    return (q @ k.transpose(-1, -2) * scale).masked_fill(future, float("-inf")).softmax(-1)


def wrong_differential(mistake: str):
    def differential(q, k, lam):
        d = q.shape[-1] // 2
        if mistake == "even_odd":
            q1, q2, k1, k2 = q[..., 0::2], q[..., 1::2], k[..., 0::2], k[..., 1::2]
        else:
            q1, q2, k1, k2 = q[..., :d], q[..., d:], k[..., :d], k[..., d:]
        scale = (2 * d) ** -0.5 if mistake == "full_width_scale" else d ** -0.5
        if mistake == "no_causal":
            return (q1 @ k1.transpose(-1, -2) * scale).softmax(-1) - lam * (q2 @ k2.transpose(-1, -2) * scale).softmax(-1)
        if mistake == "logit_difference":
            T = q.shape[-2]
            logits = (q1 @ k1.transpose(-1, -2) - lam * q2 @ k2.transpose(-1, -2)) * scale
            return logits.masked_fill(torch.ones(T, T, dtype=torch.bool).triu(1), float("-inf")).softmax(-1)
        a1, a2 = _causal_softmax(q1, k1, scale), _causal_softmax(q2, k2, scale)
        if mistake == "plus":
            return a1 + lam * a2
        if mistake == "swapped":
            return a2 - lam * a1
        if mistake == "renormalised":
            return (a1 - lam * a2) / (1 - lam) if lam != 1 else a1 - lam * a2
        return a1 - lam * a2

    return differential


def test_check_differential_attention(nb08, capsys):
    passes(checks.check_differential_attention, nb08["differential_attention"], capsys=capsys)
    passes(checks.check_differential_attention, wrong_differential("none"), capsys=capsys)


@pytest.mark.parametrize("mistake, hint", [
    ("plus", "ADDED the second map"),
    ("swapped", "maps are swapped"),
    ("logit_difference", "subtracted the logits"),
    ("full_width_scale", r"1/sqrt\(2d\)"),
    ("no_causal", "No causal mask"),
    ("even_odd", "even and odd"),
    ("renormalised", "raw difference"),
])
def test_check_differential_attention_names_the_mistake(mistake, hint):
    fails(checks.check_differential_attention, wrong_differential(mistake), match=hint)


def test_check_differential_attention_shape():
    fails(checks.check_differential_attention, lambda q, k, lam: wrong_differential("none")(q, k, lam)[..., -1, :],
          match="Expected shape")


# --- 8.3 majority_vote ------------------------------------------------------------------------

def test_check_majority_vote(nb08, capsys):
    passes(checks.check_majority_vote, nb08["majority_vote"], capsys=capsys)


def _counts_empty(answers):  # max over a set would tie-break by hash; sorted keeps it deterministic, and "" counts
    return max(sorted(set(answers)), key=answers.count) if answers else ""


def _alphabetical(answers):
    counts = Counter(a for a in answers if a)
    return min(counts, key=lambda a: (-counts[a], a)) if counts else ""


def _last_seen(answers):
    counts = Counter(a for a in reversed(answers) if a)
    return counts.most_common(1)[0][0] if counts else ""


def _lowercased(answers):
    counts = Counter(a.lower() for a in answers if a)
    return counts.most_common(1)[0][0] if counts else ""


@pytest.mark.parametrize("wrong, hint", [
    (_counts_empty, "never wins"),
    (_alphabetical, "appears FIRST"),
    (_last_seen, "appears FIRST"),
    (_lowercased, "exactly as given"),
])
def test_check_majority_vote_names_the_mistake(wrong, hint):
    fails(checks.check_majority_vote, wrong, match=hint)


# --- 8.4 best_of_n ----------------------------------------------------------------------------

def test_check_best_of_n(nb08, capsys):
    passes(checks.check_best_of_n, nb08["best_of_n"], capsys=capsys)


def _plain(answers, scores, pick_lowest=False, later_wins=False, skip_empty=True):
    best, best_score = "", None
    for answer, score in zip(answers, scores):
        if skip_empty and not answer:
            continue
        score = -score if pick_lowest else score
        if best_score is None or score > best_score or (later_wins and score == best_score):
            best, best_score = answer, score
    return best


def _weighted(answers, scores, how=sum):
    groups: dict[str, list[float]] = {}
    for answer, score in zip(answers, scores):
        if answer:
            groups.setdefault(answer, []).append(score)
    totals = {a: how(s) for a, s in groups.items()}
    return max(totals, key=totals.get) if totals else ""


@pytest.mark.parametrize("wrong, hint", [
    (lambda a, s, weighted=False: _plain(a, s), "SUMS the scores|sums the scores"),  # ignores weighted
    (lambda a, s, weighted=False: _weighted(a, s, lambda v: sum(v) / len(v)) if weighted else _plain(a, s), "not their mean"),
    (lambda a, s, weighted=False: _weighted(a, s) if weighted else _plain(a, s, pick_lowest=True), "HIGHEST score"),
    (lambda a, s, weighted=False: _weighted(a, s) if weighted else _plain(a, s, later_wins=True), "earliest sample wins"),
    (lambda a, s, weighted=False: _weighted(a, s) if weighted else _plain(a, s, skip_empty=False), "never wins"),
])
def test_check_best_of_n_names_the_mistake(wrong, hint):
    fails(checks.check_best_of_n, wrong, match=hint)
