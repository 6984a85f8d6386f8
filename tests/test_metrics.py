"""helpers.metrics: self-BLEU (homework definition and variants), distinct-n, coherence."""
import warnings

import pytest
import torch
from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

from helpers import metrics

SAMPLES = [
    "Professor Lee is a great machine learning teacher",
    "Professor Lee is one of the best machine learning teachers",
    "Lee teaches machine learning very well",
    "Professor Lee is one of the best teachers of machine learning",
]


def homework_self_bleu(sentences):
    """The homework's own loop, written out with nltk."""
    total = 0.0
    for i, hyp in enumerate(sentences):
        refs = [s for j, s in enumerate(sentences) if j != i]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            total += sum(sentence_bleu([r.split()], hyp.split()) for r in refs) / len(refs)
    return total / len(sentences)


def test_default_is_the_homework_definition():
    assert metrics.self_bleu(SAMPLES) == pytest.approx(homework_self_bleu(SAMPLES), abs=1e-12)
    assert 0.0 < metrics.self_bleu(SAMPLES) < 1.0


def test_identical_samples_score_one_and_disjoint_samples_zero():
    assert metrics.self_bleu(["a b c d e"] * 3) == pytest.approx(1.0)
    assert metrics.self_bleu(["a b c d", "e f g h", "i j k l"]) == 0.0


def test_more_repetition_means_higher_self_bleu():
    repetitive = [SAMPLES[1]] * 3 + [SAMPLES[3]]
    assert metrics.self_bleu(repetitive) > metrics.self_bleu(SAMPLES)


def test_multi_reference_variant_matches_nltk_and_is_not_below_pairwise():
    expected = sum(
        sentence_bleu([r.split() for j, r in enumerate(SAMPLES) if j != i], h.split(), smoothing_function=SmoothingFunction().method1)
        for i, h in enumerate(SAMPLES)
    ) / len(SAMPLES)
    got = metrics.self_bleu(SAMPLES, variant="multi_reference", smoothing="method1")
    assert got == pytest.approx(expected, abs=1e-12)
    assert metrics.self_bleu(SAMPLES, variant="multi_reference") >= metrics.self_bleu(SAMPLES)


def test_smoothing_lifts_short_pairs_without_shared_4grams():
    pair = ["the cat sat", "the cat ran"]
    assert metrics.self_bleu(pair) < 1e-100  # nltk: no 3- or 4-gram match gives ~1e-154, not 0
    assert metrics.self_bleu(pair, smoothing="method1") > 0.1


def test_self_bleu_emits_no_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        metrics.self_bleu(["a b", "c d", "a b e"])


@pytest.mark.parametrize(
    "sentences, error, match",
    [
        (["only one"], ValueError, "at least 2"),
        ([], ValueError, "at least 2"),
        (["some words", "", "   "], ValueError, "only 1 of the 3"),
        ("a single string", TypeError, "list of strings"),
        (["ok", 3], TypeError, "string"),
    ],
)
def test_bad_sentence_sets_are_rejected(sentences, error, match):
    with pytest.raises(error, match=match):
        metrics.self_bleu(sentences)


def test_unknown_variant_or_smoothing_names_the_choices():
    with pytest.raises(ValueError, match="pairwise"):
        metrics.self_bleu(SAMPLES, variant="texygen")
    with pytest.raises(ValueError, match="method1"):
        metrics.self_bleu(SAMPLES, smoothing="laplace")


def test_empty_samples_are_kept_and_score_zero():
    with_empty = SAMPLES + [""]
    assert metrics.self_bleu(with_empty) < metrics.self_bleu(SAMPLES)


def test_distinct_n():
    assert metrics.distinct_n(["a b c", "a b d"], 1) == pytest.approx(4 / 6)
    assert metrics.distinct_n(["a b c", "a b d"], 2) == pytest.approx(3 / 4)
    assert metrics.distinct_n(["x y"] * 5, 2) == pytest.approx(1 / 5)


@pytest.mark.parametrize("n", [0, -1, 1.5])
def test_distinct_n_rejects_bad_n(n):
    with pytest.raises(ValueError, match="≥ 1"):
        metrics.distinct_n(SAMPLES, n)


def test_distinct_n_needs_long_enough_samples():
    with pytest.raises(ValueError, match="smaller n"):
        metrics.distinct_n(["a b", "c"], 3)


def test_coherence_is_the_raw_logit_of_the_sequence_classifier(cross_encoder):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from helpers.assets import offline_dir

    question = "What is supervised learning?"
    answer = "Supervised learning trains a model on labelled examples."
    path = offline_dir() / "cross_encoder"
    tok = AutoTokenizer.from_pretrained(path)
    clf = AutoModelForSequenceClassification.from_pretrained(path).eval()
    with torch.no_grad():
        logit = clf(**tok(question, answer, return_tensors="pt", truncation=True)).logits[0, 0].item()
    assert metrics.coherence(cross_encoder, question, answer) == pytest.approx(logit, abs=1e-4)


def test_coherence_rejects_empty_question_and_wrong_model(cross_encoder):
    with pytest.raises(ValueError, match="question is empty"):
        metrics.coherence(cross_encoder, " ", "answer")
    with pytest.raises(TypeError, match="CrossEncoder"):
        metrics.coherence(object(), "q", "a")
    with pytest.raises(TypeError, match="answer"):
        metrics.coherence(cross_encoder, "q", None)


def test_diversity_plot_has_one_bar_per_setting_and_labels():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from helpers import plots

    axes = plots.plot_diversity({"k=2": 0.4, "k=200": 0.1}, {"k=2": 0.2, "k=200": 0.6})
    assert len(axes) == 2 and all(len(ax.patches) == 2 and ax.get_ylabel() and ax.get_xlabel() for ax in axes)
    ax = plots.plot_scores({"a": 1.0, "b": -2.0}, "t", ylabel="y", xlabel="x")
    assert ax.get_title() == "t" and [round(p.get_height(), 3) for p in ax.patches] == [1.0, -2.0]
    plt.close("all")
