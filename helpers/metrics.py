"""Diversity measures beside self-BLEU: distinct-n, and the validation of a sample set.

Self-BLEU, the homework's measure, is exercise 4.4 of notebook 04 (``self_bleu``): it is not in
``helpers``. Distinct-n (Li et al., 2016) is the second, simpler measure the notebook shows next
to it: the number of different n-grams over all samples divided by the number of n-grams.
"""
from __future__ import annotations

from typing import Sequence


def check_sentences(sentences: Sequence[str], minimum: int = 2) -> list[str]:
    """A list of strings with at least ``minimum`` non-empty ones, or a clear error."""
    if isinstance(sentences, (str, bytes)) or not isinstance(sentences, Sequence):
        raise TypeError("sentences must be a list of strings (e.g. the output of sample_with_filter).")
    bad = [type(s).__name__ for s in sentences if not isinstance(s, str)]
    if bad:
        raise TypeError(f"every sentence must be a string, got {bad[0]}.")
    if len(sentences) < minimum:
        raise ValueError(f"give at least {minimum} sentences, got {len(sentences)}.")
    non_empty = sum(1 for s in sentences if s.split())
    if non_empty < minimum:
        raise ValueError(
            f"only {non_empty} of the {len(sentences)} sentences contain words; at least {minimum} are needed "
            "(raise max_new_tokens or check that generation did not stop at once)."
        )
    return list(sentences)


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
