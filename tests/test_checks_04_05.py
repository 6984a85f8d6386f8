"""The exercise checks of notebooks 04 and 05: a correct solution passes, plausible wrong ones fail
with the hint that names their mistake.

The correct solutions below are the tests' own (the notebooks hold the instructor's)."""
import warnings

import pytest
import torch
from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu
from transformers import LogitsProcessor, LogitsProcessorList

from helpers import checks
from tests.wordpos import word_token_positions


# --- 4.1 / 4.2 filters --------------------------------------------------------------------

def top_k(logits, k):
    order = torch.sort(logits, dim=-1, descending=True, stable=True).indices
    remove = torch.ones_like(logits, dtype=torch.bool).scatter(-1, order[..., :k], False)
    return logits.masked_fill(remove, float("-inf"))


def top_p(logits, p):
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True, stable=True)
    probs = torch.softmax(sorted_logits.float(), dim=-1)
    remove = (torch.cumsum(probs, -1) - probs) >= p
    remove[..., 0] = False
    return logits.masked_fill(remove.scatter(-1, order, remove), float("-inf"))


def test_check_top_k_filter_passes_a_correct_filter(capsys):
    checks.check_top_k_filter(top_k)
    assert "✓" in capsys.readouterr().out


@pytest.mark.parametrize("wrong, hint", [
    (lambda l, k: l.masked_fill(l < torch.topk(l, k).values[..., -1:], float("-inf")), "expected exactly"),  # k+1 on ties
    (lambda l, k: l.masked_fill(l < torch.topk(l, k).values[..., -1:], 0.0), "not 0"),
    (lambda l, k: top_k(l, k + 1), "you kept"),
    (lambda l, k: l, "returned its input unchanged"),
    (lambda l, k: l.masked_fill_(l < torch.topk(l, k).values[..., -1:], float("-inf")), "in place"),
    (lambda l, k: top_k(l.float(), k), "dtype"),
])
def test_check_top_k_filter_names_the_mistake(wrong, hint):
    with pytest.raises(AssertionError, match=hint):
        checks.check_top_k_filter(wrong)


def test_check_top_k_filter_wants_the_lower_id_among_ties():
    def topk_scatter(logits, k):  # exactly k, but torch.topk's own choice among ties
        index = torch.topk(logits, k, dim=-1).indices
        return logits.masked_fill(torch.ones_like(logits, dtype=torch.bool).scatter(-1, index, False), float("-inf"))

    with pytest.raises(AssertionError, match="lower token ids"):
        checks.check_top_k_filter(topk_scatter)


def test_check_top_p_filter_passes_a_correct_filter(capsys):
    checks.check_top_p_filter(top_p)
    assert "✓" in capsys.readouterr().out


def drops_the_crossing_token(logits, p):
    probs, order = torch.sort(torch.softmax(logits, -1), dim=-1, descending=True, stable=True)
    remove = torch.cumsum(probs, -1) > p
    remove[..., 0] = False
    return logits.masked_fill(remove.scatter(-1, order, remove), float("-inf"))


def ascending(logits, p):
    probs, order = torch.sort(torch.softmax(logits, -1), dim=-1)
    remove = (torch.cumsum(probs, -1) - probs) >= p
    remove[..., 0] = False
    return logits.masked_fill(remove.scatter(-1, order, remove), float("-inf"))


def topk_order(logits, p):  # right on distinct values, but ties come in torch.topk's order
    probs, order = torch.topk(torch.softmax(logits, -1), logits.shape[-1], dim=-1)
    remove = (torch.cumsum(probs, -1) - probs) >= p
    remove[..., 0] = False
    return logits.masked_fill(remove.scatter(-1, order, remove), float("-inf"))


@pytest.mark.parametrize("wrong, hint", [
    (drops_the_crossing_token, "the token that crosses p stays"),
    (lambda l, p: l, "returned its input unchanged"),
    (ascending, "removed the most likely token"),
    (lambda l, p: top_p(l, p).masked_fill(torch.softmax(l, -1) <= p, float("-inf")), "always keep at least the most likely"),
    (lambda l, p: top_p(l.float(), p), "dtype"),
    (topk_order, "lower token id"),
])
def test_check_top_p_filter_names_the_mistake(wrong, hint):
    with pytest.raises(AssertionError, match=hint):
        checks.check_top_p_filter(wrong)


# --- 4.3 sampling through a filter --------------------------------------------------------

class Apply(LogitsProcessor):
    def __init__(self, fn):
        self.fn = fn

    def __call__(self, input_ids, scores):
        return self.fn(scores.float())


def make_sampler(*, skip_prompt=True, use_filter=True, batched=True, top_k=0, seed=True, cast=True):
    """A sample_with_filter; each keyword switched off is one plausible mistake."""
    def sample_with_filter(model, tokenizer, input_ids, filter_fn, n, max_new_tokens, seed_value):
        if seed:
            torch.manual_seed(seed_value)
        ids = input_ids.to(model.device)
        fn = filter_fn if cast else (lambda s: filter_fn(s.half()).float())
        kwargs = dict(attention_mask=torch.ones_like(ids), max_new_tokens=max_new_tokens, do_sample=True, top_k=top_k,
                      top_p=1.0, eos_token_id=[1, 107], pad_token_id=tokenizer.pad_token_id)
        if use_filter:
            kwargs["logits_processor"] = LogitsProcessorList([Apply(fn)])
        with torch.no_grad():
            if batched:
                out = model.generate(ids, num_return_sequences=n, **kwargs)
            else:
                out = torch.cat([model.generate(ids, **kwargs)[:, :ids.shape[1] + max_new_tokens] for _ in range(n)])
        start = ids.shape[1] if skip_prompt else 0
        return [t.strip() for t in tokenizer.batch_decode(out[:, start:], skip_special_tokens=True)]
    return sample_with_filter


def test_check_sample_with_filter_passes_a_correct_sampler(lm, capsys):
    model, tok = lm
    checks.check_sample_with_filter(make_sampler(), model, tok)
    assert "✓" in capsys.readouterr().out
    assert "generate" not in vars(model)  # the spy is gone


@pytest.mark.parametrize("mistake, hint", [
    ({"skip_prompt": False}, "contain the prompt"),
    ({"use_filter": False}, "filter_fn was never called"),
    ({"batched": False}, "ONE call"),
    ({"top_k": 50}, "top_k=0"),
    ({"seed": False}, "manual_seed"),
])
def test_check_sample_with_filter_names_the_mistake(lm, mistake, hint):
    model, tok = lm
    with pytest.raises(AssertionError, match=hint):
        checks.check_sample_with_filter(make_sampler(**mistake), model, tok)
    assert "generate" not in vars(model)


# --- 4.4 self-BLEU ------------------------------------------------------------------------

def pairwise(sentences, *, itself=False, smoothing=None, split=str.split):
    """Self-BLEU with the homework's loop; the keywords turn it into common mistakes."""
    total = 0.0
    for i, hyp in enumerate(sentences):
        refs = [s for j, s in enumerate(sentences) if itself or j != i]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            total += sum(sentence_bleu([split(r)], split(hyp), smoothing_function=smoothing) for r in refs) / len(refs)
    return total / len(sentences)


def multi_reference(sentences):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return sum(sentence_bleu([s.split() for j, s in enumerate(sentences) if j != i], h.split())
                   for i, h in enumerate(sentences)) / len(sentences)


def test_self_bleu_constants_are_nltk_values():
    """The check's hard-coded values are what nltk computes (correct value and each named mistake)."""
    for name, sentences, values in checks.nb04.SELF_BLEU_CASES:
        assert pairwise(sentences) == pytest.approx(values["correct"], rel=1e-9, abs=1e-12), name
        expected = {
            "itself": lambda s: pairwise(s, itself=True), "multi": multi_reference,
            "smoothed": lambda s: pairwise(s, smoothing=SmoothingFunction().method1),
            "characters": lambda s: pairwise(s, split=list), "lowercase": lambda s: pairwise(s, split=lambda x: x.lower().split()),
            "skip_empty": lambda s: pairwise([x for x in s if x]),
            "total": lambda s: pairwise(s) * len(s), "over_n": lambda s: pairwise(s) * (len(s) - 1) / len(s),
        }
        for mistake, value in values.items():
            if mistake != "correct":
                assert expected[mistake](sentences) == pytest.approx(value, rel=1e-9, abs=1e-12), (name, mistake)


def test_check_self_bleu_passes_the_homework_definition(capsys):
    checks.check_self_bleu(pairwise)
    assert "✓" in capsys.readouterr().out


@pytest.mark.parametrize("wrong, hint", [
    (lambda s: pairwise(s, itself=True), "against itself"),
    (multi_reference, "all the others at once"),
    (lambda s: pairwise(s, smoothing=SmoothingFunction().method1), "smooth"),
    (lambda s: pairwise(s, split=list), "characters"),
    (lambda s: pairwise(s) * len(s), "summed"),
    (lambda s: pairwise([x for x in s if x]), "empty sample"),
    (lambda s: pairwise(s, split=lambda x: x.lower().split()), "lower-cased"),
])
def test_check_self_bleu_names_the_mistake(wrong, hint):
    with pytest.raises(AssertionError, match=hint):
        checks.check_self_bleu(wrong)


# --- 5.1 mean pooling ---------------------------------------------------------------------

def mean_pool(hidden, mask):
    weights = mask.to(hidden.dtype).unsqueeze(-1)
    counts = weights.sum(1)
    if bool((counts == 0).any()):
        raise ValueError("a row has no real token")
    return (hidden * weights).sum(1) / counts


def test_check_mean_pool_passes_a_correct_pooling(capsys):
    checks.check_mean_pool(mean_pool)
    assert "✓" in capsys.readouterr().out


@pytest.mark.parametrize("wrong, hint", [
    (lambda h, m: h.mean(dim=1), "padding positions too"),
    (lambda h, m: (h * m.unsqueeze(-1)).sum(dim=(1, 2)), "shape"),
    (lambda h, m: (h * m.unsqueeze(-1)).sum(dim=1), "masked sum"),
    (lambda h, m: (h * m.unsqueeze(-1)).sum(dim=1) / m.shape[1], "padded length"),
    (lambda h, m: (h * m.unsqueeze(-1)).sum(dim=1) / m.sum(dim=1, keepdim=True), "ValueError"),  # NaN for an all-padding row
    (lambda h, m: mean_pool(h.float(), m), "dtype"),
])
def test_check_mean_pool_names_the_mistake(wrong, hint):
    with pytest.raises(AssertionError, match=hint):
        checks.check_mean_pool(wrong)


# --- 5.2 word vectors ---------------------------------------------------------------------

def make_word_vector(layer=-1, whole_sentence=False, shift=0):
    def word_vector(model, tokenizer, sentence, word):
        positions = [p + shift for p in word_token_positions(tokenizer, sentence, word)]
        with torch.no_grad():
            states = model(**tokenizer(sentence, return_tensors="pt"), output_hidden_states=True).hidden_states
        hidden = states[layer][0]
        return (hidden.mean(0) if whole_sentence else hidden[positions].mean(0)).float()
    return word_vector


def test_check_word_vector_passes_a_correct_solution(lm, capsys):
    model, tok = lm
    checks.check_word_vector(make_word_vector(), model, tok)
    assert "✓" in capsys.readouterr().out


@pytest.mark.parametrize("mistake, hint", [
    ({"layer": 0}, "input embedding"),
    ({"layer": -2}, r"hidden_states\[-2\]"),
    ({"whole_sentence": True}, "whole sentence"),
    ({"shift": 1}, "token after the word"),
])
def test_check_word_vector_names_the_mistake(lm, mistake, hint):
    model, tok = lm
    with pytest.raises(AssertionError, match=hint):
        checks.check_word_vector(make_word_vector(**mistake), model, tok)
