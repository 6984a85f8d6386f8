"""Hidden tests of notebook 04 (sampling): top_k_filter, top_p_filter, sample_with_filter, self_bleu. TA only.

None of these inputs is in the release: other shapes and dtypes, tied logits, p = 0 and p = 1,
flat and peaked distributions, other prompts (with and without the chat template), filters built
by the harness (``makers.py``: argmax, uniform over a few words, a scripted stop), other sample sets.

Comparisons are written for the contract, not for one implementation, and their messages say what is
wrong in kind (shape, dtype, which row, too many or too few kept), never the kept ids or a text:

* filters: the same kept set up to ties (tokens with equal logits are interchangeable), kept logits
  unchanged, removed ones ``-inf``; for top-p a token whose probability mass *before* it lies within
  ``1e-5`` of ``p`` may go either way (float rounding);
* ``sample_with_filter``: exactly the instructor's seeded samples. The exercise fixes the random stream
  (``torch.manual_seed(seed)``, one ``generate`` call with ``do_sample=True, top_k=0, top_p=1.0``), so a
  correct implementation draws the same tokens; every harness filter also checks that it is called with the
  batched ``[n, vocab]`` scores of a step. Deterministic filters (argmax, a scripted stop) pay only together
  with a random one: greedy decoding inside the filter passes them without sampling.

Library rule (``LIBRARY_RULE``): 4.1 and 4.2 *are* top-k and top-p, so transformers' ``TopKLogitsWarper`` and
``TopPLogitsWarper`` raise while their cases run; 4.3 and 4.4 use the library (``generate``, nltk).
"""
from __future__ import annotations

import functools
import random
from typing import Any

import numpy as np
import torch

from helpers.coursework.grading.compare import allclose, decode
from helpers.coursework.grading.spec import Case, make, ref

PARAPHRASE = ("Generate a paraphrase of the sentence 'Attention lets every token look at the earlier tokens'. "
              "Just response with one sentence.")
RAINBOW = "Name a colour of the rainbow, one word only."
WORDS = ["green", "apple", "cat"]  # one token each in the offline tokenizer (makers check it)
FIVE = ["the", "model", "every", "token", "look"]
WARPERS = ("transformers.generation.logits_process:TopKLogitsWarper.__init__",
           "transformers.generation.logits_process:TopKLogitsWarper.__call__",
           "transformers.generation.logits_process:TopPLogitsWarper.__init__",
           "transformers.generation.logits_process:TopPLogitsWarper.__call__")
LIBRARY_RULE = {"top_k_filter": WARPERS, "top_p_filter": WARPERS}


# ----------------------------------------------------------------------------- inputs

def _logits(shape, seed: int, scale: float = 2.0, dtype=torch.float32) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return (torch.randn(*shape, generator=generator, dtype=torch.float64) * scale).to(dtype)


TIES = torch.tensor([[1.0, 3.0, 3.0, 3.0, 0.5, 3.0, -2.0],
                     [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
                     [4.0, -1.0, 4.0, 2.0, 2.0, 4.0, 2.0]])
FLAT = torch.zeros(2, 10)  # ten equally likely tokens: mass before the i-th is i / 10
PEAKED = torch.tensor([[9.0, 2.0, 1.5, 1.0, 0.0, -1.0], [0.0, 1.0, 8.0, 1.0, 0.5, 0.2]])


@functools.lru_cache(maxsize=1)
def _tokenizer():
    """The offline tokenizer (grading always runs the offline backend), loaded here, outside the sandbox."""
    from transformers import AutoTokenizer

    from helpers.backend import _offline_path

    return AutoTokenizer.from_pretrained(_offline_path("lm"))


def _chat_ids(text: str) -> torch.Tensor:
    """``input_ids[1, T]`` of one user turn through the chat template: made by the grader, so no code inside the
    sandbox (where the student's functions run) computes exercise 1.1's answer."""
    encoding = _tokenizer().apply_chat_template([{"role": "user", "content": text}], add_generation_prompt=True,
                                                return_tensors="pt", return_dict=True)
    return encoding["input_ids"]


def _text_ids(text: str) -> torch.Tensor:
    """``input_ids[1, T]`` of plain text with its ``<bos>`` (made outside the sandbox, like ``_chat_ids``)."""
    return _tokenizer()(text, return_tensors="pt")["input_ids"]


# ----------------------------------------------------------------------------- comparisons

def _array(value: Any) -> np.ndarray:
    """A decoded output as a float64 array (non-finite values encoded inside the nested lists too)."""
    def plain(v):
        if isinstance(v, dict) and "__float__" in v:
            return float(v["__float__"])
        if isinstance(v, list):
            return [plain(x) for x in v]
        return v
    if isinstance(value, dict) and "__array__" in value:
        data = np.asarray(plain(value["__array__"]), dtype=np.float64)
        return data.reshape([int(s) for s in value.get("shape", data.shape)])
    decoded = decode(value)
    return np.asarray(plain(decoded), dtype=np.float64)


def _filter_output(got: Any, expected: Any) -> tuple[np.ndarray, np.ndarray, str]:
    """``(got, expected, error)`` arrays of a filter output; ``error`` is non-empty when ``got`` is unusable."""
    want = _array(expected)
    try:
        have = _array(got)
    except (TypeError, ValueError):
        return None, want, f"expected a tensor of shape {list(want.shape)}, got something else"
    if have.shape != want.shape:
        return None, want, f"expected shape {list(want.shape)}, got {list(have.shape)}"
    if isinstance(got, dict) and isinstance(expected, dict) and got.get("dtype") != expected.get("dtype"):
        return None, want, f"expected dtype {expected.get('dtype')} (the input's), got {got.get('dtype')}"
    if np.isnan(have).any():
        return None, want, "the output has NaN: removed logits must be -inf"
    finite = np.isfinite(have)
    if (have[~finite] != -np.inf).any():
        return None, want, "the output has +inf: removed logits must be -inf"
    return have, want, ""


def _same_kept(have: np.ndarray, want: np.ndarray, logits: torch.Tensor, allowed: np.ndarray | None = None) -> tuple[bool, str]:
    """The instructor's kept set up to ties (tokens with equal logits are interchangeable; those in ``allowed``
    may go either way), and the kept logits unchanged."""
    values = logits.double().numpy()
    got_kept, want_kept = np.isfinite(have), np.isfinite(want)
    if not got_kept.any(axis=-1).all():
        return False, "a row lost every token: always keep the most likely one"
    if not np.allclose(have[got_kept], values[got_kept], rtol=0, atol=1e-6):
        return False, "a kept logit changed: leave the kept logits as they are"
    free = np.zeros_like(got_kept) if allowed is None else allowed
    for row in range(have.shape[0]):
        mine = np.sort(values[row][got_kept[row] & ~free[row]])
        theirs = np.sort(values[row][want_kept[row] & ~free[row]])
        if mine.shape != theirs.shape or not np.array_equal(mine, theirs):
            extra = int((got_kept[row] & ~want_kept[row] & ~free[row]).sum())
            missing = int((want_kept[row] & ~got_kept[row] & ~free[row]).sum())
            if extra == missing:
                return False, (f"row {row}: as many tokens as the instructor's, but not the same ones "
                               "(rank by the logits, largest first; ties: lower ids first)")
            return False, (f"row {row}: the kept set differs from the instructor's "
                           f"({'more' if extra > missing else 'fewer'} tokens kept)")
    return True, ""


def same_top_k(logits: torch.Tensor):
    """top_k_filter: exactly k kept, the instructor's kept logits up to ties, kept logits unchanged."""
    def compare(got, expected):
        have, want, error = _filter_output(got, expected)
        if error:
            return False, error
        counts, want_counts = np.isfinite(have).sum(-1), np.isfinite(want).sum(-1)
        if (counts != want_counts).any():
            row = int(np.argmax(counts != want_counts))
            more = "more" if counts[row] > want_counts[row] else "fewer"
            return False, f"row {row}: {more} tokens kept than k (or, with k >= the vocabulary size, than every token)"
        return _same_kept(have, want, logits)
    return compare


def same_top_p(logits: torch.Tensor, p: float, tolerance: float = 1e-5):
    """top_p_filter: the instructor's kept set, except tokens whose mass before them is within ``tolerance`` of p."""
    values = logits.double()
    allowed = np.zeros(tuple(values.shape), dtype=bool)
    for row in range(values.shape[0]):
        order = sorted(range(values.shape[-1]), key=lambda i: (-float(values[row, i]), i))
        probs = torch.softmax(values[row], dim=-1)[order]
        before = (torch.cumsum(probs, 0) - probs).numpy()
        for rank, token in enumerate(order):
            allowed[row, token] = rank > 0 and abs(before[rank] - p) < tolerance

    def compare(got, expected):
        have, want, error = _filter_output(got, expected)
        if error:
            return False, error
        return _same_kept(have, want, logits, allowed)
    return compare


def same_samples():
    """The instructor's n seeded samples, whitespace aside; the message says which sample differs, never a text."""
    def compare(got, expected):
        if not isinstance(got, list) or not all(isinstance(t, str) for t in got):
            return False, f"expected a list of {len(expected)} strings (one per sample), got {type(got).__name__}"
        if len(got) != len(expected):
            return False, f"expected n = {len(expected)} samples, got {len(got)}"
        wrong = [i for i, (g, e) in enumerate(zip(got, expected)) if g.strip() != e.strip()]
        if wrong:
            same = len(set(got)) == 1 and len(set(expected)) > 1
            hint = ("; all your samples are the same: sample (do_sample=True), n sequences in one generate call"
                    if same else "; seed first, then one generate call (num_return_sequences=n), filter_fn on the scores")
            return False, f"samples {wrong[:8]} differ from the instructor's seeded samples" + hint
        return True, ""
    return compare


# ----------------------------------------------------------------------------- self-BLEU inputs

def _twenty_samples(seed: int) -> list[str]:
    """Twenty paraphrase-like samples from a seeded phrase grammar (repeats on purpose)."""
    rng = random.Random(seed)
    subjects = ["Professor Lee", "Lee", "The professor", "Hung-yi Lee"]
    verbs = ["is one of the best", "is among the top", "ranks with the finest"]
    nouns = ["teachers", "instructors", "educators"]
    tails = ["in machine learning.", "of machine learning.", "in the field of machine learning.", "in ML."]
    return [" ".join([rng.choice(subjects), rng.choice(verbs), rng.choice(nouns), rng.choice(tails)]) for _ in range(20)]


SELF_BLEU_SETS = {
    "three paraphrases": ["The model answers every question with great care",
                          "The model answers every question with care",
                          "Every question gets a careful answer from the model"],
    "five samples, two identical": ["a red apple fell from the old tree", "a red apple fell from the old tree",
                                    "the old tree dropped a red apple", "an apple fell down", "nothing fell today at all"],
    "all identical": ["attention is all you need"] * 4,
    "no shared words": ["alpha beta gamma delta", "one two three four", "red green blue yellow"],
    "short and empty samples": ["yes", "yes indeed", "", "yes indeed it is"],
    "case and punctuation count": ["Hello , world !", "hello, world!", "Hello , world !", "HELLO , WORLD !"],
    "brevity penalty": ["the cat sat on the mat", "the cat sat on the mat and then slept all afternoon long"],
    "twenty samples with repeats": _twenty_samples(4),
}


# 1.0 (all identical) and 0.0 (no shared words, a short sample set) are what a constant returns
SELF_BLEU_TRIVIAL = {"all identical": "three paraphrases", "no shared words": "five samples, two identical",
                     "short and empty samples": "brevity penalty"}


def cases() -> dict[str, list[Case]]:
    model, tok = ref("model"), ref("tokenizer")
    wide = _logits((3, 40), 1)
    big = _logits((2, 3000), 2, scale=3.0)
    f64 = _logits((1, 100), 3, dtype=torch.float64)
    half_ties = torch.tensor([[0.5, 1.25, 1.25, -3.0, 1.25, 0.0]], dtype=torch.bfloat16).repeat(2, 1)
    top_p_inputs = {
        "p = 0 on random logits": (_logits((4, 30), 11), 0.0),
        "p = 0 with tied maxima": (TIES, 0.0),
        "p = 0.3": (_logits((3, 25), 12), 0.3),
        "p = 0.55": (_logits((3, 60), 13, scale=1.0), 0.55),
        "p = 0.9": (_logits((2, 50), 14), 0.9),
        "p = 0.99 on a flat distribution": (_logits((2, 80), 15, scale=0.3), 0.99),
        "p = 1 keeps (almost) everything": (_logits((2, 30), 16), 1.0),
        "top token alone reaches p": (PEAKED, 0.8),
        "ten equal tokens, p = 0.35": (FLAT, 0.35),
        "float64 logits, p = 0.7": (_logits((2, 45), 17, dtype=torch.float64), 0.7),
    }
    # p = 0, p = 1 and a top token that alone reaches p: keeping only the argmax (or everything) passes them
    trivial = {"p = 0 on random logits": "p = 0.3", "p = 0 with tied maxima": "ten equal tokens, p = 0.35",
               "p = 1 keeps (almost) everything": "p = 0.9", "top token alone reaches p": "p = 0.55"}
    top_p_cases = [Case(name, (logits, p), compare=same_top_p(logits, p), requires=trivial.get(name))
                   for name, (logits, p) in top_p_inputs.items()]
    top_p_cases.append(Case("bfloat16 logits with ties, p = 0", (half_ties, 0.0), compare=same_top_p(half_ties.float(), 0.0),
                            requires="float64 logits, p = 0.7"))
    return {
        "top_k_filter": [
            Case("k = 1 on random logits", (wide, 1), compare=same_top_k(wide), requires="k = 5"),
            Case("k = 5", (wide, 5), compare=same_top_k(wide)),
            Case("k = vocabulary size keeps everything", (wide, 40), compare=same_top_k(wide), requires="k = 5"),
            Case("k = 50 of 3000", (big, 50), compare=same_top_k(big)),
            Case("float64 logits, k = 17", (f64, 17), compare=same_top_k(f64)),
            Case("ties, k = 1", (TIES, 1), compare=same_top_k(TIES), requires="ties, k = 2"),
            Case("ties, k = 2", (TIES, 2), compare=same_top_k(TIES)),
            Case("ties, k = 4", (TIES, 4), compare=same_top_k(TIES)),
            Case("bfloat16 logits with ties, k = 2", (half_ties, 2), compare=same_top_k(half_ties.float())),
        ],
        "top_p_filter": top_p_cases,
        "sample_with_filter": [
            Case("samples from a uniform three-word filter",
                 (model, tok, _chat_ids(RAINBOW), make("uniform_words_filter", tok, WORDS, rows=6), 6, 8, 7),
                 compare=same_samples()),
            Case("samples from the model's own distribution (raw prompt)",
                 (model, tok, _text_ids("Machine learning is"), make("identity_filter", rows=4), 4, 9, 2024),
                 compare=same_samples()),
            Case("samples among five words with the model's logits (template)",
                 (model, tok, _chat_ids(PARAPHRASE), make("kept_words_filter", tok, FIVE, rows=5), 5, 6, 99),
                 compare=same_samples()),
            Case("argmax filter is the greedy answer (template)",
                 (model, tok, _chat_ids(PARAPHRASE), make("argmax_filter", rows=3), 3, 12, 0), compare=same_samples(),
                 requires="samples from a uniform three-word filter"),
            Case("argmax filter is the greedy answer (raw prompt, other seed)",
                 (model, tok, _text_ids("Machine learning is"), make("argmax_filter", rows=2), 2, 8, 123),
                 compare=same_samples(), requires="samples from the model's own distribution (raw prompt)"),
            Case("generation stops at <end_of_turn>",
                 (model, tok, _chat_ids(RAINBOW), make("script_filter", tok, ["green", 107, "cat"], rows=4), 4, 10, 1),
                 compare=same_samples(), requires="samples from a uniform three-word filter"),
            Case("generation stops at <eos>",
                 (model, tok, _chat_ids(PARAPHRASE), make("script_filter", tok, ["apple", "cat", 1, "green"], rows=2), 2, 10, 2),
                 compare=same_samples(), requires="samples among five words with the model's logits (template)"),
        ],
        "self_bleu": [Case(name, (sentences,), compare=allclose(atol=1e-9, rtol=1e-7), requires=SELF_BLEU_TRIVIAL.get(name))
                      for name, sentences in SELF_BLEU_SETS.items()],
    }

