"""Diversity and relevance measures: self-BLEU, distinct-n, and cross-encoder coherence.

Self-BLEU (homework definition, the default)::

    self_bleu(S) = 1/|S| · Σ_i  1/(|S|-1) · Σ_{j≠i}  BLEU(hypothesis = S_i, references = [S_j])

sentences split on whitespace, nltk's ``sentence_bleu`` with its default 4-gram weights and no
smoothing. High self-BLEU = the samples repeat each other = low diversity.

``variant="multi_reference"`` is Texygen's definition (Zhu et al., 2018): each sentence is scored
once against *all* the others together as references, ``BLEU(S_i, [S_j for j ≠ i])``. A
hypothesis n-gram then counts if it occurs in any other sample, so the score is higher than the
pairwise mean. ``smoothing`` names one of nltk's ``SmoothingFunction`` methods (Texygen used
``"method1"``); without smoothing a short pair with no shared 4-gram scores exactly 0.
"""
from __future__ import annotations

import warnings
from typing import Sequence

VARIANTS = ("pairwise", "multi_reference")
SMOOTHINGS = tuple(f"method{i}" for i in range(8))


def check_sentences(sentences: Sequence[str], minimum: int = 2) -> list[str]:
    """A list of strings with at least ``minimum`` non-empty ones, or a clear error."""
    if isinstance(sentences, (str, bytes)) or not isinstance(sentences, Sequence):
        raise TypeError("sentences must be a list of strings (e.g. the output of helpers.generation.sample).")
    bad = [type(s).__name__ for s in sentences if not isinstance(s, str)]
    if bad:
        raise TypeError(f"every sentence must be a string, got {bad[0]}.")
    if len(sentences) < minimum:
        raise ValueError(f"self-BLEU compares samples with each other: give at least {minimum} sentences (n ≥ {minimum}), got {len(sentences)}.")
    non_empty = sum(1 for s in sentences if s.split())
    if non_empty < minimum:
        raise ValueError(
            f"only {non_empty} of the {len(sentences)} sentences contain words; at least {minimum} are needed "
            "(raise max_new_tokens or check that generation did not stop at once)."
        )
    return list(sentences)


def _smoothing(name: str | None):
    """nltk smoothing function for a method name, or None."""
    if name is None:
        return None
    if name not in SMOOTHINGS:
        raise ValueError(f"smoothing must be None or one of {', '.join(SMOOTHINGS)} (nltk SmoothingFunction), got {name!r}.")
    from nltk.translate.bleu_score import SmoothingFunction

    return getattr(SmoothingFunction(), name)


def bleu(hypothesis: str, references: Sequence[str], smoothing: str | None = None, weights: tuple[float, ...] = (0.25, 0.25, 0.25, 0.25)) -> float:
    """nltk ``sentence_bleu`` of one whitespace-split hypothesis against references, without nltk's warnings."""
    from nltk.translate.bleu_score import sentence_bleu

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "0 counts of n-gram overlaps" is expected for diverse samples
        return float(sentence_bleu([r.split() for r in references], hypothesis.split(), weights=weights, smoothing_function=_smoothing(smoothing)))


def self_bleu(
    sentences: Sequence[str],
    variant: str = "pairwise",
    smoothing: str | None = None,
    weights: tuple[float, ...] = (0.25, 0.25, 0.25, 0.25),
) -> float:
    """Self-BLEU of a set of samples (homework definition by default; see the module docstring).

    Empty sentences are kept, as in the homework code: they score 0 against everything.
    """
    sentences = check_sentences(sentences)
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}.")
    scores = []
    for i, hypothesis in enumerate(sentences):
        others = sentences[:i] + sentences[i + 1:]
        if variant == "pairwise":
            scores.append(sum(bleu(hypothesis, [ref], smoothing, weights) for ref in others) / len(others))
        else:
            scores.append(bleu(hypothesis, others, smoothing, weights))
    return sum(scores) / len(scores)


def ngrams(words: Sequence[str], n: int) -> list[tuple[str, ...]]:
    """All contiguous n-grams of a word list."""
    return [tuple(words[i:i + n]) for i in range(len(words) - n + 1)]


def distinct_n(sentences: Sequence[str], n: int = 2) -> float:
    """Distinct-n (Li et al., 2016): unique n-grams / all n-grams over the samples (whitespace split); 1 = no repeats."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n (the n-gram length) must be an integer ≥ 1, got {n!r}.")
    sentences = check_sentences(sentences, minimum=1)
    grams = [g for s in sentences for g in ngrams(s.split(), n)]
    if not grams:
        raise ValueError(f"no sentence has {n} or more words, so distinct-{n} is undefined: use a smaller n or longer samples.")
    return len(set(grams)) / len(grams)


def coherence(cross_encoder, question: str, answer: str) -> float:
    """The cross-encoder's raw relevance logit of ``answer`` to ``question`` (higher = more on topic)."""
    for text, what in ((question, "question"), (answer, "answer")):
        if not isinstance(text, str):
            raise TypeError(f"the {what} must be a string, not {type(text).__name__}.")
    if not question.strip():
        raise ValueError("the question is empty: pass the prompt the answer replies to.")
    if not callable(getattr(cross_encoder, "predict", None)):
        raise TypeError(f"expected a sentence-transformers CrossEncoder (helpers.backend.load_cross_encoder()), got {type(cross_encoder).__name__}.")
    score = cross_encoder.predict([(question, answer)], show_progress_bar=False)
    return float(score[0])
