"""The figure registry: `@figure(path)` registers a function, `render_figure(path)` runs it.

A figure function takes one argument, `narrow`: False draws the figure for the desktop
column, True its variant for a phone's (see `style.py`). The MkDocs hook
`docs/hooks/render_figures.py` renders both of every registered figure during the build and
adds their SVGs to the site: the desktop one at the registered path, the phone one under
`figures/narrow/`.
"""

from __future__ import annotations

import inspect
import io
from collections.abc import Callable

import matplotlib
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from .style import STYLE, figure_style

FigureFunction = Callable[[bool], "Figure | str"]

# Site path -> function(narrow) returning SVG text. Filled by the @figure decorator.
FIGURES: dict[str, Callable[[bool], str]] = {}


def svg_from_figure(fig: Figure) -> str:
    """Render a matplotlib figure to SVG text (transparent, no timestamp), then close it."""
    buffer = io.StringIO()
    with matplotlib.rc_context(STYLE):
        fig.savefig(
            buffer,
            format="svg",
            bbox_inches="tight",
            transparent=True,
            metadata={"Date": None, "Creator": None},
        )
    plt.close(fig)
    return buffer.getvalue()


def figure(path: str) -> Callable[[FigureFunction], FigureFunction]:
    """Register a figure function under its site path, e.g. `figures/04-qkv.svg`."""
    if not (path.startswith("figures/") and path.endswith(".svg")) or "/" in path[8:]:
        raise ValueError(f"figure paths look like 'figures/<chapter>-<name>.svg', got {path!r}")
    if path in FIGURES:
        raise ValueError(f"figure {path!r} is registered twice")

    def register(function: FigureFunction) -> FigureFunction:
        if list(inspect.signature(function).parameters) != ["narrow"]:
            raise TypeError(
                f"figure function {function.__name__} for {path} must take one argument, "
                "narrow: bool (True: draw the variant for a phone's column, see style.py)"
            )

        def render(narrow: bool = False) -> str:
            with figure_style(narrow):
                result = function(narrow)
            if isinstance(result, Figure):
                return svg_from_figure(result)
            if isinstance(result, str) and result.lstrip().startswith(("<?xml", "<svg")):
                return result
            raise TypeError(
                f"figure function {function.__name__} for {path} must return a matplotlib "
                f"Figure or SVG text, got {type(result).__name__}"
            )

        render.__name__ = function.__name__
        render.__doc__ = function.__doc__
        FIGURES[path] = render
        return function

    return register


def render_figure(path: str, narrow: bool = False) -> str:
    """The SVG text of a registered figure (`narrow`: its variant for a phone's column)."""
    try:
        return FIGURES[path](narrow)
    except KeyError:
        raise KeyError(f"no figure registered at {path!r}; known: {sorted(FIGURES)}") from None
