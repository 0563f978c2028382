"""Figures of chapter 8, layer normalization: activation scale, and vectors before and after."""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from .registry import figure
from .style import NARROW_MIN_FONT_SIZE, PALETTE, plain_log_ticks


@figure("figures/08-activation-scale.svg")
def activation_scale(narrow: bool) -> Figure:
    """Scale of the residual stream through 24 feed-forward sub-layers, with and without LayerNorm.

    The weights are multiplied by a gain (1×, 2×, 3× PyTorch's initial scale) to mimic layers
    whose weights grew during training. Narrow: the legend below the plot.
    """
    import torch

    from minigpt.feed_forward import FeedForward
    from minigpt.layer_norm import LayerNorm
    from minigpt.residual import residual_add

    num_layers, dim = 24, 64
    norm = LayerNorm(dim)  # γ = 1, β = 0, as every LayerNorm starts: one can serve all layers
    fig, ax = plt.subplots(
        figsize=(3.6, 5.0) if narrow else (6.2, 4.2), layout="constrained" if narrow else None
    )
    for gain, color in zip((1.0, 2.0, 3.0), (PALETTE[0], PALETTE[1], PALETTE[3])):
        for layer_norm, style in ((False, "-"), (True, (0, (4, 3)))):
            torch.manual_seed(0)
            sublayers = [FeedForward(dim) for _ in range(num_layers)]
            x = torch.randn(32, dim)
            scales = [x.std().item()]
            with torch.no_grad():
                for sublayer in sublayers:
                    sublayer.expand.weight.mul_(gain)
                    sublayer.project.weight.mul_(gain)
                    x = residual_add(x, sublayer(norm(x) if layer_norm else x))
                    scales.append(x.std().item())
            where = "LayerNorm first" if layer_norm else "no LayerNorm"
            ax.semilogy(
                range(num_layers + 1),
                scales,
                color=color,
                linestyle=style,
                lw=2,
                label=f"weights × {gain:g}, {where}",
            )
    ax.set_xlabel("sub-layers passed (each: x + f(x))")
    ax.set_ylabel("standard deviation of the stream")
    ax.set_xlim(0, num_layers)
    plain_log_ticks(ax)
    ax.grid(True, which="major")
    if narrow:
        fig.legend(loc="outside lower center", fontsize=NARROW_MIN_FONT_SIZE)
    else:
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=9)
    return fig


@figure("figures/08-layer-norm-histograms.svg")
def layer_norm_histograms(narrow: bool) -> Figure:
    """Values of five vectors with different offsets and scales, before and after LayerNorm.

    Narrow: after below before, the legend in one column."""
    import torch

    from minigpt.layer_norm import LayerNorm

    torch.manual_seed(0)
    offsets = torch.tensor([-6.0, -2.0, 0.0, 3.0, 7.0]).unsqueeze(1)
    scales = torch.tensor([0.5, 2.0, 1.0, 3.0, 0.8]).unsqueeze(1)
    before = offsets + scales * torch.randn(5, 768)  # five 768-dimensional vectors
    with torch.no_grad():
        after = LayerNorm(768)(before)
    if narrow:
        fig, (left, right) = plt.subplots(2, 1, figsize=(3.6, 6.6), layout="constrained")
    else:
        fig, (left, right) = plt.subplots(1, 2, figsize=(8.6, 3.6))
    for i, color in enumerate(PALETTE[:5]):
        label = f"vector {i + 1}: mean {before[i].mean():.1f}, std {before[i].std():.1f}"
        for ax, values, edges in (
            (left, before[i], torch.linspace(-11, 11, 89)),
            (right, after[i], torch.linspace(-4.5, 4.5, 37)),
        ):
            ax.hist(
                values.numpy(), bins=edges.numpy(), color=color, alpha=0.3, histtype="stepfilled"
            )
            ax.hist(
                values.numpy(),
                bins=edges.numpy(),
                color=color,
                histtype="step",
                lw=1.4,
                label=label if ax is left else None,
            )
    left.set(title="before LayerNorm", xlabel="value", ylabel="number of dimensions")
    right.set(title="after LayerNorm (γ = 1, β = 0)", xlabel="value")
    if narrow:
        right.set_ylabel("number of dimensions")
        fig.legend(loc="outside lower center", ncol=1, fontsize=NARROW_MIN_FONT_SIZE)
        return fig
    fig.legend(loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=3, fontsize=9)
    fig.tight_layout()
    return fig
