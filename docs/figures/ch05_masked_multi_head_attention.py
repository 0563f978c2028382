"""Figures of chapter 5, masked multi-head attention: the mask, and the heads of a trained model."""

from __future__ import annotations

from typing import Any

import matplotlib
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from minigpt.attention_maps import head_statistics, load_attention_maps

from .ch04_self_attention import example_self_attention
from .registry import figure
from .style import EXAMPLE_TEXT, NEUTRAL, PALETTE, attention_heatmap, run_file, shown

# The committed run whose attention maps on the running example the trained-head figures show,
# written by `minigpt.attention_maps.export_attention_maps` from the run's checkpoint.
ATTENTION_RUN = "shakespeare-char-cpu"


@figure("figures/05-causal-mask.svg")
def causal_mask_figure() -> Figure:
    """The causal mask of the running example: 1 where a token may look, 0 where it may not."""
    from matplotlib.colors import ListedColormap

    from minigpt.multi_head_attention import causal_mask
    from minigpt.tokenization import GPT2Tokenizer

    labels = [shown(t) for t in GPT2Tokenizer().tokens(EXAMPLE_TEXT)]
    mask = causal_mask(len(labels)).int().numpy()
    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    ax.imshow(mask, cmap=ListedColormap([(0.54, 0.56, 0.6, 0.15), PALETTE[0]]), vmin=0, vmax=1)
    for i in range(len(labels)):
        for j in range(len(labels)):
            allowed = bool(mask[i, j])
            ax.text(
                j,
                i,
                "1" if allowed else "0",
                ha="center",
                va="center",
                fontsize=13,
                color="white" if allowed else NEUTRAL,
                weight="bold",
            )
    for edge in range(len(labels) + 1):
        ax.axhline(edge - 0.5, color=NEUTRAL, lw=0.6)
        ax.axvline(edge - 0.5, color=NEUTRAL, lw=0.6)
    ax.set_xticks(range(len(labels)), labels, rotation=90)
    ax.set_yticks(range(len(labels)), labels)
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_xlabel("key: the token looked at")
    ax.set_ylabel("query: the token looking")
    ax.xaxis.set_label_position("top")
    ax.xaxis.tick_top()
    return fig


@figure("figures/05-masking.svg")
def masking_figure() -> Figure:
    """Chapter 4's scaled scores, the same scores masked with −∞, and the softmax of that."""
    import math

    import torch

    from minigpt.multi_head_attention import causal_mask

    labels, x, attention = example_self_attention()
    with torch.no_grad():
        q, k = attention.query(x)[0], attention.key(x)[0]
        scaled = q @ k.T / math.sqrt(q.shape[-1])
        masked = scaled.masked_fill(~causal_mask(len(labels)), float("-inf"))
        weights = torch.softmax(masked, dim=-1)
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.0))
    vmax = float(scaled.abs().max())
    attention_heatmap(
        axes[0], scaled, labels, labels, title="scaled scores", signed=True, vmax=vmax
    )
    attention_heatmap(
        axes[1],
        masked,
        labels,
        labels,
        signed=True,
        vmax=vmax,
        title="masked: later tokens \u2192 \u2212\u221e",
    )
    attention_heatmap(axes[2], weights, labels, labels, title="softmax: causal weights", vmax=1.0)
    axes[0].set_ylabel("query: the token looking")
    for ax in axes:
        ax.set_xlabel("key: the token looked at")
    fig.tight_layout()
    return fig


def _head_grid(
    data: dict[str, Any],
    heads: list[tuple[int, int]],
    columns: int,
    panel: float,
    tick_size: float,
    titles: list[str] | None = None,
) -> Figure:
    """Heatmaps of the given (layer, head) pairs of an exported attention map."""
    import numpy as np

    weights = np.asarray(data["attention"])
    labels = [shown(t) for t in data["tokens"]]
    rows = -(-len(heads) // columns)
    fig, axes = plt.subplots(
        rows, columns, figsize=(panel * columns, panel * rows + 0.4), squeeze=False
    )
    cmap = matplotlib.colormaps["viridis"]
    hidden = np.triu(np.ones(weights.shape[-2:], dtype=bool), k=1)  # masked: left blank
    for n, ax in enumerate(axes.flat):
        if n >= len(heads):
            ax.axis("off")
            continue
        layer, head = heads[n]
        ax.imshow(np.ma.masked_array(weights[layer, head], hidden), cmap=cmap, vmin=0.0, vmax=1.0)
        ax.set_title(titles[n] if titles else f"layer {layer}, head {head}", fontsize=10)
        ticks = range(len(labels))
        ax.set_xticks(
            ticks,
            labels if n // columns == rows - 1 or titles else [],
            fontsize=tick_size,
            family="monospace",
        )
        ax.set_yticks(
            ticks,
            labels if n % columns == 0 or titles else [],
            fontsize=tick_size,
            family="monospace",
        )
        ax.tick_params(length=0, pad=1)
        for spine in ax.spines.values():
            spine.set_visible(False)
    fig.tight_layout()
    colorbar = fig.colorbar(
        matplotlib.cm.ScalarMappable(cmap=cmap), ax=axes, shrink=0.6, pad=0.015, aspect=40
    )
    colorbar.set_label("attention weight")
    colorbar.outline.set_visible(False)
    return fig


@figure("figures/05-trained-heads.svg")
def trained_heads_figure() -> Figure:
    """Every head of the trained character-level model on the running example."""
    data = load_attention_maps(run_file(ATTENTION_RUN, "attention.json"))
    heads = [
        (layer, head) for layer in range(data["num_layers"]) for head in range(data["num_heads"])
    ]
    return _head_grid(data, heads, columns=data["num_heads"], panel=2.9, tick_size=7.5)


@figure("figures/05-head-patterns.svg")
def head_patterns_figure() -> Figure:
    """The heads that most clearly follow three common patterns, enlarged."""
    data = load_attention_maps(run_file(ATTENTION_RUN, "attention.json"))
    stats = head_statistics(data)
    chosen, titles = [], []
    for key, name in (
        ("previous", "previous character"),
        ("first", "first character"),
        ("spaces", "spaces"),
    ):
        best = max(stats, key=lambda row: row[key])
        chosen.append((best["layer"], best["head"]))
        titles.append(
            f"layer {best['layer']}, head {best['head']}: {name}\n(mean weight {best[key]:.2f})"
        )
    return _head_grid(data, chosen, columns=3, panel=4.2, tick_size=8, titles=titles)
