"""Figures of the introduction: the generation loop."""

from __future__ import annotations

from typing import Any

import matplotlib
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from .registry import figure
from .style import EXAMPLE_TEXT, MUTED, NEUTRAL, PALETTE, ink_on, shown


def _token_boxes(ax: Any, tokens: list[str], x: float, y: float, color: str) -> float:
    """Draw tokens as a row of rounded boxes starting at `x`; returns the x where the row ends.

    A leading space, which GPT-2 tokens usually carry, is shown as ␣ so it can be seen.
    """
    for token in tokens:
        label = shown(token)
        width = 0.3 + 0.14 * len(label)
        ax.add_patch(
            matplotlib.patches.FancyBboxPatch(
                (x, y - 0.3),
                width,
                0.6,
                boxstyle="round,pad=0,rounding_size=0.12",
                facecolor=color,
                edgecolor="none",
            )
        )
        ax.text(
            x + width / 2,
            y,
            label,
            ha="center",
            va="center",
            color=ink_on(color),
            family="monospace",
            fontsize=11,
        )
        x += width + 0.12
    return x


@figure("figures/00-generation-loop.svg")
def generation_loop() -> Figure:
    """The running example produced one token at a time: each prediction joins the context."""
    from minigpt.tokenization import GPT2Tokenizer

    tokens = GPT2Tokenizer().tokens(EXAMPLE_TEXT)
    steps = len(tokens) - 1
    fig, ax = plt.subplots(figsize=(7.5, 0.62 * steps + 0.3))
    right = 0.0
    for step in range(1, len(tokens)):
        y = steps - step
        end = _token_boxes(ax, tokens[:step], 0.0, y, MUTED)
        ax.annotate(
            "",
            xy=(end + 0.5, y),
            xytext=(end + 0.02, y),
            arrowprops={"arrowstyle": "-|>", "color": NEUTRAL, "lw": 1.5},
        )
        right = max(right, _token_boxes(ax, tokens[step : step + 1], end + 0.62, y, PALETTE[0]))
        ax.text(-0.2, y, f"step {step}", ha="right", va="center", fontsize=10)
    ax.set_xlim(-1.3, right)
    ax.set_ylim(-0.45, steps - 0.55)
    ax.set_aspect("equal")
    ax.axis("off")
    return fig
