"""Padded batches (any padding side), word spans, cosine, t-SNE guards.

Pooling (exercise 5.1) and word vectors (exercise 5.2) are written in notebook 05; the tests here
pool with their own masked mean to show that the batch plumbing keeps every sentence intact."""
import numpy as np
import pytest
import torch
from tokenizers import Tokenizer, models, pre_tokenizers, processors
from transformers import Gemma2Config, Gemma2ForCausalLM, PreTrainedTokenizerFast

from helpers.embeddings import (
    centered,
    check_perplexity,
    cosine_similarity_matrix,
    encode_batch,
    mean_pool_with_padding,
    tsne_2d,
)

from helpers.offline.corpus import PROBE_FRUIT_COMPANY  # the homework's six sentences
from tests.wordpos import word_token_positions

SENTENCES = list(PROBE_FRUIT_COMPANY)


def tiny_tokenizer(padding_side="right"):
    """A word-level tokenizer with Gemma's special ids and a <bos> prepended."""
    words = sorted({w for s in SENTENCES for w in s.replace(".", " .").split()})
    vocab = {"<pad>": 0, "<eos>": 1, "<bos>": 2, "<unk>": 3, **{w: i + 4 for i, w in enumerate(words)}}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(single="<bos> $A", special_tokens=[("<bos>", 2)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<bos>", eos_token="<eos>", pad_token="<pad>",
                                   unk_token="<unk>", padding_side=padding_side)


def tiny_gemma():
    torch.manual_seed(0)
    config = Gemma2Config(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2,
                          num_key_value_heads=1, head_dim=8, max_position_embeddings=32, attn_implementation="eager")
    return Gemma2ForCausalLM(config).eval()


def unpadded_last_hidden(model, tokenizer, sentence):
    with torch.no_grad():
        ids = tokenizer(sentence, return_tensors="pt").input_ids
        return model(ids, output_hidden_states=True).hidden_states[-1][0]


def masked_mean(last_hidden, mask):
    """The tests' own masked mean over real tokens."""
    weights = mask.to(last_hidden.dtype).unsqueeze(-1)
    return (last_hidden * weights).sum(1) / weights.sum(1)


def test_the_homework_pooling_averages_padding_too():
    last_hidden = torch.randn(2, 4, 3)
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]])
    torch.testing.assert_close(mean_pool_with_padding(last_hidden), last_hidden.mean(1))
    torch.testing.assert_close(mean_pool_with_padding(last_hidden)[0], masked_mean(last_hidden, mask)[0])
    assert not torch.allclose(mean_pool_with_padding(last_hidden)[1], masked_mean(last_hidden, mask)[1])


@pytest.mark.parametrize("padding_side", ["right", "left"])
def test_batched_hidden_states_equal_one_sentence_at_a_time(padding_side):
    model, tokenizer = tiny_gemma(), tiny_tokenizer(padding_side)
    batch = encode_batch(model, tokenizer, SENTENCES)
    assert batch.last_hidden.shape[0] == 6 and batch.last_hidden.shape[2] == 16 and batch.padding_side == padding_side
    pooled = masked_mean(batch.last_hidden, batch.attention_mask)
    for i, sentence in enumerate(SENTENCES):
        alone = unpadded_last_hidden(model, tokenizer, sentence)
        torch.testing.assert_close(batch.last_hidden[i][batch.attention_mask[i].bool()], alone, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(pooled[i], alone.mean(0), atol=1e-5, rtol=1e-4)
    homework = mean_pool_with_padding(batch.last_hidden)
    longest = int(batch.attention_mask.sum(1).argmax())
    assert not torch.allclose(homework, pooled, atol=1e-4)
    torch.testing.assert_close(homework[longest], pooled[longest], atol=1e-5, rtol=1e-4)


def test_bos_hidden_state_is_the_same_in_every_sentence():
    """Position 0 sees only <bos>: its vector is shared by every sentence (notebook 05 pools without it)."""
    model, tokenizer = tiny_gemma(), tiny_tokenizer("left")
    batch = encode_batch(model, tokenizer, SENTENCES)
    bos_rows = batch.last_hidden[batch.input_ids == tokenizer.bos_token_id]
    assert bos_rows.shape[0] == len(SENTENCES)
    torch.testing.assert_close(bos_rows, bos_rows[:1].expand_as(bos_rows), atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("padding_side", ["right", "left"])
def test_word_positions_pick_the_word_in_context(padding_side):
    model, tokenizer = tiny_gemma(), tiny_tokenizer(padding_side)
    for sentence, word in zip(SENTENCES[:4], ["apple", "Apple", "orange", "Orange"]):
        (pos,) = word_token_positions(tokenizer, sentence, word)
        assert tokenizer.convert_ids_to_tokens(tokenizer(sentence).input_ids)[pos] == word


def test_word_lookup_is_case_sensitive_and_whole_word():
    tokenizer = tiny_tokenizer()
    with pytest.raises(ValueError, match="does not occur"):
        word_token_positions(tokenizer, "I ate a fresh apple.", "Apple")
    with pytest.raises(ValueError, match="does not occur"):
        word_token_positions(tokenizer, "I ate a fresh apple.", "app")


def test_cosine_similarity_matrix():
    vectors = torch.tensor([[1.0, 0.0], [0.0, 2.0], [-3.0, 0.0]])
    torch.testing.assert_close(cosine_similarity_matrix(vectors), torch.tensor([[1.0, 0, -1], [0, 1, 0], [-1, 0, 1]]))


def test_centering_removes_a_shared_direction():
    gen = torch.Generator().manual_seed(2)
    vectors = torch.randn(5, 8, generator=gen) + torch.full((8,), 50.0)
    assert cosine_similarity_matrix(vectors).min() > 0.95
    torch.testing.assert_close(centered(vectors).mean(0), torch.zeros(8), atol=1e-5, rtol=0)
    assert cosine_similarity_matrix(centered(vectors)).fill_diagonal_(0).max() < 0.95


def test_tsne_rejects_perplexity_not_below_the_number_of_points():
    with pytest.raises(ValueError, match=r"smaller than the number of points \(6\)"):
        tsne_2d(torch.randn(6, 5), perplexity=6)
    with pytest.raises(ValueError, match="at least 2 points"):
        check_perplexity(1, 0.5)


def test_tsne_random_init_depends_on_the_seed_and_rejects_unknown_init():
    vectors = torch.randn(6, 5, generator=torch.Generator().manual_seed(3))
    a, b = tsne_2d(vectors, perplexity=2, seed=0, init="random"), tsne_2d(vectors, perplexity=2, seed=1, init="random")
    assert a.shape == (6, 2) and not np.allclose(a, b)
    with pytest.raises(ValueError, match="init"):
        tsne_2d(vectors, perplexity=2, init="spectral")


def test_tsne_is_seeded_and_keeps_each_cluster_together():
    """Two far-apart clusters: every point's nearest map neighbours come from its own cluster.

    Neighbourhoods are what t-SNE preserves; the distance between the clusters on the map is not
    (it depends on the iterations and on scikit-learn's version), so the test does not measure it.
    """
    gen = torch.Generator().manual_seed(0)
    vectors = torch.cat([torch.randn(15, 8, generator=gen), torch.randn(15, 8, generator=gen) + 20])
    labels = np.array([0] * 15 + [1] * 15)
    for init in ("pca", "random"):
        a, b = tsne_2d(vectors, perplexity=5, seed=1, init=init), tsne_2d(vectors, perplexity=5, seed=1, init=init)
        np.testing.assert_allclose(a, b)
        dist = np.linalg.norm(a[:, None] - a[None], axis=-1)
        np.fill_diagonal(dist, np.inf)
        neighbours = np.argsort(dist, axis=1)[:, :5]
        purity = (labels[neighbours] == labels[:, None]).mean()
        assert purity == 1.0, f"init={init}: only {purity:.0%} of the 5 nearest map neighbours share their point's cluster"


def test_empty_inputs_are_clear_errors():
    model, tokenizer = tiny_gemma(), tiny_tokenizer()
    with pytest.raises(ValueError, match="sentence list is empty"):
        encode_batch(model, tokenizer, [])
    with pytest.raises(ValueError, match="sentence 1 is empty"):
        encode_batch(model, tokenizer, ["I ate a fresh apple.", "  "])
    with pytest.raises(ValueError, match="context window of 32"):
        encode_batch(model, tokenizer, [" ".join(["apple"] * 40)])


def test_offline_tokenizer_finds_the_target_words(lm):
    _, tokenizer = lm
    for sentence, word in zip(SENTENCES[:4], ["apple", "Apple", "orange", "Orange"]):
        pieces = tokenizer.convert_ids_to_tokens(tokenizer(sentence).input_ids)
        covered = "".join(pieces[p] for p in word_token_positions(tokenizer, sentence, word)).replace("▁", "")
        assert covered == word, (sentence, pieces)


def test_embedding_plots_label_their_axes_and_reject_mismatched_labels():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from helpers.plots import plot_embedding_2d, plot_similarity_heatmap

    ax = plot_embedding_2d(np.zeros((3, 2)) + np.arange(3)[:, None], ["a", "b", "c"], "map", groups=["x", "y", "x"])
    assert ax.get_title() == "map" and ax.get_xlabel() and [t.get_text() for t in ax.texts] == ["a", "b", "c"]
    ax = plot_similarity_heatmap(torch.eye(3), ["a", "b", "c"], "sim")
    assert ax.get_title() == "sim" and len(ax.texts) == 9
    with pytest.raises(ValueError, match="one label per point"):
        plot_embedding_2d(np.zeros((3, 2)), ["a", "b"], "map")
    plt.close("all")
