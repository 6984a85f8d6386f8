"""Test-time compute plumbing for notebook 08: many samples in one ``generate`` call, answers, verifier
scores, and accuracy as a function of the number of samples N.

The selection rules themselves (majority voting, best-of-N) are exercises of notebook 08; the
functions here take them as arguments.

Accuracy at N uses every sample once: the n samples of a question are cut into n // N
consecutive blocks of N, the rule picks one answer per block, and the accuracy is the mean
over blocks and questions (less noisy than one block per question). Because a block of 2N is
two blocks of N, the oracle's accuracy ("any sample correct") never falls as N grows.
"""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Callable, Sequence

import torch

from helpers.generation import FiniteLogits, check_max_new_tokens, seeded

_WORD_RE = re.compile(r"\s*([A-Za-z0-9]+)")


def first_word(text: str) -> str:
    """The first word of a completion, lower-cased (letters and digits only); ``""`` if it starts with none."""
    match = _WORD_RE.match(text)
    return match.group(1).lower() if match else ""


@dataclass(frozen=True)
class Samples:
    """``n`` sampled completions for each prompt: ``texts[question][sample]`` and what was read from them.

    ``answers`` are ``first_word(text)``; ``answer_logprob`` is the model's log-probability of the
    tokens that spell the answer (the first tokens of the completion, temperature 1), ``-inf``
    for an empty answer; ``n_tokens`` counts the generated tokens up to and including a stop token.
    """

    prompts: list[str]
    texts: list[list[str]]
    answers: list[list[str]]
    answer_logprob: torch.Tensor  # [question, sample]
    n_tokens: torch.Tensor  # [question, sample]

    @property
    def n(self) -> int:
        return len(self.texts[0]) if self.texts else 0


def _answer_length(tokenizer, ids: list[int], answer: str) -> int:
    """How many of the completion's first tokens it takes to spell ``answer`` completely."""
    for k in range(1, len(ids) + 1):
        if first_word(tokenizer.decode(ids[:k], skip_special_tokens=True)) == answer:
            if k == len(ids) or first_word(tokenizer.decode(ids[: k + 1], skip_special_tokens=True)) == answer:
                return k
    return len(ids)


@torch.no_grad()
def sample_answers(model, tokenizer, prompts: Sequence[str], n: int, max_new_tokens: int = 3, seed: int = 0) -> Samples:
    """``n`` samples per prompt (plain text, ``<bos>`` + prompt) in ONE seeded ``generate`` call.

    Pure sampling from the model's own distribution (temperature 1, no top-k / top-p cut; no other
    temperature: a cold one would make this greedy decoding, exercise 1.2); the prompts are left-padded
    into one batch and ``num_return_sequences=n`` repeats each.
    """
    from transformers import LogitsProcessorList

    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive number of samples, got {n!r}.")
    if isinstance(prompts, str) or not prompts or not all(isinstance(p, str) and p for p in prompts):
        raise ValueError("prompts must be a non-empty list of non-empty strings (one per question).")
    prompts = list(prompts)
    enc = tokenizer(prompts, return_tensors="pt", padding=True, padding_side="left").to(model.device)
    check_max_new_tokens(max_new_tokens, model, enc["input_ids"].shape[1])
    config = copy.deepcopy(model.generation_config)
    config.do_sample, config.temperature, config.top_k, config.top_p = True, 1.0, 0, 1.0
    config.max_new_tokens, config.num_return_sequences = max_new_tokens, n
    config.pad_token_id = tokenizer.pad_token_id
    config.output_logits, config.return_dict_in_generate = True, True
    with seeded(seed):
        out = model.generate(**enc, generation_config=config,  # NumericsError on float16 overflow, not a sampling error
                             logits_processor=LogitsProcessorList([FiniteLogits()]))
    new = out.sequences[:, enc["input_ids"].shape[1]:]  # [prompt * n, steps]
    # raw logits (temperature 1), one step at a time: a [batch, vocab] float32 copy at most (Gemma's vocab is 256k)
    token_logprob = torch.stack([step.float().log_softmax(dim=-1).gather(-1, new[:, i, None])[:, 0]
                                 for i, step in enumerate(out.logits)], dim=1).cpu()
    new = new.cpu()
    stops = set(config.eos_token_id if isinstance(config.eos_token_id, list) else [config.eos_token_id])
    texts, answers, scores, lengths = [], [], [], []
    for row in range(new.shape[0]):
        ids = new[row].tolist()
        length = next((i + 1 for i, t in enumerate(ids) if t in stops), len(ids))
        text = tokenizer.decode(ids[:length], skip_special_tokens=True)
        answer = first_word(text)
        k = _answer_length(tokenizer, ids[:length], answer) if answer else 0
        texts.append(text)
        answers.append(answer)
        scores.append(float(token_logprob[row, :k].sum()) if answer else float("-inf"))
        lengths.append(length)

    def per_prompt(values):
        return [values[i * n:(i + 1) * n] for i in range(len(prompts))]

    return Samples(prompts, per_prompt(texts), per_prompt(answers), torch.tensor(per_prompt(scores)),
                   torch.tensor(per_prompt(lengths)))


def cross_encoder_scores(cross_encoder, prompts: Sequence[str], texts: Sequence[Sequence[str]]) -> torch.Tensor:
    """``scores[question, sample]``: the cross-encoder's raw score of (prompt, prompt + completion)."""
    pairs = [(prompt, prompt + text) for prompt, row in zip(prompts, texts) for text in row]
    flat = torch.as_tensor(cross_encoder.predict(pairs, batch_size=64, show_progress_bar=False), dtype=torch.float32)
    return flat.reshape(len(prompts), -1)


def _blocks(n: int, size: int) -> list[range]:
    if size < 1 or n % size:
        raise ValueError(f"N={size} must divide the {n} samples of each question.")
    return [range(start, start + size) for start in range(0, n, size)]


def accuracy_vs_n(select: Callable[[list[str], list[float]], str], answers: Sequence[Sequence[str]],
                  scores, targets: Sequence[str], ns: Sequence[int]) -> list[float]:
    """Accuracy of ``select(answers_of_block, scores_of_block)`` for each N in ``ns`` (see the module docstring)."""
    scores = [[float(s) for s in row] for row in scores] if scores is not None else [[0.0] * len(a) for a in answers]
    curve = []
    for size in ns:
        hits, total = 0, 0
        for row, row_scores, target in zip(answers, scores, targets):
            for block in _blocks(len(row), size):
                picked = select([row[i] for i in block], [row_scores[i] for i in block])
                hits += picked == target
                total += 1
        curve.append(hits / total)
    return curve


def pass_at_n(answers: Sequence[Sequence[str]], targets: Sequence[str], ns: Sequence[int]) -> list[float]:
    """The oracle: share of blocks of N samples with at least one correct answer, for each N in ``ns``."""
    curve = []
    for size in ns:
        hits = [any(row[i] == target for i in block) for row, target in zip(answers, targets)
                for block in _blocks(len(row), size)]
        curve.append(sum(hits) / len(hits))
    return curve
