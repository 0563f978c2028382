"""What the chapters' figures share: the style, the running example, and drawing helpers.

Colours: the background is transparent and text, axes and grid lines use `NEUTRAL`, a mid
grey that reads on both the light and the dark theme. Use `PALETTE` for data.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import matplotlib
from matplotlib.figure import Figure

EXAMPLE_TEXT = "Every moment is a beginning"  # the guide's running example

# Committed training runs (chapters 5, 10, 11): docs/runs/<preset>/{metrics.jsonl,run.json,...}.
RUNS_DIR = Path(__file__).resolve().parents[1] / "runs"

NEUTRAL = "#8a8f98"  # text, axes, ticks and grid: readable on white and on Material's slate
PALETTE = ("#4c8bf5", "#f39c34", "#3fb68b", "#e5566b", "#a173e0", "#2fb5c8", "#c9a227")

STYLE: dict[str, Any] = {
    "svg.fonttype": "none",  # keep text as text: small files, crisp at any zoom
    "svg.hashsalt": "minigpt",  # deterministic ids inside the SVG
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans", "Arial", "Helvetica"],
    "font.size": 11,
    "text.color": NEUTRAL,
    "axes.labelcolor": NEUTRAL,
    "axes.edgecolor": NEUTRAL,
    "axes.titlecolor": NEUTRAL,
    "axes.facecolor": "none",
    "axes.prop_cycle": matplotlib.cycler(color=list(PALETTE)),
    "axes.spines.top": False,
    "axes.spines.right": False,
    "xtick.color": NEUTRAL,
    "ytick.color": NEUTRAL,
    "xtick.labelcolor": NEUTRAL,
    "ytick.labelcolor": NEUTRAL,
    "grid.color": NEUTRAL,
    "grid.alpha": 0.3,
    "legend.frameon": False,
    "legend.labelcolor": NEUTRAL,
    "figure.facecolor": "none",
    "figure.edgecolor": "none",
    "savefig.facecolor": "none",
    "savefig.edgecolor": "none",
    "savefig.transparent": True,
}


@contextmanager
def figure_style() -> Iterator[None]:
    """The guide's matplotlib style, with Python, NumPy and (if loaded) PyTorch seeded to 0."""
    import numpy as np

    random.seed(0)
    np.random.seed(0)
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(0)
    with matplotlib.rc_context(STYLE):
        yield


def shown(token: str) -> str:
    """A token's text with its spaces and newlines made visible (␣ and ↵)."""
    return token.replace(" ", "\u2423").replace("\n", "\u21b5")


def colorbar(fig: Figure, image: Any, ax: Any, **kwargs: Any) -> Any:
    """A frameless colour bar for `image` beside `ax` (kwargs: size and padding)."""
    bar = fig.colorbar(image, ax=ax, **kwargs)
    bar.outline.set_visible(False)
    bar.ax.tick_params(color=NEUTRAL, length=2)
    return bar


def run_file(name: str, filename: str) -> Path:
    """A file of the committed run `docs/runs/<name>/` (which may not exist)."""
    return RUNS_DIR / name / filename


def run_summary(name: str) -> dict[str, Any] | None:
    """The `run.json` of a committed run, or None when that run is not in the repository."""
    import json

    path = run_file(name, "run.json")
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def attention_heatmap(
    ax: Any,
    matrix: Any,
    rows: list[str],
    cols: list[str],
    *,
    title: str = "",
    signed: bool = False,
    fmt: str = "{:.2f}",
    vmax: float | None = None,
    fontsize: float = 9,
    numbers: bool = True,
) -> Any:
    """Draw `matrix` as a heatmap with its values written in the cells.

    `signed` uses a diverging map centred on 0 (scores, projections); otherwise a sequential
    map from 0 (attention weights). Cells holding −∞ are dark grey and labelled "−∞".
    """
    import numpy as np

    values = np.asarray(matrix, dtype=float)
    finite = np.isfinite(values)
    cmap = matplotlib.colormaps["RdBu_r" if signed else "viridis"].with_extremes(bad="#5f6570")
    if vmax is None:
        vmax = float(np.abs(values[finite]).max()) if finite.any() else 1.0
    vmin = -vmax if signed else 0.0
    image = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, vmin=vmin, vmax=vmax)
    if numbers:
        for (i, j), value in np.ndenumerate(values):
            if not np.isfinite(value):
                text, color = ("\u2212\u221e" if value < 0 else "+\u221e"), "white"
            else:
                red, green, blue, _ = cmap((value - vmin) / (vmax - vmin))
                bright = 0.299 * red + 0.587 * green + 0.114 * blue > 0.55
                text = fmt.format(value)
                if float(text) == 0:  # no "−0.00"
                    text = text.lstrip("-")
                text = text.replace("-", "\u2212")
                color = "#111111" if bright else "white"
            ax.text(j, i, text, ha="center", va="center", color=color, fontsize=fontsize)
    ax.set_xticks(range(len(cols)), cols, rotation=90 if max(map(len, cols)) > 2 else 0)
    ax.set_yticks(range(len(rows)), rows)
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    if title:
        ax.set_title(title, fontsize=11)
    return image
