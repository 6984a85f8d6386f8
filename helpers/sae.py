"""Sparse autoencoders (Gemma Scope's JumpReLU) and where in the model they read.

Layer numbering, written down once: ``model(..., output_hidden_states=True).hidden_states``
has ``num_layers + 1`` entries. ``hidden_states[0]`` is the (scaled) token embedding and
``hidden_states[L + 1]`` is the output of decoder layer ``L`` — its ``resid_post``. Gemma
Scope's "layer_20" SAE was trained on the output of layer 20, i.e. ``hidden_states[21]``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

NPZ_KEYS = ("W_enc", "W_dec", "b_enc", "b_dec", "threshold")


class JumpReLUSAE(nn.Module):
    """JumpReLU SAE: ``acts = (pre > threshold) * relu(pre)`` with ``pre = x @ W_enc + b_enc``."""

    def __init__(self, d_model: int, d_sae: int):
        super().__init__()
        self.d_model, self.d_sae = d_model, d_sae
        self.W_enc = nn.Parameter(torch.zeros(d_model, d_sae))  # [d_model, d_sae]
        self.W_dec = nn.Parameter(torch.zeros(d_sae, d_model))  # [d_sae, d_model]
        self.b_enc = nn.Parameter(torch.zeros(d_sae))
        self.b_dec = nn.Parameter(torch.zeros(d_model))
        self.threshold = nn.Parameter(torch.zeros(d_sae))

    @classmethod
    def from_npz(cls, path: str | Path) -> "JumpReLUSAE":
        """Load Gemma Scope's ``params.npz`` layout (five float arrays) into a float32 module."""
        with np.load(path) as params:
            missing = [key for key in NPZ_KEYS if key not in params.files]
            if missing:
                raise ValueError(f"{path} is not a Gemma Scope SAE file: missing arrays {missing} (expected {list(NPZ_KEYS)}).")
            arrays = {key: torch.from_numpy(np.asarray(params[key], dtype=np.float32)) for key in NPZ_KEYS}
        d_model, d_sae = arrays["W_enc"].shape
        expected = {"W_dec": (d_sae, d_model), "b_enc": (d_sae,), "b_dec": (d_model,), "threshold": (d_sae,)}
        for key, shape in expected.items():
            if tuple(arrays[key].shape) != shape:
                raise ValueError(f"{path}: {key} has shape {tuple(arrays[key].shape)}, expected {shape} for W_enc {(d_model, d_sae)}.")
        sae = cls(d_model, d_sae)
        with torch.no_grad():
            for key, value in arrays.items():
                getattr(sae, key).copy_(value)
        return sae.requires_grad_(False).eval()

    def pre_activations(self, x: torch.Tensor) -> torch.Tensor:
        """``x @ W_enc + b_enc`` for ``x [..., d_model]`` -> ``[..., d_sae]`` (x cast to the SAE's dtype)."""
        if x.shape[-1] != self.d_model:
            raise ValueError(f"SAE expects vectors of size d_model={self.d_model}, got last dimension {x.shape[-1]}.")
        x = x.to(device=self.W_enc.device, dtype=self.W_enc.dtype)
        return x @ self.W_enc + self.b_enc

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Feature activations ``[..., d_sae]``: JumpReLU of the pre-activations."""
        pre = self.pre_activations(x)
        return (pre > self.threshold) * torch.relu(pre)

    def decode(self, acts: torch.Tensor) -> torch.Tensor:
        """Reconstruction ``[..., d_model]`` from feature activations."""
        return acts @ self.W_dec + self.b_dec

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruct ``x`` through the sparse code."""
        return self.decode(self.encode(x))
