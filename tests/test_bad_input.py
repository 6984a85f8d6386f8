"""Bad input to a public helper is a clear ``TypeError``/``ValueError`` that names the valid range or the fix.

Table-driven: each row calls one helper with one bad argument and names the exception and a piece of its
message. The model is a random 3-layer Gemma-2 with the offline tokenizer's vocabulary and a context
window of 64 tokens (``config.max_position_embeddings``), so "too long" is cheap to reach.
Out-of-range indices raise ``OutOfRangeError``, both an ``IndexError`` and a ``ValueError``.
"""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from transformers import Gemma2Config, Gemma2ForCausalLM

from helpers import attention, embeddings, generation, hooks, metrics, testtime
from helpers import sae as sae_lib, validation
from helpers.validation import OutOfRangeError

WINDOW = 64
LONG = "the cat sat on the mat and " * 12  # > 64 tokens with the offline tokenizer


@pytest.fixture(scope="module")
def env(lm, sae):
    _, tokenizer = lm
    torch.manual_seed(0)
    config = Gemma2Config(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=3,
                          num_attention_heads=4, num_key_value_heads=2, head_dim=8, max_position_embeddings=WINDOW,
                          sliding_window=WINDOW, attn_implementation="eager", eos_token_id=[1, 107], pad_token_id=0)
    model = Gemma2ForCausalLM(config).eval()
    ids = tokenizer("Google is a search engine", return_tensors="pt").input_ids
    assert tokenizer(LONG, return_tensors="pt").input_ids.shape[1] > WINDOW
    return SimpleNamespace(model=model, tok=tokenizer, sae=sae, ids=ids, vocab=len(tokenizer),
                           long_ids=tokenizer(LONG, return_tensors="pt").input_ids)


def _acts(e):
    return [torch.rand(e.tok("a cat", return_tensors="pt").input_ids.shape[1])]


# (id, call, exception, message regex)
CASES = [
    # --- context window: prompt / ids longer than model.config.max_position_embeddings
    ("greedy_generate: another prompt than the homework's", lambda e: attention.greedy_generate(e.model, e.tok, LONG, 2),
     ValueError, "original homework's prompt only, 'Google '"),
    ("greedy_generate: prompt + max_new_tokens past the window",
     lambda e: attention.greedy_generate(e.model, e.tok, "Google", 63), ValueError, r"1\.\.\d+.*context window of 64"),
    ("homework_attention_loop: another prompt than the homework's",
     lambda e: attention.homework_attention_loop(e.model, e.tok, LONG, 2, 0), ValueError, "call model.generate yourself"),
    ("capture_qk: ids longer than the window", lambda e: hooks.capture_qk(e.model, e.long_ids, 0),
     ValueError, "max_position_embeddings"),
    ("attention_error: ids longer than the window", lambda e: hooks.attention_error(e.model, e.long_ids, 0, None),
     ValueError, "context window"),
    ("first_step_kept: ids longer than the window", lambda e: generation.first_step_kept(e.model, e.long_ids),
     ValueError, "context window"),
    ("encode_batch: a sentence longer than the window", lambda e: embeddings.encode_batch(e.model, e.tok, ["Hi", LONG]),
     ValueError, "context window of 64"),
    ("sample_answers: prompt longer than the window",
     lambda e: testtime.sample_answers(e.model, e.tok, [LONG], n=2), ValueError, "context window"),
    # --- max_new_tokens: whole numbers 1..room (bool, float, str rejected)
    ("greedy_generate: max_new_tokens=2.5", lambda e: attention.greedy_generate(e.model, e.tok, "Google", 2.5),
     TypeError, "max_new_tokens must be a whole number"),
    ("greedy_generate: max_new_tokens=True", lambda e: attention.greedy_generate(e.model, e.tok, "Google", True),
     TypeError, "max_new_tokens"),
    ("greedy_generate: max_new_tokens='5'", lambda e: attention.greedy_generate(e.model, e.tok, "Google", "5"),
     TypeError, "max_new_tokens"),
    ("greedy_generate: max_new_tokens=0", lambda e: attention.greedy_generate(e.model, e.tok, "Google", 0),
     ValueError, r"max_new_tokens=0 is out of range: use 1"),
    ("greedy_generate: max_new_tokens=-3", lambda e: attention.greedy_generate(e.model, e.tok, "Google", -3),
     ValueError, "max_new_tokens=-3"),
    ("homework_attention_loop: max_new_tokens=2.0",
     lambda e: attention.homework_attention_loop(e.model, e.tok, "Google", 2.0, 0), TypeError, "max_new_tokens"),
    ("homework_attention_loop: max_new_tokens=False",
     lambda e: attention.homework_attention_loop(e.model, e.tok, "Google", False, 0), TypeError, "max_new_tokens"),
    ("sample_answers: max_new_tokens=1.5",
     lambda e: testtime.sample_answers(e.model, e.tok, ["Q"], n=2, max_new_tokens=1.5), TypeError, "max_new_tokens"),
    ("sample_answers: max_new_tokens=0",
     lambda e: testtime.sample_answers(e.model, e.tok, ["Q"], n=2, max_new_tokens=0), ValueError, "max_new_tokens"),
    ("check_max_new_tokens: True",
     lambda e: generation.check_max_new_tokens(True), TypeError, "whole number"),
    # --- prompts and texts
    ("greedy_generate: empty prompt", lambda e: attention.greedy_generate(e.model, e.tok, "  ", 2), ValueError, "empty"),
    ("greedy_generate: prompt not a string", lambda e: attention.greedy_generate(e.model, e.tok, 123, 2),
     TypeError, "must be a string"),
    ("encode_batch: one string instead of a list", lambda e: embeddings.encode_batch(e.model, e.tok, "Hello there"),
     TypeError, "list of sentences"),
    ("sample_answers: one string instead of a list", lambda e: testtime.sample_answers(e.model, e.tok, "Q", n=2),
     ValueError, "list"),
    ("sample_answers: n=0", lambda e: testtime.sample_answers(e.model, e.tok, ["Q"], n=0), ValueError, "n must be"),
    ("sample_answers: a temperature (sampling at 1 only)",
     lambda e: testtime.sample_answers(e.model, e.tok, ["Q"], n=2, temperature=1e-4), TypeError, "temperature"),
    # --- token ids: integer tensors of one text, inside the vocabulary
    ("attention_error: float ids", lambda e: hooks.attention_error(e.model, e.ids.float(), 0, None),
     TypeError, "integers"),
    ("attention_error: a list, not a tensor", lambda e: hooks.attention_error(e.model, [2, 5, 7], 0, None),
     TypeError, "torch tensor"),
    ("attention_error: id past the vocabulary", lambda e: hooks.attention_error(e.model, torch.tensor([[2, e.vocab]]), 0, None),
     OutOfRangeError, r"vocabulary has ids 0\.\.4095"),
    ("attention_error: negative id", lambda e: hooks.attention_error(e.model, torch.tensor([[2, -1]]), 0, None),
     ValueError, r"token id -1 is out of range"),
    ("attention_error: a batch of two texts", lambda e: hooks.attention_error(e.model, e.ids.repeat(2, 1), 0, None),
     ValueError, "one text"),
    ("capture_qk: id past the vocabulary", lambda e: hooks.capture_qk(e.model, torch.tensor([[2, 99999]]), 0),
     IndexError, r"0\.\.4095"),
    ("first_step_kept: float ids", lambda e: generation.first_step_kept(e.model, e.ids.float()), TypeError, "integers"),
    # --- k: 1..vocabulary (or 1..number of tokens)
    ("first_step_kept: top_k larger than the vocabulary",
     lambda e: generation.first_step_kept(e.model, e.ids, do_sample=True, top_k=e.vocab + 1), ValueError,
     r"vocabulary's 4096 tokens: use 1\.\.4096"),
    ("first_step_kept: top_k=-3", lambda e: generation.first_step_kept(e.model, e.ids, do_sample=True, top_k=-3),
     ValueError, "top_k must be"),
    ("first_step_kept: top_p=1.5", lambda e: generation.first_step_kept(e.model, e.ids, do_sample=True, top_p=1.5),
     ValueError, r"\[0, 1\]"),
    ("check_top_k: top_k larger than the vocabulary", lambda e: generation.check_top_k(300000, vocab=256000),
     ValueError, r"1\.\.256000"),
    ("check_top_k: top_k=2.0", lambda e: generation.check_top_k(2.0), TypeError, "integer"),
    ("top_activating_tokens: k=-3 (dropped results before)",
     lambda e: sae_lib.top_activating_tokens(e.tok, ["a cat"], _acts(e), k=-3), ValueError, r"k \(how many top tokens\)=-3"),
    ("top_activating_tokens: k=0", lambda e: sae_lib.top_activating_tokens(e.tok, ["a cat"], _acts(e), k=0),
     ValueError, "use 1 or more"),
    ("top_activating_tokens: k=2.5", lambda e: sae_lib.top_activating_tokens(e.tok, ["a cat"], _acts(e), k=2.5),
     TypeError, "whole number"),
    ("top_activating_tokens: k=True", lambda e: sae_lib.top_activating_tokens(e.tok, ["a cat"], _acts(e), k=True),
     TypeError, "whole number"),
    ("top_activating_tokens: k more than the tokens",
     lambda e: sae_lib.top_activating_tokens(e.tok, ["a cat"], _acts(e), k=500), ValueError, r"tokens of these texts"),
    ("top_activating_tokens: context=-1",
     lambda e: sae_lib.top_activating_tokens(e.tok, ["a cat"], _acts(e), k=1, context=-1), ValueError, "context"),
    ("metrics.distinct_n: n=0", lambda e: metrics.distinct_n(["a b", "c d"], n=0), ValueError, "n-gram length"),
    # --- layers, heads, features, positions
    ("homework_attention_loop: layer 3 of 3", lambda e: attention.homework_attention_loop(e.model, e.tok, "Google", 2, 3),
     OutOfRangeError, r"decoder layers 0\.\.2"),
    ("homework_attention_loop: layer -1", lambda e: attention.homework_attention_loop(e.model, e.tok, "Google", 2, -1),
     ValueError, r"0\.\.2"),
    ("homework_attention_loop: layer 1.0", lambda e: attention.homework_attention_loop(e.model, e.tok, "Google", 2, 1.0),
     TypeError, r"layer must be an integer in 0\.\.2"),
    ("capture_qk: layer 5 of 3", lambda e: hooks.capture_qk(e.model, e.ids, 5), ValueError, r"0\.\.2"),
    ("attention_error: layer True", lambda e: hooks.attention_error(e.model, e.ids, True, None), TypeError, r"0\.\.2"),
    ("check_head: head 4 of 4", lambda e: attention.check_head(e.model, 4), OutOfRangeError, r"heads 0\.\.3"),
    ("check_head: head 1.5", lambda e: attention.check_head(e.model, 1.5), TypeError, r"0\.\.3"),
    ("check_feature: feature 16384", lambda e: validation.check_feature(e.sae, 16384), ValueError, r"features 0\.\.16383"),
    ("check_feature: feature -1", lambda e: validation.check_feature(e.sae, -1), IndexError, r"0\.\.16383"),
    ("check_feature: feature '10004'", lambda e: validation.check_feature(e.sae, "10004"), TypeError, r"0\.\.16383"),
    ("check_position: position 5 of 5", lambda e: validation.check_position(5, 5), ValueError, r"0\.\.4"),
    ("check_position: position 1.0", lambda e: validation.check_position(5, 1.0), TypeError, "integer"),
    ("neuronpedia_url: layer 26", lambda e: sae_lib.neuronpedia_url(10004, layer=26), ValueError, r"0\.\.25"),
    ("neuronpedia_url: feature -1", lambda e: sae_lib.neuronpedia_url(-1), ValueError, "feature"),
    ("previous_token_score: first_query=-1",
     lambda e: attention.previous_token_score(torch.rand(2, 3, 4), first_query=-1), ValueError, "first_query"),
    ("first_token_score: rows past their keys",
     lambda e: attention.first_token_score(torch.rand(2, 3, 4), first_query=3), ValueError, "need at least 6 keys"),
    ("previous_token_score: rows of one head", lambda e: attention.previous_token_score(torch.rand(3, 4)),
     ValueError, r"\[head, query, key\]"),
    # --- t-SNE
    ("tsne_2d: perplexity >= number of points", lambda e: embeddings.tsne_2d(torch.rand(4, 3), perplexity=4),
     ValueError, "smaller than the number of points"),
    ("tsne_2d: max_iter below scikit-learn's 250", lambda e: embeddings.tsne_2d(torch.rand(4, 3), perplexity=2, max_iter=10),
     ValueError, r"max_iter=10 is out of range: use 250"),
    ("tsne_2d: max_iter=300.5", lambda e: embeddings.tsne_2d(torch.rand(4, 3), perplexity=2, max_iter=300.5),
     TypeError, "max_iter"),
    ("sliding_window: window 0", lambda e: hooks.sliding_window(e.model, 0).__enter__(), ValueError, "positive"),
]


@pytest.mark.parametrize("call, error, message", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_a_clear_error(env, call, error, message):
    with pytest.raises(error, match=message):
        call(env)


def test_out_of_range_is_both_index_and_value_error():
    assert issubclass(OutOfRangeError, IndexError) and issubclass(OutOfRangeError, ValueError)


def test_good_input_at_the_edges_still_works(env):
    """The largest max_new_tokens that fits, k = vocabulary, the last layer and head: no error."""
    prompt_len = env.tok("Google", return_tensors="pt").input_ids.shape[1]
    assert generation.check_max_new_tokens(WINDOW - prompt_len, env.model, prompt_len) == WINDOW - prompt_len
    assert generation.first_step_kept(env.model, env.ids, do_sample=True, top_k=env.vocab) == env.vocab
    assert attention.check_head(env.model, 3) == 3 and validation.check_layer(env.model, 2) == 2
    top, acts = sae_lib.top_activating_tokens(env.tok, ["a cat"], _acts(env), k=len(_acts(env)[0]) - 1)
    assert len(top) == acts.numel()
