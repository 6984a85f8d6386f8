"""Sparse autoencoders (Gemma Scope's JumpReLU): loading, and plumbing around the activations.

Notebook 07's exercises compute the activations: which ``hidden_states`` entry belongs to which
layer (7.1), the JumpReLU encoder (7.2), one feature per token (7.3) and across layers (7.4). This
module loads the SAE's parameters, checks indices, and summarises activations that those
functions computed (``active_features``, ``activation_density``, ``top_activating_tokens``).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from helpers.numerics import check_finite
from helpers.validation import check_count

NPZ_KEYS = ("W_enc", "W_dec", "b_enc", "b_dec", "threshold")


class JumpReLUSAE(nn.Module):
    """Gemma Scope's JumpReLU SAE parameters: ``W_enc [d_model, d_sae]``, ``b_enc``, ``threshold [d_sae]``,
    ``W_dec [d_sae, d_model]``, ``b_dec [d_model]``. Encoding is exercise 7.2; :meth:`decode` maps back."""

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

    def decode(self, acts: torch.Tensor) -> torch.Tensor:
        """Reconstruction ``[..., d_model]`` from feature activations ``[..., d_sae]``."""
        if acts.shape[-1] != self.d_sae:
            raise ValueError(f"decode expects activations of size d_sae={self.d_sae}, got last dimension {acts.shape[-1]}.")
        check_finite(acts, "SAE activations")
        return acts.to(device=self.W_dec.device, dtype=self.W_dec.dtype) @ self.W_dec + self.b_dec


# --------------------------------------------------------------------------- summaries of activations


def active_features(acts: torch.Tensor) -> torch.Tensor:
    """Number of active (non-zero) features at each position: ``acts[..., d_sae]`` -> ``[...]`` (the L0)."""
    return (acts > 0).sum(dim=-1)


def activation_density(feature_acts: torch.Tensor) -> float:
    """Fraction of tokens on which a feature is active (activation > 0)."""
    if feature_acts.numel() == 0:
        raise ValueError("activation_density needs at least one token activation.")
    return float((feature_acts > 0).float().mean())


@dataclass(frozen=True)
class TokenActivation:
    """One token of a text and how strongly a feature fired on it."""

    activation: float
    token: str
    text_index: int
    position: int
    context: str


def top_activating_tokens(
    tokenizer, texts: list[str], activations: list[torch.Tensor], k: int = 10, context: int = 4
) -> tuple[list[TokenActivation], torch.Tensor]:
    """The ``k`` tokens of ``texts`` where a feature fires most, and all its activations (``<bos>`` excluded).

    ``activations[i][pos]`` is the feature's activation on token ``pos`` of ``tokenizer(texts[i])``
    (``<bos>`` included), as computed by your ``feature_activations``. Returns ``(top, acts)`` with
    ``acts`` the activations of every non-``<bos>`` token of every text, concatenated (use it for
    the activation density).
    """
    if isinstance(texts, str) or not texts:
        raise ValueError("top_activating_tokens needs a list of at least one text.")
    if len(activations) != len(texts):
        raise ValueError(f"{len(texts)} texts but {len(activations)} activation tensors: pass one per text.")
    check_count(k, "k (how many top tokens)", 1)
    check_count(context, "context (tokens shown before each one)", 0)
    found: list[TokenActivation] = []
    kept = []
    for text_index, (text, acts) in enumerate(zip(texts, activations)):
        ids = tokenizer(text, return_tensors="pt").input_ids[0]
        acts = torch.as_tensor(acts).detach()
        check_finite(acts, f"the SAE activations of text {text_index}")
        acts = acts.float().cpu().reshape(-1)
        if acts.numel() != len(ids):
            raise ValueError(f"text {text_index} has {len(ids)} tokens (<bos> included) but {acts.numel()} activations.")
        tokens = tokenizer.convert_ids_to_tokens(ids.tolist())
        start = 1 if tokenizer.bos_token_id is not None and ids[0].item() == tokenizer.bos_token_id else 0
        kept.append(acts[start:])
        for pos in range(start, len(tokens)):
            left = tokenizer.decode(ids[max(start, pos - context) : pos])
            shown = f"{left}[[{tokenizer.decode(ids[pos : pos + 1])}]]"
            found.append(TokenActivation(float(acts[pos]), tokens[pos], text_index, pos, shown))
    if k > len(found):
        raise ValueError(f"k={k} is more than the {len(found)} tokens of these texts (<bos> excluded): use k in 1..{len(found)}.")
    found.sort(key=lambda t: -t.activation)
    return found[:k], torch.cat(kept)


def neuronpedia_url(feature: int, layer: int = 20, width: str = "16k", embed: bool = True) -> str:
    """Neuronpedia page of a Gemma Scope residual-stream feature of gemma-2-2b."""
    check_count(feature, "feature", 0)
    check_count(layer, "layer", 0, 25, " (gemma-2-2b has decoder layers 0..25)")
    if width not in ("16k", "65k", "131k", "262k", "524k", "1m"):
        raise ValueError(f"width {width!r} is not a Gemma Scope residual SAE width: use '16k', '65k', '131k', '262k', '524k' or '1m'.")
    url = f"https://neuronpedia.org/gemma-2-2b/{layer}-gemmascope-res-{width}/{feature}"
    return url + "?embed=true" if embed else url
