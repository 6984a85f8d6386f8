"""Chat messages → Gemma's templated prompt, token tables and the next-token top-k table.

A conversation is a list of messages ``{"role": "user" | "assistant", "content": str}``.
Gemma's chat template renders the ``assistant`` role as ``model``:

    <bos><start_of_turn>user
    Hello<end_of_turn>
    <start_of_turn>model

The template already starts with ``<bos>``. Tokenizing that *string* again with the
tokenizer's default settings adds a second ``<bos>``: use :func:`encode_messages`
(template and tokens in one step) or ``add_special_tokens=False``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import torch

ROLES = ("user", "assistant")
Message = dict[str, str]


@dataclass(frozen=True)
class TopTokens:
    """The ``k`` most likely next tokens: ids ``[k]``, pieces and probabilities ``[k]`` (descending)."""

    ids: torch.Tensor
    pieces: list[str]
    probs: torch.Tensor

    def rows(self) -> list[tuple[int, int, str, float]]:
        """``(rank, id, piece, probability)`` rows, rank starting at 1."""
        return [(rank, int(i), piece, float(p)) for rank, (i, piece, p) in enumerate(zip(self.ids, self.pieces, self.probs), 1)]


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


def user_message(text: str) -> Message:
    """One user turn, ``{"role": "user", "content": text}``."""
    return {"role": "user", "content": check_text(text)}


def check_messages(messages: Sequence[Mapping[str, str]]) -> list[Message]:
    """Validate a conversation (non-empty, roles alternate user/assistant starting with user); return a copy."""
    if isinstance(messages, (str, bytes)) or not isinstance(messages, Sequence):
        raise TypeError("messages must be a list of {'role': ..., 'content': ...} dicts, e.g. [user_message('Hi')].")
    if not messages:
        raise ValueError("the conversation is empty: start it with user_message(text).")
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


def add_turn(messages: Sequence[Mapping[str, str]], role: str, text: str) -> list[Message]:
    """A new history: ``messages`` plus one ``role`` turn (``user`` or ``assistant``), alternation checked."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES} (the template renders 'assistant' as 'model'), got {role!r}.")
    history = check_messages(messages) if messages else []
    return check_messages([*history, {"role": role, "content": text}])


def as_messages(prompt: str | Sequence[Mapping[str, str]]) -> list[Message]:
    """A string becomes one user turn; a list of messages is validated."""
    return [user_message(prompt)] if isinstance(prompt, str) else check_messages(prompt)


def render(tokenizer, prompt: str | Sequence[Mapping[str, str]], add_generation_prompt: bool = True) -> str:
    """The exact templated string the model reads (``<bos>`` included, ends with ``<start_of_turn>model\\n``)."""
    require_chat_tokenizer(tokenizer)
    return tokenizer.apply_chat_template(as_messages(prompt), tokenize=False, add_generation_prompt=add_generation_prompt)


def encode_messages(tokenizer, prompt: str | Sequence[Mapping[str, str]], add_generation_prompt: bool = True) -> dict[str, torch.Tensor]:
    """Template and tokenize in one step: ``{"input_ids": [1, seq], "attention_mask": [1, seq]}`` with one ``<bos>``."""
    require_chat_tokenizer(tokenizer)
    encoding = tokenizer.apply_chat_template(
        as_messages(prompt), add_generation_prompt=add_generation_prompt, return_tensors="pt", return_dict=True
    )
    return {"input_ids": encoding["input_ids"], "attention_mask": encoding["attention_mask"]}


def encode_text(tokenizer, text: str, add_special_tokens: bool = True) -> dict[str, torch.Tensor]:
    """Tokenize plain text (no template): ``{"input_ids": [1, seq], "attention_mask": [1, seq]}``.

    With the default ``add_special_tokens=True`` Gemma's tokenizer prepends ``<bos>``; pass
    ``False`` for a string that already starts with one (a rendered template).
    """
    check_text(text)
    encoding = tokenizer(text, return_tensors="pt", add_special_tokens=add_special_tokens)
    return {"input_ids": encoding["input_ids"], "attention_mask": encoding["attention_mask"]}


def count_token(input_ids: torch.Tensor, token_id: int) -> int:
    """How many times ``token_id`` occurs in ``input_ids``."""
    return int((input_ids == token_id).sum())


def pieces(tokenizer, input_ids: torch.Tensor | Sequence[int]) -> list[str]:
    """Token pieces (``▁`` marks a leading space) of a 1-D id sequence or a ``[1, seq]`` batch."""
    ids = torch.as_tensor(input_ids)
    if ids.dim() == 2:
        if ids.shape[0] != 1:
            raise ValueError(f"pieces() takes one sequence, got a batch of {ids.shape[0]}.")
        ids = ids[0]
    return tokenizer.convert_ids_to_tokens(ids.tolist())


def token_table(tokenizer, text: str, add_special_tokens: bool = True):
    """A ``pandas.DataFrame`` with one row per token: ``position``, ``id``, ``piece`` (with ``▁``), ``text`` (decoded)."""
    import pandas as pd

    ids = encode_text(tokenizer, text, add_special_tokens=add_special_tokens)["input_ids"][0].tolist()
    return pd.DataFrame(
        {
            "position": range(len(ids)),
            "id": ids,
            "piece": tokenizer.convert_ids_to_tokens(ids),
            "text": [tokenizer.decode([i]) for i in ids],
        }
    )


@torch.no_grad()
def next_token_probs(model, inputs: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """Probabilities ``[vocab]`` of the token that follows the (single) prompt in ``inputs``."""
    input_ids = inputs["input_ids"]
    if input_ids.dim() != 2 or input_ids.shape[0] != 1:
        raise ValueError(f"expected input_ids of shape [1, seq] (one prompt), got {tuple(input_ids.shape)}.")
    dev = model.device
    logits = model(**{k: v.to(dev) for k, v in inputs.items()}).logits[0, -1].float()
    if not torch.isfinite(logits).all():
        raise FloatingPointError("the model returned inf/NaN logits: in float16 Gemma can overflow; set LAB_DTYPE=float32.")
    return torch.softmax(logits, dim=-1).cpu()


def top_next_tokens(model, tokenizer, inputs: Mapping[str, torch.Tensor], k: int = 10) -> TopTokens:
    """The ``k`` most likely next tokens after the prompt in ``inputs``."""
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise ValueError(f"k must be a positive integer (how many tokens to list), got {k!r}.")
    probs = next_token_probs(model, inputs)
    top = torch.topk(probs, min(k, probs.numel()))
    return TopTokens(ids=top.indices, pieces=tokenizer.convert_ids_to_tokens(top.indices.tolist()), probs=top.values)
