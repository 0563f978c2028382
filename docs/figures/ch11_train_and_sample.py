"""Figures of chapter 11, train and sample: the committed runs' loss curves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from .registry import figure
from .style import PALETTE, run_file, run_summary

# The committed runs chapter 11 shows, the GPU run first when it is in the repository.
GUIDE_RUNS = {"shakespeare-char": "GPU", "shakespeare-char-cpu": "CPU"}


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """The records of a `metrics.jsonl` training log, one dict per line."""
    import json

    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


@figure("figures/11-loss-curve.svg")
def loss_curves() -> Figure:
    """Training and validation loss, and the learning rate, of each committed run."""
    import math

    runs = {
        name: read_metrics(run_file(name, "metrics.jsonl"))
        for name in GUIDE_RUNS
        if run_file(name, "metrics.jsonl").is_file()
    }
    fig, (loss_ax, lr_ax) = plt.subplots(
        1, 2, figsize=(8.8, 3.9), gridspec_kw={"width_ratios": [2.2, 1]}
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
    for (name, records), color in zip(runs.items(), PALETTE):
        label = f"{name} ({GUIDE_RUNS[name]})"
        train = [r for r in records if r.get("kind") == "train"]
        evals = [r for r in records if r.get("kind") == "eval"]
        loss_ax.plot(
            [r["step"] for r in train],
            [r["train_loss"] for r in train],
            color=color,
            lw=1,
            alpha=0.45,
            label=f"{label}: training batches",
        )
        loss_ax.plot(
            [r["step"] for r in evals],
            [r["val_loss"] for r in evals],
            color=color,
            lw=2,
            marker="o",
            ms=3.5,
            label=f"{label}: validation",
        )
        lr_ax.plot(
            [r["step"] for r in train], [r["lr"] for r in train], color=color, lw=1.6, label=label
        )
        summary = run_summary(name)
        if summary is not None:  # the loss of a uniform guess over the vocabulary
            vocab_size = summary["model_config"]["vocab_size"]
            loss_ax.axhline(
                math.log(vocab_size),
                color=color,
                lw=1,
                ls=":",
                label=f"{label}: ln V (uniform guess, V = {vocab_size:,})",
            )
    loss_ax.set(xlabel="optimizer step", ylabel="cross-entropy loss (nats per token)", title="Loss")
    loss_ax.grid(True, axis="y")
    loss_ax.legend(fontsize=9)
    lr_ax.set(xlabel="optimizer step", ylabel="learning rate", title="Learning rate")
    lr_ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 2))
    lr_ax.grid(True, axis="y")
    fig.tight_layout()
    return fig
