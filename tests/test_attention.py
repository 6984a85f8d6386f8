"""Attention plumbing: the homework's KV-cache loop (right numbers, shifted labels), greedy generation,
head scores, plots with masked cells, clear errors."""
import pytest
import torch
from transformers import Gemma2Config, Gemma2ForCausalLM

from helpers.attention import (
    check_head,
    first_token_score,
    greedy_generate,
    homework_attention_loop,
    previous_token_score,
    stop_ids,
)


def tiny_gemma(vocab_size=120, attn_implementation="eager", sliding_window=64, seed=0):
    """A random 3-layer Gemma-2 (4 heads, 2 KV heads) — enough for the mechanics."""
    torch.manual_seed(seed)
    config = Gemma2Config(
        vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=3, num_attention_heads=4,
        num_key_value_heads=2, head_dim=8, max_position_embeddings=64, sliding_window=sliding_window,
        attn_implementation=attn_implementation,
    )
    return Gemma2ForCausalLM(config).eval()


def random_ids(n, seed=1):
    ids = torch.randint(4, 120, (n,), generator=torch.Generator().manual_seed(seed))
    ids[0] = 2
    return ids


@pytest.mark.parametrize("sliding_window", [64, 4])
def test_homework_loop_rows_equal_one_forward_over_all_but_the_last_token(lm, sliding_window):
    _, tokenizer = lm
    model = tiny_gemma(vocab_size=len(tokenizer), sliding_window=sliding_window)
    hw = homework_attention_loop(model, tokenizer, "Google ", max_new_tokens=8, layer=1)
    T = hw.input_ids.shape[1]
    assert hw.forwards == 8 and T == hw.prompt_len + 8
    assert hw.attentions.shape == (4, T - 1, T - 1)
    with torch.no_grad():
        one_pass = model(hw.input_ids[:, :-1], output_attentions=True).attentions[1][0]
    torch.testing.assert_close(hw.attentions, one_pass, atol=1e-5, rtol=0)
    assert hw.attentions.triu(diagonal=1).abs().max() == 0  # future keys are 0


def test_homework_loop_generates_the_greedy_tokens_without_stopping(lm):
    model, tokenizer = lm
    full = greedy_generate(model, tokenizer, "Google ", max_new_tokens=20, stop_at_eos=False)
    assert full.input_ids.shape == (1, full.prompt_len + 20) and len(full.generated_ids) == 20
    hw = homework_attention_loop(model, tokenizer, "Google ", 20, layer=10)
    assert hw.input_ids.tolist() == full.input_ids.tolist()
    stopped = greedy_generate(model, tokenizer, "Google", max_new_tokens=20)
    n = stopped.input_ids.shape[1]
    unstopped = greedy_generate(model, tokenizer, "Google", max_new_tokens=20, stop_at_eos=False)
    assert stopped.input_ids.tolist() == unstopped.input_ids[:, :n].tolist()
    assert n == unstopped.input_ids.shape[1] or stopped.input_ids[0, -1].item() in stop_ids(model)


@pytest.mark.parametrize("prompt", ["Google  ", "google", "<start_of_turn>user\nGoogle<end_of_turn>\n", "The weather is"])
def test_the_generation_helpers_take_the_homeworks_prompt_only(lm, prompt, monkeypatch):
    """Greedy decoding of any prompt is exercise 1.2: the helpers reproduce the homework on its own prompt, even when
    a caller changes the tuple that names it."""
    from helpers import attention

    model, tokenizer = lm
    monkeypatch.setattr(attention, "HOMEWORK_PROMPTS", (prompt,))
    monkeypatch.setattr(attention, "not_the_homework_prompt", lambda p: "call model.generate yourself (patched)")
    monkeypatch.setattr(attention, "check_text", lambda text, what="prompt": text)
    for call in (lambda: greedy_generate(model, tokenizer, prompt, 3),
                 lambda: homework_attention_loop(model, tokenizer, prompt, 3, layer=0)):
        with pytest.raises(ValueError, match="call model.generate yourself"):
            call()


def test_homework_labels_are_shifted_by_one_on_the_offline_google_prompt(lm):
    """The homework's labels drop <bos> and include the never-fed last token: label p names token p + 1.

    "Google" without the original's trailing space: the offline model generates no <eos> from it in 20 tokens.
    """
    model, tokenizer = lm
    hw = homework_attention_loop(model, tokenizer, "Google", 20, layer=10)
    T = hw.input_ids.shape[1]
    assert hw.labels[0] == "Google" and len(hw.labels) == T - 1
    assert hw.labels == tokenizer.convert_ids_to_tokens(hw.input_ids[0, 1:].tolist())
    assert hw.labels != tokenizer.convert_ids_to_tokens(hw.input_ids[0, :-1].tolist())


def test_homework_labels_lose_a_generated_eos(lm):
    """A generated <eos> disappears from the decoded text, so the labels after it are off by two (the notebook's case)."""
    model, tokenizer = lm
    hw = homework_attention_loop(model, tokenizer, "Google ", 20, layer=10)
    generated = hw.input_ids[0, hw.prompt_len :].tolist()
    assert tokenizer.eos_token_id in generated  # the offline model ends its sentence, then carries on
    assert len(hw.labels) < hw.input_ids.shape[1] - 1


def test_head_scores_find_a_previous_token_head_and_a_sink():
    pattern = torch.zeros(2, 5, 5)
    pattern[0, 0, 0] = 1
    for q in range(1, 5):
        pattern[0, q, q - 1] = 1.0  # head 0: previous token
        pattern[1, q, 0] = 1.0  # head 1: everything on <bos>
    pattern[1, 0, 0] = 1
    torch.testing.assert_close(previous_token_score(pattern), torch.tensor([1.0, 0.25]))
    torch.testing.assert_close(first_token_score(pattern), torch.tensor([0.25, 1.0]))
    # the rows of queries 2..4 only (a generation's rows): same scores on those rows
    torch.testing.assert_close(previous_token_score(pattern[:, 2:], first_query=2), torch.tensor([1.0, 0.0]))
    torch.testing.assert_close(first_token_score(pattern[:, 2:], first_query=2), torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="position 1"):
        previous_token_score(pattern[:, :1])


def test_out_of_range_layer_and_head_name_the_valid_range(lm):
    _, tokenizer = lm
    model = tiny_gemma(vocab_size=len(tokenizer))
    with pytest.raises(IndexError, match=r"0\.\.2"):
        homework_attention_loop(model, tokenizer, "Google", 3, layer=3)
    with pytest.raises(IndexError, match=r"0\.\.3"):
        check_head(model, 4)


def test_non_eager_attention_and_long_prompts_are_clear_errors(lm):
    _, tokenizer = lm
    with pytest.raises(ValueError, match="eager"):
        homework_attention_loop(tiny_gemma(vocab_size=len(tokenizer), attn_implementation="sdpa"), tokenizer, "Google", 2, 0)
    with pytest.raises(ValueError, match="context window of 64"):
        homework_attention_loop(tiny_gemma(vocab_size=len(tokenizer)), tokenizer, "Google", max_new_tokens=70, layer=0)


def test_attention_plots_put_queries_down_keys_across_and_shade_masked_cells():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from helpers.plots import MASKED_COLOUR, plot_attention_heatmap, plot_head_grid

    attn = torch.tensor([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0]])
    ax = plot_attention_heatmap(attn, ["q1", "\n"], ["k0", "k1", "k2"], "rows", query_positions=[0, 1])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["k0", "k1", "k2"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["q1", "'\\n'"]
    assert "query" in ax.get_ylabel() and "masked" in ax.get_xlabel()
    values = ax.collections[0].get_array()
    assert values.mask.sum() == 3  # keys 1, 2 of query 0 and key 2 of query 1: masked, not drawn as 0
    assert matplotlib.colors.to_hex(ax.get_facecolor()) == MASKED_COLOUR
    assert len(ax.figure.axes) == 2  # the heatmap and its colour bar
    with pytest.raises(ValueError, match="2 query and 2 key labels"):
        plot_attention_heatmap(attn, ["q1", "q2"], ["k0", "k1"], "rows")
    with pytest.raises(ValueError, match="one position per row"):
        plot_attention_heatmap(attn, ["q1", "q2"], ["k0", "k1", "k2"], "rows", query_positions=[0])
    axes = plot_head_grid(torch.rand(3, 2, 4), ["a", "b"], list("abcd"), layer=5, query_positions=[2, 3], ncols=2)
    assert axes.shape == (2, 2) and axes[0, 0].get_title() == "layer 5, head 0" and not axes[1, 1].axison
    assert any(a.get_label() == "<colorbar>" for a in axes[0, 0].figure.axes)
    plt.close("all")
