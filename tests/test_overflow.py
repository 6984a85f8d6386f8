"""Overflow is never silent: inf injected into one decoder layer of the offline model (a forward hook, as float16
overflow would put it there) reaches no output of a helper or a visible check as numbers or text.

Every public helper that returns generations, hidden states, attentions, q/k or SAE activations, and every
visible check that runs the student's function on the model (here with the instructor solutions), raises
``helpers.backend.NumericsError``, whose message names the fix, ``LAB_DTYPE=float32``. inf/NaN that only the
student's code makes (the model's own output is finite) is a hint instead, naming float32 on a half model.
The checks also pass the instructor solutions on a float16 copy of the model (tolerances fit the dtype).
"""
from __future__ import annotations

import copy
from contextlib import contextmanager

import pytest
import torch

from helpers import attention, checks, embeddings, generation, hooks, testtime
from helpers import sae as sae_lib
from helpers.backend import NumericsError
from helpers.coursework.grading import grader
from tests.hidden_inputs import solution_namespace

INF_LAYER = 3  # before every layer the helpers and checks read (10, 20, ...)
FIX = "LAB_DTYPE=float32"
TEXT = "If time travel were possible, I would visit the past."


@pytest.fixture(scope="module")
def solutions():
    from tests.hidden_inputs import all_solutions

    return all_solutions()


@contextmanager
def inf_in_layer(model, layer: int = INF_LAYER):
    """Decoder layer ``layer`` writes inf into one residual dimension at every position (removed afterwards)."""
    def hook(module, args, output):
        output = output.clone()
        output[..., 0] = float("inf")
        return output

    handle = model.model.layers[layer].register_forward_hook(hook)
    try:
        yield model
    finally:
        handle.remove()


def _ids(tokenizer):
    return tokenizer(TEXT, return_tensors="pt").input_ids


HELPERS = {
    "attention.greedy_generate": lambda m, t, s, fn: attention.greedy_generate(m, t, "Google ", 4),
    "attention.homework_attention_loop": lambda m, t, s, fn: attention.homework_attention_loop(m, t, "Google ", 3, 10),
    "embeddings.encode_batch": lambda m, t, s, fn: embeddings.encode_batch(m, t, ["I ate a fresh apple.", TEXT]),
    "generation.first_step_kept, greedy": lambda m, t, s, fn: generation.first_step_kept(m, _ids(t)),
    "generation.first_step_kept, sampling": lambda m, t, s, fn: generation.first_step_kept(m, _ids(t), do_sample=True,
                                                                                         top_p=0.9),
    "hooks.capture_qk": lambda m, t, s, fn: hooks.capture_qk(m, _ids(t), 10),
    "hooks.attention_error": lambda m, t, s, fn: hooks.attention_error(m, _ids(t), 10, torch.zeros(8, 5, 5)),
    "testtime.sample_answers": lambda m, t, s, fn: testtime.sample_answers(m, t, ["Name a colour:"], n=2, max_new_tokens=2),
    # SAE activations as `pre * (pre > threshold)` computes them from NaN residuals (torch.where would give 0)
    "sae.top_activating_tokens": lambda m, t, s, fn: sae_lib.top_activating_tokens(
        t, [TEXT], [torch.full((_ids(t).shape[1],), float("nan"))], k=3),
    "JumpReLUSAE.decode": lambda m, t, s, fn: s.decode(torch.full((2, s.d_sae), float("nan"))),
    "embeddings.tsne_2d": lambda m, t, s, fn: embeddings.tsne_2d(torch.tensor([[0.0, 1.0], [float("nan"), 2.0], [1.0, 1.0]]),
                                                                 perplexity=1),
}


@pytest.mark.parametrize("helper", HELPERS)
def test_every_helper_raises_numerics_error_on_overflow(lm, sae, solutions, helper):
    model, tokenizer = lm
    with inf_in_layer(model), pytest.raises(NumericsError, match=FIX):
        HELPERS[helper](model, tokenizer, sae, solutions)


def test_helpers_still_work_once_the_overflow_is_gone(lm):
    model, tokenizer = lm
    with inf_in_layer(model), pytest.raises(NumericsError):
        attention.greedy_generate(model, tokenizer, "Google ", 4)
    assert len(attention.greedy_generate(model, tokenizer, "Google ", 4, stop_at_eos=False).generated_ids) == 4


# (check, the exercise function it takes, whether it takes the SAE)
MODEL_CHECKS = [
    (checks.check_generate_answer, "generate_answer", False),
    (checks.check_chat_round, "chat_round", False),
    (checks.check_top_next_tokens, "top_next_tokens", False),
    (checks.check_sample_with_filter, "sample_with_filter", False),
    (checks.check_word_vector, "word_vector", False),
    (checks.check_generation_attention, "generation_attention", False),
    (checks.check_hidden_index, "hidden_index", False),
    (checks.check_feature_activations, "feature_activations", True),
    (checks.check_activations_across_layers, "activations_across_layers", True),
    (checks.check_attention_from_scratch, "attention_from_scratch", False),
]


def _run_check(check, fn, model, tokenizer, sae, takes_sae):
    return check(fn, model, tokenizer, sae) if takes_sae else check(fn, model, tokenizer)


@pytest.mark.parametrize("check, function, takes_sae", MODEL_CHECKS, ids=[c[1] for c in MODEL_CHECKS])
def test_visible_checks_report_the_models_overflow(lm, sae, solutions, check, function, takes_sae):
    model, tokenizer = lm
    with inf_in_layer(model), pytest.raises(NumericsError, match=FIX):
        _run_check(check, solutions[function], model, tokenizer, sae, takes_sae)


@pytest.fixture(scope="module")
def half_lm(lm):
    """A float16 copy of the offline model: what a T4 runs (float16 matmuls work on the CPU in torch 2.13)."""
    model, tokenizer = lm
    return copy.deepcopy(model).half(), tokenizer


@pytest.fixture(scope="module")
def bf16_lm(lm):
    """A bfloat16 copy of the offline model: what an A100, L4 or H100 runs."""
    model, tokenizer = lm
    return copy.deepcopy(model).to(torch.bfloat16), tokenizer


@pytest.mark.parametrize("check, function, takes_sae", MODEL_CHECKS, ids=[c[1] for c in MODEL_CHECKS])
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_visible_checks_pass_the_solutions_in_half_precision(half_lm, bf16_lm, sae, solutions, capsys, check, function,
                                                             takes_sae, dtype):
    model, tokenizer = half_lm if dtype == "float16" else bf16_lm
    _run_check(check, solutions[function], model, tokenizer, sae, takes_sae)
    assert "✓" in capsys.readouterr().out


def _nan_like(value):
    if torch.is_tensor(value):
        return torch.full_like(value, float("nan"))
    return [(text, float("nan")) for text, _ in value]


@pytest.mark.parametrize("check, function, takes_sae", [c for c in MODEL_CHECKS if c[1] in (
    "top_next_tokens", "word_vector", "generation_attention", "feature_activations", "activations_across_layers")],
    ids=lambda c: c if isinstance(c, str) else "")
@pytest.mark.parametrize("half", [False, True], ids=["float32", "float16"])
def test_nan_made_by_the_students_code_is_a_hint(lm, half_lm, sae, solutions, check, function, takes_sae, half):
    model, tokenizer = half_lm if half else lm
    solution = solutions[function]

    def nan_output(*args, **kwargs):
        return _nan_like(solution(*args, **kwargs))

    with pytest.raises(AssertionError, match="your code made them") as info:
        _run_check(check, nan_output, model, tokenizer, sae, takes_sae)
    assert ("float32" in str(info.value)) == half  # a half model: compute in float32


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=["float16", "bfloat16"])
def test_greedy_settings_are_greedy_in_half_precision(lm, dtype):
    """top_k=1 and top_p=0 keep one token, and the homework loop's argmax is generate's, in any dtype
    (generate hands the filters float32 scores; the loop casts the logits to float32 before its argmax)."""
    model, tokenizer = lm
    half = copy.deepcopy(model).to(dtype)
    ids = _ids(tokenizer)
    for kwargs in (dict(top_k=1), dict(top_p=0.0), dict(top_k=0, top_p=0.0)):
        assert generation.first_step_kept(half, ids, do_sample=True, **kwargs) == 1, kwargs
    greedy = attention.greedy_generate(half, tokenizer, "Google ", 6, stop_at_eos=False)
    loop = attention.homework_attention_loop(half, tokenizer, "Google ", 6, 10)
    assert loop.input_ids.tolist() == greedy.input_ids.tolist()
