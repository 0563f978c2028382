"""Figures of the introduction: the generation loop."""

from __future__ import annotations

from typing import Any

import matplotlib
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from .registry import figure
from .style import EXAMPLE_TEXT, MUTED, NEUTRAL, PALETTE, ink_on, shown


def _token_boxes(
    ax: Any, tokens: list[str], x: float, y: float, color: str, fontsize: float = 11
) -> float:
    """Draw tokens as a row of rounded boxes starting at `x`; returns the x where the row ends.

    A leading space, which GPT-2 tokens usually carry, is shown as ␣ so it can be seen.
    Box widths follow `fontsize` (11 pt: 0.14 units a character).
    """
    for token in tokens:
        label = shown(token)
        width = 0.3 + 0.155 * fontsize / 11 * len(label)
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
            fontsize=fontsize,
        )
        x += width + 0.12
    return x


@figure("figures/00-generation-loop.svg")
def generation_loop(narrow: bool) -> Figure:
    """The running example produced one token at a time: each prediction joins the context.

    Narrow: the same rows with smaller boxes, numbered 1 to 4 instead of "step 1"."""
    from minigpt.tokenization import GPT2Tokenizer

    tokens = GPT2Tokenizer().tokens(EXAMPLE_TEXT)
    steps = len(tokens) - 1
    fontsize = 10 if narrow else 11
    if narrow:  # the axes fill the figure, so its width is the drawing's
        fig, ax = plt.subplots(figsize=(3.5, 0.62 * steps + 0.3))
        fig.subplots_adjust(left=0, right=1, bottom=0, top=1)
    else:
        fig, ax = plt.subplots(figsize=(7.5, 0.62 * steps + 0.3))
    right = 0.0
    for step in range(1, len(tokens)):
        y = steps - step
        end = _token_boxes(ax, tokens[:step], 0.0, y, MUTED, fontsize)
        ax.annotate(
            "",
            xy=(end + 0.45, y),
            xytext=(end + 0.02, y),
            arrowprops={"arrowstyle": "-|>", "color": NEUTRAL, "lw": 1.5},
        )
        right = max(
            right, _token_boxes(ax, tokens[step : step + 1], end + 0.55, y, PALETTE[0], fontsize)
        )
        label = str(step) if narrow else f"step {step}"
        ax.text(-0.2, y, label, ha="right", va="center", fontsize=9 if narrow else 10)
    ax.set_xlim(-0.5 if narrow else -1.3, right)
    ax.set_ylim(-0.45, steps - 0.55)
    ax.set_aspect("equal")
    ax.axis("off")
    return fig
