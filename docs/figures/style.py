"""What the chapters' figures share: the style, the running example, and drawing helpers.

Colours: the background is transparent; text, axes and grid lines use `NEUTRAL`, a dark grey
for the site's light theme. Every figure also exists in a dark-theme variant
(`dark_variant`), in which `NEUTRAL` becomes `NEUTRAL_DARK`; both keep text at 4.5:1 contrast
or more on their theme's background. Use `PALETTE` for data, and `ink_on(colour)` for text
drawn on a coloured shape.

Size: the site shows a figure at its natural size, shrunk to the content column when wider
(`COLUMN_PX`). Keep figures at most `FIGURE_MAX_WIDTH` inches wide and text at `MIN_FONT_SIZE`
points or more, so no text is smaller than 11 CSS pixels on a desktop screen.

Phones: every figure function takes `narrow`, and draws, when it is true, a variant for a
phone's column (`NARROW_COLUMN_PX`, 358 CSS px on a 390 px screen): panels stacked instead of
side by side, legends below, fewer labels, at most `NARROW_MAX_WIDTH` inches wide with text at
`NARROW_MIN_FONT_SIZE` points or more (`NARROW_STYLE` sets the defaults). The page shows it
on screens up to `NARROW_MEDIA` wide. tests/test_figures.py checks both sizes.
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

# Published training runs (chapters 5, 10, 11), shipped in the package:
# minigpt/runs/<preset>/{metrics.jsonl,run.json,...}.
RUNS_DIR = Path(__file__).resolve().parents[2] / "minigpt" / "runs"

NEUTRAL = "#555b65"  # text, axes, ticks and grid on the light theme: 6.8:1 on white
NEUTRAL_DARK = "#b4b9c2"  # the same in the dark variant: 8.2:1 on Material's slate (#1e2029)
MUTED = "#6b7280"  # a grey fill that shows on both themes (white text on it: 4.8:1)
PALETTE = ("#4c8bf5", "#f39c34", "#3fb68b", "#e5566b", "#a173e0", "#2fb5c8", "#c9a227")

# The content column at a 1400 px wide window (docs/stylesheets/extra.css widens Material's
# grid), the width a desktop reader sees figures at; and what keeps their text readable there.
COLUMN_PX = 860
FIGURE_MAX_WIDTH = COLUMN_PX / 96  # inches: matplotlib's SVGs have 72 pt = 96 CSS px per inch
MIN_FONT_SIZE = 9  # points: 12 CSS px at natural size
MIN_TEXT_PX = 11  # the smallest text a reader should meet, in CSS px

# The narrow variant: a phone's content column (390 px screen less Material's 16 px margins),
# the screens that get it (Material's own breakpoint for phones), and its text.
NARROW_COLUMN_PX = 358
NARROW_MEDIA = "(max-width: 44.9375em)"
NARROW_MAX_WIDTH = NARROW_COLUMN_PX / 96  # inches
NARROW_MIN_FONT_SIZE = 8  # points: 10.7 CSS px at natural size
NARROW_MIN_TEXT_PX = 9

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

# The narrow variant's defaults: text a size smaller than on the desktop, but larger in
# proportion to the figure (9 pt in 3.7 in, against 11 pt in 8.6 in).
NARROW_STYLE: dict[str, Any] = {
    "font.size": 9,
    "axes.titlesize": 9.5,
    "axes.labelsize": 9,
    "xtick.labelsize": 8.5,
    "ytick.labelsize": 8.5,
    "legend.fontsize": 8.5,
    "legend.title_fontsize": 8.5,
    "figure.titlesize": 9.5,
    "figure.labelsize": 9,
    "lines.linewidth": 1.5,
}


@contextmanager
def figure_style(narrow: bool = False) -> Iterator[None]:
    """The guide's matplotlib style (`narrow`: the phone variant's), with Python, NumPy and
    (if loaded) PyTorch seeded to 0."""
    import numpy as np

    random.seed(0)
    np.random.seed(0)
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(0)
    with matplotlib.rc_context({**STYLE, **(NARROW_STYLE if narrow else {})}):
        yield


def dark_variant(svg: str) -> str:
    """The dark-theme version of a figure's SVG: the light theme's ink becomes `NEUTRAL_DARK`."""
    return svg.replace(NEUTRAL, NEUTRAL_DARK)


def _luminance(color: Any) -> float:
    """WCAG relative luminance of a matplotlib colour."""
    from matplotlib.colors import to_rgb

    channels = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in to_rgb(color)]
    return 0.2126 * channels[0] + 0.7152 * channels[1] + 0.0722 * channels[2]


def contrast(first: Any, second: Any) -> float:
    """WCAG contrast ratio of two colours, from 1 (none) to 21 (black on white)."""
    light, dark = sorted((_luminance(first), _luminance(second)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def ink_on(face: Any) -> str:
    """Near-black or white, whichever reads better on a shape filled with `face`."""
    return max(("#111111", "#ffffff"), key=lambda ink: contrast(ink, face))


def shown(token: str) -> str:
    """A token's text with its spaces and newlines made visible (␣ and ↵)."""
    return token.replace(" ", "\u2423").replace("\n", "\u21b5")


def plain_log_ticks(ax: Any, axis: str = "y") -> None:
    """Label a log axis 1, 10, 100 or 1e−14 instead of 10 with a superscript: matplotlib
    draws exponents at 70% size, below the figures' smallest text."""
    from matplotlib.ticker import FuncFormatter

    def label(value: float, _position: Any) -> str:
        if 1e-3 <= value < 1e4:
            return f"{value:g}"
        return f"{value:.0e}".replace("e-0", "e-").replace("e+0", "e").replace("-", "\u2212")

    getattr(ax, f"{axis}axis").set_major_formatter(FuncFormatter(label))


def colorbar(fig: Figure, image: Any, ax: Any, **kwargs: Any) -> Any:
    """A frameless colour bar for `image` beside `ax` (kwargs: size and padding)."""
    bar = fig.colorbar(image, ax=ax, **kwargs)
    bar.outline.set_visible(False)
    bar.ax.tick_params(color=NEUTRAL, length=2)
    return bar


def run_file(name: str, filename: str) -> Path:
    """A file of the published run `minigpt/runs/<name>/` (which may not exist)."""
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
    fontsize: float | None = None,
    numbers: bool = True,
) -> Any:
    """Draw `matrix` as a heatmap with its values written in the cells.

    `signed` uses a diverging map centred on 0 (scores, projections); otherwise a sequential
    map from 0 (attention weights). Cells holding −∞ are dark grey and labelled "−∞". The
    numbers are `fontsize` points, by default a point below the style's text (the narrow
    variant's smallest size there).
    """
    import numpy as np

    base = matplotlib.rcParams["font.size"]
    if fontsize is None:
        fontsize = MIN_FONT_SIZE if base >= 11 else NARROW_MIN_FONT_SIZE

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
                text, color = ("\u2212\u221e" if value < 0 else "+\u221e"), ink_on(cmap.get_bad())
            else:
                text = fmt.format(value)
                if float(text) == 0:  # no "−0.00"
                    text = text.lstrip("-")
                text = text.replace("-", "\u2212")
                color = ink_on(cmap((value - vmin) / (vmax - vmin)))
            ax.text(j, i, text, ha="center", va="center", color=color, fontsize=fontsize)
    ax.set_xticks(range(len(cols)), cols, rotation=90 if max(map(len, cols)) > 2 else 0)
    ax.set_yticks(range(len(rows)), rows)
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    if title:
        ax.set_title(title, fontsize=base)
    return image
