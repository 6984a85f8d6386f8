"""Figures for the notebooks (seaborn/matplotlib). Each function draws one figure and returns its ``Axes``;
the numbers come from the computing helpers, never from here.
"""
from __future__ import annotations

import importlib
from typing import Mapping, Sequence


class _OnFirstUse:
    """A module imported when one of its names is first used: matplotlib and seaborn take about a second to
    import, and a notebook's set-up cell imports this module long before it draws (the grader runs that cell
    again for every submission, where nothing is drawn)."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str):
        return getattr(importlib.import_module(self._name), attr)


plt = _OnFirstUse("matplotlib.pyplot")
sns = _OnFirstUse("seaborn")


def _axes(ax, figsize: tuple[float, float]):
    """The given axes, or a new figure's."""
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def show_piece(piece: str) -> str:
    """A token piece made readable on an axis: newline as ``\\n``, keeping the ``▁`` space marker."""
    return piece.replace("\n", "\\n") if piece.strip() else repr(piece)


def plot_top_tokens(top: Sequence[tuple[str, float]], title: str, ax=None):
    """Horizontal bar plot of ``(token text, probability)`` pairs, most likely first (e.g. ``top_next_tokens``'s output)."""
    pairs = [(str(text), float(prob)) for text, prob in top]
    ax = _axes(ax, (6, 0.35 * len(pairs) + 1.2))
    labels = [f"{rank}. {show_piece(text)}" for rank, (text, _) in enumerate(pairs, 1)]
    probs = [prob for _, prob in pairs]
    sns.barplot(x=probs, y=labels, hue=labels, palette="viridis", legend=False, ax=ax, orient="h")
    ax.set(title=title, xlabel="probability of being the next token", ylabel="token (rank)", xlim=(0, 1))
    for y, p in enumerate(probs):
        ax.text(p + 0.01, y, f"{p:.3f}", va="center", fontsize=8)
    return ax


def plot_diversity(self_bleu: Mapping[str, float], distinct: Mapping[str, float] | None = None, title: str = "Diversity of 20 samples per setting"):
    """Self-BLEU (and optionally distinct-n) per sampling setting as side-by-side bar plots."""
    settings = list(self_bleu)
    panels = [("self-BLEU (higher = more repetitive)", self_bleu)]
    if distinct is not None:
        panels.append(("distinct-2 (higher = more diverse)", distinct))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 3.6), squeeze=False)
    for ax, (label, values) in zip(axes[0], panels):
        ys = [values[s] for s in settings]
        sns.barplot(x=settings, y=ys, hue=settings, palette="mako", legend=False, ax=ax)
        ax.set(xlabel="sampling setting", ylabel=label, ylim=(0, 1.05))
        for x, y in enumerate(ys):
            ax.text(x, y + 0.02, f"{y:.3f}", ha="center", fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return axes[0]


def plot_scores(scores: Mapping[str, float], title: str, ylabel: str, xlabel: str = "", ax=None):
    """A bar per named score (e.g. coherence with and without the chat template)."""
    ax = _axes(ax, (5, 3.4))
    names: Sequence[str] = list(scores)
    values = [scores[n] for n in names]
    sns.barplot(x=names, y=values, hue=names, palette="crest", legend=False, ax=ax)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    for x, y in enumerate(values):
        ax.text(x, y, f"{y:.2f}", ha="center", va="bottom" if y >= 0 else "top", fontsize=9)
    ax.axhline(0, color="grey", linewidth=0.8)
    return ax


# --------------------------------------------------------------------------- 05 · contextual embeddings


def plot_embedding_2d(points, labels: list[str], title: str, groups: list[str] | None = None, ax=None):
    """Scatter of 2-D points (t-SNE output ``[n, 2]``), each labelled, coloured by ``groups``."""
    import numpy as np

    points = np.asarray(points)
    if points.shape != (len(labels), 2):
        raise ValueError(f"points must have shape [n, 2] with one label per point: got {points.shape} for {len(labels)} labels.")
    ax = _axes(ax, (6, 4.5))
    sns.scatterplot(x=points[:, 0], y=points[:, 1], hue=groups, s=80, ax=ax)
    for (x, y), label in zip(points, labels):
        ax.annotate(label, (x, y), textcoords="offset points", xytext=(5, 5), fontsize=8)
    ax.set(title=title, xlabel="t-SNE dimension 1", ylabel="t-SNE dimension 2")
    ax.margins(0.25)
    return ax


def plot_similarity_heatmap(sim, labels: list[str], title: str, ax=None):
    """Annotated heatmap of a cosine-similarity matrix ``sim[n, n]``."""
    import numpy as np

    sim = np.asarray(sim)
    ax = _axes(ax, (6.5, 5))
    sns.heatmap(sim, annot=True, fmt=".2f", cmap="viridis", xticklabels=labels, yticklabels=labels, square=True, ax=ax,
                cbar_kws={"label": "cosine similarity"})
    ax.set(title=title, xlabel="vector", ylabel="vector")
    ax.tick_params(axis="x", labelrotation=45)
    for tick in ax.get_xticklabels():
        tick.set_horizontalalignment("right")
    return ax


# --------------------------------------------------------------------------- 06 · attention maps

MASKED_COLOUR = "#c8c8c8"


def _future_mask(n_rows: int, n_keys: int, query_positions) -> "np.ndarray | None":
    """``mask[i, k]`` = True where key ``k`` lies after row ``i``'s query (the causal mask hides it)."""
    import numpy as np

    if query_positions is None:
        return None
    query_positions = np.asarray(list(query_positions))
    if query_positions.shape != (n_rows,):
        raise ValueError(f"query_positions needs one position per row: {n_rows} rows, got {query_positions.shape[0]}.")
    return np.arange(n_keys)[None, :] > query_positions[:, None]


def _shade_masked(ax) -> None:
    """Masked cells show the axes background: grey with a hatch, unlike a white zero-attention cell."""
    ax.set_facecolor(MASKED_COLOUR)
    ax.patch.set_hatch("//")
    ax.patch.set_edgecolor("white")


def plot_attention_heatmap(attn, query_labels: list[str], key_labels: list[str], title: str, ax=None, cbar: bool = True,
                           query_positions=None):
    """Heatmap of attention rows ``attn[row, key]``: queries down the y-axis, keys along the x-axis.

    With ``query_positions`` (the position of each row's query), cells of keys after the query are
    drawn grey and hatched ("future, masked"), distinct from a white cell of zero attention.
    """
    import numpy as np

    attn = np.asarray(attn, dtype=float)
    if attn.shape != (len(query_labels), len(key_labels)):
        raise ValueError(f"attn has shape {attn.shape} but there are {len(query_labels)} query and {len(key_labels)} key labels.")
    mask = _future_mask(*attn.shape, query_positions)
    ax = _axes(ax, (0.35 * len(key_labels) + 3, 0.3 * len(query_labels) + 2))
    key_labels, query_labels = [show_piece(t) for t in key_labels], [show_piece(t) for t in query_labels]
    sns.heatmap(attn, mask=mask, cmap="rocket_r", vmin=0, vmax=1, xticklabels=key_labels, yticklabels=query_labels, ax=ax,
                cbar=cbar, cbar_kws={"label": "attention weight"} if cbar else None)
    if mask is not None:
        _shade_masked(ax)
    ax.set(title=title, xlabel="key (attended-to token)" + ("; grey hatched = future, masked" if mask is not None else ""),
           ylabel="query (attending token)")
    return ax


def plot_head_grid(rows, query_labels: list[str], key_labels: list[str], layer: int, query_positions=None, ncols: int = 4):
    """One heatmap per head of ``rows[head, query, key]`` (labels on the outer axes, one shared colour bar)."""
    import numpy as np

    rows = np.asarray(rows, dtype=float)
    n_heads, n_rows, n_keys = rows.shape
    if (n_rows, n_keys) != (len(query_labels), len(key_labels)):
        raise ValueError(f"rows have shape {rows.shape[1:]} per head but there are {len(query_labels)} query and {len(key_labels)} key labels.")
    mask = _future_mask(n_rows, n_keys, query_positions)
    query_labels, key_labels = [show_piece(t) for t in query_labels], [show_piece(t) for t in key_labels]
    nrows = -(-n_heads // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.4 * ncols + 1, 3.2 * nrows), squeeze=False)
    image = None
    for head, ax in enumerate(axes.flat):
        if head >= n_heads:
            ax.axis("off")
            continue
        sns.heatmap(rows[head], mask=mask, cmap="rocket_r", vmin=0, vmax=1, cbar=False, ax=ax,
                    xticklabels=key_labels if head // ncols == nrows - 1 else False,
                    yticklabels=query_labels if head % ncols == 0 else False)
        image = ax.collections[0]
        if mask is not None:
            _shade_masked(ax)
        ax.set_title(f"layer {layer}, head {head}", fontsize=9)
        ax.tick_params(labelsize=6)
    fig.suptitle(f"Layer {layer}: attention of every head (query down, key across"
                 + ("; grey hatched = future, masked)" if mask is not None else ")"))
    fig.supxlabel("key (attended-to token)")
    fig.supylabel("query (attending token)")
    fig.tight_layout()
    if image is not None:
        fig.colorbar(image, ax=axes.ravel().tolist(), label="attention weight", shrink=0.8)
    return axes


# --------------------------------------------------------------------------- 07 · SAE activations


def plot_token_activations(acts, tokens: list[str], title: str, ax=None):
    """Bar chart of one feature's activation per token, ``acts[pos]``."""
    import numpy as np

    acts = np.asarray(acts, dtype=float)
    if acts.shape != (len(tokens),):
        raise ValueError(f"acts has shape {acts.shape} but there are {len(tokens)} tokens.")
    ax = _axes(ax, (max(6, 0.45 * len(tokens)), 3.5))
    ax.bar(range(len(tokens)), acts, color="tab:purple")
    ax.set_xticks(range(len(tokens)), [show_piece(t) for t in tokens], rotation=60, ha="right", fontsize=8)
    ax.set(title=title, xlabel="token", ylabel="feature activation")
    return ax


def plot_activation_distributions(acts_by_label: dict, title: str, ax=None):
    """Strip plot of per-token activations, one column per label (e.g. per prompt)."""
    import numpy as np
    import pandas as pd

    rows = [(label, float(a)) for label, acts in acts_by_label.items() for a in np.asarray(acts, dtype=float).ravel()]
    frame = pd.DataFrame(rows, columns=["text", "activation"])
    ax = _axes(ax, (6, 4))
    sns.stripplot(data=frame, x="text", y="activation", hue="text", jitter=0.2, size=6, legend=False, ax=ax)
    ax.set(title=title, xlabel="text (one dot per token)", ylabel="feature activation")
    return ax


def plot_layer_curve(acts_by_layer, title: str, mark: dict | None = None, ax=None):
    """Line plot of one token's feature activation on the output (resid_post) of every decoder layer; ``mark`` = {label: layer}."""
    import numpy as np

    acts_by_layer = np.asarray(acts_by_layer, dtype=float)
    ax = _axes(ax, (7, 3.5))
    ax.plot(range(len(acts_by_layer)), acts_by_layer, marker="o", color="tab:purple")
    for k, (label, layer) in enumerate((mark or {}).items()):
        ax.axvline(layer, linestyle="--", color="grey")
        ax.text(layer, 0.97 - 0.09 * k, f" {label}", transform=ax.get_xaxis_transform(), va="top", ha="right", fontsize=8,
                bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8})
    ax.set(title=title, xlabel="decoder layer L (activation on its output, resid_post)", ylabel="feature activation")
    return ax


def plot_layer_token_heatmap(acts, tokens: list[str], title: str, ax=None):
    """Heatmap ``acts[layer, pos]``: one feature's activation on every decoder layer's output (rows) and token (columns)."""
    import numpy as np

    acts = np.asarray(acts, dtype=float)
    if acts.ndim != 2 or acts.shape[1] != len(tokens):
        raise ValueError(f"acts must be [layer, token] with {len(tokens)} tokens, got shape {acts.shape}.")
    ax = _axes(ax, (max(6, 0.45 * len(tokens) + 2), 0.22 * acts.shape[0] + 2))
    sns.heatmap(acts, cmap="Purples", vmin=0, xticklabels=[show_piece(t) for t in tokens], yticklabels=list(range(acts.shape[0])),
                ax=ax, cbar_kws={"label": "feature activation"})
    ax.set(title=title, xlabel="token", ylabel="decoder layer L (its output, resid_post)")
    ax.tick_params(axis="y", labelsize=7)
    return ax


# --------------------------------------------------------------------------- 08 · papers


def plot_softmax_entropy(dims: Sequence[int], entropy: Mapping[str, Sequence[float]], max_entropy: float, title: str, ax=None):
    """Mean softmax entropy (nats) against the dimension d of q and k, one line per scaling; dotted: the uniform maximum."""
    ax = _axes(ax, (6, 3.6))
    for label, values in entropy.items():
        ax.plot(list(dims), list(values), marker="o", label=label)
    ax.axhline(max_entropy, linestyle=":", color="grey", label=f"uniform over the keys (ln n = {max_entropy:.2f})")
    ax.set_xscale("log", base=2)
    ax.set(title=title, xlabel="dimension d of queries and keys (log scale)", ylabel="softmax entropy (nats)", ylim=(0, max_entropy * 1.1))
    ax.legend(fontsize=8)
    return ax


GROUP_COLOURS = {"relevant": "#2ca02c", "distractor": "#d62728"}


def plot_attention_rows(rows: Mapping[str, Sequence[float]], groups: Sequence[str], title: str, ax=None):
    """One line per map of a single query's weights over the key positions; spans shaded by group.

    ``groups[pos]`` names each key position's group (``"relevant"``, ``"distractor"``, anything else
    is not shaded). Differential maps can go below 0: the zero line is drawn.
    """
    import numpy as np

    ax = _axes(ax, (10, 3.6))
    groups = list(groups)
    shown = set()
    for pos, group in enumerate(groups):
        if group in GROUP_COLOURS:
            ax.axvspan(pos - 0.5, pos + 0.5, color=GROUP_COLOURS[group], alpha=0.12, lw=0,
                       label=None if group in shown else f"{group} span")
            shown.add(group)
    for index, (label, values) in enumerate(rows.items()):
        values = np.asarray(values, dtype=float)
        if values.shape != (len(groups),):
            raise ValueError(f"{label!r} has {values.shape} weights for {len(groups)} positions.")
        style = {"lw": 4, "alpha": 0.45} if index == 0 else {"lw": 1.2, "marker": "."}  # the first map stays visible underneath
        ax.plot(np.arange(len(groups)), values, label=label, **style)
    ax.axhline(0, color="black", lw=0.6)
    ax.set(title=title, xlabel="key position (token)", ylabel="attention weight of the last query")
    ax.legend(fontsize=8, ncol=2)
    return ax


def plot_lambda_sweep(lams: Sequence[float], masses: Mapping[str, Sequence[float]], title: str, mark: float | None = None, ax=None):
    """Attention mass of each span group against λ (λ = 0 is the first map alone); ``mark``: a λ to flag."""
    ax = _axes(ax, (6, 3.6))
    for label, values in masses.items():
        ax.plot(list(lams), list(values), marker="o", label=label, color=GROUP_COLOURS.get(label.split()[0]))
    ax.axhline(0, color="black", lw=0.6)
    if mark is not None:
        ax.axvline(mark, linestyle="--", color="grey")
        ax.text(mark, 0.97, " λ_init", transform=ax.get_xaxis_transform(), va="top", fontsize=8)
    ax.set(title=title, xlabel="λ", ylabel="summed weight of the last query")
    ax.legend(fontsize=8)
    return ax


def plot_accuracy_vs_compute(ns: Sequence[int], tokens_per_sample: float, curves: Mapping[str, Sequence[float]], title: str, ax=None):
    """Accuracy against generated tokens per question (N samples × tokens per sample), one line per selection rule."""
    ax = _axes(ax, (7, 4))
    tokens = [n * tokens_per_sample for n in ns]
    for label, values in curves.items():
        style = {"linestyle": "--", "color": "black"} if label.startswith("oracle") else {}
        ax.plot(tokens, list(values), marker="o", label=label, **style)
    ax.set_xscale("log", base=2)
    ax.set_xticks(tokens, [f"{t:.0f}\nN={n}" for t, n in zip(tokens, ns)])
    ax.set(title=title, xlabel="generated tokens per question (N samples)", ylabel="accuracy", ylim=(-0.02, 1.02))
    ax.legend(fontsize=8)
    return ax
