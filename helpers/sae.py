"""Sparse autoencoders (Gemma Scope's JumpReLU) and where in the model they read.

Layer numbering, written down once: ``model(..., output_hidden_states=True).hidden_states``
has ``num_layers + 1`` entries. ``hidden_states[0]`` is the (scaled) token embedding and
``hidden_states[L + 1]`` is the output of decoder layer ``L`` — its ``resid_post``. Gemma
Scope's "layer_20" SAE was trained on the output of layer 20, i.e. ``hidden_states[21]``.
"""
from __future__ import annotations

from dataclasses import dataclass
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


# --------------------------------------------------------------------------- where the SAE reads


def as_one_text(input_ids: torch.Tensor) -> torch.Tensor:
    """``input_ids`` as ``[1, pos]`` (accepts ``[pos]`` or ``[1, pos]``); clear error otherwise."""
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


def check_layer(model, layer: int) -> int:
    """``layer`` if it is a decoder layer index ``0 .. num_layers - 1``, else an ``IndexError`` naming the range."""
    n = num_layers(model)
    if not isinstance(layer, int) or isinstance(layer, bool) or not 0 <= layer < n:
        raise IndexError(f"layer {layer!r} is out of range: this model has decoder layers 0..{n - 1}.")
    return layer


def check_hidden_index(model, index: int) -> int:
    """``index`` if it is a valid ``hidden_states`` index ``0 .. num_layers``, else an ``IndexError``."""
    n = num_layers(model)
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index <= n:
        raise IndexError(
            f"hidden_states index {index!r} is out of range: valid are 0..{n} "
            f"(0 = embeddings, L + 1 = output of decoder layer L)."
        )
    return index


def check_feature(sae: JumpReLUSAE, feature: int) -> int:
    """``feature`` if it is a feature index ``0 .. d_sae - 1``, else an ``IndexError`` naming the range."""
    if not isinstance(feature, int) or isinstance(feature, bool) or not 0 <= feature < sae.d_sae:
        raise IndexError(f"feature {feature!r} is out of range: this SAE has features 0..{sae.d_sae - 1}.")
    return feature


def context_window(model) -> int:
    """Longest sequence the model takes: ``config.max_position_embeddings``."""
    return int(model.config.max_position_embeddings)


def check_window(model, n_tokens: int) -> int:
    """``n_tokens`` if the model can read that many tokens at once, else a ``ValueError`` naming the limit."""
    window = context_window(model)
    if n_tokens > window:
        raise ValueError(f"{n_tokens} tokens do not fit the model's context window of {window} tokens: shorten the text.")
    return n_tokens


def check_position(n_positions: int, position: int) -> int:
    """``position`` as a non-negative token index (negative counts from the end), else an ``IndexError``."""
    if not -n_positions <= position < n_positions:
        raise IndexError(f"token position {position} is out of range: the text has {n_positions} tokens (0..{n_positions - 1}, or -1..-{n_positions}).")
    return position % n_positions


@torch.no_grad()
def all_hidden_states(model, input_ids: torch.Tensor) -> torch.Tensor:
    """``hidden_states[index, pos, d_model]`` of one text: index 0 = embeddings, ``L + 1`` = output of layer ``L``."""
    input_ids = as_one_text(input_ids).to(model.device)
    check_window(model, input_ids.shape[1])
    out = model(input_ids, output_hidden_states=True)
    return torch.stack([h[0] for h in out.hidden_states]).float()


@torch.no_grad()
def hidden_state(model, input_ids: torch.Tensor, index: int) -> torch.Tensor:
    """``hidden_states[index][0]`` as ``[pos, d_model]`` — the homework's reading (index = "layer")."""
    check_hidden_index(model, index)
    input_ids = as_one_text(input_ids).to(model.device)
    check_window(model, input_ids.shape[1])
    return model(input_ids, output_hidden_states=True).hidden_states[index][0].float()


def resid_post(model, input_ids: torch.Tensor, layer: int) -> torch.Tensor:
    """``resid_post[pos, d_model]``: the output of decoder layer ``layer`` (= ``hidden_states[layer + 1]``)."""
    return hidden_state(model, input_ids, check_layer(model, layer) + 1)


def sae_input(model, input_ids: torch.Tensor, layer: int, homework_indexing: bool = False) -> torch.Tensor:
    """The vectors an SAE of ``layer`` reads, ``[pos, d_model]``.

    ``homework_indexing=False``: ``resid_post`` of layer ``layer`` (``hidden_states[layer + 1]``, correct).
    ``homework_indexing=True``: ``hidden_states[layer]`` (the homework's reading, one layer early).
    """
    return hidden_state(model, input_ids, layer) if homework_indexing else resid_post(model, input_ids, layer)


# --------------------------------------------------------------------------- feature activations


def feature_activations(sae: JumpReLUSAE, resid: torch.Tensor, feature: int) -> torch.Tensor:
    """Activation of one feature at every position: ``resid[..., d_model]`` -> ``[...]``."""
    check_feature(sae, feature)
    pre = sae.pre_activations(resid)[..., feature]
    return (pre > sae.threshold[feature]) * torch.relu(pre)


def active_features(acts: torch.Tensor) -> torch.Tensor:
    """Number of active (non-zero) features at each position: ``acts[..., d_sae]`` -> ``[...]`` (the L0)."""
    return (acts > 0).sum(dim=-1)


def activation_density(feature_acts: torch.Tensor) -> float:
    """Fraction of tokens on which a feature is active (activation > 0)."""
    if feature_acts.numel() == 0:
        raise ValueError("activation_density needs at least one token activation.")
    return float((feature_acts > 0).float().mean())


def feature_across_hidden_states(sae: JumpReLUSAE, hidden: torch.Tensor, feature: int, position: int) -> torch.Tensor:
    """Activation of ``feature`` at one token for every hidden state: ``hidden[index, pos, d_model]`` -> ``[index]``."""
    position = check_position(hidden.shape[1], position)
    return feature_activations(sae, hidden[:, position, :], feature)


@dataclass(frozen=True)
class TokenActivation:
    """One token of a text and how strongly a feature fired on it."""

    activation: float
    token: str
    text_index: int
    position: int
    context: str


def top_activating_tokens(
    model, tokenizer, sae: JumpReLUSAE, texts: list[str], feature: int, layer: int, k: int = 10, context: int = 4
) -> tuple[list[TokenActivation], torch.Tensor]:
    """The ``k`` tokens of ``texts`` where ``feature`` fires most, and all activations (``<bos>`` excluded).

    Returns ``(top, acts)`` with ``acts[token]`` the feature's activation on every non-``<bos>`` token of
    every text, concatenated (use it for the activation density).
    """
    check_feature(sae, feature)
    check_layer(model, layer)
    if not texts:
        raise ValueError("top_activating_tokens needs at least one text.")
    found: list[TokenActivation] = []
    all_acts = []
    for text_index, text in enumerate(texts):
        ids = tokenizer(text, return_tensors="pt").input_ids[0]
        acts = feature_activations(sae, resid_post(model, ids, layer), feature).cpu()
        tokens = tokenizer.convert_ids_to_tokens(ids.tolist())
        start = 1 if tokenizer.bos_token_id is not None and ids[0].item() == tokenizer.bos_token_id else 0
        all_acts.append(acts[start:])
        for pos in range(start, len(tokens)):
            left = tokenizer.decode(ids[max(start, pos - context) : pos])
            shown = f"{left}[[{tokenizer.decode(ids[pos : pos + 1])}]]"
            found.append(TokenActivation(float(acts[pos]), tokens[pos], text_index, pos, shown))
    found.sort(key=lambda t: -t.activation)
    return found[:k], torch.cat(all_acts)


def neuronpedia_url(feature: int, layer: int = 20, width: str = "16k", embed: bool = True) -> str:
    """Neuronpedia page of a Gemma Scope residual-stream feature of gemma-2-2b."""
    url = f"https://neuronpedia.org/gemma-2-2b/{layer}-gemmascope-res-{width}/{feature}"
    return url + "?embed=true" if embed else url
