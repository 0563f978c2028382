"""Figures of chapter 11, train and sample: the committed runs' loss curves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from .registry import figure
from .style import (
    MIN_FONT_SIZE,
    NARROW_MIN_FONT_SIZE,
    NEUTRAL,
    PALETTE,
    run_file,
    run_summary,
)

# The committed runs chapter 11 shows, the GPU run first when it is in the repository.
GUIDE_RUNS = {"shakespeare-char": "GPU", "shakespeare-char-cpu": "CPU"}


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """The records of a `metrics.jsonl` training log, one dict per line."""
    import json

    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


@figure("figures/11-loss-curve.svg")
def loss_curves(narrow: bool) -> Figure:
    """Training and validation loss, and the learning rate, of each committed run.

    The validation evaluations are points (nothing was measured between them), ln V is
    labelled on its own line, the legend sits below the plots where no curve runs, and the
    learning rate is written out in plain decimals. Narrow: the learning rate below the loss.
    """
    import math

    from matplotlib.ticker import FuncFormatter, MaxNLocator

    runs = {
        name: read_metrics(run_file(name, "metrics.jsonl"))
        for name in GUIDE_RUNS
        if run_file(name, "metrics.jsonl").is_file()
    }
    if narrow:
        fig, (loss_ax, lr_ax) = plt.subplots(
            2, 1, figsize=(3.6, 6.2), height_ratios=[2, 1], layout="constrained"
        )
    else:
        fig, (loss_ax, lr_ax) = plt.subplots(
            1, 2, figsize=(8.8, 4.2), width_ratios=[2.2, 1], layout="constrained"
        )
    if not runs:
        for ax in (loss_ax, lr_ax):
            ax.axis("off")
        loss_ax.text(
            0.5,
            0.5,
            "no training run published in minigpt/runs/ yet",
            ha="center",
            va="center",
            transform=loss_ax.transAxes,
        )
        return fig
    small = NARROW_MIN_FONT_SIZE if narrow else MIN_FONT_SIZE
    top = 0.0  # the highest ln V line, with room above it for its label
    for (name, records), color in zip(runs.items(), PALETTE):
        label = f"{name} ({GUIDE_RUNS[name]})"
        train = [r for r in records if r.get("kind") == "train"]
        evals = [r for r in records if r.get("kind") == "eval"]
        loss_ax.plot(
            [r["step"] for r in train],
            [r["train_loss"] for r in train],
            color=color,
            lw=1.2,
            alpha=0.85,  # thin but opaque enough for the dark theme
            label=f"{label}: training batches",
        )
        loss_ax.plot(
            [r["step"] for r in evals],
            [r["val_loss"] for r in evals],
            linestyle="none",
            marker="o",
            ms=5.5 if narrow else 6.5,
            color=color,
            markeredgecolor=NEUTRAL,
            markeredgewidth=1,
            label=f"{label}: validation",
        )
        lr_ax.plot(
            [r["step"] for r in train], [r["lr"] for r in train], color=color, lw=1.6, label=label
        )
        summary = run_summary(name)
        if summary is not None:  # the loss of a uniform guess over the vocabulary
            vocab_size = summary["model_config"]["vocab_size"]
            uniform = math.log(vocab_size)
            top = max(top, uniform + 0.35)
            loss_ax.axhline(uniform, color=color, lw=1, ls=":")
            loss_ax.text(
                max(r["step"] for r in records),
                uniform,
                f"ln V = ln {vocab_size:,} = {uniform:.2f} (uniform guess)",
                ha="right",
                va="bottom",
                fontsize=small,  # in the ink of the theme: a palette colour reads poorly as text
            )
    loss_ax.set(xlabel="optimizer step", ylabel="cross-entropy loss (nats per token)", title="Loss")
    loss_ax.set_ylim(top=max(loss_ax.get_ylim()[1], top))
    loss_ax.grid(True, axis="y")
    lr_ax.set(xlabel="optimizer step", ylabel="learning rate", title="Learning rate")
    lr_ax.yaxis.set_major_locator(MaxNLocator(4, steps=[1, 2, 5, 10]))
    lr_ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    lr_ax.set_ylim(bottom=0)
    lr_ax.grid(True, axis="y")
    fig.legend(
        *loss_ax.get_legend_handles_labels(),
        loc="outside lower center",
        ncols=1 if narrow else 2,
        fontsize=small,
    )
    return fig
