"""Checks of notebook 03 (tokenization): exercise 3.1 token_table."""
from __future__ import annotations

from helpers.checks.common import digest, ok, pinned, require, tokenizer_key, unpinned_note

NOTEBOOK = "03"
TEXTS = ["I love taking a Machine Learning course by Professor Hung-yi Lee, What about you?", "naïve café 😀 3.14"]


def _require_rows(got, what: str) -> list[tuple]:
    require(not hasattr(got, "columns"), f"{what} returned a DataFrame: return a list of (piece, id) tuples.")
    require(isinstance(got, list), f"{what} returned a {type(got).__name__}: return a list of (piece, id) tuples.")
    for item in got:
        require(isinstance(item, (tuple, list)) and len(item) == 2, f"{what}: each row should be a pair (piece, id), got {item!r}.")
        require(not (isinstance(item[0], int) and isinstance(item[1], str)), f"{what}: each row is (piece, id), not (id, piece).")
        require(isinstance(item[0], str), f"{what}: the piece should be a string, got {type(item[0]).__name__}.")
        require(isinstance(item[1], int) and not isinstance(item[1], bool),
                f"{what}: the id should be a Python int, got {type(item[1]).__name__} (use .tolist() or int(...)).")
    return [tuple(item) for item in got]


def check_token_table(token_table, tokenizer) -> None:
    """Exercise 3.1: ``token_table(tokenizer, text) -> [(piece, id)]`` for every token of ``tokenizer(text)``, ``<bos>`` first."""
    entry = pinned(NOTEBOOK, "check_token_table", tokenizer_key(tokenizer))
    for index, text in enumerate(TEXTS):
        what = f"token_table(tokenizer, {text[:30]!r}…)"
        got = _require_rows(token_table(tokenizer, text), what)
        require(tokenizer.convert_tokens_to_ids([p for p, _ in got]) == [i for _, i in got] or
                entry is not None and digest(got) == entry[str(index)]["decoded"],
                f"{what}: some pieces are not the vocabulary entries of their ids: use tokenizer.convert_ids_to_tokens.")
        want = None if entry is None else entry[str(index)]
        if want is not None and digest(got) == want["rows"]:
            continue
        require(not (want is not None and digest(got) == want["no_bos"]) and (got[:1] == [(tokenizer.bos_token, tokenizer.bos_token_id)]),
                f"{what}: <bos> is missing: the model reads tokenizer(text) with its default add_special_tokens=True "
                "(the original homework passed add_special_tokens=False and so listed one token less).")
        spelled = tokenizer.decode([i for _, i in got], skip_special_tokens=True)
        require(spelled.split() == text.split(),
                f"{what}: the ids do not spell the text: tokenize `text` itself.")
        if want is None:
            continue
        require(digest(got) != want["decoded"], f"{what}: these pieces are decoded text (' love'); use "
                                                "tokenizer.convert_ids_to_tokens, which keeps the '▁' space marker ('▁love').")
        require(False, f"{what}: not the rows of tokenizer(text): (convert_ids_to_tokens(id), id) for every id.")
    ok("token_table: (piece, id) for every token of tokenizer(text), <bos> first, pieces with '▁'" + unpinned_note(entry))
