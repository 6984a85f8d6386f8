"""Checks of notebook 05 (contextual embeddings): exercises 5.1 mean_pool, 5.2 word_vector."""
from __future__ import annotations

from helpers.checks.common import (ANY, close, distinct, float_atol, is_half, max_diff, model_finite, model_key, ok, pinned, require,
                                   require_finite, unpinned_note)

NOTEBOOK = "05"
WORD_CASES = [("I ate a fresh apple.", "apple"), ("Apple released the new iPhone.", "Apple"),
              ("The Orange network has great coverage.", "coverage")]
OTHER_APPLE = "My favourite fruit is the apple."
POOL_MISTAKES = {
    "all_positions": "You averaged over padding positions too: multiply by the mask and divide by mask.sum(dim=1).",
    "masked_sum": "That is the masked sum: divide it by the number of real tokens of each row.",
    "padded_length": "You divided by the padded length: divide by the number of REAL tokens of each row, mask.sum(dim=1).",
}
WORD_MISTAKES = {
    "embedding": "that is the input embedding (hidden_states[0]), the same in every sentence: use hidden_states[-1].",
    "second_last": "that is hidden_states[-2]: the last hidden state (after the final norm) is hidden_states[-1].",
    "sentence_mean": "that is the mean over the whole sentence: average only the positions of the word's tokens.",
    "next_token": "you took the token after the word: <bos> is position 0, so the word's tokens sit where its offsets say.",
    "previous_token": "you took the token before the word: keep <bos> (tokenizer(sentence), add_special_tokens=True) and "
                      "index the word's positions.",
    "first_token": "the word is several tokens here: average the last hidden state over all of them.",
    "last_token": "the word is several tokens here: average the last hidden state over all of them.",
}


def pool_inputs():
    """``(hidden [3, 6, 4], {side: mask [3, 6]})``: the visible inputs of check 5.1."""
    import torch

    gen = torch.Generator().manual_seed(5)
    hidden = torch.randn(3, 6, 4, generator=gen)
    right = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 0, 0]])
    return hidden, {"right": right, "left": right.flip(-1), "inner": torch.tensor([[1, 0, 1, 1, 0, 1]] * 3)}


def check_mean_pool(mean_pool) -> None:
    """Exercise 5.1: ``mean_pool(hidden[batch, pos, d], attention_mask[batch, pos]) -> [batch, d]`` ignores padding."""
    import torch

    entry = pinned(NOTEBOOK, "check_mean_pool", ANY)
    hidden, masks = pool_inputs()
    for side, mask in masks.items():
        original = hidden.clone()
        got = mean_pool(hidden, mask)
        require(torch.equal(hidden, original), "mean_pool modified hidden in place: multiply into a new tensor.")
        require(isinstance(got, torch.Tensor), f"Return a tensor, got {type(got).__name__}.")
        require(tuple(got.shape) == (3, 4),
                f"Expected shape [batch, d_model] = (3, 4), got {tuple(got.shape)}: average over dim=1 (positions) only.")
        require(not torch.isnan(got).any(), "The result has NaN: divide by the number of real tokens of each row.")
        want = entry[side]
        for mistake, hint in POOL_MISTAKES.items():
            require(close(want["correct"], want[mistake], 1e-5) or not close(got, want[mistake], 1e-5), hint)
        require(close(got, want["correct"], 1e-5), f"{side} padding: your rows differ from the mean of each row's real "
                                                   f"tokens by up to {max_diff(got, want['correct']):.3g}.")
        scrambled = hidden.masked_fill(~mask.bool().unsqueeze(-1), 1e3)
        require(torch.allclose(mean_pool(scrambled, mask), got, atol=1e-4),
                "Changing the hidden states at padding positions changed your result: padding must not count.")
    double = mean_pool(hidden.double(), masks["right"])
    require(double.dtype == torch.float64, f"float64 input gave {double.dtype}: keep the input's dtype (mask.to(hidden.dtype)).")
    try:
        mean_pool(hidden, torch.tensor([[1, 1, 1, 1, 1, 1], [0, 0, 0, 0, 0, 0], [1, 1, 0, 0, 0, 0]]))
    except ValueError:
        pass
    else:
        require(False, "A row without any real token must raise a ValueError with a clear message (a 0/0 mean is NaN).")
    ok("mean_pool averages each row over its real tokens only (right, left and inner padding)")


def _word_hint(got, want: dict, atol: float, rtol: float) -> str:
    """The hint of the first pinned mistake that ``got`` reproduces, or the recipe."""
    for mistake, hint in WORD_MISTAKES.items():
        if distinct(want.get(mistake), atol) and close(got, want[mistake], atol, rtol):
            return hint
    return ("tokenize the sentence with <bos> (tokenizer(sentence)), run the model with output_hidden_states=True, "
            "and average hidden_states[-1][0] over the positions of the word's tokens.")


def check_word_vector(word_vector, model, tokenizer) -> None:
    """Exercise 5.2: ``word_vector(model, tokenizer, sentence, word) -> [d_model]``, the word's last hidden state in context."""
    import torch

    atol, rtol = (2e-2, 1e-2) if is_half(model) else (1e-4, 1e-3)  # half precision: ~1e-3 relative per layer
    entry = pinned(NOTEBOOK, "check_word_vector", model_key(model))
    d_model = model.config.hidden_size
    vectors = []
    for sentence, word in WORD_CASES:
        ids = tokenizer(sentence, return_tensors="pt").input_ids
        model_finite(model, ids)
        got = word_vector(model, tokenizer, sentence, word)
        require(isinstance(got, torch.Tensor), f"Return a tensor, got {type(got).__name__}.")
        require(tuple(got.shape) == (d_model,), f"Expected one vector of shape [d_model] = ({d_model},), got {tuple(got.shape)}.")
        got = got.detach().float().cpu()
        require_finite(got, f"word_vector(…, {sentence!r}, {word!r})", lambda: torch.zeros(1), model)
        if entry is not None and not close(got, entry[sentence]["correct"], atol, rtol):
            require(False, f"{word!r} in {sentence!r}: wrong vector; {_word_hint(got, entry[sentence], atol, rtol)}")
        vectors.append(got)
    other = word_vector(model, tokenizer, OTHER_APPLE, "apple")
    require(not torch.allclose(other.detach().float().cpu(), vectors[0], atol=max(atol, float_atol(model))),
            "'apple' got the same vector after two different left contexts: take it from the model's last layer, hidden_states[-1].")
    ok(f"word_vector matches the last hidden state of the word's tokens in {len(WORD_CASES)} sentences (one with a 3-token word)"
       + unpinned_note(entry))
