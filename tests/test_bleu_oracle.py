"""BLEU values derived by hand (clipped n-gram counts, brevity penalty), against nltk and the self-BLEU check's constants.

The check of exercise 4.4 stores nltk's values; these tests recount two of its sets with pencil-and-paper
arithmetic, with non-default weights and with mixed case, so a wrong constant or an nltk change shows up."""
import math
import warnings

import pytest
from nltk.translate.bleu_score import sentence_bleu

from helpers import checks

A = "the cat sat on the mat today".split()
B = "the cat sat on the red mat".split()
# A against B: unigrams 6/7 (today is new), bigrams 4/6, trigrams 3/5, 4-grams 2/4; same length, so no penalty.
# B against A: the same counts (red is new; the-red, red-mat miss). So both directions give the same BLEU.
P = (6 / 7, 4 / 6, 3 / 5, 2 / 4)


def bleu(hyp, ref, weights=(0.25, 0.25, 0.25, 0.25)):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return sentence_bleu([ref], hyp, weights=weights)


def test_default_weights_are_the_geometric_mean_of_four_precisions():
    expected = (P[0] * P[1] * P[2] * P[3]) ** 0.25  # = (144/840) ** 0.25
    assert bleu(A, B) == pytest.approx(expected, rel=1e-12) and bleu(B, A) == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(0.643458884161, abs=1e-12)


@pytest.mark.parametrize("weights, expected", [((1, 0, 0, 0), 6 / 7), ((0.5, 0.5), math.sqrt(6 / 7 * 4 / 6)),
                                               ((0, 0, 0, 1), 2 / 4), ((0.7, 0.3), (6 / 7) ** 0.7 * (4 / 6) ** 0.3)])
def test_non_default_weights(weights, expected):
    assert bleu(A, B, weights) == pytest.approx(expected, rel=1e-12)


def test_mixed_case_and_glued_punctuation_are_different_words():
    hyp = "The cat sat on the mat .".split()   # 7 words
    ref = "the cat sat on the mat.".split()    # 6 words: 'the' twice, 'mat.' glued
    # unigrams: cat, sat, on, the (once: 'The' is another word) -> 4/7; bigrams: cat-sat, sat-on, on-the -> 3/6;
    # the hypothesis is longer than the reference, so no brevity penalty.
    assert bleu(hyp, ref, (1, 0, 0, 0)) == pytest.approx(4 / 7, rel=1e-12)
    assert bleu(hyp, ref, (0.5, 0.5)) == pytest.approx(math.sqrt(4 / 7 * 3 / 6), rel=1e-12)
    # the other way round the hypothesis (6 words) is shorter than its reference (7): penalty exp(1 - 7/6)
    assert bleu(ref, hyp, (1, 0, 0, 0)) == pytest.approx(4 / 6 * math.exp(1 - 7 / 6), rel=1e-12)


def test_the_checks_constants_for_two_sentences_follow_from_the_hand_count():
    values = dict((name, v) for name, _, v in checks.nb04.SELF_BLEU_CASES)["two sentences"]
    pair = (P[0] * P[1] * P[2] * P[3]) ** 0.25
    assert values["correct"] == pytest.approx(pair, abs=1e-11)          # mean over 2 sentences of the same value
    assert values["itself"] == pytest.approx((pair + 1) / 2, abs=1e-11)   # each also scored against itself (BLEU 1)
    assert values["total"] == pytest.approx(2 * pair, abs=1e-11)          # summed instead of averaged
    assert values["over_n"] == pytest.approx(pair / 2, abs=1e-11)         # one other sentence, divided by n = 2
