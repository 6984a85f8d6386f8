"""A test oracle for exercise 5.2 (not shipped: finding a word's tokens is part of that exercise)."""
import re


def word_char_span(sentence: str, word: str) -> tuple[int, int]:
    """``(start, end)`` of the first whole-word, case-sensitive occurrence of ``word`` in ``sentence``."""
    match = re.search(rf"(?<!\w){re.escape(word)}(?!\w)", sentence)
    if match is None:
        raise ValueError(f"the word {word!r} does not occur in {sentence!r} (the match is case-sensitive and whole-word).")
    return match.span()


def word_token_positions(tokenizer, sentence: str, word: str) -> list[int]:
    """Positions (in ``tokenizer(sentence)``, ``<bos>`` = 0) of the tokens that cover ``word``."""
    start, end = word_char_span(sentence, word)
    enc = tokenizer(sentence, return_offsets_mapping=True)
    positions = [
        i for i, (s, e) in enumerate(enc["offset_mapping"]) if e > s and s < end and e > start
    ]
    if not positions:
        raise ValueError(f"no token of {sentence!r} covers {word!r}: the tokenizer returned no usable offsets.")
    return positions
