"""The science helpers (sae, hooks, attention, embeddings, generation, testtime), pinned where mutation testing found
them unpinned. Expected values are worked out by hand on small inputs (a word-level stand-in tokenizer, hand-made
attention rows and vectors) or read from the model itself by another route; nothing is recomputed the way the
helper computes it."""
import math

import numpy as np
import pytest
import torch

from helpers import sae as sae_mod
from helpers.numerics import NumericsError
from helpers.sae import JumpReLUSAE, active_features, activation_density, neuronpedia_url, top_activating_tokens


class WordTokenizer:
    """A word-level stand-in: id 2 is ``<bos>``, every word one id, ``decode`` joins the words with spaces.

    ``bos=False``: the tokenizer has no ``<bos>`` at all; ``prepend=False``: it has one but does not add it."""

    def __init__(self, bos=True, prepend=True):
        self.words = ["<pad>", "<eos>", "<bos>"]
        self.bos_token_id = 2 if bos else None
        self.prepend = bos and prepend

    def _id(self, word):
        if word not in self.words:
            self.words.append(word)
        return self.words.index(word)

    def __call__(self, text, return_tensors=None):
        ids = ([2] if self.prepend else []) + [self._id(w) for w in text.split()]
        return type("Encoding", (), {"input_ids": torch.tensor([ids])})()

    def convert_ids_to_tokens(self, ids):
        return [self.words[i] for i in ids]

    def decode(self, ids):
        return " ".join(self.words[int(i)] for i in ids)


# --- sae ---------------------------------------------------------------------------------------------------


def _npz(path, d_model=3, d_sae=4, **override):
    arrays = {"W_enc": np.arange(d_model * d_sae, dtype=np.float64).reshape(d_model, d_sae),
              "W_dec": np.ones((d_sae, d_model)), "b_enc": np.zeros(d_sae), "b_dec": np.array([1.0, 2.0, 3.0][:d_model]),
              "threshold": np.full(d_sae, 0.5)}
    arrays.update(override)
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return path


def test_sae_file_loads_as_a_frozen_float32_module(tmp_path):
    sae = JumpReLUSAE.from_npz(_npz(tmp_path / "p.npz"))
    assert (sae.d_model, sae.d_sae) == (3, 4) and not sae.training
    for name in sae_mod.NPZ_KEYS:
        param = getattr(sae, name)
        assert param.dtype == torch.float32 and not param.requires_grad
    assert sae.W_enc[2, 3].item() == 11.0 and sae.threshold.tolist() == [0.5] * 4


def test_sae_file_errors_name_what_is_wrong(tmp_path):
    path = _npz(tmp_path / "p.npz", threshold=None, b_enc=None)
    with pytest.raises(ValueError) as info:
        JumpReLUSAE.from_npz(path)
    assert str(info.value) == (f"{path} is not a Gemma Scope SAE file: missing arrays ['b_enc', 'threshold'] "
                               "(expected ['W_enc', 'W_dec', 'b_enc', 'b_dec', 'threshold']).")
    for key, bad, expected in [("b_dec", np.zeros(4), "(3,)"), ("threshold", np.zeros(3), "(4,)"),
                               ("b_enc", np.zeros(5), "(4,)"), ("W_dec", np.zeros((3, 4)), "(4, 3)")]:
        path = _npz(tmp_path / f"{key}.npz", **{key: bad})
        with pytest.raises(ValueError) as info:
            JumpReLUSAE.from_npz(path)
        assert str(info.value) == f"{path}: {key} has shape {bad.shape}, expected {expected} for W_enc (3, 4)."


def test_decode_is_acts_times_w_dec_plus_b_dec(tmp_path):
    sae = JumpReLUSAE.from_npz(_npz(tmp_path / "p.npz"))
    acts = torch.tensor([[0.0, 1.0, 2.0, 0.0], [0.0, 0.0, 0.0, 0.0]], dtype=torch.float64)
    out = sae.decode(acts)  # W_dec all ones: each output is the sum of the acts, plus b_dec
    assert out.dtype == torch.float32 and out.tolist() == [[4.0, 5.0, 6.0], [1.0, 2.0, 3.0]]
    with pytest.raises(ValueError) as info:
        sae.decode(torch.zeros(2, 3))
    assert str(info.value) == "decode expects activations of size d_sae=4, got last dimension 3."
    with pytest.raises(NumericsError, match="SAE activations"):
        sae.decode(torch.tensor([0.0, float("nan"), 0.0, 0.0]))


def test_active_features_count_only_positive_activations():
    acts = torch.tensor([[[0.0, -1.0, 0.5, 2.0], [1e-6, 0.0, 0.0, -3.0]]])
    assert active_features(acts).tolist() == [[2, 1]]


def test_activation_density_is_the_share_of_positive_tokens():
    density = activation_density(torch.tensor([[0.0, -2.0], [3.0, 0.0]]))
    assert density == 0.25 and type(density) is float
    with pytest.raises(ValueError) as info:
        activation_density(torch.zeros(0))
    assert str(info.value) == "activation_density needs at least one token activation."


def test_top_tokens_with_their_context_from_a_word_tokenizer():
    tok = WordTokenizer()
    texts = ["a b c d e f", "x y"]
    acts = [torch.tensor([9.0, 1.0, 2.0, 3.0, 7.0, 4.0, 5.0]), torch.tensor([[9.0], [6.0], [0.5]])]
    top, kept = top_activating_tokens(tok, texts, acts, k=3, context=2)
    assert [(t.activation, t.token, t.text_index, t.position) for t in top] == [
        (7.0, "d", 0, 4), (6.0, "x", 1, 1), (5.0, "f", 0, 6)]
    assert [t.context for t in top] == ["b c[[d]]", "[[x]]", "d e[[f]]"]  # never <bos>, at most 2 words before
    assert kept.tolist() == [1.0, 2.0, 3.0, 7.0, 4.0, 5.0, 6.0, 0.5] and kept.dtype == torch.float32
    top, _ = top_activating_tokens(tok, texts, acts, k=1, context=0)
    assert top[0].context == "[[d]]"
    everything, _ = top_activating_tokens(tok, texts, acts, k=8)  # k = every token: allowed
    assert [t.activation for t in everything] == [7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0, 0.5]
    assert everything[0].context == "a b c[[d]]"  # the default context of 4 reaches back to the first word


def test_top_tokens_without_a_bos_token_keep_position_zero():
    tok = WordTokenizer(bos=False)
    top, kept = top_activating_tokens(tok, ["p q"], [torch.tensor([3.0, 1.0])], k=2)
    assert [(t.token, t.position, t.context) for t in top] == [("p", 0, "[[p]]"), ("q", 1, "p[[q]]")]
    assert kept.tolist() == [3.0, 1.0]
    top, kept = top_activating_tokens(WordTokenizer(prepend=False), ["p q"], [torch.tensor([3.0, 1.0])], k=1)
    assert kept.tolist() == [3.0, 1.0] and (top[0].position, top[0].context) == (0, "[[p]]")


def test_top_tokens_refuse_bad_input_with_clear_words():
    tok = WordTokenizer()
    acts = [torch.tensor([0.0, 1.0, 2.0])]
    for texts in ("a b", []):
        with pytest.raises(ValueError) as info:
            top_activating_tokens(tok, texts, acts)
        assert str(info.value) == "top_activating_tokens needs a list of at least one text."
    with pytest.raises(ValueError) as info:
        top_activating_tokens(tok, ["a b"], acts, k=3)
    assert str(info.value) == ("k=3 is more than the 2 tokens of these texts (<bos> excluded): use k in 1..2.")
    with pytest.raises(ValueError) as info:
        top_activating_tokens(tok, ["a b"], [torch.zeros(4)], k=1)
    assert str(info.value) == "text 0 has 3 tokens (<bos> included) but 4 activations."
    with pytest.raises(ValueError, match="k \\(how many top tokens\\)"):
        top_activating_tokens(tok, ["a b"], acts, k=0)
    with pytest.raises(ValueError, match="context"):
        top_activating_tokens(tok, ["a b"], acts, k=1, context=-1)
    assert top_activating_tokens(tok, ["a b"], acts, k=1, context=0)[0][0].context == "[[b]]"
    with pytest.raises(NumericsError, match="text 0"):
        top_activating_tokens(tok, ["a b"], [torch.tensor([0.0, float("inf"), 1.0])], k=1)


def test_neuronpedia_urls():
    assert neuronpedia_url(0, layer=25, width="1m", embed=False) == "https://neuronpedia.org/gemma-2-2b/25-gemmascope-res-1m/0"
    assert neuronpedia_url(7, layer=0, width="65k") == "https://neuronpedia.org/gemma-2-2b/0-gemmascope-res-65k/7?embed=true"
    for width in ("16k", "131k", "262k", "524k"):
        assert neuronpedia_url(1, width=width).endswith(f"-gemmascope-res-{width}/1?embed=true")
    with pytest.raises(ValueError, match=r"0\.\.25"):
        neuronpedia_url(1, layer=26)
    with pytest.raises(ValueError, match="feature"):
        neuronpedia_url(-1)
    with pytest.raises(ValueError) as info:
        neuronpedia_url(1, width="32k")
    assert str(info.value) == ("width '32k' is not a Gemma Scope residual SAE width: use '16k', '65k', '131k', '262k', "
                               "'524k' or '1m'.")


def test_density_counts_small_positive_activations():
    assert activation_density(torch.tensor([0.5, 0.0, 0.25, 1.0])) == 0.75


def test_decode_names_the_last_dimension_and_follows_the_decoder_device(tmp_path):
    sae = JumpReLUSAE.from_npz(_npz(tmp_path / "p.npz"))
    with pytest.raises(ValueError) as info:
        sae.decode(torch.zeros(2, 5, 3))
    assert str(info.value) == "decode expects activations of size d_sae=4, got last dimension 3."
    with pytest.raises(NumericsError) as info:
        sae.decode(torch.tensor([math.inf, 0.0, 0.0, 0.0]))
    assert str(info.value).startswith("inf/NaN in SAE activations")
    sae.to("meta")  # a decoder on another device: the activations are moved to it
    assert sae.decode(torch.ones(2, 4)).device.type == "meta"


def test_top_tokens_defaults_are_ten_tokens_and_four_words_of_context():
    tok = WordTokenizer()
    text = "a b c d e f g h i j k l"
    acts = torch.cat([torch.zeros(1), torch.arange(12, 0, -1, dtype=torch.float32)])  # "a" strongest, "l" weakest
    top, _ = top_activating_tokens(tok, [text], [acts])
    assert [t.token for t in top] == list("abcdefghij")
    assert top[6].context == "c d e f[[g]]"
    with pytest.raises(ValueError) as info:
        top_activating_tokens(tok, [text], [acts], context=-1)
    assert str(info.value) == "context (tokens shown before each one)=-1 is out of range: use 0 or more."


def test_neuronpedia_refusals_name_the_argument():
    with pytest.raises(ValueError) as info:
        neuronpedia_url(-1)
    assert str(info.value) == "feature=-1 is out of range: use 0 or more."
    with pytest.raises(ValueError) as info:
        neuronpedia_url(1, layer=26)
    assert str(info.value) == "layer=26 is out of range: use 0..25 (gemma-2-2b has decoder layers 0..25)."


# --- generation --------------------------------------------------------------------------------------------

from types import SimpleNamespace  # noqa: E402

from helpers import generation  # noqa: E402
from helpers.generation import FiniteLogits, check_max_new_tokens, check_positive, check_top_k, check_top_p  # noqa: E402


def _window_model(window):
    return SimpleNamespace(config=SimpleNamespace(max_position_embeddings=window))


def test_max_new_tokens_must_fit_next_to_the_prompt():
    model = _window_model(10)
    assert check_max_new_tokens(1) == 1 and check_max_new_tokens(10**6) == 10**6  # no model: no upper bound
    assert check_max_new_tokens(3, model, 7) == 3  # 7 + 3 = 10 fills the window exactly
    assert check_max_new_tokens(10, model) == 10  # prompt_len defaults to 0
    with pytest.raises(ValueError) as info:
        check_max_new_tokens(4, model, 7)
    assert str(info.value) == ("max_new_tokens=4 is out of range: use 1..3: the prompt has 7 tokens and the model's "
                               "context window of 10 tokens (model.config.max_position_embeddings) holds the prompt "
                               "and the new tokens together.")
    assert check_max_new_tokens(1, model, 9) == 1
    with pytest.raises(ValueError) as info:
        check_max_new_tokens(1, model, 10)
    assert str(info.value) == ("the prompt has 10 tokens, which fills the model's context window of 10 tokens "
                               "(model.config.max_position_embeddings): shorten the prompt.")
    with pytest.raises(ValueError, match="max_new_tokens=0"):
        check_max_new_tokens(0, model, 2)
    with pytest.raises(TypeError, match="max_new_tokens"):
        check_max_new_tokens(2.0)


def test_top_k_values():
    assert check_top_k(None) is None and check_top_k(0) is None
    assert check_top_k(5) == 5 and check_top_k(5, vocab=5) == 5
    with pytest.raises(ValueError) as info:
        check_top_k(6, vocab=5)
    assert str(info.value) == "top_k=6 is more than the vocabulary's 5 tokens: use 1..5 (or None for no top-k filter)."
    with pytest.raises(ValueError) as info:
        check_top_k(-1)
    assert str(info.value) == "top_k must be ≥ 1, or None/0 for no top-k filter; got -1."
    for bad in (True, 2.0, "3"):
        with pytest.raises(TypeError) as info:
            check_top_k(bad)
        assert str(info.value) == f"top_k must be an integer ≥ 1 (or None for no top-k filter), got {bad!r}."


def test_top_p_values():
    assert check_top_p(None) is None
    assert check_top_p(0) == 0.0 and type(check_top_p(1)) is float and check_top_p(1) == 1.0
    assert check_top_p(0.25) == 0.25
    for bad in (-0.01, 1.01):
        with pytest.raises(ValueError) as info:
            check_top_p(bad)
        assert str(info.value) == f"top_p must lie in [0, 1], got {bad}."
    for bad in (False, "0.5", None.__class__):
        with pytest.raises(TypeError) as info:
            check_top_p(bad)
        assert str(info.value) == f"top_p must be a number in [0, 1] (or None for no top-p filter), got {bad!r}."


def test_check_positive_defaults_to_one():
    assert check_positive(1, "n") == 1 and check_positive(0, "n", minimum=0) == 0
    with pytest.raises(ValueError, match="n=0"):
        check_positive(0, "n")


def test_finite_logits_passes_minus_inf_and_stops_nan_and_plus_inf():
    scores = torch.tensor([[0.0, -math.inf, 3.0]])
    assert FiniteLogits()(torch.zeros(1, 2, dtype=torch.long), scores) is scores
    for bad in (math.nan, math.inf):
        with pytest.raises(NumericsError) as info:
            FiniteLogits()(None, torch.tensor([[0.0, bad, 1.0]]))
        assert str(info.value).startswith("inf/NaN in logits:")


def test_seeded_rejects_a_non_integer_seed():
    for bad in (True, 1.0, "1"):
        with pytest.raises(TypeError) as info:
            with generation.seeded(bad):
                pass
        assert str(info.value) == f"seed must be an integer, got {bad!r}."
    with generation.seeded(3):
        first = torch.rand(3)
    torch.manual_seed(3)
    assert torch.equal(first, torch.rand(3))  # the block drew from manual_seed(3)


# --- testtime ----------------------------------------------------------------------------------------------

from helpers import backend as backend_ids  # noqa: E402
from helpers import testtime  # noqa: E402


def test_first_word_reads_letters_and_digits_after_spaces():
    assert testtime.first_word("  Paris, France") == "paris"
    assert testtime.first_word("\n42 is it") == "42"
    assert testtime.first_word("X") == "x"
    assert testtime.first_word(", no") == "" and testtime.first_word("") == ""


def test_blocks_cut_the_samples_in_consecutive_blocks():
    assert testtime._blocks(6, 2) == [range(0, 2), range(2, 4), range(4, 6)]
    assert testtime._blocks(3, 3) == [range(0, 3)]
    assert testtime._blocks(4, 1) == [range(0, 1), range(1, 2), range(2, 3), range(3, 4)]
    for size in (0, 4, -2):
        with pytest.raises(ValueError) as info:
            testtime._blocks(6, size)
        assert str(info.value) == f"N={size} must divide the 6 samples of each question."


def test_accuracy_vs_n_counted_by_hand():
    answers = [["a", "b", "b", "b"], ["c", "c", "d", "c"]]
    scores = [[0.9, 0.1, 0.2, 0.3], [0.1, 0.2, 0.9, 0.3]]
    targets = ["a", "c"]

    def best(block, block_scores):
        return block[max(range(len(block)), key=lambda i: block_scores[i])]

    def first(block, block_scores):
        assert block_scores == [0.0] * len(block)  # no scores: every sample scores 0
        return block[0]

    # N=1: q0 hits 1 of 4, q1 hits 3 of 4 -> 4/8. N=2: q0 [a,b]->a hit, [b,b] miss; q1 [c,c] hit, [d,c]->d miss -> 2/4.
    # N=4: q0 -> a hit; q1 -> d miss -> 1/2.
    assert testtime.accuracy_vs_n(best, answers, scores, targets, [1, 2, 4]) == [0.5, 0.5, 0.5]
    assert testtime.accuracy_vs_n(best, answers, torch.tensor(scores), targets, [4]) == [0.5]
    # first sample of each block: N=1 4/8; N=2: a hit, b miss, c hit, d miss -> 2/4; N=4: a hit, c hit -> 1.0
    assert testtime.accuracy_vs_n(first, answers, None, targets, [1, 2, 4]) == [0.5, 0.5, 1.0]


def test_pass_at_n_counted_by_hand():
    answers = [["x", "a", "x", "x"], ["x", "x", "x", "x"], ["b", "b", "b", "b"]]
    # N=1: 1 + 0 + 4 of 12; N=2: 1 + 0 + 2 of 6; N=4: 1 + 0 + 1 of 3
    assert testtime.pass_at_n(answers, ["a", "a", "b"], [1, 2, 4]) == [5 / 12, 3 / 6, 2 / 3]


class FakeCrossEncoder:
    def __init__(self):
        self.calls = []

    def predict(self, pairs, batch_size, show_progress_bar):
        self.calls.append((list(pairs), batch_size, show_progress_bar))
        return np.array([len(b) for _, b in pairs], dtype=np.float64)  # any array-like: read as float32


def test_cross_encoder_scores_pair_each_prompt_with_its_full_text():
    model = FakeCrossEncoder()
    scores = testtime.cross_encoder_scores(model, ["Q1 ", "Q22 "], [["a", "bb"], ["ccc", ""]])
    assert model.calls == [([("Q1 ", "Q1 a"), ("Q1 ", "Q1 bb"), ("Q22 ", "Q22 ccc"), ("Q22 ", "Q22 ")], 64, False)]
    assert scores.dtype == torch.float32 and scores.tolist() == [[4.0, 5.0], [7.0, 4.0]]


def test_answer_length_is_the_shortest_prefix_that_spells_the_whole_answer():
    tok = WordTokenizer(bos=False)
    tok.decode = lambda ids, skip_special_tokens=True: "".join(tok.words[int(i)] for i in ids)
    ids = [tok._id(p) for p in ("Par", "is", " is", " nice")]
    assert testtime._answer_length(tok, ids, "paris") == 2  # "Par" alone spells "par", "Paris" is whole
    assert testtime._answer_length(tok, ids[:2], "paris") == 2  # the whole completion
    assert testtime._answer_length(tok, ids, "nope") == 4  # never spelled: every token
    assert testtime._answer_length(tok, [tok._id("42")], "42") == 1


# --- embeddings --------------------------------------------------------------------------------------------

from helpers import embeddings  # noqa: E402


def test_cosine_similarity_matrix_by_hand():
    sim = embeddings.cosine_similarity_matrix(torch.tensor([[3.0, 4.0], [4.0, -3.0], [-6.0, -8.0]], dtype=torch.float64))
    assert sim.dtype == torch.float32
    torch.testing.assert_close(sim, torch.tensor([[1.0, 0.0, -1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 1.0]]))
    assert embeddings.cosine_similarity_matrix(torch.tensor([[2.0, 0.0]])).tolist() == [[1.0]]
    for bad in (torch.zeros(0, 3), torch.zeros(3)):
        with pytest.raises(ValueError) as info:
            embeddings.cosine_similarity_matrix(bad)
        assert str(info.value) == f"expected vectors of shape [n, d] with n >= 1, got {tuple(bad.shape)}."


def test_centered_by_hand():
    out = embeddings.centered(torch.tensor([[1.0, 10.0], [3.0, 20.0]]))
    assert out.tolist() == [[-1.0, -5.0], [1.0, 5.0]]
    for bad in (torch.zeros(1, 3), torch.zeros(4)):
        with pytest.raises(ValueError) as info:
            embeddings.centered(bad)
        assert str(info.value) == f"centering needs vectors of shape [n, d] with n >= 2, got {tuple(bad.shape)}."


def test_mean_pool_with_padding_averages_every_position():
    hidden = torch.tensor([[[1.0, 2.0], [5.0, 4.0], [0.0, 0.0]]])
    assert embeddings.mean_pool_with_padding(hidden).tolist() == [[2.0, 2.0]]


def test_perplexity_limits():
    assert embeddings.check_perplexity(2, 1.5) == 1.5 and embeddings.check_perplexity(10, 0.01) == 0.01
    with pytest.raises(ValueError) as info:
        embeddings.check_perplexity(1, 0.5)
    assert str(info.value) == "t-SNE needs at least 2 points, got 1."
    for n, p, hint in [(7, 7, 3), (7, 0, 3), (2, 2, 1), (3, -1, 1), (11, 30, 5)]:
        with pytest.raises(ValueError) as info:
            embeddings.check_perplexity(n, p)
        assert str(info.value) == (f"perplexity must be > 0 and smaller than the number of points ({n}), got {p}: "
                                   f"try perplexity={hint} for {n} points.")


def test_sentence_lists_are_checked():
    with pytest.raises(TypeError) as info:
        embeddings._check_sentences("one")
    assert str(info.value) == "pass a list of sentences, not one string: ['one']."
    with pytest.raises(TypeError):
        embeddings._check_sentences(b"one")
    with pytest.raises(ValueError) as info:
        embeddings._check_sentences([])
    assert str(info.value) == "the sentence list is empty: pass at least one sentence."
    for bad, shown in [(["ok", "  "], "'  '"), (["ok", 3], "3")]:
        with pytest.raises(ValueError) as info:
            embeddings._check_sentences(bad)
        assert str(info.value) == f"sentence 1 is empty or not a string: {shown}."
    embeddings._check_sentences(["fine", "also fine"])


def test_tsne_arguments_are_checked_before_fitting():
    points = np.random.default_rng(0).normal(size=(6, 3))
    with pytest.raises(ValueError) as info:
        embeddings.tsne_2d(np.zeros(5), perplexity=2)
    assert str(info.value) == "expected vectors of shape [n, d], got (5,)."
    with pytest.raises(ValueError) as info:
        embeddings.tsne_2d(points, perplexity=2, init="spectral")
    assert str(info.value) == "init must be 'pca' or 'random', got 'spectral'."
    with pytest.raises(ValueError, match="max_iter=249"):
        embeddings.tsne_2d(points, perplexity=2, max_iter=249)
    with pytest.raises(ValueError, match="seed=-1"):
        embeddings.tsne_2d(points, perplexity=2, seed=-1)
    with pytest.raises(NumericsError):
        embeddings.tsne_2d(np.full((4, 2), np.nan), perplexity=2)


# --- attention ---------------------------------------------------------------------------------------------

from helpers import attention, hooks  # noqa: E402


def test_generated_ids_are_the_tokens_after_the_prompt():
    gen = attention.Generation(torch.tensor([[2, 10, 11, 12, 1]]), prompt_len=2)
    assert gen.generated_ids.tolist() == [11, 12, 1]


def test_heads_and_eager_attention_of_a_model(lm):
    model, _ = lm
    assert attention.num_heads(model) == 8 and attention.check_head(model, 7) == 7
    with pytest.raises(IndexError) as info:
        attention.check_head(model, 8)
    assert str(info.value) == "head 8 is out of range: each layer of this model has heads 0..7."
    attention.check_eager(model)
    for impl, shown in [("sdpa", "'sdpa'"), (None, "None")]:
        fake = SimpleNamespace(config=SimpleNamespace(_attn_implementation=impl))
        with pytest.raises(ValueError) as info:
            attention.check_eager(fake)
        assert str(info.value) == (f"this model uses attn_implementation={shown}, which returns no attention weights: "
                                   "load it with attn_implementation='eager' (helpers.backend.load_lm does).")
    with pytest.raises(ValueError, match="attn_implementation=None"):
        attention.check_eager(SimpleNamespace(config=SimpleNamespace()))


def test_the_refusal_of_another_prompt_shows_its_first_40_characters():
    prompt = "x" * 50
    assert attention.not_the_homework_prompt(prompt) == (
        "this helper generates from the original homework's prompt only, 'Google ' (or 'Google'), not "
        f"{'x' * 40!r}: for another prompt call model.generate yourself (exercise 1.2 of notebook 01).")
    assert "not 'list':" in attention.not_the_homework_prompt(["Google"])


def test_stop_ids_of_one_id_a_list_or_none():
    def model(eos):
        return SimpleNamespace(generation_config=SimpleNamespace(eos_token_id=eos))

    assert attention.stop_ids(model(None)) == set()
    assert attention.stop_ids(model(1)) == {1}
    assert attention.stop_ids(model([1, 107])) == {1, 107} and attention.stop_ids(model((107,))) == {107}


def test_rows_are_checked_with_clear_words():
    with pytest.raises(ValueError) as info:
        attention.previous_token_score([[1.0]])
    assert str(info.value) == "expected attention rows of shape [head, query, key], got list."
    with pytest.raises(ValueError) as info:
        attention.first_token_score(torch.zeros(3, 3))
    assert str(info.value) == "expected attention rows of shape [head, query, key], got (3, 3)."
    with pytest.raises(ValueError) as info:
        attention.previous_token_score(torch.zeros(1, 3, 4), first_query=2)
    assert str(info.value) == ("3 rows from query position 2 need at least 5 keys, but the rows have 4: first_query is "
                               "the position of the first row's query.")
    attention.previous_token_score(torch.zeros(1, 3, 5), first_query=2)  # exactly enough keys
    with pytest.raises(ValueError, match="first_query=-1"):
        attention.first_token_score(torch.zeros(1, 1, 3), first_query=-1)
    with pytest.raises(ValueError) as info:
        attention.first_token_score(torch.ones(2, 1, 1))
    assert str(info.value) == "first_token_score needs a query at position 1 or later."
    with pytest.raises(ValueError) as info:
        attention.previous_token_score(torch.ones(2, 1, 1))
    assert str(info.value) == "previous_token_score needs a query at position 1 or later."


def test_head_scores_by_hand():
    rows = torch.tensor([  # head 0, queries 0..2 over keys 0..2
        [[1.0, 0.0, 0.0], [0.2, 0.8, 0.0], [0.1, 0.6, 0.3]],
        [[1.0, 0.0, 0.0], [0.9, 0.1, 0.0], [0.5, 0.25, 0.25]]])
    # previous token: head 0 (0.2 + 0.6) / 2, head 1 (0.9 + 0.25) / 2; query 0 skipped
    torch.testing.assert_close(attention.previous_token_score(rows), torch.tensor([0.4, 0.575]))
    torch.testing.assert_close(attention.first_token_score(rows), torch.tensor([0.15, 0.7]))
    # the last two rows, given as queries 1 and 2: the same rows, the same scores
    torch.testing.assert_close(attention.previous_token_score(rows[:, 1:], first_query=1), torch.tensor([0.4, 0.575]))
    torch.testing.assert_close(attention.first_token_score(rows[:, 1:], first_query=1), torch.tensor([0.15, 0.7]))


def _greedy_by_hand(model, ids, steps):
    """Greedy decoding with one full forward pass per token (no cache, no generate)."""
    ids = ids.clone()
    for _ in range(steps):
        with torch.no_grad():
            nxt = model(ids).logits[0, -1].argmax()
        ids = torch.cat([ids, nxt.view(1, 1)], dim=1)
    return ids


def test_greedy_generate_is_argmax_decoding_of_the_homework_prompt(lm):
    model, tokenizer = lm
    gen = attention.greedy_generate(model, tokenizer, "Google ", max_new_tokens=6, stop_at_eos=False)
    prompt = tokenizer("Google ", return_tensors="pt").input_ids
    assert gen.prompt_len == prompt.shape[1] and gen.input_ids.shape == (1, prompt.shape[1] + 6)
    assert torch.equal(gen.input_ids, _greedy_by_hand(model, prompt, 6))
    assert gen.input_ids.device.type == "cpu"
    default = attention.greedy_generate(model, tokenizer, "Google")
    assert default.input_ids.shape[1] - default.prompt_len <= 20
    with pytest.raises(ValueError, match="original homework's prompt only"):
        attention.greedy_generate(model, tokenizer, "Google  ")


# --- hooks -------------------------------------------------------------------------------------------------


def test_heads_split_the_projection_by_head():
    x = torch.arange(12.0).view(1, 2, 6)  # 2 positions, 3 heads of 2 dims
    assert hooks._heads(x, 2).tolist() == [[[0.0, 1.0], [6.0, 7.0]], [[2.0, 3.0], [8.0, 9.0]],
                                           [[4.0, 5.0], [10.0, 11.0]]]


def test_sliding_window_validation_and_restore_on_error():
    model = SimpleNamespace(config=SimpleNamespace(sliding_window=256))
    for bad in (0, -3, True, 2.0):
        with pytest.raises(ValueError) as info:
            with hooks.sliding_window(model, bad):
                pass
        assert str(info.value) == f"window must be a positive number of tokens, got {bad!r}."
    with pytest.raises(RuntimeError):
        with hooks.sliding_window(model, 1):
            assert model.config.sliding_window == 1
            raise RuntimeError("inside")
    assert model.config.sliding_window == 256


def test_sliding_layers_read_the_layer_types():
    config = SimpleNamespace(layer_types=["full_attention", "sliding_attention", "sliding_attention", "full_attention"])
    assert hooks.sliding_layers(config) == [1, 2]


def test_capture_qk_shapes_and_rope(lm):
    model, tokenizer = lm
    ids = tokenizer("one two three four", return_tensors="pt").input_ids
    q, k = hooks.capture_qk(model, ids, 3)
    qr, kr = hooks.capture_qk(model, ids, 3, rotary=True)
    T = ids.shape[1]
    assert q.shape == (8, T, 16) and k.shape == (4, T, 16) and q.dtype == torch.float32
    # RoPE is a rotation: position 0 is left alone, every vector keeps its length, later positions turn
    torch.testing.assert_close(qr[:, 0], q[:, 0])
    torch.testing.assert_close(kr.norm(dim=-1), k.norm(dim=-1))
    assert not torch.allclose(qr[:, 1:], q[:, 1:])
    with pytest.raises(IndexError, match=r"0\.\.25"):
        hooks.capture_qk(model, ids, 26)


def test_attention_error_refuses_a_pattern_of_the_wrong_shape(lm):
    model, tokenizer = lm
    ids = tokenizer("one two", return_tensors="pt").input_ids
    T = ids.shape[1]
    with pytest.raises(ValueError) as info:
        hooks.attention_error(model, ids, 0, torch.zeros(8, T, T + 1))
    assert str(info.value) == f"expected attention weights of shape (8, {T}, {T}) [head, query, key], got (8, {T}, {T + 1})."
    with pytest.raises(ValueError) as info:
        hooks.attention_error(model, ids, 0, [[0.0]])
    assert str(info.value).endswith("[head, query, key], got list.")
    with pytest.raises(IndexError, match=r"0\.\.25"):
        hooks.attention_error(model, ids, 26, torch.zeros(8, T, T))
    causal = torch.tril(torch.ones(T, T))
    uniform = (causal / causal.sum(dim=-1, keepdim=True)).expand(8, T, T)
    error = hooks.attention_error(model, ids, 0, uniform)
    assert type(error) is float and 0 < error <= 1


# --- testtime.sample_answers on a scripted model -----------------------------------------------------------


class ScriptedModel:
    """A stand-in LM whose ``generate`` returns fixed tokens with fixed probabilities, recording what it was asked."""

    device = torch.device("cpu")

    def __init__(self, new_tokens, probs, window=64, vocab=4096):
        from transformers import GenerationConfig

        self.config = SimpleNamespace(max_position_embeddings=window)
        self.generation_config = GenerationConfig(eos_token_id=[1, 107], do_sample=False, top_k=50)
        self.new_tokens, self.probs, self.vocab, self.calls = torch.tensor(new_tokens), probs, vocab, []

    def generate(self, input_ids, attention_mask, generation_config, logits_processor):
        config = generation_config
        self.calls.append({"input_ids": input_ids, "attention_mask": attention_mask, "config": config,
                           "processors": list(logits_processor), "draw": torch.rand(1)})
        prompts = input_ids.repeat_interleave(config.num_return_sequences, dim=0)
        logits = []
        for step in range(self.new_tokens.shape[1]):
            scores = torch.full((len(self.new_tokens), self.vocab), -math.inf)
            for row, token in enumerate(self.new_tokens[:, step].tolist()):
                p = self.probs[row][step]
                scores[row, token] = math.log(p)
                scores[row, 4095 if token != 4095 else 4094] = math.log1p(-p) if p < 1 else -math.inf
            logits.append(scores)
        return SimpleNamespace(sequences=torch.cat([prompts, self.new_tokens], dim=1), logits=tuple(logits))


PARIS, IS, NICE, COMMA, R, OME, EOS, END = 3719, 457, 1593, 367, 1446, 991, 1, 107


def test_sample_answers_reads_texts_answers_scores_and_lengths(lm):
    _, tokenizer = lm
    model = ScriptedModel([[PARIS, IS, NICE], [R, OME, EOS], [COMMA, EOS, PARIS], [END, PARIS, IS]],
                          [[0.25, 0.5, 0.5], [0.5, 0.8, 0.9], [0.5, 0.5, 0.5], [0.5, 0.5, 0.5]])
    samples = testtime.sample_answers(model, tokenizer, ["a b", "a"], n=2, seed=5)
    assert samples.prompts == ["a b", "a"] and samples.n == 2
    assert samples.texts == [[" Paris is nice", " Rome"], [",", ""]]
    assert samples.answers == [["paris", "rome"], ["", ""]]
    assert samples.n_tokens.tolist() == [[3, 3], [2, 1]]  # up to and including the first stop token
    expected = torch.tensor([[math.log(0.25), math.log(0.5 * 0.8)], [-math.inf, -math.inf]])
    torch.testing.assert_close(samples.answer_logprob, expected)  # "Paris": 1 token; "Rome": " R" + "ome"
    (call,) = model.calls
    assert call["input_ids"].tolist() == [[2, 407, 460], [0, 2, 407]]  # left-padded into one batch
    assert call["attention_mask"].tolist() == [[1, 1, 1], [0, 1, 1]]
    config = call["config"]
    assert (config.do_sample, config.temperature, config.top_k, config.top_p) == (True, 1.0, 0, 1.0)
    assert (config.max_new_tokens, config.num_return_sequences, config.pad_token_id) == (3, 2, 0)
    assert config.output_logits is True and config.return_dict_in_generate is True
    assert [type(p) for p in call["processors"]] == [FiniteLogits]
    assert model.generation_config.do_sample is False and model.generation_config.top_k == 50  # a copy was changed
    torch.manual_seed(5)
    assert torch.equal(call["draw"], torch.rand(1))  # generate ran under seed 5


def test_sample_answers_default_seed_and_window(lm):
    _, tokenizer = lm
    model = ScriptedModel([[PARIS, EOS, EOS]], [[0.5, 0.5, 0.5]], window=6)
    testtime.sample_answers(model, tokenizer, ["a b"], n=1)  # 3 prompt tokens + 3 new ones = the window of 6
    torch.manual_seed(0)
    assert torch.equal(model.calls[0]["draw"], torch.rand(1))
    with pytest.raises(ValueError, match="max_new_tokens=3 is out of range: use 1..2"):
        testtime.sample_answers(ScriptedModel([[PARIS]], [[0.5]], window=5), tokenizer, ["a b"], n=1)


def test_sample_answers_refuses_bad_arguments(lm):
    _, tokenizer = lm
    model = ScriptedModel([[PARIS]], [[0.5]])
    for n in (0, True, 2.0):
        with pytest.raises(ValueError) as info:
            testtime.sample_answers(model, tokenizer, ["a"], n=n)
        assert str(info.value) == f"n must be a positive number of samples, got {n!r}."
    for prompts in ("a", [], ["a", ""], ["a", 3]):
        with pytest.raises(ValueError) as info:
            testtime.sample_answers(model, tokenizer, prompts, n=1)
        assert str(info.value) == "prompts must be a non-empty list of non-empty strings (one per question)."
    assert model.calls == []


def test_tsne_defaults_are_seed_0_and_1000_iterations():
    points = np.random.default_rng(0).normal(size=(6, 3))
    default = embeddings.tsne_2d(points, perplexity=2, init="random")
    assert np.array_equal(default, embeddings.tsne_2d(points, perplexity=2, seed=0, max_iter=1000, init="random"))
    assert not np.allclose(default, embeddings.tsne_2d(points, perplexity=2, seed=1, init="random"))
    assert default.shape == (6, 2)


@pytest.mark.parametrize("n, method", [(500, "exact"), (501, "barnes_hut")])
def test_tsne_is_exact_up_to_500_points(monkeypatch, n, method):
    import sklearn.manifold

    made = []

    class Recorder:
        def __init__(self, **kwargs):
            made.append(kwargs)

        def fit_transform(self, data):
            return np.zeros((len(data), 2), dtype=np.float32)

    monkeypatch.setattr(sklearn.manifold, "TSNE", Recorder)
    embeddings.tsne_2d(torch.ones(n, 3), perplexity=5, seed=2, max_iter=300, init="random")
    assert made == [{"n_components": 2, "perplexity": 5, "random_state": 2, "max_iter": 300, "init": "random",
                     "method": method}]


def test_tsne_names_the_vectors_that_hold_nan():
    with pytest.raises(NumericsError) as info:
        embeddings.tsne_2d(np.full((4, 2), np.nan), perplexity=2)
    assert str(info.value).startswith("inf/NaN in the vectors given to t-SNE")


def test_an_empty_sentence_list_is_named():
    with pytest.raises(ValueError) as info:
        embeddings._check_sentences([])
    assert str(info.value) == "the sentence list is empty: pass at least one sentence."


def test_tsne_reads_every_input_as_float32():
    points = np.random.default_rng(1).normal(size=(6, 3))  # float64
    as_float32 = embeddings.tsne_2d(points.astype(np.float32), perplexity=2)
    assert np.array_equal(embeddings.tsne_2d(points, perplexity=2), as_float32)
    assert np.array_equal(embeddings.tsne_2d(torch.from_numpy(points), perplexity=2), as_float32)


def test_answer_length_skips_special_tokens(lm):
    _, tokenizer = lm
    # a <bos> in front spells nothing: "Paris" is whole after 2 tokens, and " is" does not change it
    assert testtime._answer_length(tokenizer, [backend_ids.BOS_ID, PARIS, IS], "paris") == 2
    assert testtime._answer_length(tokenizer, [PARIS, EOS], "paris") == 1


def test_no_samples_means_n_is_zero():
    empty = torch.zeros(0, 0)
    assert testtime.Samples([], [], [], empty, empty).n == 0


def test_tsne_takes_bfloat16_vectors():
    """Hidden states of the real model on a GPU are bfloat16, a dtype numpy does not have."""
    points = torch.from_numpy(np.random.default_rng(1).normal(size=(6, 3))).to(torch.bfloat16)
    assert np.array_equal(embeddings.tsne_2d(points, perplexity=2), embeddings.tsne_2d(points.float(), perplexity=2))


def test_a_word_cut_short_is_not_the_answer(lm):
    """"Par" is spelled by the first token of "Paris" but not completely: the helper falls back to every token."""
    _, tokenizer = lm
    par, bare_is = 1536, 443  # "Par", "is" (no space)
    assert tokenizer.decode([par, bare_is]) == "Paris"
    assert testtime._answer_length(tokenizer, [par, bare_is], "par") == 2
    assert testtime._answer_length(tokenizer, [par, IS], "par") == 1  # "Par is": complete after one token
