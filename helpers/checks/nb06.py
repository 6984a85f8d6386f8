"""Checks of notebook 06 (attention maps): exercises 6.1 generation_attention, 6.2 attention_labels."""
from __future__ import annotations

from helpers.checks.common import (as_tensor, close, distinct, float_atol, max_diff, model_finite, model_key, ok, pinned, require,
                                   require_finite, tensor_values, unpinned_note)

NOTEBOOK = "06"
CHECK_TEXT_06 = "The cat sat on the warm mat because the sun was shining"


def attention_cases(n_layers: int) -> list[tuple[int, int]]:
    """``(prompt_len, layer)`` of check 6.1."""
    return [(3, min(10, n_layers - 1)), (1, 0), (6, n_layers - 1)]


def _require_rows_shape(got, n_heads: int, G: int, T: int, where: str) -> None:
    require(got.dim() != 4, f"Shape {tuple(got.shape)} still has the batch dimension: take [0] of output.attentions[layer].")
    require(got.dim() != 2, f"Shape {tuple(got.shape)} is one head: return every head of the layer, [head, G, T-1].")
    require(got.dim() == 3 and got.shape[0] == n_heads, f"Expected [head, G, T-1] = {(n_heads, G, T - 1)}, got {tuple(got.shape)} {where}.")
    require(got.shape[2] != T,
            f"{T} keys {where}: expected T-1 = {T - 1}, one per fed position (positions 0..T-2).")
    require(got.shape[2] == T - 1, f"Expected T-1 = {T - 1} keys (positions 0..T-2), got {got.shape[2]} {where}.")
    require(got.shape[1] != T - 1 or G == T - 1,
            f"{T - 1} rows {where}: that is every query. Keep the G = {G} rows of the queries that produced a generated "
            "token: positions prompt_len-1 .. T-2.")
    require(got.shape[1] == G,
            f"Expected G = {G} rows (one per generated token), got {got.shape[1]} {where}. Row i is the query at "
            "position prompt_len-1+i: slice [prompt_len-1:] of the query axis.")


def _rows_properties(got, prompt_len: int, G: int, T: int, atol: float, where: str) -> None:
    import torch

    sums = got.sum(dim=-1)
    require(torch.allclose(sums, torch.ones_like(sums), atol=atol),
            f"Row sums range from {float(sums.min()):.3f} to {float(sums.max()):.3f}, not 1 {where}: each row is a softmax "
            "over the keys (the last axis). Did you swap query and key, or apply another softmax/normalisation?")
    future = torch.arange(T - 1)[None, :] > (torch.arange(G) + prompt_len - 1)[:, None]
    require(float(got[:, future].abs().max()) <= atol if bool(future.any()) else True,
            f"Some rows put weight on keys after their query {where}: the causal mask makes those 0. "
            "Are query and key swapped (transposed)?")


def _not_late(got, correct: dict, G: int, atol: float, where: str) -> None:
    if G > 1:
        late = tensor_values(as_tensor(correct)[:, 1:])
        require(not close(got[:, :-1], late, atol), f"Your rows are one position late {where}: row i must be the query at "
                                                    "position prompt_len-1+i (the token fed when generated token i was "
                                                    "predicted), not generated token i's own row.")


def _rows_against_pinned(got, want: dict, layer: int, atol: float, where: str) -> None:
    correct = want["correct"]
    for other in (layer - 1, layer + 1):
        sketch = want.get(f"layer_{other}")
        if distinct(sketch, atol) and close(got, sketch, atol):
            require(False, f"These are the rows of layer {other}, not {layer}: output.attentions[layer] is already layer `layer`.")
    diff = max_diff(got, correct)
    require(diff <= atol, f"Values differ from the expected rows by up to {diff:.3g} {where}: rows of layer `layer`, "
                          "every head, from one forward pass with attention weights returned.")


def check_generation_attention(generation_attention, model, tokenizer) -> None:
    """Exercise 6.1: ``generation_attention(model, ids, prompt_len, layer) -> rows[head, G, T-1]`` (pinned rows of a KV-cache loop)."""
    import torch

    from helpers.attention import check_eager

    check_eager(model)
    ids = tokenizer(CHECK_TEXT_06, return_tensors="pt").input_ids
    model_finite(model, ids)
    n_layers, n_heads, T = model.config.num_hidden_layers, model.config.num_attention_heads, ids.shape[1]
    atol = float_atol(model)
    entry = pinned(NOTEBOOK, "check_generation_attention", model_key(model))
    for prompt_len, layer in attention_cases(n_layers):
        G = T - prompt_len
        original = ids.clone()
        got = generation_attention(model, ids, prompt_len, layer)
        where = f"(prompt_len={prompt_len}, layer={layer}, T={T})"
        require(torch.equal(ids, original), "generation_attention changed `ids` in place: slice it, do not modify it.")
        require_finite(got, f"generation_attention {where}", lambda: torch.zeros(1), model)
        require(isinstance(got, torch.Tensor), f"Return a tensor, got {type(got).__name__}.")
        got = got.detach().float().cpu()
        _require_rows_shape(got, n_heads, G, T, where)
        want = None if entry is None else entry[f"{prompt_len}|{layer}"]
        if want is not None:
            _not_late(got, want["correct"], G, atol, where)
        _rows_properties(got, prompt_len, G, T, atol, where)
        if want is not None:
            _rows_against_pinned(got, want, layer, atol, where)
    ok(f"rows match the pinned rows of a KV-cache loop (prompt once, then one token per step) on 3 cases; each row sums "
       f"to 1 (±{atol:g})" + unpinned_note(entry))


def _label_lists(result) -> tuple[list[str], list[str]]:
    require(isinstance(result, tuple) and len(result) == 2, "Return a pair: (row_labels, column_labels).")
    rows, cols = result
    require(isinstance(rows, list) and isinstance(cols, list) and all(isinstance(t, str) for t in rows + cols),
            "Both label lists must be lists of strings (token pieces).")
    return rows, cols


def label_inputs(tokenizer):
    """``[(text, prompt_len, ids)]`` of check 6.2 (the second with a generated <eos> in the middle)."""
    import torch

    cases = []
    for text, prompt_len in [(CHECK_TEXT_06, 3), ("Google is a search engine", 2)]:
        ids = tokenizer(text, return_tensors="pt").input_ids
        if text.startswith("Google") and tokenizer.eos_token_id is not None:  # as a loop that never stops makes
            ids = torch.cat([ids[:, :4], torch.tensor([[tokenizer.eos_token_id]]), ids[:, 4:]], dim=1)
        cases.append((text, prompt_len, ids))
    return cases


def check_attention_labels(attention_labels, tokenizer) -> None:
    """Exercise 6.2: ``attention_labels(tokenizer, ids, prompt_len) -> (row labels [G], column labels [T-1])``."""
    for text, prompt_len, ids in label_inputs(tokenizer):
        T, G = ids.shape[1], ids.shape[1] - prompt_len
        where = f"(text {text!r}, prompt_len={prompt_len}, T={T})"
        rows, cols = _label_lists(attention_labels(tokenizer, ids.clone(), prompt_len))
        require(len(cols) == T - 1, f"Expected T-1 = {T - 1} column labels {where}, got {len(cols)}.")
        require(cols[0] == tokenizer.bos_token,
                f"Column 0 is {cols[0]!r} {where}, but position 0 holds {tokenizer.bos_token}: label the ids themselves, "
                "position by position (tokenizer.convert_ids_to_tokens), not a re-tokenized text.")
        require(any("▁" in c for c in cols), "Your labels lost the '▁' space marker (decode() drops it): use "
                                             "tokenizer.convert_ids_to_tokens.")
        require(tokenizer.convert_tokens_to_ids(cols) == ids[0, :-1].tolist(),
                f"Column labels {where} are not the tokens at positions 0..T-2: label the ids with tokenizer.convert_ids_to_tokens.")
        require(len(rows) == G, f"Expected G = {G} row labels (one per generated token) {where}, got {len(rows)}.")
        as_ids = tokenizer.convert_tokens_to_ids(rows)
        require(as_ids != ids[0, prompt_len:].tolist() or ids[0, prompt_len - 1:-1].tolist() == ids[0, prompt_len:].tolist(),
                f"Row labels {where} are one position late: row i is the query at position prompt_len-1+i.")
        require(as_ids == ids[0, prompt_len - 1:-1].tolist(),
                f"Row labels {where} are not the query tokens at positions prompt_len-1 .. T-2.")
    ok("labels name the token at each position: columns <bos> .. T-2, rows = the query tokens prompt_len-1 .. T-2")
