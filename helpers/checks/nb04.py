"""Checks of notebook 04 (sampling): exercises 4.1 top_k_filter, 4.2 top_p_filter, 4.3 sample_with_filter, 4.4 self_bleu."""
from __future__ import annotations

from helpers.checks.common import ANY, digest, is_float32, lm_logits, model_key, ok, pinned, require, unpinned_note

NOTEBOOK = "04"
TOP_K_CASES = [(0, 1), (1, 2), (2, 5), (3, 20), (4, 50)]  # (seed, k)
TOP_P_CASES = [(10, 0.0), (11, 0.1), (12, 0.5), (13, 0.6), (14, 0.9), (15, 0.999), (16, 1.0)]  # (seed, p)
SAMPLE_N, SAMPLE_NEW = 3, 6
SAMPLE_QUESTION = "Name a color in a rainbow."


def random_logits(seed: int, batch: int = 4, vocab: int = 50):
    """Reproducible random logits ``[batch, vocab]`` (float64) for the filter checks."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    return torch.randn(batch, vocab, generator=generator, dtype=torch.float64) * 2.0


def kept_rows(out) -> list[str]:
    """Digest of each row's kept mask (the finite logits): what the pinned data holds for a filter."""
    import torch

    return [digest(row) for row in torch.isfinite(out).tolist()]

# Rows with tied logits: the filters must break ties towards the lower token id, as argmax does.
TIED_LOGITS = [[1.0, 3.0, 3.0, 3.0, 0.5, 3.0],
                [2.0, 2.0, 2.0, 2.0, 2.0, 2.0],
                [0.0, 5.0, 1.0, 5.0, 5.0, -1.0]]


# The ids each row keeps for k = 1, 2, 3 under that rule (p = 0 keeps the k = 1 id).
TIED_KEEP = {1: [[1], [0], [1]], 2: [[1, 2], [0, 1], [1, 3]], 3: [[1, 2, 3], [0, 1, 2], [1, 3, 4]]}


def _check_filter_output(out, logits, name: str) -> None:
    """Shape, dtype and -inf conventions shared by the top-k and top-p checks."""
    import torch

    require(isinstance(out, torch.Tensor), f"{name} must return a tensor, got {type(out).__name__}.")
    require(out.shape == logits.shape, f"{name} changed the shape: {tuple(logits.shape)} in, {tuple(out.shape)} out.")
    require(out.dtype == logits.dtype, f"{name} returned dtype {out.dtype} for {logits.dtype} logits: keep the input's dtype "
                                       "(masked_fill keeps it).")
    changed = (out != logits) & ~torch.isneginf(out)
    require(not bool((changed & (out == 0)).any()), f"{name} should set removed logits to -inf (float('-inf')), not 0: exp(0) = 1 is still a weight.")
    require(not bool(changed.any()), f"{name} changed the logits it kept (or wrote NaN): only set the removed ones to -inf.")
    kept = torch.isfinite(out)
    require(bool(kept.any(dim=-1).all()), f"{name} removed every token of a row: always keep at least the most likely one.")


def _call_filter(fn, logits, arg, name: str):
    """``fn(logits, arg)`` with a check that the input was not modified."""
    import torch

    original = logits.clone()
    out = fn(logits, arg)
    require(torch.equal(logits, original), f"{name} modified its input in place: work on a copy (masked_fill, not masked_fill_).")
    return out



def _tied_top_k(top_k_filter) -> None:
    import torch

    tied = torch.tensor(TIED_LOGITS)
    for k in (1, 2, 3):
        out = _call_filter(top_k_filter, tied, k, "top_k_filter")
        _check_filter_output(out, tied, "top_k_filter")
        for row in range(tied.shape[0]):
            kept, want = torch.isfinite(out[row]), TIED_KEEP[k][row]
            require(int(kept.sum()) == k,
                    f"k={k}, row {row} = {TIED_LOGITS[row]}: you kept {int(kept.sum())} tokens, expected exactly {k}. "
                    "A threshold (logits < k-th largest) also keeps every token tied with the k-th one: choose k positions instead.")
            require(kept.nonzero().flatten().tolist() == want,
                    f"k={k}, row {row} = {TIED_LOGITS[row]}: you kept ids {kept.nonzero().flatten().tolist()}, expected "
                    f"{want}. Among tied logits keep the lower token ids (torch.topk does not promise which tied index it "
                    "returns; torch.sort(..., stable=True) does).")


def check_top_k_filter(top_k_filter) -> None:
    """Exercise 4.1: exactly k kept per row (ties to the lower id), compared with the pinned masks on random logits."""
    import torch

    entry = pinned(NOTEBOOK, "check_top_k_filter", ANY)
    for seed, k in TOP_K_CASES:
        logits = random_logits(seed)
        out = _call_filter(top_k_filter, logits, k, "top_k_filter")
        _check_filter_output(out, logits, "top_k_filter")
        require(not (k < logits.shape[-1] and torch.equal(out, logits)),
                f"top_k_filter(logits, {k}) returned its input unchanged: set every logit outside the k largest to -inf.")
        for row, got in enumerate(kept_rows(out)):
            n_kept = int(torch.isfinite(out[row]).sum())
            require(n_kept == k and got == entry[f"{seed}|{k}"][row],
                    f"k={k}, row {row}: you kept {n_kept} tokens" + ("" if n_kept != k else ", but not the right ones")
                    + f"; expected the {k} largest logits of the row.")
    _tied_top_k(top_k_filter)
    half = random_logits(5).to(torch.bfloat16)
    out = _call_filter(top_k_filter, half, 3, "top_k_filter")
    _check_filter_output(out, half, "top_k_filter")
    require(bool((torch.isfinite(out).sum(-1) == 3).all()), "bfloat16 logits: keep exactly k = 3 tokens per row.")
    out = _call_filter(top_k_filter, random_logits(6, vocab=8), 8, "top_k_filter")
    require(bool(torch.isfinite(out).all()), "k equal to the vocabulary size must keep every token.")
    ok(f"top_k_filter keeps the pinned tokens on {len(TOP_K_CASES)} random cases and exactly k on ties")


def _top_p_hint(out, logits, row: int, n_want: int, p: float) -> str:
    """The hint for a row whose kept set is not the nucleus (``n_want`` tokens)."""
    import torch

    kept = torch.isfinite(out[row])
    n_got = int(kept.sum())
    if not bool(kept[logits[row].argmax()]):
        return "you removed the most likely token: sort the probabilities in descending order (descending=True)."
    if n_got == n_want - 1 and p > 0:
        return ("you dropped the token that crosses p: the token that crosses p stays "
                "(remove a token only when the mass *before* it already reaches p).")
    if n_got > n_want:
        return "you kept tokens beyond the nucleus: remove every token once the mass before it reaches p."
    return ("keep the most likely tokens until their total probability reaches p (the token that crosses p stays), "
            "and always keep the top token.")


def check_top_p_filter(top_p_filter) -> None:
    """Exercise 4.2: the pinned nucleus on random logits (p = 0 … 1); one token at p = 0, ties to the lower id."""
    import torch

    entry = pinned(NOTEBOOK, "check_top_p_filter", ANY)
    for seed, p in TOP_P_CASES:
        logits = random_logits(seed)
        out = _call_filter(top_p_filter, logits, p, "top_p_filter")
        _check_filter_output(out, logits, "top_p_filter")
        want = entry[f"{seed}|{p}"]
        require(not (torch.equal(out, logits) and want["counts"] != [logits.shape[-1]] * logits.shape[0]),
                f"top_p_filter(logits, {p}) returned its input unchanged: set the logits outside the nucleus to -inf.")
        for row, got in enumerate(kept_rows(out)):
            if got != want["rows"][row]:
                n_got, n_want = int(torch.isfinite(out[row]).sum()), want["counts"][row]
                require(False, f"p={p}, row {row}: you kept {n_got} tokens, expected {n_want}; "
                               + _top_p_hint(out, logits, row, n_want, p))
    tied = torch.tensor(TIED_LOGITS)
    out = _call_filter(top_p_filter, tied, 0.0, "top_p_filter")
    _check_filter_output(out, tied, "top_p_filter")
    for row in range(tied.shape[0]):
        kept, want = torch.isfinite(out[row]), TIED_KEEP[1][row]
        require(int(kept.sum()) == 1, f"p=0, row {row} = {TIED_LOGITS[row]}: you kept {int(kept.sum())} tokens; p = 0 keeps exactly one.")
        require(kept.nonzero().flatten().tolist() == want,
                f"p=0, row {row} = {TIED_LOGITS[row]}: you kept id {int(kept.nonzero())}, expected {want[0]}. "
                "Among tied probabilities keep the lower token id (torch.sort(..., stable=True)).")
    half = random_logits(17).to(torch.bfloat16)
    out = _call_filter(top_p_filter, half, 0.0, "top_p_filter")
    _check_filter_output(out, half, "top_p_filter")
    require(bool((torch.isfinite(out).sum(-1) == 1).all()), "bfloat16 logits, p = 0: keep exactly one token per row.")
    ok(f"top_p_filter keeps the pinned nucleus on {len(TOP_P_CASES)} random cases (p = 0 … 1) and one token at p = 0")

def single_token_words(tokenizer, count: int = 3) -> dict[int, str]:
    """``{id: word}`` of a few common words that are one token each (with their leading space)."""
    found: dict[int, str] = {}
    for word in ("green", "apple", "cat", "tree", "model", "blue", "red", "house", "water", "light"):
        ids = tokenizer(" " + word, add_special_tokens=False)["input_ids"]
        if len(ids) == 1 and ids[0] != tokenizer.unk_token_id:
            found[ids[0]] = word
        if len(found) == count:
            return found
    raise AssertionError("the tokenizer has too few one-token words for this check")


def uniform_filter(ids):
    """A filter that gives every id in ``ids`` the same logit 0 and removes all others."""
    import torch

    keep = torch.tensor(sorted(ids))

    def filter_fn(scores):
        out = torch.full_like(scores, float("-inf"))
        out[..., keep.to(scores.device)] = 0.0
        return out
    return filter_fn


def _script_filter(steps):
    """A filter that keeps only ``steps[i]`` at the i-th call (the last entry afterwards)."""
    calls = []

    def filter_fn(scores):
        step = steps[min(len(calls), len(steps) - 1)]
        calls.append(tuple(scores.shape))
        return uniform_filter([step])(scores)
    return filter_fn



def argmax_filter(scores):
    """A filter that keeps only the most likely token (a visible input of check 4.3)."""
    import torch

    out = torch.full_like(scores, float("-inf"))
    index = scores.argmax(dim=-1, keepdim=True)
    return out.scatter(-1, index, scores.gather(-1, index))


def sample_input_ids(tokenizer):
    """The visible prompt of check 4.3: the templated rainbow question's pinned ids, or the bare question."""
    from helpers.checks.common import pinned_ids

    ids = pinned_ids(NOTEBOOK, SAMPLE_QUESTION, tokenizer)
    return tokenizer(SAMPLE_QUESTION, return_tensors="pt")["input_ids"] if ids is None else ids


def _spy_call(sample_with_filter, model, tokenizer, input_ids):
    """Call ``sample_with_filter`` with a recording filter while ``model.generate`` records its keyword arguments."""
    calls, seen = [], []
    had_own = "generate" in vars(model)
    original = model.generate

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return original(*args, **kwargs)

    def identity(scores):
        seen.append((tuple(scores.shape), scores.dtype))
        return scores

    model.generate = spy
    try:
        texts = sample_with_filter(model, tokenizer, input_ids.clone(), identity, SAMPLE_N, SAMPLE_NEW, 0)
    finally:
        if had_own:
            model.generate = original
        else:
            del model.generate
    return texts, calls, seen


def _check_generate_call(texts, calls, seen) -> None:
    """One generate call that samples n sequences through the filter alone, in float32."""
    import torch

    n = SAMPLE_N
    require(isinstance(texts, list) and all(isinstance(t, str) for t in texts),
            f"Return a list of strings (tokenizer.batch_decode(...)), got {type(texts).__name__}.")
    require(len(texts) == n, f"Asked for n={n} samples, got {len(texts)}: pass num_return_sequences=n.")
    require(len(calls) > 0, "sample_with_filter never called model.generate.")
    require(len(calls) == 1, f"You called generate {len(calls)} times: draw all n samples in ONE call with num_return_sequences=n.")
    kwargs = calls[0]
    require(kwargs.get("num_return_sequences") == n, "Pass num_return_sequences=n so that one generate call returns all n samples.")
    require(kwargs.get("do_sample") is True, "Pass do_sample=True: without it generate decodes greedily and never samples.")
    require(kwargs.get("top_k") == 0, "Pass top_k=0 so that generate adds no top-k filter of its own behind yours.")
    require(kwargs.get("top_p", 1.0) == 1.0, "Pass top_p=1.0 so that generate adds no nucleus filter of its own.")
    require(kwargs.get("temperature", 1.0) == 1.0, "Leave temperature at 1.0: the filter alone shapes the distribution.")
    require(len(seen) > 0, "filter_fn was never called: wrap it in a LogitsProcessor whose __call__(input_ids, scores) "
                           "returns filter_fn(scores.float()), and pass logits_processor=LogitsProcessorList([...]).")
    require(all(shape[0] == n for shape, _ in seen), f"filter_fn saw scores of shape {seen[0][0]}: expected [n, vocab] = [{n}, vocab].")
    require(all(dtype == torch.float32 for _, dtype in seen),
            f"filter_fn received {seen[0][1]} scores: cast them to float32 (scores.float()) so ties are decided the same way in any dtype.")
    require(not any(SAMPLE_QUESTION in t for t in texts),
            "Your texts contain the prompt: decode only the new tokens, output[:, input_ids.shape[1]:].")
    require(not any("<end_of_turn>" in t or "<pad>" in t or "<eos>" in t for t in texts),
            "Your texts contain special tokens: decode with skip_special_tokens=True.")


def _check_through_filters(sample_with_filter, model, tokenizer, input_ids, entry) -> None:
    """Greedy through an argmax filter (pinned), only the allowed words, stops at <end_of_turn> and <eos>."""
    n, new = SAMPLE_N, SAMPLE_NEW
    texts = sample_with_filter(model, tokenizer, input_ids.clone(), argmax_filter, n, new, 0)
    require(len(set(texts)) == 1 and (entry is None or digest(texts[0].strip()) == entry["argmax_filter"]),
            f"With a filter that keeps only the most likely token the samples must all be the pinned answer; got {texts}. "
            "Is filter_fn applied to the scores at every step?")
    words = single_token_words(tokenizer)
    texts = sample_with_filter(model, tokenizer, input_ids.clone(), uniform_filter(list(words)), n, new, 0)
    for text in texts:
        got = text.split()
        require(set(got) <= set(words.values()),
                f"With a filter that keeps only the words {sorted(words.values())} you returned {text!r}: "
                "return filter_fn's result from the logits processor.")
        require(len(got) == new, f"Expected {new} new tokens per sample (max_new_tokens={new}), got {len(got)} in {text!r}.")
    require(len(set(texts)) > 1, "All samples are identical although the filter keeps three equally likely words: pass do_sample=True.")
    first, second = list(words)[:2]
    for stop in (107, 1):
        texts = sample_with_filter(model, tokenizer, input_ids.clone(), _script_filter([first, stop, second]), n, new, 0)
        require([t.strip() for t in texts] == [words[first]] * n,
                f"A sample must end at token {stop} ({tokenizer.convert_ids_to_tokens(stop)}); got {texts}. "
                "Pass eos_token_id=[1, 107]: Gemma ends a chat turn with <end_of_turn> (107), the text with <eos> (1).")


def check_sample_with_filter(sample_with_filter, model, tokenizer) -> None:
    """Exercise 4.3: one batched ``generate`` that samples through ``filter_fn``, seeded, new tokens only."""
    from helpers.backend import check_finite

    input_ids = sample_input_ids(tokenizer)
    check_finite(lm_logits(model, input_ids)[0, -1], "logits")  # NumericsError if the model overflows on the prompt
    entry = pinned(NOTEBOOK, "check_sample_with_filter", model_key(model)) if is_float32(model) else None
    _check_generate_call(*_spy_call(sample_with_filter, model, tokenizer, input_ids))
    _check_through_filters(sample_with_filter, model, tokenizer, input_ids, entry)
    a = sample_with_filter(model, tokenizer, input_ids.clone(), lambda s: s, SAMPLE_N, SAMPLE_NEW, 5)
    b = sample_with_filter(model, tokenizer, input_ids.clone(), lambda s: s, SAMPLE_N, SAMPLE_NEW, 5)
    require(a == b, "The same seed gave different samples: call torch.manual_seed(seed) right before generate.")
    ok(f"sample_with_filter draws {SAMPLE_N} samples in one generate call, through filter_fn, seeded, new tokens only"
       + unpinned_note(entry))


# nltk 3.10.4 sentence_bleu values of sample sets the notebook never shows: the homework's
# self-BLEU ("correct") and the values of common mistakes, to name the mistake.
SELF_BLEU_CASES = [
    ("paraphrases",
     ["Professor Lee is a great machine learning teacher", "Professor Lee is one of the best machine learning teachers",
      "Lee teaches machine learning very well", "Professor Lee is one of the best teachers of machine learning"],
     {"correct": 0.108775412484, "itself": 0.331581559363, "multi": 0.326326237453, "smoothed": 0.177078755145,
      "characters": 0.604447734126, "total": 0.435101649937, "over_n": 0.0815815593632}),
    ("two sentences", ["the cat sat on the mat today", "the cat sat on the red mat"],
     {"correct": 0.643458884161, "itself": 0.82172944208, "characters": 0.759309510257, "total": 1.28691776832,
      "over_n": 0.32172944208}),
    ("with an empty sample", ["a b c d e f", "a b c d e g", "x a b c d e", ""],
     {"correct": 0.379917842826, "itself": 0.472438382119, "multi": 0.569876764239, "skip_empty": 0.759835685652,
      "characters": 0.417877572799, "total": 1.5196713713, "over_n": 0.284938382119}),
    ("repeated words", ["the the the the the the", "the cat sat on the mat", "the the cat cat sat sat on the mat"],
     {"correct": 0.127141751569, "itself": 0.418094501046, "multi": 0.349063798237, "smoothed": 0.162336936951,
      "characters": 0.4014586888, "total": 0.381425254706, "over_n": 0.0847611677125}),
    ("case and punctuation", ["The cat sat on the mat .", "the cat sat on the mat.", "The cat sat on the mat ."],
     {"correct": 0.613752900677, "itself": 0.742501933785, "multi": 0.810041695044, "characters": 0.918244462104,
      "lowercase": 0.752658391592, "total": 1.84125870203, "over_n": 0.409168600452}),
]

SELF_BLEU_HINTS = {
    "itself": "you scored each sentence against itself too (BLEU 1): use every OTHER sentence, j != i.",
    "multi": "you scored each sentence against all the others at once (one sentence_bleu call with several references); "
             "the homework averages one BLEU per pair: sentence_bleu([ref.split()], hyp.split()) for each other sentence.",
    "smoothed": "you smoothed BLEU: the homework uses sentence_bleu's defaults (no smoothing_function).",
    "characters": "you compared characters: split each sentence into words with .split().",
    "lowercase": "you lower-cased the sentences: the homework compares the words exactly as generated.",
    "skip_empty": "you dropped the empty sample: keep it (it scores 0 against everything, as in the homework).",
    "total": "you summed over the sentences: average the per-sentence scores (divide by the number of sentences).",
    "over_n": "you divided each sentence's sum by n: it is compared with n - 1 other sentences.",
}


def check_self_bleu(self_bleu) -> None:
    """Exercise 4.4: the homework's self-BLEU on sets the notebook does not show (values from nltk 3.10.4)."""
    import math

    for name, sentences, values in SELF_BLEU_CASES:
        got = self_bleu(list(sentences))
        require(isinstance(got, (int, float)) or hasattr(got, "__float__"), f"Return a number (a float), got {type(got).__name__}.")
        got = float(got)
        want = values["correct"]
        if math.isclose(got, want, rel_tol=1e-7, abs_tol=1e-9):
            continue
        mistake = next((m for m, v in values.items() if m != "correct" and math.isclose(got, v, rel_tol=1e-7, abs_tol=1e-9)), None)
        hint = SELF_BLEU_HINTS[mistake] if mistake else (
            "average, over the sentences, the mean nltk sentence_bleu of the sentence (hypothesis) against each other "
            "sentence (a single reference), all split on whitespace.")
        require(False, f"Set {name!r} ({len(sentences)} sentences): self-BLEU {got:.6g}, expected {want:.6g}; {hint}")
    ok(f"self_bleu matches nltk on {len(SELF_BLEU_CASES)} sample sets (empty samples, ties in case and punctuation, repeats)")


