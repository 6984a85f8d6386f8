"""Values the harness builds inside the sandbox for hidden tests (``spec.make(name, ...)``).

Runs inside the sandbox next to the student's code, so nothing here may be a solution of an
exercise: test filters are deliberately *not* top-k or top-p.
"""
from __future__ import annotations

import torch


def keep_ids_filter(ids):
    """A logits filter that keeps only the given token ids (all others -> -inf)."""
    keep = torch.tensor(sorted(set(int(i) for i in ids)), dtype=torch.long)

    def filter_fn(logits: torch.Tensor) -> torch.Tensor:
        mask = torch.ones_like(logits, dtype=torch.bool)
        mask[..., keep.to(logits.device)] = False
        return logits.masked_fill(mask, float("-inf"))
    return filter_fn


def argmax_filter():
    """A logits filter that keeps only the largest logit of each row (ties: the first)."""
    def filter_fn(logits: torch.Tensor) -> torch.Tensor:
        out = torch.full_like(logits, float("-inf"))
        index = logits.argmax(dim=-1, keepdim=True)
        return out.scatter(-1, index, logits.gather(-1, index))
    return filter_fn


def identity_filter():
    """A logits filter that keeps every token."""
    return lambda logits: logits


MAKERS = {
    "keep_ids_filter": keep_ids_filter,
    "argmax_filter": argmax_filter,
    "identity_filter": identity_filter,
}
