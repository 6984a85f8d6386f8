"""Plumbing for chat messages: validation of a conversation and of a tokenizer, with clear errors.

A conversation is a list of messages ``{"role": "user" | "assistant", "content": str}``.
Gemma's chat template renders the ``assistant`` role as ``model``:

    <bos><start_of_turn>user
    Hello<end_of_turn>
    <start_of_turn>model

Rendering, tokenizing, generating and reading the next-token distribution are the exercises
of notebooks 01–03: they live in the notebooks, not here. :func:`check_messages` accepts only
``user`` and ``assistant``, alternating and starting with the user, so that a typo in a role is
caught before it reaches the model.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import torch

ROLES = ("user", "assistant")
Message = dict[str, str]


def check_text(text: object, what: str = "prompt") -> str:
    """Return ``text`` if it is a non-empty string, else raise a clear error."""
    if not isinstance(text, str):
        raise TypeError(f"the {what} must be a string, not {type(text).__name__}.")
    if not text.strip():
        raise ValueError(f"the {what} is empty: give the model some text, e.g. 'Name a color in a rainbow.'")
    return text


def require_chat_tokenizer(tokenizer: object) -> None:
    """Raise ``TypeError`` unless ``tokenizer`` is a Hugging Face tokenizer with a chat template."""
    if not callable(getattr(tokenizer, "apply_chat_template", None)):
        raise TypeError(
            f"expected a Hugging Face tokenizer (the second value of helpers.backend.load_lm()), got {type(tokenizer).__name__}."
        )
    if not getattr(tokenizer, "chat_template", None):
        raise TypeError(
            f"{type(tokenizer).__name__} has no chat template: use the instruction-tuned model's tokenizer "
            "(helpers.backend.load_lm() returns google/gemma-2-2b-it's, or the offline one with the same template)."
        )


def check_messages(messages: Sequence[Mapping[str, str]]) -> list[Message]:
    """Validate a conversation (non-empty, roles alternate user/assistant starting with user); return a copy."""
    if isinstance(messages, (str, bytes)) or not isinstance(messages, Sequence):
        raise TypeError("messages must be a list of {'role': ..., 'content': ...} dicts, e.g. [{'role': 'user', 'content': 'Hi'}].")
    if not messages:
        raise ValueError("the conversation is empty: start it with a user message {'role': 'user', 'content': text}.")
    checked = []
    for index, message in enumerate(messages):
        if not isinstance(message, Mapping) or "role" not in message or "content" not in message:
            raise TypeError(f"message {index} must be a dict with 'role' and 'content', got {message!r}.")
        expected = ROLES[index % 2]
        if message["role"] != expected:
            hint = " (Gemma's template has no system role: put instructions in the first user turn)" if message["role"] == "system" else ""
            raise ValueError(
                f"message {index} has role {message['role']!r}, expected {expected!r}: turns alternate user, assistant, "
                f"user, ... starting with the user; store the model's replies as 'assistant'{hint}."
            )
        content = message["content"]
        if expected == "user":
            check_text(content, f"content of message {index}")
        elif not isinstance(content, str):  # a model reply may be empty, but must be text
            raise TypeError(f"content of message {index} must be a string, not {type(content).__name__}.")
        checked.append({"role": message["role"], "content": content})
    return checked


def count_token(input_ids: torch.Tensor | Sequence[int], token_id: int) -> int:
    """How many times ``token_id`` occurs in ``input_ids`` (any shape)."""
    return int((torch.as_tensor(input_ids) == token_id).sum())
