"""helpers.hooks: q and k caught by forward hooks give the model's attention when attention is rebuilt from them.

The from-scratch attention below is written for this test (RoPE as complex rotations, an explicit loop over the
heads), independent of notebook 08's solution.
"""
import pytest
import torch

from helpers import hooks

TEXT = "Self-attention lets every token look at the other tokens and collect useful information."


def rope_complex(x: torch.Tensor, theta: float) -> torch.Tensor:
    """RoPE on ``x[head, pos, d]``: dims (i, i + d/2) as the real and imaginary part of one complex number."""
    d = x.shape[-1]
    freqs = theta ** (-torch.arange(0, d // 2, dtype=torch.float64) * 2 / d)
    angles = torch.arange(x.shape[-2], dtype=torch.float64)[:, None] * freqs[None, :]
    z = torch.complex(x[..., : d // 2].double(), x[..., d // 2 :].double()) * torch.polar(torch.ones_like(angles), angles)
    return torch.cat([z.real, z.imag], dim=-1)


def reference_attention(q, k, config, layer) -> torch.Tensor:
    """Gemma-2 attention weights ``[head, query, key]`` in float64, one head at a time."""
    theta = config.rope_parameters["rope_theta"]
    q, k = rope_complex(q, theta), rope_complex(k, theta)
    n_heads, T, _ = q.shape
    per_kv = n_heads // k.shape[0]
    cap = config.attn_logit_softcapping
    window = config.sliding_window if config.layer_types[layer] == "sliding_attention" else T
    out = torch.zeros(n_heads, T, T, dtype=torch.float64)
    for head in range(n_heads):
        logits = q[head] @ k[head // per_kv].T / config.query_pre_attn_scalar ** 0.5
        logits = cap * torch.tanh(logits / cap)
        for i in range(T):
            keys = slice(max(0, i - window + 1), i + 1)
            out[head, i, keys] = torch.softmax(logits[i, keys], dim=0)
    return out


@pytest.fixture(scope="module")
def ids(lm):
    return lm[1](TEXT, return_tensors="pt").input_ids


@pytest.mark.parametrize("layer", [0, 1, 12, 13, 25])
def test_rebuilt_attention_equals_the_model(lm, ids, layer):
    model, _ = lm
    q, k = hooks.capture_qk(model, ids, layer)
    assert q.dtype == torch.float32 and q.shape == (8, ids.shape[1], 16) and k.shape == (4, ids.shape[1], 16)
    mine = reference_attention(q, k, model.config, layer)
    theirs = model(ids, output_attentions=True, use_cache=False).attentions[layer][0].float()
    assert theirs.shape == mine.shape
    assert float((mine - theirs.double()).abs().max()) <= 1e-5


@pytest.mark.parametrize("layer", [0, 1, 2])
def test_rebuilt_attention_with_a_short_window(lm, ids, layer):
    model, _ = lm
    with hooks.sliding_window(model, 5):
        q, k = hooks.capture_qk(model, ids, layer)
        mine = reference_attention(q, k, model.config, layer)
        theirs = model(ids, output_attentions=True, use_cache=False).attentions[layer][0].float()
    assert float((mine - theirs.double()).abs().max()) <= 1e-5
    if model.config.layer_types[layer] == "sliding_attention":  # the band is really 5 wide
        assert float(theirs[:, -1, : ids.shape[1] - 5].abs().max()) == 0.0
        assert float(theirs[:, -1, ids.shape[1] - 5 :].sum(-1).min()) == pytest.approx(1.0, abs=1e-5)
    else:
        assert float(theirs[:, -1, 0].max()) > 0.0


def test_rotary_is_the_models_rope(lm, ids):
    model, _ = lm
    q, k = hooks.capture_qk(model, ids, 3)
    q_rot, k_rot = hooks.capture_qk(model, ids, 3, rotary=True)
    theta = model.config.rope_parameters["rope_theta"]
    assert torch.allclose(q_rot.double(), rope_complex(q, theta), atol=1e-5)
    assert torch.allclose(k_rot.double(), rope_complex(k, theta), atol=1e-5)
    assert torch.equal(q_rot[:, 0], q[:, 0])  # position 0 is not rotated


def test_capture_leaves_no_hooks(lm, ids):
    model, _ = lm
    attn = model.model.layers[4].self_attn
    hooks.capture_qk(model, ids, 4)
    assert not attn.q_proj._forward_hooks and not attn.k_proj._forward_hooks and not attn._forward_pre_hooks


def test_capture_rejects_a_bad_layer(lm, ids):
    model, _ = lm
    with pytest.raises(IndexError, match="out of range"):
        hooks.capture_qk(model, ids, 26)


def test_sliding_window_is_restored(lm):
    model, _ = lm
    before = model.config.sliding_window
    with pytest.raises(RuntimeError):
        with hooks.sliding_window(model, 3):
            assert model.config.sliding_window == 3
            raise RuntimeError("inside")
    assert model.config.sliding_window == before
    with pytest.raises(ValueError, match="positive"):
        with hooks.sliding_window(model, 0):
            pass


def test_sliding_layers_are_the_even_ones(lm):
    assert hooks.sliding_layers(lm[0].config) == list(range(0, 26, 2))


@pytest.mark.parametrize("layer", [0, 13])
def test_attention_error_is_the_largest_difference_from_the_model(lm, ids, layer):
    model, _ = lm
    q, k = hooks.capture_qk(model, ids, layer)
    mine = reference_attention(q, k, model.config, layer).float()
    assert hooks.attention_error(model, ids, layer, mine) <= 1e-5
    off = mine.clone()
    off[3, -1, 0] += 0.25
    assert hooks.attention_error(model, ids, layer, off) == pytest.approx(0.25, abs=1e-5)
    with hooks.sliding_window(model, 3):  # the model now computes other weights: the error says so
        assert hooks.attention_error(model, ids, layer, mine) > 0.01
    with pytest.raises(ValueError, match=r"\[head, query, key\]"):
        hooks.attention_error(model, ids, layer, mine[:, :-1])
