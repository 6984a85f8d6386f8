"""helpers.metrics: distinct-n and sample-set validation (self-BLEU is exercise 4.4, tested through its check)."""
import pytest

from helpers import metrics

SAMPLES = [
    "Professor Lee is a great machine learning teacher",
    "Professor Lee is one of the best machine learning teachers",
    "Lee teaches machine learning very well",
    "Professor Lee is one of the best teachers of machine learning",
]


@pytest.mark.parametrize(
    "sentences, error, match",
    [
        ([], ValueError, "at least 1"),
        (["", "   "], ValueError, "only 0 of the 2"),
        ("a single string", TypeError, "list of strings"),
        (["ok", 3], TypeError, "string"),
    ],
)
def test_bad_sentence_sets_are_rejected(sentences, error, match):
    with pytest.raises(error, match=match):
        metrics.distinct_n(sentences)


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
