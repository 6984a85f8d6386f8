"""helpers.generation: how top-k/top-p map onto generate (the Careful box of notebook 04) and seeding;
and the benchmark's private batched-vs-loop sampler.

The sampling itself (exercise 4.3) and the filters (4.1, 4.2) are written in notebook 04; their
checks are tested in tests/test_checks_04_05.py."""
import pytest
import torch

from helpers import generation
from helpers.offline import bench

PROMPT = ("Generate a paraphrase of the sentence 'Professor Lee is one of the best teachers in the domain of "
          "machine learning'. Just response with one sentence.")


@pytest.mark.parametrize("top_k, error", [(-1, ValueError), (2.0, TypeError), ("5", TypeError), (True, TypeError)])
def test_bad_top_k_is_rejected(top_k, error):
    with pytest.raises(error, match="top_k"):
        generation.check_top_k(top_k)


@pytest.mark.parametrize("top_p, error", [(-0.1, ValueError), (1.5, ValueError), ("0.9", TypeError)])
def test_bad_top_p_names_the_range(top_p, error):
    with pytest.raises(error, match=r"\[0, 1\]"):
        generation.check_top_p(top_p)


def test_sampling_arguments_are_not_shipped():
    """``generate``'s arguments for sampling with a filter are most of exercise 4.3: no helper returns them."""
    assert not hasattr(generation, "sampling_kwargs")


def test_seeded_repeats_the_stream_and_restores_the_callers():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    with generation.seeded(7):
        first = torch.rand(3)
    after = torch.rand(1)
    assert torch.equal(before, after)  # the caller's random stream is untouched
    with generation.seeded(7):
        assert torch.equal(torch.rand(3), first)
    with pytest.raises(TypeError, match="seed"):
        with generation.seeded(1.5):
            pass


def test_transformers_accepts_top_p_zero_and_keeps_one_token():
    from transformers import TopPLogitsWarper

    logits = torch.randn(3, 40, generator=torch.Generator().manual_seed(0))
    kept = torch.isfinite(TopPLogitsWarper(top_p=0.0)(None, logits))
    assert kept.sum(-1).tolist() == [1, 1, 1]
    assert torch.equal(kept.float().argmax(-1), logits.argmax(-1))


def test_transformers_top_k_keeps_ties_with_the_kth_logit():
    """Why exercise 4.1 does not simply copy TopKLogitsWarper: its threshold keeps every tied token."""
    from transformers import TopKLogitsWarper

    logits = torch.tensor([[1.0, 3.0, 3.0, 3.0, 0.5]])
    assert int(torch.isfinite(TopKLogitsWarper(top_k=1)(None, logits)).sum()) == 3


def chat_ids(tok, text=PROMPT):
    return tok.apply_chat_template([{"role": "user", "content": text}], add_generation_prompt=True,
                                   return_tensors="pt", return_dict=True)["input_ids"]


def test_plain_generate_with_top_p_keeps_only_50_tokens_but_sample_kwargs_do_not(lm):
    model, tok = lm
    ids = chat_ids(tok)
    assert generation.first_step_kept(model, ids, do_sample=True, top_p=1.0) == 50  # transformers' default top_k
    assert generation.first_step_kept(model, ids, do_sample=True, top_k=0, top_p=1.0) == model.config.vocab_size
    assert generation.first_step_kept(model, ids, do_sample=True, top_k=2, top_p=1.0) == 2
    assert generation.first_step_kept(model, ids, do_sample=True, top_k=0, top_p=0.0) == 1
    with pytest.raises(ValueError, match="one prompt"):
        generation.first_step_kept(model, ids.repeat(2, 1), do_sample=False)


def test_bench_sampler_batched_and_one_by_one(lm, monkeypatch):
    model, tok = lm
    calls = []
    original = model.generate

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return original(*args, **kwargs)

    monkeypatch.setattr(model, "generate", spy)
    batched = bench._sample(model, tok, PROMPT, n=4, max_new_tokens=5, seed=0, one_by_one=False)
    assert len(batched) == 4 and all(isinstance(t, str) for t in batched)
    assert len(calls) == 1 and calls[0]["num_return_sequences"] == 4 and calls[0]["top_k"] == 50 and calls[0]["top_p"] == 1.0
    calls.clear()
    assert len(bench._sample(model, tok, PROMPT, n=3, max_new_tokens=5, seed=0, one_by_one=True)) == 3
    assert len(calls) == 3
    assert bench._sample(model, tok, PROMPT, n=4, max_new_tokens=5, seed=0, one_by_one=False) == batched
    with pytest.raises(ValueError, match="n"):
        bench._sample(model, tok, PROMPT, n=0, max_new_tokens=5, seed=0, one_by_one=False)


def test_bench_timing_reports_both_ways_and_their_ratio(lm):
    model, tok = lm
    result = bench.time_batched_vs_loop(model, tok, PROMPT, n=2, max_new_tokens=3, repeats=1)
    assert set(result) == {"batched_s", "loop_s", "ratio"}
    assert result["ratio"] == pytest.approx(result["loop_s"] / result["batched_s"])
