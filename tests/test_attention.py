"""Attention rows over a generation: one forward equals the KV-cache loop, the homework's off-by-one, clear errors."""
import pytest
import torch
from transformers import Gemma2Config, Gemma2ForCausalLM

from helpers.attention import (
    Generation,
    check_head,
    first_token_score,
    forward_attentions,
    generation_attention,
    homework_attention_loop,
    incremental_attention_rows,
    layer_pattern,
    previous_token_score,
)


def tiny_gemma(attn_implementation="eager", sliding_window=64, seed=0):
    """A random 3-layer Gemma-2 (4 heads, 2 KV heads) — enough for the mechanics."""
    torch.manual_seed(seed)
    config = Gemma2Config(
        vocab_size=120, hidden_size=32, intermediate_size=64, num_hidden_layers=3, num_attention_heads=4,
        num_key_value_heads=2, head_dim=8, max_position_embeddings=64, sliding_window=sliding_window,
        attn_implementation=attn_implementation,
    )
    return Gemma2ForCausalLM(config).eval()


def random_ids(n, seed=1):
    ids = torch.randint(4, 120, (n,), generator=torch.Generator().manual_seed(seed))
    ids[0] = 2
    return ids


@pytest.mark.parametrize("sliding_window", [64, 4])
def test_one_forward_rows_equal_kv_cache_loop(sliding_window):
    model = tiny_gemma(sliding_window=sliding_window)
    ids = random_ids(14)
    generation = Generation(ids, prompt_len=3, tokens=[str(i) for i in ids.tolist()])
    for layer in range(3):
        one_pass = generation_attention(model, generation, layer)
        loop = incremental_attention_rows(model, ids, 3, layer)
        assert one_pass.shape == loop.shape == (4, 11, 14)
        assert (one_pass - loop).abs().max() <= 1e-5


def test_homework_loop_rows_belong_to_the_token_before_the_generated_one():
    model = tiny_gemma()
    prompt = random_ids(3)
    hw = homework_attention_loop(model, prompt, max_new_tokens=6, layer=1)
    assert hw.forwards == 6 and len(hw.input_ids) == 9
    pattern = layer_pattern(forward_attentions(model, hw.input_ids), 1)
    # row `step` of the homework is the query at prompt_len - 1 + step, not the generated token's row
    torch.testing.assert_close(hw.rows, pattern[:, 2:8, :], atol=1e-5, rtol=0)
    assert not torch.allclose(hw.rows, pattern[:, 3:9, :], atol=1e-3)


def test_homework_loop_generates_the_greedy_tokens():
    model = tiny_gemma()
    prompt = random_ids(3)
    hw = homework_attention_loop(model, prompt, max_new_tokens=5, layer=0)
    greedy = model.generate(prompt.view(1, -1), attention_mask=torch.ones(1, 3, dtype=torch.long), max_new_tokens=5,
                            do_sample=False, eos_token_id=None)
    assert hw.input_ids.tolist() == greedy[0].tolist()


def test_layer_pattern_rows_are_causal_distributions():
    model = tiny_gemma()
    pattern = layer_pattern(forward_attentions(model, random_ids(7)), 2)
    assert pattern.shape == (4, 7, 7)
    torch.testing.assert_close(pattern.sum(-1), torch.ones(4, 7))
    assert pattern.triu(diagonal=1).abs().max() == 0


def test_head_scores_find_a_previous_token_head_and_a_sink():
    pattern = torch.zeros(2, 5, 5)
    pattern[0, 0, 0] = 1
    for q in range(1, 5):
        pattern[0, q, q - 1] = 1.0  # head 0: previous token
        pattern[1, q, 0] = 1.0  # head 1: everything on <bos>
    pattern[1, 0, 0] = 1
    torch.testing.assert_close(previous_token_score(pattern), torch.tensor([1.0, 0.25]))
    torch.testing.assert_close(first_token_score(pattern), torch.tensor([0.25, 1.0]))


def test_out_of_range_layer_and_head_name_the_valid_range():
    model = tiny_gemma()
    generation = Generation(random_ids(5), 2, ["t"] * 5)
    with pytest.raises(IndexError, match=r"0\.\.2"):
        generation_attention(model, generation, 3)
    with pytest.raises(IndexError, match=r"0\.\.3"):
        check_head(model, 4)
    with pytest.raises(IndexError, match=r"0\.\.2"):
        layer_pattern(forward_attentions(model, random_ids(4)), -1)


def test_non_eager_attention_and_long_prompts_are_clear_errors():
    with pytest.raises(ValueError, match="eager"):
        forward_attentions(tiny_gemma(attn_implementation="sdpa"), random_ids(4))
    with pytest.raises(ValueError, match="context window of 64"):
        forward_attentions(tiny_gemma(), random_ids(65))
    with pytest.raises(ValueError, match="context window of 64"):
        homework_attention_loop(tiny_gemma(), random_ids(60), max_new_tokens=5, layer=0)


def test_offline_greedy_generation_without_stop_equals_the_homework_loop(lm):
    from helpers.attention import greedy_generate, stop_ids

    model, tokenizer = lm
    full = greedy_generate(model, tokenizer, "Google", max_new_tokens=20, stop_at_eos=False)
    assert len(full.generated_ids) == 20
    hw = homework_attention_loop(model, full.input_ids[: full.prompt_len], 20, layer=10)
    assert hw.input_ids.tolist() == full.input_ids.tolist()
    stopped = greedy_generate(model, tokenizer, "Google", max_new_tokens=20)
    n = len(stopped.input_ids)
    assert stopped.input_ids.tolist() == full.input_ids[:n].tolist()
    assert n == len(full.input_ids) or stopped.input_ids[-1].item() in stop_ids(model)


def test_offline_google_generation_rows_match_the_loop(lm):
    from helpers.attention import greedy_generate

    model, tokenizer = lm
    generation = greedy_generate(model, tokenizer, "Google", max_new_tokens=20, stop_at_eos=False)
    assert generation.prompt_len == 2 and generation.tokens[0] == "<bos>"
    rows = generation_attention(model, generation, layer=10)
    loop = incremental_attention_rows(model, generation.input_ids, generation.prompt_len, layer=10)
    assert rows.shape[0] == 8 and rows.shape[1] == len(generation.generated_ids)
    assert (rows - loop).abs().max() <= 1e-5


def test_check_layer_pattern_names_the_common_mistakes(capsys):
    from helpers.checks import check_layer_pattern

    attentions = forward_attentions(tiny_gemma(), random_ids(6))
    check_layer_pattern(lambda att, layer: att[layer][0], attentions, 1)
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="batch dimension"):
        check_layer_pattern(lambda att, layer: att[layer], attentions, 1)
    with pytest.raises(AssertionError, match="swapped"):
        check_layer_pattern(lambda att, layer: att[layer][0].transpose(-1, -2), attentions, 1)
    with pytest.raises(AssertionError, match="layer 2, not 1"):
        check_layer_pattern(lambda att, layer: att[layer + 1][0], attentions, 1)


def test_attention_plots_put_queries_down_and_keys_across():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from helpers.plots import plot_attention_heatmap, plot_head_grid

    attn = torch.tensor([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0]])
    ax = plot_attention_heatmap(attn, ["q1", "\n"], ["k0", "k1", "k2"], "rows")
    assert [t.get_text() for t in ax.get_xticklabels()] == ["k0", "k1", "k2"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["q1", "'\\n'"]
    assert "query" in ax.get_ylabel() and "key" in ax.get_xlabel()
    with pytest.raises(ValueError, match="2 query and 2 key labels"):
        plot_attention_heatmap(attn, ["q1", "q2"], ["k0", "k1"], "rows")
    axes = plot_head_grid(torch.rand(3, 4, 4), list("abcd"), layer=5, ncols=2)
    assert axes.shape == (2, 2) and axes[0, 0].get_title() == "head 0" and not axes[1, 1].axison
    plt.close("all")
