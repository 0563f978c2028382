"""The guide's figures, drawn from real tensors when the site is built.

One module per chapter (`ch05_masked_multi_head_attention.py` draws chapter 5's figures),
`style.py` for what they share and `registry.py` for the machinery. The MkDocs hook
`docs/hooks/render_figures.py` renders every registered figure and adds its SVG to the site
at the registered path, so a page shows it with an ordinary image link whose title is its
caption, one sentence saying what to look at (the hook numbers it: Figure 4.2):

    ![Attention weights of the running example](figures/04-attention-weights.svg "Caption.")

To add a figure, add a function to your chapter's module. It draws the figure for the desktop
column, and with `narrow=True` a variant for a phone's (358 px: panels stacked, legends
below; see `style.py`), which the page shows on small screens:

    @figure("figures/04-attention-weights.svg")
    def attention_weights(narrow: bool) -> Figure:
        fig, ax = plt.subplots(figsize=(3.6, 3.2) if narrow else (5, 4))
        ...
        return fig          # a matplotlib Figure, or SVG text (str)

Rules that keep figures correct and stable:

* Paths are `figures/<two-digit chapter>-<name>.svg` (`00` is the introduction) and unique.
* Compute what you plot with the `minigpt` package itself: no numbers typed by hand.
* The function takes only `narrow`. It runs inside `figure_style(narrow)` with every random
  generator seeded to 0, and the SVG is written without dates or random ids, so a rebuild
  gives the same bytes.
* Colours: see `style.py`.

These figures are part of the guide, not of the installed `minigpt` package: only the site
build (and the tests) import them, so the package itself never needs matplotlib.
"""

import matplotlib

matplotlib.use("Agg")  # before anything imports pyplot: figures are files, never windows

from . import (  # noqa: E402, F401 - importing a chapter's module registers its figures
    ch00_introduction,
    ch01_tokenization,
    ch02_token_embeddings,
    ch03_positional_embeddings,
    ch04_self_attention,
    ch05_masked_multi_head_attention,
    ch06_feed_forward_networks,
    ch07_residual_connections,
    ch08_layer_normalization,
    ch09_transformer_block,
    ch10_minigpt,
    ch11_train_and_sample,
)
from .registry import FIGURES, figure, render_figure  # noqa: E402
from .style import dark_variant  # noqa: E402

__all__ = ["FIGURES", "dark_variant", "figure", "render_figure"]
