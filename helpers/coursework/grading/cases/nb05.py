"""Hidden tests of notebook 05 (contextual embeddings): mean_pool, word_vector. TA only.

None of these inputs is in the release: other shapes and dtypes, right/left/inner padding, rows
with a single real token; other sentences and words (a three-token word, a word that occurs
twice, a capitalised word late in the sentence, a word right after ``<bos>``).
"""
from __future__ import annotations

import torch

from helpers.coursework.grading.compare import allclose
from helpers.coursework.grading.spec import Case, ref


def _hidden(shape, seed: int, dtype=torch.float32) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return (torch.randn(*shape, generator=generator, dtype=torch.float64) * 3.0 + 1.0).to(dtype)


def _mask(rows: list[str]) -> torch.Tensor:
    """``["1110", "0111"]`` -> a long tensor mask [batch, pos]."""
    return torch.tensor([[int(c) for c in row] for row in rows], dtype=torch.long)


# 5.1 *is* masked mean pooling: sentence-transformers' own (``Pooling``) raises while its cases run.
LIBRARY_RULE = {"mean_pool": ("sentence_transformers.models:Pooling.__init__", "sentence_transformers.models:Pooling.forward")}


def cases() -> dict[str, list[Case]]:
    model, tok = ref("model"), ref("tokenizer")
    close = allclose(atol=1e-5, rtol=1e-5)
    vector_close = allclose(atol=1e-4, rtol=1e-3)
    return {
        "mean_pool": [
            Case("right padding", (_hidden((3, 5, 4), 1), _mask(["11111", "11100", "10000"])), compare=close),
            Case("left padding, float64", (_hidden((4, 7, 8), 2, torch.float64),
                                           _mask(["0000111", "1111111", "0011111", "0000001"])), compare=close),
            Case("no padding", (_hidden((2, 3, 5), 3), _mask(["111", "111"])), compare=close,
                 requires="right padding"),  # a plain mean over positions passes it
            Case("inner zeros in the mask", (_hidden((2, 6, 3), 4), _mask(["101101", "011110"])), compare=close),
            Case("batch of 8, 16 positions, d_model 64",
                 (_hidden((8, 16, 64), 5), _mask(["1" * (16 - i) + "0" * i for i in range(0, 16, 2)])), compare=close),
            Case("large padding values are ignored",
                 (torch.where(_mask(["1100", "1110"]).bool().unsqueeze(-1), _hidden((2, 4, 3), 6), torch.full((2, 4, 3), 1e4)),
                  _mask(["1100", "1110"])), compare=close),
        ],
        "word_vector": [
            Case("a word of three tokens", (model, tok, "The Orange network has great coverage.", "coverage"), compare=vector_close),
            Case("a verb in the middle", (model, tok, "I peeled an orange and ate it.", "ate"), compare=vector_close),
            Case("a capitalised word late in the sentence",
                 (model, tok, "Bananas are fruit, but Apple sells phones.", "Apple"), compare=vector_close),
            Case("the first word, right after <bos>", (model, tok, "Microsoft announced a new update.", "Microsoft"),
                 compare=vector_close),
            Case("a word that occurs twice (the first one)", (model, tok, "The cat saw another cat.", "cat"), compare=vector_close),
        ],
    }
