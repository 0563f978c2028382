"""Figures of chapter 7, residual connections: gradient norms through a deep stack."""

from __future__ import annotations

from functools import cache

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from .registry import figure
from .style import NARROW_MIN_FONT_SIZE, PALETTE, plain_log_ticks


@figure("figures/07-gradient-norms.svg")
def gradient_norms(narrow: bool) -> Figure:
    """Gradient norm per layer of a 24-layer feed-forward stack, with and without residuals.

    Narrow: the legend below the plot, the axis labels shorter."""
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
    fig, ax = plt.subplots(
        figsize=(3.6, 4.4) if narrow else (7.5, 4.2), layout="constrained" if narrow else None
    )
    for label, kwargs, color, marker in runs:
        norms = _norms(**kwargs)
        ax.semilogy(
            range(1, len(norms) + 1), norms, color=color, marker=marker, ms=4, lw=1.8, label=label
        )
    if narrow:
        ax.set_xlabel("layer (1 = input end, 24 = loss end)")
        ax.set_ylabel("gradient norm of its parameters")
        fig.legend(loc="outside lower center", fontsize=NARROW_MIN_FONT_SIZE)
    else:
        ax.set_xlabel("layer (1 = nearest the input, 24 = nearest the loss)")
        ax.set_ylabel("gradient norm of the layer's parameters")
        ax.legend(loc="lower right", fontsize=9)
    ax.set_xlim(0.5, 24.5)
    plain_log_ticks(ax)
    ax.grid(True, which="major")
    return fig


@cache
def _norms(**kwargs: bool) -> list[float]:
    """The experiment's gradient norms, computed once for both variants of the figure."""
    from minigpt.residual import gradient_norms_by_depth

    return gradient_norms_by_depth(num_layers=24, embed_dim=64, seed=0, **kwargs)
