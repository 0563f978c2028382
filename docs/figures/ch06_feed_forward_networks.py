"""Figures of chapter 6, feed-forward networks: GELU against ReLU."""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from .registry import figure
from .style import NARROW_MIN_FONT_SIZE, NEUTRAL, PALETTE


@figure("figures/06-gelu-vs-relu.svg")
def gelu_vs_relu(narrow: bool) -> Figure:
    """ReLU, exact GELU and GPT-2's tanh-approximated GELU (the package's), with their slopes.

    Narrow: the slopes below the curves, the legend between them."""
    import torch
    from torch.nn import functional as F

    from minigpt.feed_forward import FeedForward

    x = torch.linspace(-4, 4, 801, requires_grad=True)
    curves = (  # (label, function, colour, line style)
        ("ReLU: max(0, x)", torch.relu, PALETTE[1], "-"),
        ("GELU, exact: x·Φ(x)", F.gelu, PALETTE[0], "-"),
        ("GELU, tanh approximation (GPT-2)", FeedForward(1).activation, PALETTE[3], (0, (4, 3))),
    )
    if narrow:
        fig, (left, right) = plt.subplots(2, 1, figsize=(3.6, 6.6), layout="constrained")
    else:
        fig, (left, right) = plt.subplots(1, 2, figsize=(8.6, 3.8))
    for label, function, color, style in curves:
        y = function(x)
        (slope,) = torch.autograd.grad(y.sum(), x)
        left.plot(x.detach(), y.detach(), color=color, linestyle=style, lw=2, label=label)
        right.plot(x.detach(), slope, color=color, linestyle=style, lw=2)
    left.set(title="activation", xlabel="input x", ylabel="output", ylim=(-0.6, 4.1))
    right.set(
        title="slope (derivative)", xlabel="input x", ylabel="d output / dx", ylim=(-0.25, 1.25)
    )
    for ax in (left, right):
        ax.axhline(0, color=NEUTRAL, lw=0.8)
        ax.axvline(0, color=NEUTRAL, lw=0.8)
        ax.grid(True)
    if narrow:
        left.legend(loc="upper left", fontsize=NARROW_MIN_FONT_SIZE, handlelength=1.8)
        return fig
    left.legend(loc="upper left", fontsize=9)
    fig.tight_layout()
    return fig
