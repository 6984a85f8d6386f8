"""Pinned data of notebook 05's checks: the instructor solutions and the usual mistakes on the visible inputs."""
from __future__ import annotations

from helpers.checks import nb05 as checks
from helpers.checks.common import ANY, model_key, tensor_sketch, tensor_values


def pin_mean_pool(sol, objects) -> dict:
    hidden, masks = checks.pool_inputs()
    entry = {}
    for side, mask in masks.items():
        m = mask.unsqueeze(-1).to(hidden.dtype)
        entry[side] = {"correct": tensor_values(sol["mean_pool"](hidden, mask)),
                       "all_positions": tensor_values(hidden.mean(dim=1)),
                       "masked_sum": tensor_values((hidden * m).sum(dim=1)),
                       "padded_length": tensor_values((hidden * m).sum(dim=1) / mask.shape[1])}
    return {ANY: entry}


def word_positions(tokenizer, sentence: str, word: str) -> list[int]:
    """Positions of the tokens that overlap the first occurrence of ``word`` (character offsets; <bos> is 0)."""
    start = sentence.index(word)
    end = start + len(word)
    offsets = tokenizer(sentence, return_offsets_mapping=True)["offset_mapping"]
    return [i for i, (a, b) in enumerate(offsets) if b > a and a < end and b > start]


def pin_word_vector(sol, objects) -> dict:
    import torch

    model, tokenizer = objects.lm
    entry = {}
    for sentence, word in checks.WORD_CASES:
        with torch.no_grad():
            states = model(**tokenizer(sentence, return_tensors="pt").to(model.device), output_hidden_states=True).hidden_states
        states = [s.float().cpu() for s in states]
        last, pos = states[-1][0], word_positions(tokenizer, sentence, word)
        mistakes = {"embedding": states[0][0][pos].mean(0), "second_last": states[-2][0][pos].mean(0),
                    "sentence_mean": last.mean(0), "previous_token": last[[p - 1 for p in pos]].mean(0)}
        if pos[-1] + 1 < last.shape[0]:
            mistakes["next_token"] = last[[p + 1 for p in pos]].mean(0)
        if len(pos) > 1:
            mistakes.update(first_token=last[pos[0]], last_token=last[pos[-1]])
        correct = sol["word_vector"](model, tokenizer, sentence, word).float()
        entry[sentence] = {"correct": tensor_values(correct),
                           **{name: tensor_sketch(v, correct) for name, v in mistakes.items()}}
    return {model_key(model): entry}


PINNERS = {"check_mean_pool": pin_mean_pool, "check_word_vector": pin_word_vector}
