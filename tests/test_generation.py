"""helpers.generation: batched sampling, the top-k/top-p mapping onto generate, greedy edge cases;
and the exercise checks for the hand-written filters."""
import pytest
import torch

from helpers import checks, generation
from helpers.chat import encode_messages

PROMPT = ("Generate a paraphrase of the sentence 'Professor Lee is one of the best teachers in the domain of "
          "machine learning'. Just response with one sentence.")


def reference_top_k(logits, k):
    """A correct hand-written top-k filter."""
    threshold = torch.topk(logits, min(k, logits.size(-1)), dim=-1).values[..., -1:]
    return logits.masked_fill(logits < threshold, float("-inf"))


def reference_top_p(logits, p):
    """A correct hand-written top-p filter."""
    probs, order = torch.sort(torch.softmax(logits, -1), dim=-1, descending=True)
    remove = (torch.cumsum(probs, -1) - probs) >= p
    remove[..., 0] = False
    return logits.masked_fill(remove.scatter(-1, order, remove), float("-inf"))


def test_top_p_alone_switches_off_the_default_top_k():
    kwargs = generation.sampling_kwargs(top_p=0.6)
    assert kwargs == {"do_sample": True, "temperature": 1.0, "top_k": 0, "top_p": 0.6}


def test_top_k_alone_switches_off_any_nucleus():
    assert generation.sampling_kwargs(top_k=2)["top_p"] == 1.0
    assert generation.sampling_kwargs()["top_k"] == 0 and generation.sampling_kwargs()["top_p"] == 1.0


@pytest.mark.parametrize("top_k, error", [(-1, ValueError), (2.0, TypeError), ("5", TypeError), (True, TypeError)])
def test_bad_top_k_is_rejected(top_k, error):
    with pytest.raises(error, match="top_k"):
        generation.sampling_kwargs(top_k=top_k)


@pytest.mark.parametrize("top_p, error", [(-0.1, ValueError), (1.5, ValueError), ("0.9", TypeError)])
def test_bad_top_p_names_the_range(top_p, error):
    with pytest.raises(error, match=r"\[0, 1\]"):
        generation.sampling_kwargs(top_p=top_p)


def test_sample_makes_one_batched_generate_call(lm, monkeypatch):
    model, tok = lm
    calls = []
    original = model.generate

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return original(*args, **kwargs)

    monkeypatch.setattr(model, "generate", spy)
    out = generation.sample(model, tok, PROMPT, n=5, top_p=0.9, max_new_tokens=4)
    assert len(out) == 5 and all(isinstance(s, str) for s in out)
    assert len(calls) == 1 and calls[0]["num_return_sequences"] == 5
    assert calls[0]["top_k"] == 0 and calls[0]["top_p"] == 0.9 and calls[0]["do_sample"] is True


def test_sample_is_reproducible_and_leaves_the_global_rng_alone(lm):
    model, tok = lm
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    first = generation.sample(model, tok, PROMPT, n=6, max_new_tokens=8, seed=7)
    after = torch.rand(1)
    assert torch.equal(before, after)  # the caller's random stream is untouched
    assert generation.sample(model, tok, PROMPT, n=6, max_new_tokens=8, seed=7) == first
    assert generation.sample(model, tok, PROMPT, n=6, max_new_tokens=8, seed=8) != first


@pytest.mark.parametrize("filters", [{"top_k": 1}, {"top_p": 0.0}])
def test_top_k_1_and_top_p_0_are_greedy(lm, filters):
    model, tok = lm
    samples = generation.sample(model, tok, PROMPT, n=4, max_new_tokens=10, seed=3, **filters)
    assert samples == [generation.greedy(model, tok, PROMPT, max_new_tokens=10)] * 4


def test_transformers_accepts_top_p_zero_and_keeps_one_token():
    from transformers import TopPLogitsWarper

    logits = torch.randn(3, 40, generator=torch.Generator().manual_seed(0))
    kept = torch.isfinite(TopPLogitsWarper(top_p=0.0)(None, logits))
    assert kept.sum(-1).tolist() == [1, 1, 1]
    assert torch.equal(kept.float().argmax(-1), logits.argmax(-1))


def test_sample_one_by_one_returns_n_samples(lm):
    model, tok = lm
    assert len(generation.sample_one_by_one(model, tok, PROMPT, n=3, top_k=1, max_new_tokens=4)) == 3


@pytest.mark.parametrize("kwargs, match", [({"n": 0}, "n"), ({"max_new_tokens": 0}, "max_new_tokens"), ({"top_k": -2}, "top_k"),
                                            ({"top_p": 2.0}, "top_p"), ({"seed": 1.5}, "seed")])
def test_sample_rejects_bad_arguments(lm, kwargs, match):
    model, tok = lm
    with pytest.raises((ValueError, TypeError), match=match):
        generation.sample(model, tok, PROMPT, **{"max_new_tokens": 2, **kwargs})


def test_sample_rejects_empty_prompt_and_plain_tokenizer(lm):
    model, tok = lm
    with pytest.raises(ValueError, match="empty"):
        generation.sample(model, tok, "  ", n=2)
    with pytest.raises(TypeError, match="load_lm"):
        generation.sample(model, object(), PROMPT, n=2)


def test_greedy_without_template_reads_bos_plus_raw_text(lm):
    model, tok = lm
    ids = generation.prompt_inputs(tok, PROMPT, chat_template=False)["input_ids"][0].tolist()
    assert ids[0] == tok.bos_token_id and 106 not in ids
    assert generation.prompt_inputs(tok, PROMPT)["input_ids"].shape[1] > len(ids)
    assert isinstance(generation.greedy(model, tok, PROMPT, max_new_tokens=5, chat_template=False), str)


def test_greedy_from_matches_greedy(lm):
    model, tok = lm
    assert generation.greedy_from(model, tok, encode_messages(tok, PROMPT), 6) == generation.greedy(model, tok, PROMPT, 6)


def test_check_top_k_filter_passes_a_correct_filter_and_fails_wrong_ones(capsys):
    checks.check_top_k_filter(reference_top_k)
    assert "✓" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="not 0"):
        checks.check_top_k_filter(lambda l, k: l.masked_fill(l < torch.topk(l, k).values[..., -1:], 0.0))
    with pytest.raises(AssertionError, match="you kept"):
        checks.check_top_k_filter(lambda l, k: reference_top_k(l, k + 1))

    def in_place(logits, k):
        return logits.masked_fill_(logits < torch.topk(logits, k).values[..., -1:], float("-inf"))

    with pytest.raises(AssertionError, match="in place"):
        checks.check_top_k_filter(in_place)


def test_check_top_p_filter_passes_a_correct_filter_and_fails_wrong_ones(capsys):
    checks.check_top_p_filter(reference_top_p)
    assert "✓" in capsys.readouterr().out

    def drops_the_crossing_token(logits, p):
        probs, order = torch.sort(torch.softmax(logits, -1), dim=-1, descending=True)
        remove = torch.cumsum(probs, -1) > p
        remove[..., 0] = False
        return logits.masked_fill(remove.scatter(-1, order, remove), float("-inf"))

    with pytest.raises(AssertionError, match="the token that crosses p stays"):
        checks.check_top_p_filter(drops_the_crossing_token)
    with pytest.raises(AssertionError, match="always keep at least the most likely"):
        checks.check_top_p_filter(lambda l, p: reference_top_p(l, p).masked_fill((torch.softmax(l, -1) <= p), float("-inf")))


def test_plain_generate_with_top_p_keeps_only_50_tokens_but_sample_kwargs_do_not(lm):
    model, tok = lm
    assert generation.first_step_kept(model, tok, PROMPT, do_sample=True, top_p=1.0) == 50  # transformers' default top_k
    assert generation.first_step_kept(model, tok, PROMPT, **generation.sampling_kwargs(top_p=1.0)) == model.config.vocab_size
    assert generation.first_step_kept(model, tok, PROMPT, **generation.sampling_kwargs(top_k=2)) == 2
    assert generation.first_step_kept(model, tok, PROMPT, **generation.sampling_kwargs(top_p=0.0)) == 1
