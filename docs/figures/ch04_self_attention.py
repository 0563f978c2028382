"""Figures of chapter 4, self-attention: the five steps on the running example, and why √d_k."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from .registry import figure
from .style import (
    EXAMPLE_TEXT,
    MIN_FONT_SIZE,
    NARROW_MIN_FONT_SIZE,
    NEUTRAL,
    PALETTE,
    attention_heatmap,
    plain_log_ticks,
    shown,
)


def example_self_attention() -> tuple[list[str], Any, Any]:
    """Chapter 4's example: labels of the 5 GPT-2 tokens, seeded random vectors, a seeded
    random head.

    The same calls, in the same order, as the chapter's first code block, so the figures
    show exactly the numbers printed on the page.
    """
    import torch

    from minigpt.self_attention import SelfAttention
    from minigpt.tokenization import GPT2Tokenizer

    tokens = GPT2Tokenizer().tokens(EXAMPLE_TEXT)
    torch.manual_seed(0)
    x = torch.randn(1, len(tokens), 16)  # stand-in token vectors (batch=1, T=5, embed_dim=16)
    attention = SelfAttention(embed_dim=16, head_dim=8)
    return [shown(t) for t in tokens], x, attention


@figure("figures/04-qkv.svg")
def attention_qkv(narrow: bool) -> Figure:
    """Step 1: the query, key and value vector of every token of the example, one per row
    (as in Q = X W_Q and the printed tensors). Narrow: numbers to one decimal."""
    import torch

    labels, x, attention = example_self_attention()
    with torch.no_grad():
        parts = {
            "queries  Q = x W_Q": attention.query(x)[0],
            "keys  K = x W_K": attention.key(x)[0],
            "values  V = x W_V": attention.value(x)[0],
        }
    vmax = max(float(p.abs().max()) for p in parts.values())
    fig, axes = plt.subplots(
        3, 1, figsize=(3.55, 6.4) if narrow else (7.4, 6.2), sharex=True, layout="constrained"
    )
    dims = [str(i) for i in range(attention.query.out_features)]
    for ax, (title, matrix) in zip(axes, parts.items()):
        attention_heatmap(
            ax,
            matrix,
            labels,
            dims,
            title=title,
            signed=True,
            vmax=vmax,
            fmt="{:.1f}" if narrow else "{:.2f}",
        )
        ax.set_aspect("auto")
        ax.tick_params(labelbottom=ax is axes[-1])
    axes[-1].set_xlabel("dimension (each row is that token's vector)")
    return fig


@figure("figures/04-scores-to-weights.svg")
def attention_scores_to_weights(narrow: bool) -> Figure:
    """Steps 2–4: raw scores Q Kᵀ, scaled by √d_k, then softmax along each row."""
    import math

    import torch

    labels, x, attention = example_self_attention()
    with torch.no_grad():
        q, k = attention.query(x)[0], attention.key(x)[0]
        scores = q @ k.T
        scaled = scores / math.sqrt(q.shape[-1])
        weights = torch.softmax(scaled, dim=-1)
    vmax = float(scores.abs().max())
    return three_maps(
        labels,
        (
            (scores, "2. scores  Q K\u1d40", True, vmax),
            (scaled, f"3. scaled  Q K\u1d40 / \u221a{q.shape[-1]}", True, vmax),
            (weights, "4. softmax: weights", False, 1.0),
        ),
        narrow,
    )


def three_maps(labels: list[str], maps: tuple, narrow: bool) -> Figure:
    """Three token × token heatmaps, (matrix, title, signed, vmax) each: side by side, or
    (narrow) one below the other with the keys named once, under the last."""
    if narrow:
        fig, axes = plt.subplots(3, 1, figsize=(3.6, 8.6), sharex=True, layout="constrained")
    else:
        fig, axes = plt.subplots(1, 3, figsize=(8.6, 3.9), sharey=True)
    for ax, (matrix, title, signed, vmax) in zip(axes, maps):
        attention_heatmap(ax, matrix, labels, labels, title=title, signed=signed, vmax=vmax)
        if narrow:
            ax.tick_params(labelbottom=ax is axes[-1])
            ax.set_ylabel("query: the token looking")
    if narrow:
        axes[-1].set_xlabel("key: the token looked at")
        return fig
    axes[0].set_ylabel("query: the token looking")
    fig.supxlabel("key: the token looked at", fontsize=10)
    fig.tight_layout()
    return fig


@figure("figures/04-context.svg")
def attention_context(narrow: bool) -> Figure:
    """Step 5: the context vectors are the weights times the values. Narrow: the weights,
    the values and the context one below the other, numbers to one decimal."""
    import torch

    labels, x, attention = example_self_attention()
    with torch.no_grad():
        context, weights = attention(x)
        values = attention.value(x)[0]
    dims = [str(i) for i in range(values.shape[-1])]
    vmax = max(float(values.abs().max()), float(context.abs().max()))
    if narrow:
        fig, (weights_ax, values_ax, context_ax) = plt.subplots(
            3, 1, figsize=(3.55, 7.2), layout="constrained"
        )
        attention_heatmap(weights_ax, weights[0], labels, labels, title="weights", vmax=1.0)
        weights_ax.set_anchor("W")
        for ax, matrix, title in (
            (values_ax, values, "@  values  V"),
            (context_ax, context[0], "=  context = weights @ V"),
        ):
            attention_heatmap(
                ax, matrix, labels, dims, title=title, signed=True, vmax=vmax, fmt="{:.1f}"
            )
            ax.set_aspect("auto")
            ax.set_xlabel("dimension")
        return fig
    fig, axes = plt.subplots(
        2,
        2,
        figsize=(8.8, 5.6),
        gridspec_kw={"width_ratios": [5, 8.5], "wspace": 0.32, "hspace": 0.5},
    )
    (weights_ax, values_ax), (sign_ax, context_ax) = axes
    attention_heatmap(weights_ax, weights[0], labels, labels, title="weights", vmax=1.0)
    attention_heatmap(values_ax, values, labels, dims, title="values  V", signed=True, vmax=vmax)
    attention_heatmap(
        context_ax, context[0], labels, dims, title="context = weights @ V", signed=True, vmax=vmax
    )
    for ax in (weights_ax, values_ax, context_ax):
        ax.set_aspect("auto")  # cells wider than tall: room for the numbers
    for ax in (values_ax, context_ax):
        ax.set_xlabel("dimension")
    sign_ax.axis("off")
    sign_ax.text(
        1.0, 0.5, "weights @ V =", ha="right", va="center", fontsize=13, transform=sign_ax.transAxes
    )
    return fig


@figure("figures/04-scaling.svg")
def attention_scaling(narrow: bool) -> Figure:
    """Why divide by √d_k: score variance grows with d_k, and softmax saturates. Narrow: the
    two plots one below the other."""
    import math

    import torch

    dims = [4, 16, 64, 256, 1024]
    raw_var, scaled_var, raw_top, scaled_top = [], [], [], []
    torch.manual_seed(0)
    for d_k in dims:
        q = torch.randn(2000, 5, d_k)  # 2000 random queries, 5 random keys each
        k = torch.randn(2000, 5, d_k)
        raw = q @ k.transpose(-2, -1)
        scaled = raw / math.sqrt(d_k)
        raw_var.append(raw.var().item())
        scaled_var.append(scaled.var().item())
        raw_top.append(torch.softmax(raw, dim=-1).amax(dim=-1).mean().item())
        scaled_top.append(torch.softmax(scaled, dim=-1).amax(dim=-1).mean().item())
    fig, (left, right) = plt.subplots(
        *((2, 1) if narrow else (1, 2)), figsize=(3.6, 6.4) if narrow else (8.6, 3.7)
    )
    left.plot(dims, raw_var, "o-", color=PALETTE[3], label="raw  q\u00b7k")
    left.plot(dims, scaled_var, "o-", color=PALETTE[0], label="scaled  q\u00b7k / \u221ad\u2096")
    left.set(
        xscale="log",
        yscale="log",
        xlabel="d\u2096 (dimensions per head)",
        ylabel="variance of the scores",
        title="score variance",
    )
    right.plot(dims, raw_top, "o-", color=PALETTE[3], label="raw")
    right.plot(dims, scaled_top, "o-", color=PALETTE[0], label="scaled")
    right.axhline(1 / 5, color=NEUTRAL, lw=1, ls=":")
    right.text(
        dims[-1],
        1 / 5 + 0.02,
        "uniform (1/5)",
        ha="right",
        fontsize=NARROW_MIN_FONT_SIZE if narrow else MIN_FONT_SIZE,
    )
    right.set(
        xscale="log",
        ylim=(0, 1.05),
        xlabel="d\u2096 (dimensions per head)",
        ylabel="largest weight in a row (mean)",
        title="softmax over 5 keys",
    )
    plain_log_ticks(left)
    for ax in (left, right):
        ax.set_xticks(dims, [str(d) for d in dims])
        ax.minorticks_off()
        ax.grid(True)
        ax.legend()
    fig.tight_layout()
    return fig
