"""helpers.testtime: one seeded batched sampling call, answers and their scores, accuracy against N."""
import math

import pytest
import torch

from helpers import testtime

PROMPTS = ["Tokenization splits a text into small units called", "A good learning"]


def test_first_word():
    assert testtime.first_word(" Tokens are small.") == "tokens"
    assert testtime.first_word("1998 by Larry") == "1998"
    assert testtime.first_word("  , then") == ""
    assert testtime.first_word("") == ""


@pytest.fixture(scope="module")
def samples(lm):
    model, tokenizer = lm
    return testtime.sample_answers(model, tokenizer, PROMPTS, n=8, max_new_tokens=3, seed=3)


def test_sample_answers_shapes_and_scores(samples):
    assert samples.n == 8 and len(samples.texts) == len(samples.answers) == 2
    assert samples.answer_logprob.shape == samples.n_tokens.shape == (2, 8)
    for row, scores in zip(samples.answers, samples.answer_logprob.tolist()):
        for answer, score in zip(row, scores):
            assert answer == "" and score == -math.inf or answer != "" and -50 < score <= 0
    assert int(samples.n_tokens.min()) >= 1 and int(samples.n_tokens.max()) <= 3


def test_sample_answers_is_seeded_and_keeps_the_global_rng(lm, samples):
    model, tokenizer = lm
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    again = testtime.sample_answers(model, tokenizer, PROMPTS, n=8, max_new_tokens=3, seed=3)
    assert torch.rand(1) == expected_next
    assert again.texts == samples.texts and torch.equal(again.answer_logprob, samples.answer_logprob)


def test_answer_logprob_is_the_models_probability(lm, samples):
    """The score of a one-token answer is log p(token | prompt) from a plain forward pass."""
    model, tokenizer = lm
    for prompt, row, scores in zip(PROMPTS, samples.answers, samples.answer_logprob.tolist()):
        for answer, score in zip(row, scores):
            ids = tokenizer(" " + answer, add_special_tokens=False)["input_ids"]
            if answer and len(ids) == 1 and not math.isinf(score):
                prompt_ids = tokenizer(prompt, return_tensors="pt").input_ids
                with torch.no_grad():
                    logprobs = model(prompt_ids).logits[0, -1].log_softmax(-1)
                if abs(float(logprobs[ids[0]]) - score) < 1e-4:
                    return
    pytest.fail("no one-token answer's score equals log p(token | prompt): answer_logprob is not the model's probability")


def test_cross_encoder_scores_shape(cross_encoder, samples):
    scores = testtime.cross_encoder_scores(cross_encoder, PROMPTS, samples.texts)
    assert scores.shape == (2, 8) and bool(torch.isfinite(scores).all())


def first_answer(answers, scores):
    return answers[0]


def test_accuracy_vs_n_uses_blocks():
    answers = [["a", "b", "a", "a"], ["x", "y", "y", "y"]]
    targets = ["a", "y"]
    # N=1: 4 blocks per question, the first-answer rule is right 3/4 and 3/4; N=2: blocks [a,b],[a,a] and [x,y],[y,y]
    assert testtime.accuracy_vs_n(first_answer, answers, None, targets, [1, 2, 4]) == [0.75, 0.75, 0.5]
    best = lambda a, s: a[max(range(len(a)), key=lambda i: s[i])]  # noqa: E731
    assert testtime.accuracy_vs_n(best, answers, [[0, 1, 0, 0], [1, 0, 0, 0]], targets, [4]) == [0.0]
    with pytest.raises(ValueError, match="must divide"):
        testtime.accuracy_vs_n(first_answer, answers, None, targets, [3])


def test_pass_at_n_never_falls():
    answers = [["a", "b", "c", "d", "a", "e", "f", "g"], ["x", "x", "y", "x", "x", "x", "x", "x"]]
    curve = testtime.pass_at_n(answers, ["a", "y"], [1, 2, 4, 8])
    assert curve == sorted(curve) and curve[0] == pytest.approx(3 / 16) and curve[-1] == 1.0
