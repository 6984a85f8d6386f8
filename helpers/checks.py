"""Self-checks for the exercises: a wrong answer raises ``AssertionError`` with a specific hint
(so nbval fails on it); a right one prints a short ✓ line.

Exercise checks are grouped by notebook below the shared primitives.
"""
from __future__ import annotations


def ok(message: str) -> None:
    """Print the success line of a check."""
    print(f"✓ {message}")


def require(condition: bool, hint: str) -> None:
    """Raise ``AssertionError(hint)`` unless ``condition`` holds."""
    if not condition:
        raise AssertionError(hint)


# --- 01 chat template ---------------------------------------------------------------------

def check_chat_prompt(prompt: object, tokenizer, question: str) -> None:
    """Exercise 1.1: ``prompt`` must be the templated string of one user turn ``question``."""
    from helpers.chat import render

    require(not hasattr(prompt, "shape") and not isinstance(prompt, (list, dict)) and not hasattr(prompt, "keys"),
            "You returned token ids, not text: call apply_chat_template(..., tokenize=False) to get the string.")
    require(isinstance(prompt, str), f"Expected a string, got {type(prompt).__name__}.")
    expected = render(tokenizer, question)
    require(question in prompt, "The question text is missing: the messages list should be [{'role': 'user', 'content': question}].")
    require(prompt.startswith(tokenizer.bos_token),
            f"The string should start with {tokenizer.bos_token!r}: the template adds it; do not strip it.")
    require(prompt.count(tokenizer.bos_token) == 1, f"{tokenizer.bos_token!r} appears {prompt.count(tokenizer.bos_token)} times; it belongs only at the start.")
    require(prompt.endswith("<start_of_turn>model\n"),
            "The string must end with '<start_of_turn>model\\n' so the model answers as itself: pass add_generation_prompt=True.")
    require(prompt == expected, f"Close, but not the template's output. Expected:\n{expected!r}\ngot:\n{prompt!r}")
    ok("the templated prompt matches tokenizer.apply_chat_template")


# --- 02 multi-turn chat -------------------------------------------------------------------

def check_history(history: object, prompt: object, tokenizer, user_turns: list[str]) -> None:
    """Exercise 2.1: ``history`` holds every user turn and reply so far; ``prompt`` is its rendering for the next reply."""
    from helpers.chat import render

    require(isinstance(history, list) and all(isinstance(m, dict) for m in history),
            "history must be a list of {'role': ..., 'content': ...} dicts.")
    roles = [m.get("role") for m in history]
    require("model" not in roles, "Store the model's replies with role 'assistant': the template itself renders that as 'model'.")
    users = [m.get("content") for m in history if m.get("role") == "user"]
    require(users == list(user_turns),
            f"history should contain the user turns {len(user_turns)} so far, in order; found {len(users)} user turns.")
    require(roles == ["user", "assistant"] * (len(user_turns) - 1) + ["user"],
            f"roles should alternate user/assistant and end with the new user turn; got {roles}. Did you append the model's reply?")
    require(isinstance(prompt, str), "prompt should be the templated string (apply_chat_template(..., tokenize=False)).")
    require(prompt.endswith("<start_of_turn>model\n"), "The prompt must end with '<start_of_turn>model\\n': add_generation_prompt=True.")
    expected = render(tokenizer, history)
    require(prompt == expected, f"prompt is not the rendering of history. Expected:\n{expected!r}\ngot:\n{prompt!r}")
    ok(f"history has {len(history)} messages and renders to the full prompt")


def check_next_prompt(next_prompt, tokenizer) -> None:
    """Exercise 2.1: ``next_prompt(history, user_text) -> (history, prompt)`` over two rounds with a stand-in reply."""
    turns = ["Name a color in a rainbow.", "Another one?"]
    result = next_prompt([], turns[0])
    require(isinstance(result, tuple) and len(result) == 2, "next_prompt should return a pair: (new_history, prompt).")
    history, prompt = result
    check_history(history, prompt, tokenizer, turns[:1])
    history = [*history, {"role": "assistant", "content": "Red"}]
    history, prompt = next_prompt(history, turns[1])
    require("Red" in prompt, "The second prompt lost the model's first reply: keep every earlier turn in the history.")
    check_history(history, prompt, tokenizer, turns)


# --- 03 tokenization ----------------------------------------------------------------------

def check_token_table(table: object, tokenizer, text: str) -> None:
    """Exercise 3.1: one row per token with columns ``id`` and ``piece``, ``<bos>`` first."""
    require(hasattr(table, "columns"), "Build a pandas DataFrame (pd.DataFrame({'id': ..., 'piece': ...})).")
    for column in ("id", "piece"):
        require(column in table.columns, f"The table needs a column named {column!r}; it has {list(table.columns)}.")
    expected_ids = tokenizer(text)["input_ids"]
    ids = [int(i) for i in table["id"]]
    require(len(ids) > 0 and ids[0] == tokenizer.bos_token_id,
            f"The first token should be <bos> (id {tokenizer.bos_token_id}): call the tokenizer with its default add_special_tokens=True.")
    require(len(ids) == len(expected_ids), f"{len(ids)} rows, but the tokenizer makes {len(expected_ids)} tokens of this sentence.")
    for row, (got, want) in enumerate(zip(ids, expected_ids)):
        require(got == want, f"Row {row} has id {got}, expected {want}.")
    expected_pieces = tokenizer.convert_ids_to_tokens(expected_ids)
    for row, (got, want) in enumerate(zip(table["piece"], expected_pieces)):
        require(got == want, f"Row {row}: piece {got!r}, expected {want!r} — use tokenizer.convert_ids_to_tokens "
                             "(it keeps the '▁' space marker; decode() drops it).")
    ok(f"{len(ids)} tokens, ids and pieces match the tokenizer")


# --- 04 sampling --------------------------------------------------------------------------

def _random_logits(seed: int, batch: int = 4, vocab: int = 50):
    """Reproducible random logits ``[batch, vocab]`` (float64) for the filter checks."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    return torch.randn(batch, vocab, generator=generator, dtype=torch.float64) * 2.0


def _check_filter_output(out, logits, name: str) -> None:
    """Shape, dtype and -inf conventions shared by the top-k and top-p checks."""
    import torch

    require(isinstance(out, torch.Tensor), f"{name} must return a tensor, got {type(out).__name__}.")
    require(out.shape == logits.shape, f"{name} changed the shape: {tuple(logits.shape)} in, {tuple(out.shape)} out.")
    changed = (out != logits) & ~torch.isneginf(out)
    require(not bool((changed & (out == 0)).any()), f"{name} should set removed logits to -inf (float('-inf')), not 0: exp(0) = 1 is still a weight.")
    require(not bool(changed.any()), f"{name} changed the logits it kept (or wrote NaN): only set the removed ones to -inf.")
    kept = torch.isfinite(out)
    require(bool(kept.any(dim=-1).all()), f"{name} removed every token of a row: always keep at least the most likely one.")


def check_top_k_filter(top_k_filter) -> None:
    """Exercise 4.1: compare with transformers' ``TopKLogitsWarper`` on random logits."""
    import torch
    from transformers import TopKLogitsWarper

    for seed, k in [(0, 1), (1, 2), (2, 5), (3, 20), (4, 50)]:
        logits = _random_logits(seed)
        original = logits.clone()
        out = top_k_filter(logits, k)
        require(torch.equal(logits, original), "top_k_filter modified its input in place: work on a copy (masked_fill, not masked_fill_).")
        _check_filter_output(out, logits, "top_k_filter")
        expected = TopKLogitsWarper(top_k=k)(None, logits.clone())
        got_kept, want_kept = torch.isfinite(out), torch.isfinite(expected)
        for row in range(logits.shape[0]):
            require(torch.equal(got_kept[row], want_kept[row]),
                    f"k={k}, row {row}: you kept {int(got_kept[row].sum())} tokens, expected {int(want_kept[row].sum())} "
                    f"(the {k} largest logits; use torch.topk(logits, k).values[..., -1:] as the threshold).")
    ok("top_k_filter agrees with transformers' TopKLogitsWarper on 5 random cases")


def check_top_p_filter(top_p_filter) -> None:
    """Exercise 4.2: compare with transformers' ``TopPLogitsWarper`` on random logits (p = 0 included)."""
    import torch
    from transformers import TopPLogitsWarper

    for seed, p in [(10, 0.0), (11, 0.1), (12, 0.5), (13, 0.6), (14, 0.9), (15, 0.999), (16, 1.0)]:
        logits = _random_logits(seed)
        original = logits.clone()
        out = top_p_filter(logits, p)
        require(torch.equal(logits, original), "top_p_filter modified its input in place: work on a copy.")
        _check_filter_output(out, logits, "top_p_filter")
        expected = TopPLogitsWarper(top_p=p)(None, logits.clone())
        got_kept, want_kept = torch.isfinite(out), torch.isfinite(expected)
        probs = torch.softmax(logits, dim=-1)
        for row in range(logits.shape[0]):
            if torch.equal(got_kept[row], want_kept[row]):
                continue
            # Tolerate a disagreement only where the cumulative mass sits on p up to rounding.
            order = torch.argsort(probs[row], descending=True)
            mass_before = torch.cumsum(probs[row][order], 0) - probs[row][order]
            differing = (got_kept[row] != want_kept[row])[order]
            require(bool(torch.all((mass_before[differing] - p).abs() < 1e-9)),
                    f"p={p}, row {row}: you kept {int(got_kept[row].sum())} tokens, expected {int(want_kept[row].sum())}. "
                    "Keep the most likely tokens until their total probability reaches p (the token that crosses p stays), "
                    "and always keep the top token.")
    ok("top_p_filter agrees with transformers' TopPLogitsWarper on 7 random cases (p = 0 … 1)")


# --- 05 contextual embeddings -------------------------------------------------------------

def check_mean_pool(mean_pool) -> None:
    """Exercise 5.1: ``mean_pool(last_hidden[batch, pos, d], attention_mask[batch, pos]) -> [batch, d]`` ignores padding."""
    import torch

    from helpers.embeddings import mean_pool as reference, mean_pool_with_padding

    gen = torch.Generator().manual_seed(5)
    last_hidden = torch.randn(3, 6, 4, generator=gen)
    for padding_side in ("right", "left"):
        mask = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 0, 0]])
        if padding_side == "left":
            mask = mask.flip(-1)
        got = mean_pool(last_hidden, mask)
        require(isinstance(got, torch.Tensor), f"Return a tensor, got {type(got).__name__}.")
        require(tuple(got.shape) == (3, 4),
                f"Expected shape [batch, d_model] = (3, 4), got {tuple(got.shape)}: average over dim=1 (positions) only.")
        require(not torch.isnan(got).any(), "The result has NaN: divide by the number of real tokens, not by a masked sum of zeros.")
        require(not torch.allclose(got, mean_pool_with_padding(last_hidden)),
                "You averaged over padding positions too (that is the homework's bug): multiply by the mask and divide by mask.sum(dim=1).")
        want = reference(last_hidden, mask)
        require(torch.allclose(got[0], want[0], atol=1e-5), "Row 0 has no padding and should be the plain mean over positions.")
        for row in range(3):
            require(torch.allclose(got[row], want[row], atol=1e-5),
                    f"Row {row} ({padding_side} padding) differs from the mean over its {int(mask[row].sum())} real tokens: "
                    "divide the masked sum by the number of real tokens of that row.")
    ok("mean_pool averages each row over its real tokens only (left and right padding)")


# --- 06 attention maps --------------------------------------------------------------------

def check_layer_pattern(layer_pattern, attentions, layer: int) -> None:
    """Exercise 6.1: ``layer_pattern(output.attentions, layer) -> attn_pattern[head, query, key]`` of the first text."""
    import torch

    from helpers.attention import layer_pattern as reference

    want = reference(attentions, layer)
    got = layer_pattern(attentions, layer)
    require(isinstance(got, torch.Tensor), f"Return a tensor, got {type(got).__name__}.")
    require(got.dim() != 4, f"Shape {tuple(got.shape)} still has the batch dimension: index [0] after picking the layer.")
    require(tuple(got.shape) == tuple(want.shape),
            f"Expected [head, query, key] = {tuple(want.shape)}, got {tuple(got.shape)}.")
    got = got.float().cpu()
    require(not torch.allclose(got, want.transpose(-1, -2)) or torch.allclose(want, want.transpose(-1, -2)),
            "Query and key are swapped: rows must be queries (each row sums to 1 and is zero above the diagonal).")
    for other in (layer - 1, layer + 1):
        if 0 <= other < len(attentions) and torch.allclose(got, reference(attentions, other)):
            require(False, f"This is the pattern of layer {other}, not {layer}: output.attentions[layer] is already layer `layer` (no +1 here).")
    require(torch.allclose(got, want, atol=1e-6), f"Values differ from output.attentions[{layer}][0].")
    row_sums = got.sum(dim=-1)
    require(torch.allclose(row_sums, torch.ones_like(row_sums), atol=1e-4), "Rows do not sum to 1: did you apply an extra softmax or normalisation?")
    ok(f"attn_pattern of layer {layer} has shape {tuple(got.shape)} = [head, query, key], rows sum to 1")


# --- 07 SAE activations -------------------------------------------------------------------

def check_jumprelu_encode(encode, sae) -> None:
    """Exercise 7.1: ``encode(x[..., d_model], sae) -> acts[..., d_sae]`` = ``(pre > threshold) * relu(pre)``."""
    import torch

    gen = torch.Generator().manual_seed(7)
    x = torch.randn(2, 5, sae.d_model, generator=gen) * 3
    x = x.to(device=sae.W_enc.device, dtype=sae.W_enc.dtype)
    want = sae.encode(x)
    pre = sae.pre_activations(x)
    got = encode(x, sae)
    require(isinstance(got, torch.Tensor), f"Return a tensor, got {type(got).__name__}.")
    require(tuple(got.shape) == tuple(want.shape), f"Expected shape {tuple(want.shape)} = [..., d_sae], got {tuple(got.shape)}: multiply x @ W_enc (W_enc is [d_model, d_sae]).")
    got = got.to(want.dtype)
    require(not torch.allclose(got, torch.relu(pre), atol=1e-4) or torch.allclose(want, torch.relu(pre), atol=1e-4),
            "That is a plain ReLU: JumpReLU also zeroes every pre-activation at or below the feature's threshold.")
    require(not torch.allclose(got, pre, atol=1e-4), "You returned the pre-activations: apply the JumpReLU.")
    no_bias = (pre - sae.b_enc > sae.threshold) * torch.relu(pre - sae.b_enc)
    require(not torch.allclose(got, no_bias, atol=1e-4) or torch.allclose(want, no_bias, atol=1e-4), "You forgot the encoder bias b_enc.")
    require((got >= 0).all(), "Activations must never be negative.")
    require(torch.allclose(got, want, atol=1e-4, rtol=1e-4),
            f"Activations differ from the reference (max difference {float((got - want).abs().max()):.4g}): "
            "acts = (pre > threshold) * relu(pre) with pre = x @ W_enc + b_enc.")
    ok(f"encode matches the JumpReLU SAE on {x.shape[0] * x.shape[1]} random vectors")
