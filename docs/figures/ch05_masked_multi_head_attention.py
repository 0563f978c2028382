"""Figures of chapter 5, masked multi-head attention: the mask, and the heads of a trained model."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from minigpt.attention_maps import head_statistics, load_attention_maps

from .ch04_self_attention import example_self_attention, three_maps
from .registry import figure
from .style import (
    EXAMPLE_TEXT,
    MIN_FONT_SIZE,
    NARROW_MIN_FONT_SIZE,
    NEUTRAL,
    PALETTE,
    ink_on,
    run_file,
    shown,
)

# The committed run whose attention maps on the running example the trained-head figures show,
# written by `minigpt.attention_maps.export_attention_maps` from the run's checkpoint.
ATTENTION_RUN = "shakespeare-char-cpu"


@figure("figures/05-causal-mask.svg")
def causal_mask_figure(narrow: bool) -> Figure:
    """The causal mask of the running example: 1 where a token may look, 0 where it may not.

    Narrow: the same, a little smaller."""
    from matplotlib.colors import ListedColormap

    from minigpt.multi_head_attention import causal_mask
    from minigpt.tokenization import GPT2Tokenizer

    labels = [shown(t) for t in GPT2Tokenizer().tokens(EXAMPLE_TEXT)]
    mask = causal_mask(len(labels)).int().numpy()
    fig, ax = plt.subplots(figsize=(3.3, 3.0) if narrow else (4.6, 4.2))
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
                fontsize=11 if narrow else 13,
                color=ink_on(PALETTE[0]) if allowed else NEUTRAL,
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
    if narrow:  # as large as the desktop figure's text, which a phone shows barely shrunk
        ax.tick_params(labelsize=10)
    ax.set_xlabel("key: the token looked at", fontsize=10 if narrow else None)
    ax.set_ylabel("query: the token looking", fontsize=10 if narrow else None)
    ax.xaxis.set_label_position("top")
    ax.xaxis.tick_top()
    return fig


@figure("figures/05-masking.svg")
def masking_figure(narrow: bool) -> Figure:
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
    vmax = float(scaled.abs().max())
    return three_maps(
        labels,
        (
            (scaled, "scaled scores", True, vmax),
            (masked, "masked: later tokens \u2192 \u2212\u221e", True, vmax),
            (weights, "softmax: causal weights", False, 1.0),
        ),
        narrow,
    )


# The textbook heads of chapter 5 on the running example: (the token looking, the token looked at).
TEXTBOOK_HEADS = {
    "meaning": (" beginning", " moment"),
    "grammar": (" moment", "Every"),
    "structure": (" beginning", " is"),
}


@figure("figures/05-textbook-heads.svg")
def textbook_heads_figure(narrow: bool) -> Figure:
    """The meaning, grammar and structure heads of the classic illustration, as causal attention
    patterns made by hand exactly as on the page: each later token's query matches one earlier
    token's key."""
    import torch

    from minigpt.multi_head_attention import causal_mask
    from minigpt.self_attention import scaled_dot_product_attention
    from minigpt.tokenization import GPT2Tokenizer

    from .ch04_self_attention import three_maps

    tokens = GPT2Tokenizer().tokens(EXAMPLE_TEXT)
    maps = []
    for name, (looking, looked_at) in TEXTBOOK_HEADS.items():
        q, k = torch.zeros(len(tokens), 4), torch.zeros(len(tokens), 4)
        q[tokens.index(looking), 0] = 3.0
        k[tokens.index(looked_at), 0] = 3.0
        _, weights = scaled_dot_product_attention(
            q, k, torch.zeros_like(q), causal_mask(len(tokens))
        )
        title = f"{name}: {shown(looking.strip())} \u2192 {shown(looked_at.strip())}"
        maps.append((weights, title, False, 1.0))
    return three_maps([shown(t) for t in tokens], tuple(maps), narrow)


def _heatmap(
    ax: Any, weights: Any, labels: list[str] | None, title: str, size: float = MIN_FONT_SIZE
) -> Any:
    """One head's causal attention map; `labels` (or None) name the characters on the axes,
    in `size` points."""
    import numpy as np

    hidden = np.triu(np.ones(weights.shape, dtype=bool), k=1)  # masked: left blank
    image = ax.imshow(np.ma.masked_array(weights, hidden), cmap="viridis", vmin=0.0, vmax=1.0)
    ax.set_title(title, fontsize=size + 1)
    ticks = range(len(labels)) if labels else []
    ax.set_xticks(ticks, labels or [], family="monospace", fontsize=size)
    ax.set_yticks(ticks, labels or [], family="monospace", fontsize=size)
    ax.tick_params(length=0, pad=1)
    for spine in ax.spines.values():
        spine.set_visible(False)
    return image


def _weight_colorbar(fig: Figure, image: Any, axes: Any, **kwargs: Any) -> None:
    bar = fig.colorbar(image, ax=axes, **kwargs)
    bar.set_label("attention weight")
    bar.outline.set_visible(False)


@figure("figures/05-trained-heads.svg")
def trained_heads_figure(narrow: bool) -> Figure:
    """Every head of the trained character-level model on the running example: an overview,
    layers in rows and heads in columns (the enlarged figure below names the characters).

    Narrow: the same grid in the phone's column, the colour bar below it."""
    import numpy as np

    data = load_attention_maps(run_file(ATTENTION_RUN, "attention.json"))
    weights = np.asarray(data["attention"])
    layers, heads = data["num_layers"], data["num_heads"]
    cell = 0.77 if narrow else 1.9  # inches per map
    fig, axes = plt.subplots(
        layers,
        heads,
        figsize=(cell * heads + 0.5, cell * layers + 1.3)
        if narrow
        else (cell * heads + 1.2, cell * layers + 0.6),
        squeeze=False,
        layout="constrained",
    )
    size = NARROW_MIN_FONT_SIZE if narrow else MIN_FONT_SIZE
    for (layer, head), ax in np.ndenumerate(axes):
        title = f"head {head}" if layer == 0 else ""
        image = _heatmap(ax, weights[layer, head], None, title, size)
        if head == 0:
            ax.set_ylabel(f"layer {layer}", fontsize=size + 1)
    if narrow:
        fig.suptitle("key: the character looked at (→)", fontsize=9)
        fig.supylabel("query: the character looking (↓)", fontsize=9)
        _weight_colorbar(fig, image, axes, location="bottom", shrink=0.8, aspect=30)
        return fig
    fig.supxlabel("key: the character looked at (left to right)", fontsize=10)
    fig.supylabel("query: the character looking (top to bottom)", fontsize=10)
    _weight_colorbar(fig, image, axes, shrink=0.6, aspect=40)
    return fig


@figure("figures/05-head-patterns.svg")
def head_patterns_figure(narrow: bool) -> Figure:
    """The heads that most clearly follow three common patterns, enlarged, and the uniform
    reference: a head that spreads its weight evenly over everything it may see.

    Narrow: the four maps one below the other, each as wide as the column."""
    import numpy as np

    from minigpt.multi_head_attention import causal_mask

    data = load_attention_maps(run_file(ATTENTION_RUN, "attention.json"))
    weights = np.asarray(data["attention"])
    labels = [shown(t) for t in data["tokens"]]
    stats = head_statistics(data)
    panels = []
    for key, name in (
        ("previous", "previous character"),
        ("first", "first character"),
        ("spaces", "spaces"),
    ):
        best = max(stats, key=lambda row: row[key])
        panels.append(
            (
                weights[best["layer"], best["head"]],
                f"layer {best['layer']}, head {best['head']}: {name}\n"
                f"(mean weight {best[key]:.2f})",
            )
        )
    mask = causal_mask(len(labels)).double().numpy()
    panels.append((mask / mask.sum(axis=-1, keepdims=True), "uniform reference\n(no preference)"))
    if narrow:
        fig, axes = plt.subplots(4, 1, figsize=(3.7, 12.8), layout="constrained")
    else:
        fig, axes = plt.subplots(2, 2, figsize=(8.4, 8.7), layout="constrained")
    for ax, (matrix, title) in zip(axes.flat, panels):
        image = _heatmap(
            ax, matrix, labels, title, NARROW_MIN_FONT_SIZE if narrow else MIN_FONT_SIZE
        )
    _weight_colorbar(
        fig,
        image,
        axes,
        location="bottom",
        shrink=0.8 if narrow else 0.5,
        aspect=30 if narrow else 40,
        pad=0.005 if narrow else 0.05,
    )
    return fig
