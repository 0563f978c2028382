"""Figures of chapter 2, token embeddings: the lookup as a matrix product, and a table's rows."""

from __future__ import annotations

import matplotlib
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from .registry import figure
from .style import EXAMPLE_TEXT, NEUTRAL, PALETTE, colorbar, ink_on, shown


def _cell_grid(ax, rows: int, cols: int) -> None:
    """Thin lines between the cells of a matrix drawn with imshow."""
    ax.set_xticks([c - 0.5 for c in range(1, cols)], minor=True)
    ax.set_yticks([r - 0.5 for r in range(1, rows)], minor=True)
    ax.grid(which="minor", color=NEUTRAL, alpha=0.35, linewidth=0.6)
    ax.tick_params(which="both", length=0)
    for spine in ax.spines.values():
        spine.set_visible(True)
        spine.set_color(NEUTRAL)


@figure("figures/02-one-hot-lookup.svg")
def one_hot_lookup(narrow: bool) -> Figure:
    """one_hot(ids) @ table selects rows of the table, shown for the characters of "moment".

    Narrow: one_hot(ids) on top, the table and the product side by side below it."""
    import torch
    from torch.nn import functional as F

    from minigpt.token_embeddings import TokenEmbedding
    from minigpt.tokenization import CharTokenizer

    chars = CharTokenizer.from_text(EXAMPLE_TEXT)
    ids = torch.tensor(chars.encode("moment"))
    torch.manual_seed(0)
    table = TokenEmbedding(chars.vocab_size, 4).weight.detach()
    one_hot = F.one_hot(ids, chars.vocab_size).to(table.dtype)
    rows = one_hot @ table
    limit = float(table.abs().max())
    labels = [shown(ch) for ch in chars.chars]
    if narrow:
        fig = plt.figure(figsize=(3.6, 5.6))
        grid = fig.add_gridspec(
            2, 2, height_ratios=[len(ids), chars.vocab_size], hspace=0.45, wspace=0.7
        )
        axes = [
            fig.add_subplot(grid[0, :]),
            fig.add_subplot(grid[1, 0]),
            fig.add_subplot(grid[1, 1]),
        ]
    else:
        fig, axes = plt.subplots(
            1,
            3,
            figsize=(9.2, 4.2),
            gridspec_kw={"width_ratios": [chars.vocab_size, 4, 4], "wspace": 0.35},
        )
    ax = axes[0]
    ax.imshow(
        one_hot.numpy(),
        cmap=matplotlib.colors.ListedColormap(["#00000000", PALETTE[2]]),
        vmin=0,
        vmax=1,
    )
    for r, c in enumerate(ids.tolist()):
        ax.text(c, r, "1", ha="center", va="center", color=ink_on(PALETTE[2]), fontsize=9)
    ax.set_xticks(range(chars.vocab_size), labels, family="monospace")
    ax.set_yticks(
        range(len(ids)), [f"{chars.chars[i]}  {i}" for i in ids.tolist()], family="monospace"
    )
    ax.set_xlabel("vocabulary: one column per character")
    ax.set_title(
        f"one_hot(ids)   ({len(ids)} × {chars.vocab_size})", fontsize=9.5 if narrow else 10
    )
    _cell_grid(ax, len(ids), chars.vocab_size)
    separator = "\n" if narrow else "   "
    for ax, matrix, title in (
        (axes[1], table, f"table{separator}({chars.vocab_size} × 4)"),
        (axes[2], rows, f"one_hot @ table{separator}({len(ids)} × 4)"),
    ):
        ax.imshow(matrix.numpy(), cmap="coolwarm", vmin=-limit, vmax=limit)
        ax.set_xticks(range(4), [str(i) for i in range(4)])
        ax.set_title(title, fontsize=9.5 if narrow else 10)
        _cell_grid(ax, matrix.shape[0], 4)
    axes[1].set_yticks(
        range(chars.vocab_size), [f"{ch} {i}" for i, ch in enumerate(labels)], family="monospace"
    )
    for i in sorted(set(ids.tolist())):
        axes[1].add_patch(
            matplotlib.patches.Rectangle(
                (-0.5, i - 0.5), 4, 1, fill=False, edgecolor=PALETTE[2], linewidth=2.5
            )
        )
    axes[2].set_yticks(range(len(ids)), [chars.chars[i] for i in ids.tolist()], family="monospace")
    if narrow:  # "@" between the one-hot matrix and the table, "=" before the product
        axes[2].set_anchor("N")
        fig.text(0.06, 0.66, "@", fontsize=16, ha="center", va="center")
        fig.text(0.52, 0.5, "=", fontsize=16, ha="center", va="center")
    else:
        fig.text(0.555, 0.5, "@", fontsize=18, ha="center", va="center")
        fig.text(0.745, 0.5, "=", fontsize=18, ha="center", va="center")
    return fig


@figure("figures/02-embedding-rows.svg")
def embedding_rows(narrow: bool) -> Figure:
    """The vectors of the running example's five tokens in a fresh (untrained) 16-wide table.

    Narrow: every fifth dimension numbered, the colour bar below, the title on two lines."""
    import torch

    from minigpt.token_embeddings import TokenEmbedding
    from minigpt.tokenization import GPT2Tokenizer

    tokenizer = GPT2Tokenizer()
    text = EXAMPLE_TEXT
    ids = torch.tensor(tokenizer.encode(text))
    torch.manual_seed(0)
    embedding = TokenEmbedding(tokenizer.vocab_size, 16)
    with torch.no_grad():
        vectors = embedding(ids)
    limit = float(vectors.abs().max())
    fig, ax = plt.subplots(figsize=(3.4, 2.6) if narrow else (8, 2.6))
    image = ax.imshow(vectors.numpy(), cmap="coolwarm", vmin=-limit, vmax=limit)
    ax.set_yticks(
        range(len(ids)),
        [  # narrow: the ids are in the title
            shown(t) if narrow else f"{shown(t)}  {i}"
            for t, i in zip(tokenizer.tokens(text), ids.tolist())
        ],
        family="monospace",
    )
    numbered = range(0, 16, 5) if narrow else range(16)
    ax.set_xticks(list(numbered), [str(i) for i in numbered])
    ax.set_xlabel("embedding dimension")
    _cell_grid(ax, len(ids), 16)
    if narrow:
        bar = colorbar(fig, image, ax, orientation="horizontal", fraction=0.08, pad=0.22, aspect=30)
        bar.ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(4))
    else:
        colorbar(fig, image, ax, fraction=0.03, pad=0.02)
    ax.set_title(
        f"rows {', '.join(map(str, ids.tolist()))}{chr(10) if narrow else ' '}of a random "
        f"{tokenizer.vocab_size} × 16 table (untrained)",
        fontsize=9.5 if narrow else 10,
    )
    return fig
