"""Numerics: inf/NaN caught where they appear, with the fix (``LAB_DTYPE=float32``) in the message."""
from __future__ import annotations

import torch

from helpers.errors import BackendError


class NumericsError(BackendError):
    """A tensor holds inf or NaN: typically a float16 overflow; the message names ``LAB_DTYPE=float32``."""


def check_finite(tensor: torch.Tensor, what: str) -> torch.Tensor:
    """``tensor`` unchanged if every value is finite; else :class:`NumericsError` naming cause and fix.

    ``what`` says which tensor it is (``"logits"``, ``"hidden_states[-1]"``) so the message points
    at the place where the overflow showed up.
    """
    if not torch.is_tensor(tensor) or not (tensor.is_floating_point() or tensor.is_complex()):
        return tensor
    finite = torch.isfinite(tensor)
    if bool(finite.all()):
        return tensor
    n_nan = int(torch.isnan(tensor).sum())
    n_inf = int((~finite).sum()) - n_nan
    dtype = str(tensor.dtype).replace("torch.", "")
    raise NumericsError(
        f"inf/NaN in {what}: {n_inf} inf and {n_nan} NaN of {tensor.numel()} values (dtype {dtype}). "
        "This is typical of float16 overflow: Gemma's activations can exceed float16's largest value, "
        "65504, and then turn into inf and NaN. Fix: set LAB_DTYPE=float32 and load the model again "
        "(import os; os.environ['LAB_DTYPE'] = 'float32'; then run the loading cell again): "
        "Gemma-2-2b-it in float32 needs about 10.5 GB, which fits a T4's 15 GB."
    )
