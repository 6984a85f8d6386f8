"""Contextual embeddings from a causal LM: the padded batch, word positions, cosine, t-SNE.

Naming: ``last_hidden[batch, pos, d_model]`` is the final hidden state (after the final norm,
``hidden_states[-1]``) of a padded batch; ``attention_mask[batch, pos]`` is 1 on real tokens
and 0 on padding. Pooling a sentence into one vector (exercise 5.1, ``mean_pool``) and a word's
vector in context (exercise 5.2, ``word_vector``) are written in notebook 05, not here; this
module keeps the plumbing around them and the homework's padded mean, shown as a mistake.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from helpers.numerics import check_finite
from helpers.validation import check_count, check_window


def mean_pool_with_padding(last_hidden: torch.Tensor) -> torch.Tensor:
    """The homework's pooling: plain mean over ALL positions, padding included -> ``[batch, d_model]``."""
    return last_hidden.mean(dim=1)


@dataclass(frozen=True)
class EncodedBatch:
    """A padded batch and its final hidden states."""

    input_ids: torch.Tensor  # [batch, pos]
    attention_mask: torch.Tensor  # [batch, pos]
    last_hidden: torch.Tensor  # [batch, pos, d_model], float32 on the CPU
    padding_side: str


def _check_sentences(sentences: list[str]) -> None:
    """Clear errors for a bare string, an empty list or an empty sentence."""
    if isinstance(sentences, (str, bytes)):
        raise TypeError(f"pass a list of sentences, not one string: [{sentences!r}].")
    if not sentences:
        raise ValueError("the sentence list is empty: pass at least one sentence.")
    for i, sentence in enumerate(sentences):
        if not isinstance(sentence, str) or not sentence.strip():
            raise ValueError(f"sentence {i} is empty or not a string: {sentence!r}.")


@torch.no_grad()
def encode_batch(model, tokenizer, sentences: list[str]) -> EncodedBatch:
    """Run a padded batch through the model; position ids follow the mask, so padding does not shift them."""
    _check_sentences(sentences)
    enc = tokenizer(sentences, return_tensors="pt", padding=True)
    check_window(model, enc.input_ids.shape[1])
    mask = enc.attention_mask
    position_ids = (mask.cumsum(dim=1) - 1).clamp(min=0)
    out = model(
        input_ids=enc.input_ids.to(model.device),
        attention_mask=mask.to(model.device),
        position_ids=position_ids.to(model.device),
        output_hidden_states=True,
    )
    # only real tokens: what a padding position computes is never used
    check_finite(out.hidden_states[-1][mask.to(model.device).bool()], "hidden_states[-1]")
    last_hidden = out.hidden_states[-1].float().cpu()
    return EncodedBatch(enc.input_ids, mask, last_hidden, tokenizer.padding_side)


def cosine_similarity_matrix(vectors: torch.Tensor) -> torch.Tensor:
    """``sim[i, j]`` = cosine similarity of ``vectors[i]`` and ``vectors[j]`` for ``vectors[n, d]``."""
    if vectors.dim() != 2 or vectors.shape[0] == 0:
        raise ValueError(f"expected vectors of shape [n, d] with n >= 1, got {tuple(vectors.shape)}.")
    unit = torch.nn.functional.normalize(vectors.float(), dim=-1)
    return unit @ unit.T


def centered(vectors: torch.Tensor) -> torch.Tensor:
    """``vectors[n, d]`` minus their mean vector: removes the direction all of them share."""
    if vectors.dim() != 2 or vectors.shape[0] < 2:
        raise ValueError(f"centering needs vectors of shape [n, d] with n >= 2, got {tuple(vectors.shape)}.")
    return vectors - vectors.mean(dim=0, keepdim=True)


def check_perplexity(n_points: int, perplexity: float) -> float:
    """``perplexity`` if t-SNE accepts it for ``n_points`` (``0 < perplexity < n_points``), else a ``ValueError``."""
    if n_points < 2:
        raise ValueError(f"t-SNE needs at least 2 points, got {n_points}.")
    if not 0 < perplexity < n_points:
        raise ValueError(
            f"perplexity must be > 0 and smaller than the number of points ({n_points}), got {perplexity}: "
            f"try perplexity={max(1, (n_points - 1) // 2)} for {n_points} points."
        )
    return perplexity


EXACT_TSNE_MAX_POINTS = 500  # below this, exact t-SNE is fast; Barnes-Hut only pays off for many points


def tsne_2d(
    vectors: torch.Tensor | np.ndarray, perplexity: float, seed: int = 0, max_iter: int = 1000, init: str = "pca"
) -> np.ndarray:
    """``points[n, 2]``: scikit-learn t-SNE of ``vectors[n, d]`` (``init`` "pca" or "random", seeded; exact for small n).

    With ``init="pca"`` the start is deterministic and the seed barely matters; ``init="random"``
    shows how much the map depends on where the optimisation starts.

    The exact method is used up to ``EXACT_TSNE_MAX_POINTS`` points: on a handful of points it takes
    milliseconds, where the default Barnes-Hut method took ~25 s on a busy 2-core machine.
    """
    from sklearn.manifold import TSNE

    data = np.asarray(vectors.float().cpu() if isinstance(vectors, torch.Tensor) else vectors, dtype=np.float32)
    if data.ndim != 2:
        raise ValueError(f"expected vectors of shape [n, d], got {data.shape}.")
    check_finite(torch.from_numpy(data), "the vectors given to t-SNE")
    check_perplexity(data.shape[0], perplexity)
    if init not in ("pca", "random"):
        raise ValueError(f"init must be 'pca' or 'random', got {init!r}.")
    check_count(max_iter, "max_iter", 250)  # scikit-learn's minimum
    check_count(seed, "seed", 0)
    method = "exact" if data.shape[0] <= EXACT_TSNE_MAX_POINTS else "barnes_hut"
    tsne = TSNE(n_components=2, perplexity=perplexity, random_state=seed, max_iter=max_iter, init=init, method=method)
    return tsne.fit_transform(data)
