"""Input validation shared by the helpers: layers, heads, features, token ids and positions, counts.

Each ``check_*`` returns its value when it is valid and otherwise raises an error whose message names the
valid range (:class:`OutOfRangeError`, ``TypeError`` or ``ValueError``), instead of a stack trace from deep
inside torch or transformers (an embedding's ``IndexError``, a device-side assert on a GPU).
"""
from __future__ import annotations

import torch

from helpers.errors import CourseError


def as_one_text(input_ids: torch.Tensor) -> torch.Tensor:
    """``input_ids`` as ``[1, pos]`` (accepts ``[pos]`` or ``[1, pos]``); clear error otherwise."""
    if not torch.is_tensor(input_ids):
        raise TypeError(f"expected token ids as a torch tensor (tokenizer(text, return_tensors='pt').input_ids), "
                        f"got {type(input_ids).__name__}.")
    if input_ids.dim() == 1:
        input_ids = input_ids.unsqueeze(0)
    if input_ids.dim() != 2 or input_ids.shape[0] != 1:
        raise ValueError(f"expected the token ids of one text, shape [pos] or [1, pos]; got shape {tuple(input_ids.shape)}.")
    if input_ids.shape[1] == 0:
        raise ValueError("the text has no tokens: pass at least one token id.")
    return input_ids


def num_layers(model) -> int:
    """Number of decoder layers of a causal LM (26 for Gemma-2-2b and the offline model)."""
    return int(model.config.num_hidden_layers)


class OutOfRangeError(CourseError, IndexError, ValueError):
    """An index (layer, head, feature, token position, token id) outside its valid range; the message names the
    range. Both an ``IndexError`` and a ``ValueError``, so either ``except`` catches it."""


def check_index(value: object, name: str, n: int, what: str) -> int:
    """``value`` if it is an int in ``0 .. n - 1``; ``TypeError`` for a non-int (bool and float included),
    :class:`OutOfRangeError` naming the range otherwise. ``what`` says whose range it is ("this model has decoder layers")."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer in 0..{n - 1} ({what} 0..{n - 1}), got {value!r} "
                        f"({type(value).__name__}).")
    if not 0 <= value < n:
        raise OutOfRangeError(f"{name} {value!r} is out of range: {what} 0..{n - 1}.")
    return value


def check_count(value: object, name: str, minimum: int = 1, maximum: int | None = None, why: str = "") -> int:
    """``value`` if it is an int in ``minimum .. maximum``; ``TypeError`` for a non-int (bool and float included),
    ``ValueError`` naming the valid range otherwise (``why`` explains the maximum)."""
    upper = f"..{maximum}" if maximum is not None else " or more"
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be a whole number {minimum}{upper}, got {value!r} ({type(value).__name__}).")
    if value < minimum or (maximum is not None and value > maximum):
        raise ValueError(f"{name}={value} is out of range: use {minimum}{upper}{why}.")
    return value


def check_layer(model, layer: int) -> int:
    """``layer`` if it is a decoder layer index ``0 .. num_layers - 1``, else an error naming the range."""
    return check_index(layer, "layer", num_layers(model), "this model has decoder layers")


def check_feature(sae, feature: int) -> int:
    """``feature`` if it is a feature index ``0 .. d_sae - 1``, else an error naming the range."""
    return check_index(feature, "feature", sae.d_sae, "this SAE has features")


def context_window(model) -> int:
    """Longest sequence the model takes: ``config.max_position_embeddings``."""
    return int(model.config.max_position_embeddings)


def check_window(model, n_tokens: int) -> int:
    """``n_tokens`` if the model can read that many tokens at once, else a ``ValueError`` naming the limit."""
    window = context_window(model)
    if n_tokens > window:
        raise ValueError(f"{n_tokens} tokens do not fit the model's context window of {window} tokens "
                         "(model.config.max_position_embeddings): shorten the text.")
    return n_tokens


def vocab_size(model) -> int:
    """Number of token ids the model's embedding accepts (``0 .. vocab_size - 1``)."""
    return int(model.get_input_embeddings().num_embeddings)


def check_ids(model, input_ids) -> torch.Tensor:
    """``input_ids`` of one text as ``[1, pos]``: integer ids in ``0 .. vocab_size - 1`` that fit the context window.

    A clear ``TypeError``/``ValueError`` instead of an embedding's ``IndexError`` (or, on a GPU, a
    device-side assert that breaks the session) for float tensors, ids out of the vocabulary, or a
    text longer than ``model.config.max_position_embeddings``.
    """
    if not torch.is_tensor(input_ids):
        raise TypeError(f"expected token ids as a torch tensor (tokenizer(text, return_tensors='pt').input_ids), "
                        f"got {type(input_ids).__name__}.")
    if input_ids.is_floating_point() or input_ids.is_complex() or input_ids.dtype == torch.bool:
        raise TypeError(f"token ids must be integers (torch.long), got dtype {str(input_ids.dtype).replace('torch.', '')}: "
                        "pass tokenizer(text, return_tensors='pt').input_ids, or ids.long().")
    input_ids = as_one_text(input_ids)
    n = vocab_size(model)
    low, high = int(input_ids.min()), int(input_ids.max())
    if low < 0 or high >= n:
        bad = low if low < 0 else high
        raise OutOfRangeError(f"token id {bad} is out of range: this model's vocabulary has ids 0..{n - 1}; "
                              "use ids from this model's tokenizer.")
    check_window(model, input_ids.shape[1])
    return input_ids


def check_position(n_positions: int, position: int) -> int:
    """``position`` as a non-negative token index (negative counts from the end), else an error naming the range."""
    if isinstance(position, bool) or not isinstance(position, int):
        raise TypeError(f"a token position must be an integer, got {position!r} ({type(position).__name__}).")
    if not -n_positions <= position < n_positions:
        raise OutOfRangeError(f"token position {position} is out of range: the text has {n_positions} tokens "
                              f"(0..{n_positions - 1}, or -1..-{n_positions}).")
    return position % n_positions
