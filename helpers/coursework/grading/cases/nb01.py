"""Hidden tests of notebook 01 (chat template): prompt_ids, generate_answer, coherence. TA only.

Inputs differ from the notebook's (other questions, unicode, numbers, a prompt with two <bos>).
The input ids of ``generate_answer`` are written out (offline tokenizer) so the cases need no
tokenizer; any ids run, the comparison is with the instructor solution on the same input.
"""
from __future__ import annotations

import torch

from helpers.coursework.grading.compare import allclose, exact
from helpers.coursework.grading.spec import Case, ref

# Offline tokenizer, chat template with the generation prompt:
# "Name a colour of the rainbow, one word only."  (the reply stops at <end_of_turn> within a few tokens)
RAINBOW_TEMPLATED = [2, 106, 1021, 437, 364, 784, 433, 508, 898, 454, 439, 516, 367, 481, 478, 969, 369, 107, 364,
                     106, 416, 525, 364]
# "What does a tokenizer do? 🤖"  (emoji as byte-fallback tokens; the reply runs past max_new_tokens)
TOKENIZER_TEMPLATED = [2, 106, 1021, 437, 364, 615, 2026, 433, 2028, 541, 380, 430, 348, 267, 272, 258, 107, 364,
                       106, 416, 525, 364]
# "Is 7 × 8 = 56?" rendered and tokenized again: two <bos> (the original homework's input)
TIMES_DOUBLE_BOS = [2, 2, 106, 1021, 437, 364, 389, 422, 430, 163, 430, 303, 259, 2298, 430, 169, 430, 375, 376, 380,
                    107, 364, 106, 416, 525, 364]
# Plain text (no template): "Machine learning is"
MACHINE_PLAIN = [2, 1787, 479, 471]


def _ids(ids: list[int]) -> torch.Tensor:
    return torch.tensor([ids], dtype=torch.long)


def cases() -> dict[str, list[Case]]:
    tok, model, scorer = ref("tokenizer"), ref("model"), ref("cross_encoder")
    return {
        "prompt_ids": [
            Case("German question with an emoji, template", (tok, "Wie viele Farben hat ein Regenbogen? 🌈", True), compare=exact()),
            Case("numbers and a multiplication sign, plain", (tok, "What is 12 × 7?", False), compare=exact()),
            Case("surrounding whitespace, template", (tok, "  Explain attention in one sentence.\n", True), compare=exact()),
            Case("accents and a dash, plain", (tok, "naïve café — déjà vu", False), compare=exact()),
        ],
        "generate_answer": [
            Case("templated, stops at <end_of_turn>", (model, tok, _ids(RAINBOW_TEMPLATED), 12), compare=exact()),
            Case("templated, cut at max_new_tokens", (model, tok, _ids(TOKENIZER_TEMPLATED), 10), compare=exact()),
            Case("plain text continuation", (model, tok, _ids(MACHINE_PLAIN), 8), compare=exact()),
            Case("input with two <bos> is used as given", (model, tok, _ids(TIMES_DOUBLE_BOS), 6), compare=exact()),
        ],
        "coherence": [
            Case("German question with an emoji", (scorer, "Wie funktioniert ein Regenbogen? 🌈",
                                                  "Sunlight is refracted and reflected inside raindrops."),
                 compare=allclose(atol=1e-4, rtol=1e-4)),
            Case("numbers", (scorer, "What is 12 × 7?", "12 × 7 = 84."), compare=allclose(atol=1e-4, rtol=1e-4)),
            Case("empty answer", (scorer, "Explain overfitting in one sentence.", ""), compare=allclose(atol=1e-4, rtol=1e-4)),
        ],
    }
