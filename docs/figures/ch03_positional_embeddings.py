"""Figures of chapter 3, positional embeddings: the sinusoidal and learned tables."""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from .registry import figure
from .style import PALETTE, colorbar


@figure("figures/03-position-tables.svg")
def position_tables() -> Figure:
    """The sinusoidal table next to a learned table at initialisation (64 positions × 64 dims)."""
    import torch

    from minigpt.positional_embeddings import LearnedPositionalEmbedding, sinusoidal_table

    positions, dims = 64, 64
    torch.manual_seed(0)
    learned = LearnedPositionalEmbedding(positions, dims).weight.detach()
    fig, axes = plt.subplots(1, 2, figsize=(9, 4.4))
    for ax, table, title in (
        (axes[0], sinusoidal_table(positions, dims), "sinusoidal (fixed)"),
        (axes[1], learned, "learned, at initialisation (random)"),
    ):
        limit = float(table.abs().max())
        image = ax.imshow(
            table.numpy(), cmap="coolwarm", vmin=-limit, vmax=limit, interpolation="nearest"
        )
        ax.set_title(title, fontsize=10.5)
        ax.set_xlabel("embedding dimension")
        ax.set_ylabel("position")
        colorbar(fig, image, ax, fraction=0.046, pad=0.03)
    fig.tight_layout()
    return fig


@figure("figures/03-sinusoids.svg")
def sinusoids() -> Figure:
    """Columns of the sinusoidal table as waves, and the dot products between its rows."""
    from minigpt.positional_embeddings import sinusoidal_table

    positions, dims = 100, 64
    table = sinusoidal_table(positions, dims)
    fig, (left, right) = plt.subplots(
        1, 2, figsize=(8.8, 3.8), gridspec_kw={"width_ratios": [1.5, 1]}
    )
    for k, dim in enumerate((4, 10, 16, 24, 32)):
        left.plot(table[:, dim].numpy(), label=f"dim {dim}", color=PALETTE[k], linewidth=1.6)
    left.set_xlabel("position")
    left.set_ylabel("value")
    left.set_xlim(0, positions - 1)
    left.legend(loc="lower left", ncols=5, fontsize=9, bbox_to_anchor=(0, 1.0), handlelength=1.2)
    left.grid(True)
    image = right.imshow((table @ table.T).numpy(), cmap="viridis", interpolation="nearest")
    right.set_title("row · row (dot products)", fontsize=10.5)
    right.set_xlabel("position")
    right.set_ylabel("position")
    colorbar(fig, image, right, fraction=0.046, pad=0.04)
    fig.tight_layout()
    return fig
