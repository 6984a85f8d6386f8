"""Hidden test cases: what the grader sends into the sandbox and how it compares what comes out."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass(frozen=True)
class Ref:
    """An object the harness provides inside the sandbox: model, tokenizer, cross_encoder, sae."""

    name: str


@dataclass(frozen=True)
class Make:
    """A value the harness builds inside the sandbox with ``harness.MAKERS[name](*args, **kwargs)``."""

    name: str
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)


def ref(name: str) -> Ref:
    """``ref("model")``: the loaded model (also ``tokenizer``, ``cross_encoder``, ``sae``)."""
    if name not in ("model", "tokenizer", "cross_encoder", "sae"):
        raise ValueError(f"unknown ref {name!r}: use model, tokenizer, cross_encoder or sae.")
    return Ref(name)


def make(name: str, *args, **kwargs) -> Make:
    """``make("keep_ids_filter", [3, 5])``: a value (e.g. a function) built inside the sandbox."""
    return Make(name, tuple(args), dict(kwargs))


# A comparison takes (got, expected) as plain values (see harness.to_plain) and returns
# (passed, message). The message is shown to the student when the case fails.
Compare = Callable[[Any, Any], "tuple[bool, str]"]


@dataclass
class Case:
    """One hidden test: call the exercise function with ``args``/``kwargs`` and compare."""

    name: str
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    compare: Compare | None = None
    weight: float = 1.0
    # What the case varies, in words a student may read in the feedback ("ties in the logits", "another layer"):
    # never a hidden value. Empty: the feedback uses ``name`` (written in the same spirit).
    kind: str = ""
    # A case that a constant or the input itself would pass (p = 1, k = vocabulary, no padding, one token, an empty
    # list): it pays only when the named non-trivial case of the same exercise passes too.
    requires: str | None = None
