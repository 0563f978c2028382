"""Figures of chapter 3, positional embeddings: the sinusoidal and learned tables."""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from .registry import figure
from .style import NARROW_MIN_FONT_SIZE, PALETTE, colorbar


@figure("figures/03-position-tables.svg")
def position_tables(narrow: bool) -> Figure:
    """The sinusoidal table next to a learned table at initialisation (64 positions × 64 dims).

    Narrow: one above the other."""
    import torch

    from minigpt.positional_embeddings import LearnedPositionalEmbedding, sinusoidal_table

    positions, dims = 64, 64
    torch.manual_seed(0)
    learned = LearnedPositionalEmbedding(positions, dims).weight.detach()
    fig, axes = (
        plt.subplots(2, 1, figsize=(3.5, 6.6)) if narrow else plt.subplots(1, 2, figsize=(9, 4.4))
    )
    for ax, table, title in (
        (axes[0], sinusoidal_table(positions, dims), "sinusoidal (fixed)"),
        (axes[1], learned, "learned, at initialisation (random)"),
    ):
        limit = float(table.abs().max())
        image = ax.imshow(
            table.numpy(), cmap="coolwarm", vmin=-limit, vmax=limit, interpolation="nearest"
        )
        ax.set_title(title, fontsize=9.5 if narrow else 10.5)
        ax.set_xlabel("embedding dimension")
        ax.set_ylabel("position")
        colorbar(fig, image, ax, fraction=0.046, pad=0.03)
    fig.tight_layout()
    return fig


@figure("figures/03-sinusoids.svg")
def sinusoids(narrow: bool) -> Figure:
    """Columns of the sinusoidal table as waves, and the dot products between its rows.

    Narrow: the waves above the dot products, the legend in three columns."""
    from minigpt.positional_embeddings import sinusoidal_table

    positions, dims = 100, 64
    table = sinusoidal_table(positions, dims)
    if narrow:
        fig, (left, right) = plt.subplots(
            2, 1, figsize=(3.8, 6.4), gridspec_kw={"height_ratios": [1, 1.25]}
        )
    else:
        fig, (left, right) = plt.subplots(
            1, 2, figsize=(8.8, 3.8), gridspec_kw={"width_ratios": [1.5, 1]}
        )
    for k, dim in enumerate((4, 10, 16, 24, 32)):
        left.plot(table[:, dim].numpy(), label=f"dim {dim}", color=PALETTE[k], linewidth=1.6)
    left.set_xlabel("position")
    left.set_ylabel("value")
    left.set_xlim(0, positions - 1)
    left.legend(
        loc="lower left",
        ncols=3 if narrow else 5,
        fontsize=NARROW_MIN_FONT_SIZE if narrow else 9,
        bbox_to_anchor=(0, 1.0),
        handlelength=1.2,
    )
    left.grid(True)
    image = right.imshow((table @ table.T).numpy(), cmap="viridis", interpolation="nearest")
    right.set_title("row · row (dot products)", fontsize=9.5 if narrow else 10.5)
    right.set_xlabel("position")
    right.set_ylabel("position")
    colorbar(fig, image, right, fraction=0.046, pad=0.04)
    fig.tight_layout()
    return fig
