"""Where the SAE reads (resid_post = hidden_states[layer + 1]), feature activations, density, clear errors."""
import pytest
import torch
from transformers import Gemma2Config, Gemma2ForCausalLM

from helpers.sae import (
    JumpReLUSAE,
    activation_density,
    all_hidden_states,
    feature_activations,
    feature_across_hidden_states,
    hidden_state,
    neuronpedia_url,
    resid_post,
    sae_input,
)


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


IDS = torch.tensor([2, 17, 33, 54, 80])


def layer_output_by_hook(model, ids, layer):
    """The output of decoder layer `layer`, caught by a forward hook (the ground truth for resid_post)."""
    caught = {}
    handle = model.model.layers[layer].register_forward_hook(lambda mod, args, out: caught.setdefault("out", out))
    with torch.no_grad():
        model(ids.view(1, -1))
    handle.remove()
    out = caught["out"]
    return (out[0] if isinstance(out, tuple) else out)[0]


@pytest.mark.parametrize("layer", [0, 1])
def test_resid_post_is_the_output_of_that_decoder_layer(layer):
    model = tiny_gemma()
    torch.testing.assert_close(resid_post(model, IDS, layer), layer_output_by_hook(model, IDS, layer))
    assert not torch.allclose(hidden_state(model, IDS, layer), layer_output_by_hook(model, IDS, layer))


def test_homework_indexing_reads_one_layer_earlier():
    model = tiny_gemma()
    torch.testing.assert_close(sae_input(model, IDS, 1, homework_indexing=True), resid_post(model, IDS, 0))
    torch.testing.assert_close(sae_input(model, IDS, 1), resid_post(model, IDS, 1))


def test_all_hidden_states_has_num_layers_plus_one_entries():
    model = tiny_gemma()
    hidden = all_hidden_states(model, IDS)
    assert hidden.shape == (4, 5, 16)
    torch.testing.assert_close(hidden[2], resid_post(model, IDS, 1))


def test_feature_activations_equal_the_full_encode_column():
    sae = random_sae()
    resid = torch.randn(7, 16, generator=torch.Generator().manual_seed(3)) * 3
    acts = sae.encode(resid)
    assert (acts > 0).any() and (acts == 0).any()
    for feature in (0, 4, 9):
        torch.testing.assert_close(feature_activations(sae, resid, feature), acts[:, feature])


def test_feature_across_hidden_states_reads_one_token_at_every_index():
    sae = random_sae()
    hidden = torch.randn(4, 5, 16, generator=torch.Generator().manual_seed(4)) * 3
    curve = feature_across_hidden_states(sae, hidden, feature=2, position=-1)
    torch.testing.assert_close(curve, sae.encode(hidden[:, 4])[:, 2])


def test_activation_density_is_the_fraction_of_active_tokens():
    assert activation_density(torch.tensor([0.0, 2.0, 0.0, 5.0])) == 0.5
    with pytest.raises(ValueError):
        activation_density(torch.tensor([]))


def test_bad_indices_name_the_valid_range():
    model, sae = tiny_gemma(), random_sae()
    with pytest.raises(IndexError, match=r"0\.\.2"):
        resid_post(model, IDS, 3)
    with pytest.raises(IndexError, match=r"0\.\.3"):
        hidden_state(model, IDS, 4)
    with pytest.raises(IndexError, match=r"0\.\.9"):
        feature_activations(sae, torch.zeros(16), 10)
    with pytest.raises(IndexError, match="5 tokens"):
        feature_across_hidden_states(sae, torch.zeros(4, 5, 16), 0, position=5)
    with pytest.raises(ValueError, match="context window of 32"):
        resid_post(model, torch.full((33,), 5), 0)
    with pytest.raises(ValueError, match="no tokens"):
        resid_post(model, torch.tensor([], dtype=torch.long), 0)


def test_neuronpedia_url_names_the_gemma_scope_sae():
    assert neuronpedia_url(10004) == "https://neuronpedia.org/gemma-2-2b/20-gemmascope-res-16k/10004?embed=true"


PROMPT_A = "Time travel offers me the opportunity to correct past errors, but it comes with its own set of risks."
PROMPT_B = "I accept that my decisions shape my future, and though mistakes are inevitable, they define who I become."


def test_offline_feature_10004_is_larger_on_the_time_travel_prompt(lm, sae):
    model, tokenizer = lm
    for homework_indexing in (False, True):
        top = []
        for prompt in (PROMPT_A, PROMPT_B):
            ids = tokenizer(prompt, return_tensors="pt").input_ids[0]
            top.append(float(feature_activations(sae, sae_input(model, ids, 20, homework_indexing), 10004).max()))
        assert top[0] > top[1], (homework_indexing, top)


def test_offline_resid_post_matches_a_hook_on_layer_20(lm):
    model, tokenizer = lm
    ids = tokenizer("Time travel will become a reality.", return_tensors="pt").input_ids[0]
    torch.testing.assert_close(resid_post(model, ids, 20), layer_output_by_hook(model, ids, 20).float())


def test_check_jumprelu_encode_names_the_common_mistakes(capsys):
    from helpers.checks import check_jumprelu_encode

    sae = random_sae()
    check_jumprelu_encode(lambda x, s: (s.pre_activations(x) > s.threshold) * torch.relu(s.pre_activations(x)), sae)
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="plain ReLU"):
        check_jumprelu_encode(lambda x, s: torch.relu(s.pre_activations(x)), sae)
    with pytest.raises(AssertionError, match="b_enc"):
        check_jumprelu_encode(lambda x, s: ((x @ s.W_enc) > s.threshold) * torch.relu(x @ s.W_enc), sae)


def test_sae_plots_label_tokens_and_layers():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from helpers.plots import plot_activation_distributions, plot_layer_curve, plot_token_activations

    ax = plot_token_activations(torch.tensor([0.0, 2.0]), ["Time", "▁travel"], "per token")
    assert [t.get_text() for t in ax.get_xticklabels()] == ["Time", "▁travel"] and len(ax.patches) == 2
    with pytest.raises(ValueError, match="2 tokens"):
        plot_token_activations(torch.zeros(3), ["a", "b"], "per token")
    ax = plot_activation_distributions({"a": torch.tensor([0.0, 1.0]), "b": torch.zeros(3)}, "dist")
    assert ax.get_title() == "dist" and ax.get_ylabel() == "feature activation"
    ax = plot_layer_curve(torch.arange(27.0), "curve", mark={"[21]": 21})
    assert len(ax.lines[0].get_xdata()) == 27 and any("[21]" in t.get_text() for t in ax.texts)
    plt.close("all")
