"""Pinned data of notebook 03's check: the instructor solution and the usual mistakes on the visible inputs."""
from __future__ import annotations

from helpers.checks import nb03 as checks
from helpers.checks.common import digest, tokenizer_key


def pin_token_table(sol, objects) -> dict:
    _, tokenizer = objects.lm
    entry = {}
    for index, text in enumerate(checks.TEXTS):
        rows = [tuple(row) for row in sol["token_table"](tokenizer, text)]
        decoded = [(tokenizer.decode([i]), i) for _, i in rows]  # the mistake: decode() drops the '▁' marker
        entry[str(index)] = {"rows": digest(rows), "no_bos": digest(rows[1:]), "decoded": digest(decoded)}
    return {tokenizer_key(tokenizer): entry}


PINNERS = {"check_token_table": pin_token_table}
