"""Hidden tests of notebook 03 (tokenization): token_table. TA only.

Texts differ from the notebook's: other scripts and emoji (byte fallback), numbers and symbols,
whitespace runs, a name with an apostrophe.
"""
from __future__ import annotations

from helpers.coursework.grading.compare import exact
from helpers.coursework.grading.spec import Case, ref


def cases() -> dict[str, list[Case]]:
    tok = ref("tokenizer")
    return {
        "token_table": [
            Case("German, Japanese and an emoji", (tok, "Grüße aus 東京! 😀"), compare=exact()),
            Case("numbers and symbols", (tok, "12345 + 678 = 13023"), compare=exact()),
            Case("spaces, a tab and a newline", (tok, "  leading spaces,\ttabs\nand newlines"), compare=exact()),
            Case("a name with an apostrophe", (tok, "Hung-yi Lee's ML2025 course"), compare=exact()),
        ],
    }
