"""Where a layer's output lives (forward hooks on EVERY decoder layer vs hidden_states), the instructor
solutions of notebook 07 against hooks, activation summaries, plots, clear errors."""
import pytest
import torch
from transformers import Gemma2Config, Gemma2ForCausalLM

from helpers.sae import JumpReLUSAE, activation_density, active_features, neuronpedia_url, top_activating_tokens
from helpers.validation import check_feature, check_layer, check_position
from tests.test_checks_06_07 import instructor_functions


def tiny_gemma(layers=3, seed=0):
    torch.manual_seed(seed)
    config = Gemma2Config(
        vocab_size=120, hidden_size=16, intermediate_size=32, num_hidden_layers=layers, num_attention_heads=2,
        num_key_value_heads=1, head_dim=8, max_position_embeddings=32, attn_implementation="eager",
    )
    return Gemma2ForCausalLM(config).eval()


def random_sae(d_model=16, d_sae=10, seed=0):
    gen = torch.Generator().manual_seed(seed)
    sae = JumpReLUSAE(d_model, d_sae)
    with torch.no_grad():
        sae.W_enc.copy_(torch.randn(d_model, d_sae, generator=gen))
        sae.b_enc.copy_(torch.randn(d_sae, generator=gen))
        sae.threshold.copy_(torch.rand(d_sae, generator=gen) * 2)
    return sae.requires_grad_(False)


class TinyTokenizer:
    """Maps each character to an id (<bos> = 2 first): enough for the solutions' ``tokenizer(text, return_tensors="pt")``."""

    class _Encoding(dict):
        @property
        def input_ids(self):
            return self["input_ids"]

    def __call__(self, text, return_tensors=None):
        ids = [2] + [4 + ord(c) % 100 for c in text]
        return self._Encoding(input_ids=torch.tensor([ids]) if return_tensors == "pt" else ids)


IDS = torch.tensor([[2, 17, 33, 54, 80]])


def layer_outputs_by_hook(model, ids):
    """The output of every decoder layer, caught by forward hooks (the ground truth for resid_post)."""
    caught = {}
    handles = [layer.register_forward_hook(lambda mod, args, out, i=i: caught.__setitem__(i, out))
               for i, layer in enumerate(model.model.layers)]
    with torch.no_grad():
        hidden = model(ids, output_hidden_states=True).hidden_states
    for handle in handles:
        handle.remove()
    assert all(isinstance(out, torch.Tensor) for out in caught.values()), "decoder layers return tensors in transformers 5"
    return [caught[i][0] for i in range(len(caught))], [h[0] for h in hidden]


@pytest.mark.parametrize("make_model", [tiny_gemma, "offline"])
def test_hidden_states_hold_every_layer_output_but_the_last_one_is_after_the_final_norm(make_model, lm):
    model, ids = (lm[0], lm[1]("Time travel will become a reality.", return_tensors="pt").input_ids) \
        if make_model == "offline" else (make_model(), IDS)
    outputs, hidden = layer_outputs_by_hook(model, ids)
    n = model.config.num_hidden_layers
    assert len(hidden) == n + 1 and len(outputs) == n
    for layer in range(n - 1):  # every layer but the last: hidden_states[L + 1] is layer L's output
        assert torch.equal(hidden[layer + 1], outputs[layer]), layer
        assert not torch.allclose(hidden[layer], outputs[layer]), layer
    assert not torch.allclose(hidden[n], outputs[n - 1])  # the last entry is NOT the last layer's output...
    torch.testing.assert_close(hidden[n], model.model.norm(outputs[n - 1]))  # ...but its final norm


def test_instructor_hidden_index_matches_hooks_on_every_layer(lm):
    hidden_index = instructor_functions("07_sae_activations")["hidden_index"]
    model, tokenizer = lm
    n = model.config.num_hidden_layers
    outputs, hidden = layer_outputs_by_hook(model, tokenizer("If time travel were possible.", return_tensors="pt").input_ids)
    for layer in range(n - 1):
        assert torch.equal(hidden[hidden_index(layer, n)], outputs[layer])
    for bad in (n - 1, -1, n):
        with pytest.raises(ValueError, match=rf"0\.\.{n - 2}"):
            hidden_index(bad, n)


def _jumprelu_column(x, sae, feature):
    pre = x.float() @ sae.W_enc[:, feature] + sae.b_enc[feature]
    return torch.where(pre > sae.threshold[feature], pre, torch.zeros_like(pre))


def test_instructor_feature_solutions_match_hooks_on_every_layer():
    """feature_activations and activations_across_layers read each layer's output, the last one included."""
    fns = instructor_functions("07_sae_activations")
    model, sae, tokenizer = tiny_gemma(), random_sae(), TinyTokenizer()
    text = "time travel"
    ids = tokenizer(text, return_tensors="pt").input_ids
    outputs, _ = layer_outputs_by_hook(model, ids)
    across = fns["activations_across_layers"](model, tokenizer, sae, text, 3)
    assert across.shape == (3, ids.shape[1])
    for layer in range(3):
        want = _jumprelu_column(outputs[layer], sae, 3)
        torch.testing.assert_close(fns["feature_activations"](model, tokenizer, sae, text, layer, 3), want)
        torch.testing.assert_close(across[layer], want)


def test_instructor_jumprelu_and_fvu_on_small_cases():
    fns = instructor_functions("07_sae_activations")
    acts = fns["jumprelu_encode"](torch.tensor([[0.5, 1.0, 2.0, -1.0]]), torch.eye(4), torch.zeros(4), torch.tensor([0.5, 0.5, 2.5, 0.1]))
    assert acts.tolist() == [[0.0, 1.0, 0.0, 0.0]]
    x = torch.tensor([[1.0, 2.0], [3.0, 6.0]])
    assert fns["fraction_of_variance_unexplained"](x, x) == 0.0
    assert fns["fraction_of_variance_unexplained"](x, x.mean(0).expand_as(x)) == pytest.approx(1.0)


def test_top_activating_tokens_take_the_activations_you_computed(lm):
    _, tokenizer = lm
    texts = ["Time travel is fun.", "It is time."]
    lengths = [len(tokenizer(t).input_ids) for t in texts]
    acts = [torch.zeros(n) for n in lengths]
    acts[0][-1], acts[1][-1], acts[0][1] = 50.0, 40.0, 1.0  # the last token of each text is the strongest
    acts[1][0] = 99.0  # <bos> never counts
    top, kept = top_activating_tokens(tokenizer, texts, acts, k=2)
    assert kept.numel() == sum(lengths) - 2 and 99.0 not in kept.tolist()
    assert [(t.text_index, t.position) for t in top] == [(0, lengths[0] - 1), (1, lengths[1] - 1)]
    assert top[0].context.endswith("[[.]]")
    with pytest.raises(ValueError, match="1 activation tensors"):
        top_activating_tokens(tokenizer, texts, acts[:1])
    with pytest.raises(ValueError, match="tokens"):
        top_activating_tokens(tokenizer, texts, [acts[0], acts[0]])


def test_activation_summaries():
    assert activation_density(torch.tensor([0.0, 2.0, 0.0, 5.0])) == 0.5
    with pytest.raises(ValueError):
        activation_density(torch.tensor([]))
    assert active_features(torch.tensor([[0.0, 1.0, 2.0], [0.0, 0.0, 0.0]])).tolist() == [2, 0]


def test_bad_indices_name_the_valid_range():
    model, sae = tiny_gemma(), random_sae()
    with pytest.raises(IndexError, match=r"0\.\.2"):
        check_layer(model, 3)
    with pytest.raises(IndexError, match=r"0\.\.9"):
        check_feature(sae, 10)
    with pytest.raises(IndexError, match="5 tokens"):
        check_position(5, 5)


def test_neuronpedia_url_names_the_gemma_scope_sae():
    assert neuronpedia_url(10004) == "https://neuronpedia.org/gemma-2-2b/20-gemmascope-res-16k/10004?embed=true"


PROMPT_A = "Time travel offers me the opportunity to correct past errors, but it comes with its own set of risks."
PROMPT_B = "I accept that my decisions shape my future, and though mistakes are inevitable, they define who I become."


def test_offline_feature_10004_is_larger_on_the_time_travel_prompt(lm, sae):
    feature_activations = instructor_functions("07_sae_activations")["feature_activations"]
    model, tokenizer = lm
    for layer in (19, 20):  # the original's hidden_states[20] = layer 19's output, and the SAE's own layer
        top = [float(feature_activations(model, tokenizer, sae, p, layer, 10004)[1:].max()) for p in (PROMPT_A, PROMPT_B)]
        assert top[0] > top[1], (layer, top)


def test_sae_plots_label_tokens_and_layers():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from helpers.plots import (
        plot_activation_distributions,
        plot_layer_curve,
        plot_layer_token_heatmap,
        plot_token_activations,
    )

    ax = plot_token_activations(torch.tensor([0.0, 2.0]), ["Time", "▁travel"], "per token")
    assert [t.get_text() for t in ax.get_xticklabels()] == ["Time", "▁travel"] and len(ax.patches) == 2
    with pytest.raises(ValueError, match="2 tokens"):
        plot_token_activations(torch.zeros(3), ["a", "b"], "per token")
    ax = plot_activation_distributions({"a": torch.tensor([0.0, 1.0]), "b": torch.zeros(3)}, "dist")
    assert ax.get_title() == "dist" and ax.get_ylabel() == "feature activation"
    ax = plot_layer_curve(torch.arange(26.0), "curve", mark={"layer 20": 20})
    assert len(ax.lines[0].get_xdata()) == 26 and any("layer 20" in t.get_text() for t in ax.texts)
    assert "decoder layer" in ax.get_xlabel() and "hidden_states" not in ax.get_xlabel()
    ax = plot_layer_token_heatmap(torch.rand(26, 3), ["<bos>", "Time", "▁travel"], "heat")
    assert len(ax.figure.axes) == 2 and "decoder layer" in ax.get_ylabel()  # heatmap + colour bar
    with pytest.raises(ValueError, match="3 tokens"):
        plot_layer_token_heatmap(torch.rand(26, 2), ["a", "b", "c"], "heat")
    plt.close("all")
