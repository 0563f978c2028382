"""Figures of chapter 7, residual connections: gradient norms through a deep stack."""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from .registry import figure
from .style import PALETTE, plain_log_ticks


@figure("figures/07-gradient-norms.svg")
def gradient_norms() -> Figure:
    """Gradient norm per layer of a 24-layer feed-forward stack, with and without residuals."""
    from minigpt.residual import gradient_norms_by_depth

    runs = (  # (label, keyword arguments of the experiment, colour, marker)
        ("with residual connections", {"residual": True}, PALETTE[0], "o"),
        ("no residuals", {"residual": False}, PALETTE[3], "s"),
        (
            "no residuals, LayerNorm before each layer",
            {"residual": False, "layer_norm": True},
            PALETTE[2],
            "^",
        ),
    )
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    for label, kwargs, color, marker in runs:
        norms = gradient_norms_by_depth(num_layers=24, embed_dim=64, seed=0, **kwargs)
        ax.semilogy(
            range(1, len(norms) + 1), norms, color=color, marker=marker, ms=4, lw=1.8, label=label
        )
    ax.set_xlabel("layer (1 = nearest the input, 24 = nearest the loss)")
    ax.set_ylabel("gradient norm of the layer's parameters")
    ax.set_xlim(0.5, 24.5)
    plain_log_ticks(ax)
    ax.grid(True, which="major")
    ax.legend(loc="lower right", fontsize=9)
    return fig
