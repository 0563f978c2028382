"""Figures of chapter 4, self-attention: the five steps on the running example, and why √d_k."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from .registry import figure
from .style import EXAMPLE_TEXT, NEUTRAL, PALETTE, attention_heatmap, shown


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
def attention_qkv() -> Figure:
    """Step 1: the query, key and value vector of every token of the example."""
    import torch

    labels, x, attention = example_self_attention()
    with torch.no_grad():
        parts = {
            "queries  Q = x W_Q": attention.query(x)[0],
            "keys  K = x W_K": attention.key(x)[0],
            "values  V = x W_V": attention.value(x)[0],
        }
    vmax = max(float(p.abs().max()) for p in parts.values())
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.0))
    dims = [str(i) for i in range(attention.query.out_features)]
    for ax, (title, matrix) in zip(axes, parts.items()):
        attention_heatmap(ax, matrix, labels, dims, title=title, signed=True, vmax=vmax, fontsize=8)
        ax.set_xlabel("dimension")
    for ax in axes[1:]:
        ax.set_yticklabels([])
    fig.tight_layout()
    return fig


@figure("figures/04-scores-to-weights.svg")
def attention_scores_to_weights() -> Figure:
    """Steps 2–4: raw scores Q Kᵀ, scaled by √d_k, then softmax along each row."""
    import math

    import torch

    labels, x, attention = example_self_attention()
    with torch.no_grad():
        q, k = attention.query(x)[0], attention.key(x)[0]
        scores = q @ k.T
        scaled = scores / math.sqrt(q.shape[-1])
        weights = torch.softmax(scaled, dim=-1)
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.0))
    vmax = float(scores.abs().max())
    attention_heatmap(
        axes[0], scores, labels, labels, title="2. scores  Q K\u1d40", signed=True, vmax=vmax
    )
    attention_heatmap(
        axes[1],
        scaled,
        labels,
        labels,
        title=f"3. scaled  Q K\u1d40 / \u221a{q.shape[-1]}",
        signed=True,
        vmax=vmax,
    )
    attention_heatmap(axes[2], weights, labels, labels, title="4. softmax: weights", vmax=1.0)
    axes[0].set_ylabel("query: the token looking")
    for ax in axes:
        ax.set_xlabel("key: the token looked at")
    fig.tight_layout()
    return fig


@figure("figures/04-context.svg")
def attention_context() -> Figure:
    """Step 5: the context vectors are the weights times the values."""
    import torch

    labels, x, attention = example_self_attention()
    with torch.no_grad():
        context, weights = attention(x)
        values = attention.value(x)[0]
    dims = [str(i) for i in range(values.shape[-1])]
    vmax = max(float(values.abs().max()), float(context.abs().max()))
    fig, axes = plt.subplots(
        1, 3, figsize=(12, 3.4), gridspec_kw={"width_ratios": [5, 8, 8], "wspace": 0.12}
    )
    attention_heatmap(axes[0], weights[0], labels, labels, title="weights", vmax=1.0, fontsize=8)
    attention_heatmap(
        axes[1], values, labels, dims, title="values  V", signed=True, vmax=vmax, fontsize=8
    )
    attention_heatmap(
        axes[2],
        context[0],
        labels,
        dims,
        title="context = weights @ V",
        signed=True,
        vmax=vmax,
        fontsize=8,
    )
    for ax in axes[1:]:
        ax.set_yticklabels([])
        ax.set_xlabel("dimension")
    for ax, symbol in ((axes[0], "@"), (axes[1], "=")):
        ax.annotate(
            symbol,
            xy=(1.0, 0.5),
            xycoords="axes fraction",
            xytext=(13, 0),
            textcoords="offset points",
            ha="center",
            va="center",
            fontsize=16,
            color=NEUTRAL,
        )
    return fig


@figure("figures/04-scaling.svg")
def attention_scaling() -> Figure:
    """Why divide by √d_k: score variance grows with d_k, and softmax saturates."""
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
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
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
    right.text(dims[-1], 1 / 5 + 0.02, "uniform (1/5)", ha="right", fontsize=9)
    right.set(
        xscale="log",
        ylim=(0, 1.05),
        xlabel="d\u2096 (dimensions per head)",
        ylabel="largest weight in a row (mean)",
        title="softmax over 5 keys",
    )
    for ax in (left, right):
        ax.set_xticks(dims, [str(d) for d in dims])
        ax.minorticks_off()
        ax.grid(True)
        ax.legend()
    fig.tight_layout()
    return fig
