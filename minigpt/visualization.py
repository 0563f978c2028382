"""Figures for the guide, generated from code at build time.

Every figure on the site is produced by a function registered here. The MkDocs hook
`docs/hooks/figures.py` calls each one during the build and adds its SVG to the site at the
registered path, so a page shows it with an ordinary image link:

    ![Attention weights of the running example](figures/04-attention-weights.svg)

(`figures/...` is relative to the docs folder; the chapter pages sit right beside it.)

To add a figure, append a function under your chapter's header below:

    @figure("figures/04-attention-weights.svg")
    def attention_weights():
        fig, ax = plt.subplots(figsize=(5, 4))
        ...
        return fig          # a matplotlib Figure, or SVG text (str)

Rules that keep figures correct and stable:

* Paths are `figures/<two-digit chapter>-<name>.svg` (`00` is the introduction) and unique.
* Compute what you plot with the `minigpt` package itself: no numbers typed by hand.
* The function takes no arguments. It runs inside `figure_style()` with every random generator
  seeded to 0, and the SVG is written without dates or random ids, so a rebuild gives the same
  bytes.
* Colours: the background is transparent and text, axes and grid lines use `NEUTRAL`, a mid
  grey that reads on both the light and the dark theme. Use `PALETTE` for data.
"""

from __future__ import annotations

import io
import random
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

FigureFunction = Callable[[], "Figure | str"]

# Registry: site path -> function returning SVG text. Filled by the @figure decorator.
FIGURES: dict[str, Callable[[], str]] = {}

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
    """Register a figure function under its site path, e.g. `figures/04-attention-weights.svg`."""
    if not (path.startswith("figures/") and path.endswith(".svg")) or "/" in path[8:]:
        raise ValueError(f"figure paths look like 'figures/<chapter>-<name>.svg', got {path!r}")
    if path in FIGURES:
        raise ValueError(f"figure {path!r} is registered twice")

    def register(function: FigureFunction) -> FigureFunction:
        def render() -> str:
            with figure_style():
                result = function()
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


def render_figure(path: str) -> str:
    """The SVG text of a registered figure."""
    try:
        return FIGURES[path]()
    except KeyError:
        raise KeyError(f"no figure registered at {path!r}; known: {sorted(FIGURES)}") from None


# --- Shared by the chapters ---

EXAMPLE_TEXT = "Every moment is a beginning"  # the guide's running example

# Committed training runs (chapters 5, 10, 11): docs/runs/<preset>/{metrics.jsonl,run.json,...}.
RUNS_DIR = Path(__file__).resolve().parents[1] / "docs" / "runs"


def _shown(token: str) -> str:
    """A token's text with its spaces and newlines made visible (␣ and ↵)."""
    return token.replace(" ", "\u2423").replace("\n", "\u21b5")


def _colorbar(fig: Figure, image: Any, ax: Any, **kwargs: Any) -> Any:
    """A frameless colour bar for `image` beside `ax` (kwargs: size and padding)."""
    colorbar = fig.colorbar(image, ax=ax, **kwargs)
    colorbar.outline.set_visible(False)
    colorbar.ax.tick_params(color=NEUTRAL, length=2)
    return colorbar


def _token_boxes(ax: Any, tokens: list[str], x: float, y: float, color: str) -> float:
    """Draw tokens as a row of rounded boxes starting at `x`; returns the x where the row ends.

    A leading space, which GPT-2 tokens usually carry, is shown as ␣ so it can be seen.
    """
    for token in tokens:
        label = _shown(token)
        width = 0.3 + 0.14 * len(label)
        ax.add_patch(
            matplotlib.patches.FancyBboxPatch(
                (x, y - 0.3), width, 0.6, boxstyle="round,pad=0,rounding_size=0.12",
                facecolor=color, edgecolor="none",
            )
        )
        ax.text(x + width / 2, y, label, ha="center", va="center", color="white",
                family="monospace", fontsize=11)
        x += width + 0.12
    return x


# --- Introduction ---


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
        end = _token_boxes(ax, tokens[:step], 0.0, y, NEUTRAL)
        ax.annotate("", xy=(end + 0.5, y), xytext=(end + 0.02, y),
                    arrowprops={"arrowstyle": "-|>", "color": NEUTRAL, "lw": 1.5})
        right = max(right, _token_boxes(ax, tokens[step:step + 1], end + 0.62, y, PALETTE[0]))
        ax.text(-0.2, y, f"step {step}", ha="right", va="center", fontsize=10)
    ax.set_xlim(-1.3, right)
    ax.set_ylim(-0.45, steps - 0.55)
    ax.set_aspect("equal")
    ax.axis("off")
    return fig


# --- Chapter 1: tokenization ---

@figure("figures/01-tokens.svg")
def colored_tokens() -> Figure:
    """GPT-2's tokens of three lines, each on its own colour, with its id below."""
    from minigpt.tokenization import GPT2Tokenizer

    tokenizer = GPT2Tokenizer()
    lines = [
        EXAMPLE_TEXT,
        EXAMPLE_TEXT.upper(),
        "Tokenizers can't count: 1234567 sunsets \U0001f305",
    ]
    char_w, pad, gap, row_h = 0.105, 0.14, 0.07, 0.95
    rows = []
    for line in lines:
        ids = tokenizer.encode(line)
        rows.append(list(zip(tokenizer.tokens(line), ids)))
    width = max(sum(max(len(_shown(t)), len(str(i))) * char_w + pad + gap for t, i in row)
                for row in rows)
    fig, ax = plt.subplots(figsize=(width + 0.1, row_h * len(rows)))
    for r, row in enumerate(rows):
        y = -r * row_h
        x = 0.0
        for k, (token, token_id) in enumerate(row):
            label = _shown(token)
            w = max(len(label), len(str(token_id))) * char_w + pad
            ax.add_patch(matplotlib.patches.FancyBboxPatch(
                (x, y - 0.17), w, 0.34, boxstyle="round,pad=0,rounding_size=0.07",
                facecolor=PALETTE[k % len(PALETTE)], edgecolor="none",
            ))
            ax.text(x + w / 2, y, label, ha="center", va="center", color="white",
                    family="monospace", fontsize=10.5)
            ax.text(x + w / 2, y - 0.32, str(token_id), ha="center", va="center",
                    family="monospace", fontsize=8.5)
            x += w + gap
    ax.set_xlim(-0.02, width)
    ax.set_ylim(-row_h * (len(rows) - 1) - 0.45, 0.22)
    ax.set_aspect("equal")
    ax.axis("off")
    return fig


def _merge_steps(bpe, chunk: str) -> list[list[int]]:
    """The ids of `chunk` before any merge and after each merge that encoding applies."""
    from itertools import pairwise

    from minigpt.tokenization import merge_pair

    ids = [bpe.byte_ids[b] for b in chunk.encode("utf-8")]
    steps = [ids]
    while len(ids) >= 2:
        pair = min(pairwise(ids), key=lambda p: bpe.merges.get(p, float("inf")))
        if pair not in bpe.merges:
            break
        ids = merge_pair(ids, pair, bpe.merges[pair])
        steps.append(ids)
    return steps


@figure("figures/01-bpe-merges.svg")
def bpe_merges() -> Figure:
    """How GPT-2's merges build each token of the running example, starting from its bytes.

    Each row applies one merge, always the lowest-ranked pair present (`bpe_encode_chunk`):
    the token it creates is blue, the finished token green with its id.
    """
    import regex

    from minigpt.tokenization import BPETokenizer, GPT2Tokenizer

    bpe = BPETokenizer.from_tiktoken(GPT2Tokenizer().encoding)
    chunks = regex.findall(bpe.pattern, EXAMPLE_TEXT)
    all_steps = [_merge_steps(bpe, chunk) for chunk in chunks]
    unit, row_h, gap = 0.27, 0.42, 0.8
    n_rows = max(len(steps) for steps in all_steps)
    total = sum(len(c.encode("utf-8")) for c in chunks) * unit + gap * (len(chunks) - 1)
    fig, ax = plt.subplots(figsize=(total + 0.8, n_rows * row_h + 0.3))
    x0 = 0.0
    for chunk, steps in zip(chunks, all_steps):
        before: set[tuple[int, int]] = set()
        for r, ids in enumerate(steps):
            y = -r * row_h
            spans, start = [], 0
            for token_id in ids:
                spans.append((start, start + len(bpe.vocab[token_id])))
                start = spans[-1][1]
            for token_id, span in zip(ids, spans):
                if r == len(steps) - 1:  # the finished token
                    face, edge, color = PALETTE[2], "none", "white"
                elif r > 0 and span not in before:  # made by this row's merge
                    face, edge, color = PALETTE[0], "none", "white"
                else:
                    face, edge, color = "none", NEUTRAL, NEUTRAL
                x, w = x0 + span[0] * unit, (span[1] - span[0]) * unit
                ax.add_patch(matplotlib.patches.FancyBboxPatch(
                    (x + 0.025, y - 0.15), w - 0.05, 0.3, boxstyle="round,pad=0,rounding_size=0.05",
                    facecolor=face, edgecolor=edge, linewidth=0.8,
                ))
                text = _shown(bpe.vocab[token_id].decode("utf-8", "backslashreplace"))
                ax.text(x + w / 2, y, text, ha="center", va="center", color=color,
                        family="monospace", fontsize=9.5)
                if r == len(steps) - 1:
                    ax.text(x + w / 2, y - 0.27, str(token_id), ha="center", va="center",
                            family="monospace", fontsize=8.5)
            before = set(spans)
        x0 += len(chunk.encode("utf-8")) * unit + gap
    for r in range(n_rows):
        ax.text(-0.12, -r * row_h, "bytes" if r == 0 else f"merge {r}", ha="right",
                va="center", fontsize=9)
    ax.set_xlim(-0.9, total)
    ax.set_ylim(-(n_rows - 1) * row_h - 0.4, 0.2)
    ax.set_aspect("equal")
    ax.axis("off")
    return fig


# --- Chapter 2: token embeddings ---


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
def one_hot_lookup() -> Figure:
    """one_hot(ids) @ table selects rows of the table, shown for the characters of "moment"."""
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
    shown = [_shown(ch) for ch in chars.chars]
    fig, axes = plt.subplots(
        1, 3, figsize=(9.2, 4.2),
        gridspec_kw={"width_ratios": [chars.vocab_size, 4, 4], "wspace": 0.35},
    )
    ax = axes[0]
    ax.imshow(one_hot.numpy(), cmap=matplotlib.colors.ListedColormap(["#00000000", PALETTE[2]]),
              vmin=0, vmax=1)
    for r, c in enumerate(ids.tolist()):
        ax.text(c, r, "1", ha="center", va="center", color="white", fontsize=9)
    ax.set_xticks(range(chars.vocab_size), shown, family="monospace")
    ax.set_yticks(range(len(ids)), [f"{chars.chars[i]}  {i}" for i in ids.tolist()],
                  family="monospace")
    ax.set_xlabel("vocabulary: one column per character")
    ax.set_title(f"one_hot(ids)   ({len(ids)} × {chars.vocab_size})", fontsize=10)
    _cell_grid(ax, len(ids), chars.vocab_size)
    for ax, matrix, title in ((axes[1], table, f"table   ({chars.vocab_size} × 4)"),
                              (axes[2], rows, f"one_hot @ table   ({len(ids)} × 4)")):
        ax.imshow(matrix.numpy(), cmap="coolwarm", vmin=-limit, vmax=limit)
        ax.set_xticks(range(4), [str(i) for i in range(4)])
        ax.set_title(title, fontsize=10)
        _cell_grid(ax, matrix.shape[0], 4)
    axes[1].set_yticks(range(chars.vocab_size), [f"{ch} {i}" for i, ch in enumerate(shown)],
                       family="monospace")
    for i in sorted(set(ids.tolist())):
        axes[1].add_patch(matplotlib.patches.Rectangle((-0.5, i - 0.5), 4, 1, fill=False,
                                                       edgecolor=PALETTE[2], linewidth=2.5))
    axes[2].set_yticks(range(len(ids)), [chars.chars[i] for i in ids.tolist()],
                       family="monospace")
    fig.text(0.555, 0.5, "@", fontsize=18, ha="center", va="center")
    fig.text(0.745, 0.5, "=", fontsize=18, ha="center", va="center")
    return fig


@figure("figures/02-embedding-rows.svg")
def embedding_rows() -> Figure:
    """The vectors of the running example's five tokens in a fresh (untrained) 16-wide table."""
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
    fig, ax = plt.subplots(figsize=(8, 2.6))
    image = ax.imshow(vectors.numpy(), cmap="coolwarm", vmin=-limit, vmax=limit)
    ax.set_yticks(range(len(ids)), [f"{_shown(t)}  {i}" for t, i in
                                    zip(tokenizer.tokens(text), ids.tolist())],
                  family="monospace")
    ax.set_xticks(range(16), [str(i) for i in range(16)])
    ax.set_xlabel("embedding dimension")
    _cell_grid(ax, len(ids), 16)
    _colorbar(fig, image, ax, fraction=0.03, pad=0.02)
    ax.set_title(f"rows {', '.join(map(str, ids.tolist()))} of a random "
                 f"{tokenizer.vocab_size} × 16 table (untrained)", fontsize=10)
    return fig


# --- Chapter 3: positional embeddings ---


@figure("figures/03-position-tables.svg")
def position_tables() -> Figure:
    """The sinusoidal table next to a learned table at initialisation (64 positions × 64 dims)."""
    import torch

    from minigpt.positional_embeddings import LearnedPositionalEmbedding, sinusoidal_table

    positions, dims = 64, 64
    torch.manual_seed(0)
    learned = LearnedPositionalEmbedding(positions, dims).weight.detach()
    fig, axes = plt.subplots(1, 2, figsize=(9, 4.4))
    for ax, table, title in (
        (axes[0], sinusoidal_table(positions, dims), "sinusoidal (fixed)"),
        (axes[1], learned, "learned, at initialisation (random)"),
    ):
        limit = float(table.abs().max())
        image = ax.imshow(table.numpy(), cmap="coolwarm", vmin=-limit, vmax=limit,
                          interpolation="nearest")
        ax.set_title(title, fontsize=10.5)
        ax.set_xlabel("embedding dimension")
        ax.set_ylabel("position")
        _colorbar(fig, image, ax, fraction=0.046, pad=0.03)
    fig.tight_layout()
    return fig


@figure("figures/03-sinusoids.svg")
def sinusoids() -> Figure:
    """Columns of the sinusoidal table as waves, and the dot products between its rows."""
    from minigpt.positional_embeddings import sinusoidal_table

    positions, dims = 100, 64
    table = sinusoidal_table(positions, dims)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.9),
                                      gridspec_kw={"width_ratios": [1.5, 1]})
    for k, dim in enumerate((4, 10, 16, 24, 32)):
        left.plot(table[:, dim].numpy(), label=f"dim {dim}", color=PALETTE[k], linewidth=1.6)
    left.set_xlabel("position")
    left.set_ylabel("value")
    left.set_xlim(0, positions - 1)
    left.legend(loc="upper right", ncols=5, fontsize=9, bbox_to_anchor=(1, 1.16))
    left.grid(True)
    image = right.imshow((table @ table.T).numpy(), cmap="viridis", interpolation="nearest")
    right.set_title("row · row (dot products)", fontsize=10.5)
    right.set_xlabel("position")
    right.set_ylabel("position")
    _colorbar(fig, image, right, fraction=0.046, pad=0.04)
    fig.tight_layout()
    return fig


# --- Chapter 4: self-attention ---


def _attention_heatmap(ax: Any, matrix: Any, rows: list[str], cols: list[str], *,
                       title: str = "", signed: bool = False, fmt: str = "{:.2f}",
                       vmax: float | None = None, fontsize: float = 9,
                       numbers: bool = True) -> Any:
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


def _example_self_attention() -> tuple[list[str], Any, Any]:
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
    return [_shown(t) for t in tokens], x, attention


@figure("figures/04-qkv.svg")
def attention_qkv() -> Figure:
    """Step 1: the query, key and value vector of every token of the example."""
    import torch

    labels, x, attention = _example_self_attention()
    with torch.no_grad():
        parts = {"queries  Q = x W_Q": attention.query(x)[0],
                 "keys  K = x W_K": attention.key(x)[0],
                 "values  V = x W_V": attention.value(x)[0]}
    vmax = max(float(p.abs().max()) for p in parts.values())
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.0))
    dims = [str(i) for i in range(attention.query.out_features)]
    for ax, (title, matrix) in zip(axes, parts.items()):
        _attention_heatmap(ax, matrix, labels, dims, title=title, signed=True, vmax=vmax,
                           fontsize=8)
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

    labels, x, attention = _example_self_attention()
    with torch.no_grad():
        q, k = attention.query(x)[0], attention.key(x)[0]
        scores = q @ k.T
        scaled = scores / math.sqrt(q.shape[-1])
        weights = torch.softmax(scaled, dim=-1)
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.0))
    vmax = float(scores.abs().max())
    _attention_heatmap(axes[0], scores, labels, labels, title="2. scores  Q K\u1d40",
                       signed=True, vmax=vmax)
    _attention_heatmap(axes[1], scaled, labels, labels,
                       title=f"3. scaled  Q K\u1d40 / \u221a{q.shape[-1]}", signed=True, vmax=vmax)
    _attention_heatmap(axes[2], weights, labels, labels, title="4. softmax: weights",
                       vmax=1.0)
    axes[0].set_ylabel("query: the token looking")
    for ax in axes:
        ax.set_xlabel("key: the token looked at")
    fig.tight_layout()
    return fig


@figure("figures/04-context.svg")
def attention_context() -> Figure:
    """Step 5: the context vectors are the weights times the values."""
    import torch

    labels, x, attention = _example_self_attention()
    with torch.no_grad():
        context, weights = attention(x)
        values = attention.value(x)[0]
    dims = [str(i) for i in range(values.shape[-1])]
    vmax = max(float(values.abs().max()), float(context.abs().max()))
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4),
                             gridspec_kw={"width_ratios": [5, 8, 8], "wspace": 0.12})
    _attention_heatmap(axes[0], weights[0], labels, labels, title="weights", vmax=1.0,
                       fontsize=8)
    _attention_heatmap(axes[1], values, labels, dims, title="values  V", signed=True,
                       vmax=vmax, fontsize=8)
    _attention_heatmap(axes[2], context[0], labels, dims, title="context = weights @ V",
                       signed=True, vmax=vmax, fontsize=8)
    for ax in axes[1:]:
        ax.set_yticklabels([])
        ax.set_xlabel("dimension")
    for ax, symbol in ((axes[0], "@"), (axes[1], "=")):
        ax.annotate(symbol, xy=(1.0, 0.5), xycoords="axes fraction", xytext=(13, 0),
                    textcoords="offset points", ha="center", va="center", fontsize=16,
                    color=NEUTRAL)
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
    left.set(xscale="log", yscale="log", xlabel="d\u2096 (dimensions per head)",
             ylabel="variance of the scores", title="score variance")
    right.plot(dims, raw_top, "o-", color=PALETTE[3], label="raw")
    right.plot(dims, scaled_top, "o-", color=PALETTE[0], label="scaled")
    right.axhline(1 / 5, color=NEUTRAL, lw=1, ls=":")
    right.text(dims[-1], 1 / 5 + 0.02, "uniform (1/5)", ha="right", fontsize=9)
    right.set(xscale="log", ylim=(0, 1.05), xlabel="d\u2096 (dimensions per head)",
              ylabel="largest weight in a row (mean)", title="softmax over 5 keys")
    for ax in (left, right):
        ax.set_xticks(dims, [str(d) for d in dims])
        ax.minorticks_off()
        ax.grid(True)
        ax.legend()
    fig.tight_layout()
    return fig


# --- Chapter 5: masked multi-head attention ---


# Attention maps of the trained character-level model on the running example, written by
# `export_attention_maps` from the run's checkpoint and committed, so the site builds without it.
ATTENTION_MAPS = RUNS_DIR / "shakespeare-char-cpu" / "attention.json"


def export_attention_maps(model: Any, tokenizer: Any, text: str, path: str | Path,
                          source: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write the attention weights of every layer and head of `model` on `text` to JSON.

    The file holds the text, its tokens, the model's configuration, and
    `attention[layer][head][query][key]` rounded to 3 decimals (rows sum to 1 up to that
    rounding); `source` is optional metadata such as the checkpoint's step and loss. Returns
    what it wrote.
    """
    import json

    import torch

    device = next(model.parameters()).device
    ids = torch.tensor([tokenizer.encode(text)], device=device)
    maps = model.attention_maps(ids)[:, 0]  # (layers, heads, T, T): the one sequence
    data = {
        "text": text,
        "tokens": tokenizer.tokens(text),
        "num_layers": maps.shape[0],
        "num_heads": maps.shape[1],
        "model_config": model.config.to_dict(),
        "source": source or {},
        "attention": maps.double().cpu().round(decimals=3).tolist(),
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n",
                    encoding="utf-8")
    return data


def load_attention_maps(path: str | Path | None = None) -> dict[str, Any]:
    """Read a file written by `export_attention_maps` (by default the committed one)."""
    import json

    path = Path(ATTENTION_MAPS if path is None else path)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found: create it from a trained checkpoint with "
            "minigpt.visualization.export_attention_maps (see chapter 5 of the guide)"
        )
    return json.loads(path.read_text(encoding="utf-8"))


def head_statistics(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Where each head of an exported attention map puts its weight, on average.

    For every layer and head: `previous` (weight on the token just before), `self` (on
    itself), `first` (on the first token), and `spaces` (on space tokens), each averaged over
    the query positions from the second token on (the first can only look at itself).
    """
    import torch

    weights = torch.tensor(data["attention"])  # (layers, heads, T, T)
    is_space = torch.tensor([token.strip() == "" for token in data["tokens"]])
    positions = torch.arange(1, weights.shape[-1])
    rows = []
    for layer in range(weights.shape[0]):
        for head in range(weights.shape[1]):
            w = weights[layer, head, 1:]  # queries 1 … T−1
            rows.append({
                "layer": layer, "head": head,
                "previous": w[positions - 1, positions - 1].mean().item(),
                "self": w[positions - 1, positions].mean().item(),
                "first": w[:, 0].mean().item(),
                "spaces": w[:, is_space].sum(dim=-1).mean().item(),
            })
    return rows


@figure("figures/05-causal-mask.svg")
def causal_mask_figure() -> Figure:
    """The causal mask of the running example: 1 where a token may look, 0 where it may not."""
    from matplotlib.colors import ListedColormap

    from minigpt.multi_head_attention import causal_mask
    from minigpt.tokenization import GPT2Tokenizer

    labels = [_shown(t) for t in GPT2Tokenizer().tokens(EXAMPLE_TEXT)]
    mask = causal_mask(len(labels)).int().numpy()
    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    ax.imshow(mask, cmap=ListedColormap([(0.54, 0.56, 0.6, 0.15), PALETTE[0]]), vmin=0, vmax=1)
    for i in range(len(labels)):
        for j in range(len(labels)):
            allowed = bool(mask[i, j])
            ax.text(j, i, "1" if allowed else "0", ha="center", va="center", fontsize=13,
                    color="white" if allowed else NEUTRAL, weight="bold")
    for edge in range(len(labels) + 1):
        ax.axhline(edge - 0.5, color=NEUTRAL, lw=0.6)
        ax.axvline(edge - 0.5, color=NEUTRAL, lw=0.6)
    ax.set_xticks(range(len(labels)), labels, rotation=90)
    ax.set_yticks(range(len(labels)), labels)
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_xlabel("key: the token looked at")
    ax.set_ylabel("query: the token looking")
    ax.xaxis.set_label_position("top")
    ax.xaxis.tick_top()
    return fig


@figure("figures/05-masking.svg")
def masking_figure() -> Figure:
    """Chapter 4's scaled scores, the same scores masked with −∞, and the softmax of that."""
    import math

    import torch

    from minigpt.multi_head_attention import causal_mask

    labels, x, attention = _example_self_attention()
    with torch.no_grad():
        q, k = attention.query(x)[0], attention.key(x)[0]
        scaled = q @ k.T / math.sqrt(q.shape[-1])
        masked = scaled.masked_fill(~causal_mask(len(labels)), float("-inf"))
        weights = torch.softmax(masked, dim=-1)
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.0))
    vmax = float(scaled.abs().max())
    _attention_heatmap(axes[0], scaled, labels, labels, title="scaled scores", signed=True,
                       vmax=vmax)
    _attention_heatmap(axes[1], masked, labels, labels, signed=True, vmax=vmax,
                       title="masked: later tokens \u2192 \u2212\u221e")
    _attention_heatmap(axes[2], weights, labels, labels, title="softmax: causal weights",
                       vmax=1.0)
    axes[0].set_ylabel("query: the token looking")
    for ax in axes:
        ax.set_xlabel("key: the token looked at")
    fig.tight_layout()
    return fig


def _head_grid(data: dict[str, Any], heads: list[tuple[int, int]], columns: int,
               panel: float, tick_size: float, titles: list[str] | None = None) -> Figure:
    """Heatmaps of the given (layer, head) pairs of an exported attention map."""
    import numpy as np

    weights = np.asarray(data["attention"])
    labels = [_shown(t) for t in data["tokens"]]
    rows = -(-len(heads) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(panel * columns, panel * rows + 0.4),
                             squeeze=False)
    cmap = matplotlib.colormaps["viridis"]
    hidden = np.triu(np.ones(weights.shape[-2:], dtype=bool), k=1)  # masked: left blank
    for n, ax in enumerate(axes.flat):
        if n >= len(heads):
            ax.axis("off")
            continue
        layer, head = heads[n]
        ax.imshow(np.ma.masked_array(weights[layer, head], hidden), cmap=cmap, vmin=0.0,
                  vmax=1.0)
        ax.set_title(titles[n] if titles else f"layer {layer}, head {head}", fontsize=10)
        ticks = range(len(labels))
        ax.set_xticks(ticks, labels if n // columns == rows - 1 or titles else [],
                      fontsize=tick_size, family="monospace")
        ax.set_yticks(ticks, labels if n % columns == 0 or titles else [],
                      fontsize=tick_size, family="monospace")
        ax.tick_params(length=0, pad=1)
        for spine in ax.spines.values():
            spine.set_visible(False)
    fig.tight_layout()
    colorbar = fig.colorbar(matplotlib.cm.ScalarMappable(cmap=cmap), ax=axes, shrink=0.6,
                            pad=0.015, aspect=40)
    colorbar.set_label("attention weight")
    colorbar.outline.set_visible(False)
    return fig


@figure("figures/05-trained-heads.svg")
def trained_heads_figure() -> Figure:
    """Every head of the trained character-level model on the running example."""
    data = load_attention_maps()
    heads = [(layer, head) for layer in range(data["num_layers"])
             for head in range(data["num_heads"])]
    return _head_grid(data, heads, columns=data["num_heads"], panel=2.9, tick_size=7.5)


@figure("figures/05-head-patterns.svg")
def head_patterns_figure() -> Figure:
    """The heads that most clearly follow three common patterns, enlarged."""
    data = load_attention_maps()
    stats = head_statistics(data)
    chosen, titles = [], []
    for key, name in (("previous", "previous character"), ("first", "first character"),
                      ("spaces", "spaces")):
        best = max(stats, key=lambda row: row[key])
        chosen.append((best["layer"], best["head"]))
        titles.append(f"layer {best['layer']}, head {best['head']}: {name}\n"
                      f"(mean weight {best[key]:.2f})")
    return _head_grid(data, chosen, columns=3, panel=4.2, tick_size=8, titles=titles)


# --- Chapter 6: feed-forward networks ---


@figure("figures/06-gelu-vs-relu.svg")
def gelu_vs_relu() -> Figure:
    """ReLU, exact GELU and GPT-2's tanh-approximated GELU (the package's), with their slopes."""
    import torch
    from torch.nn import functional as F

    from minigpt.feed_forward import FeedForward

    x = torch.linspace(-4, 4, 801, requires_grad=True)
    curves = (  # (label, function, colour, line style)
        ("ReLU: max(0, x)", torch.relu, PALETTE[1], "-"),
        ("GELU, exact: x·Φ(x)", F.gelu, PALETTE[0], "-"),
        ("GELU, tanh approximation (GPT-2)", FeedForward(1).activation, PALETTE[3], (0, (4, 3))),
    )
    fig, (left, right) = plt.subplots(1, 2, figsize=(9.5, 3.8))
    for label, function, color, style in curves:
        y = function(x)
        (slope,) = torch.autograd.grad(y.sum(), x)
        left.plot(x.detach(), y.detach(), color=color, linestyle=style, lw=2, label=label)
        right.plot(x.detach(), slope, color=color, linestyle=style, lw=2)
    left.set(title="activation", xlabel="input x", ylabel="output", ylim=(-0.6, 4.1))
    right.set(title="slope (derivative)", xlabel="input x", ylabel="d output / dx",
              ylim=(-0.25, 1.25))
    for ax in (left, right):
        ax.axhline(0, color=NEUTRAL, lw=0.8)
        ax.axvline(0, color=NEUTRAL, lw=0.8)
        ax.grid(True)
    left.legend(loc="upper left", fontsize=9)
    fig.tight_layout()
    return fig


# --- Chapter 7: residual connections ---


@figure("figures/07-gradient-norms.svg")
def gradient_norms() -> Figure:
    """Gradient norm per layer of a 24-layer feed-forward stack, with and without residuals."""
    from minigpt.residual import gradient_norms_by_depth

    runs = (  # (label, keyword arguments of the experiment, colour, marker)
        ("with residual connections", {"residual": True}, PALETTE[0], "o"),
        ("no residuals", {"residual": False}, PALETTE[3], "s"),
        ("no residuals, LayerNorm before each layer", {"residual": False, "layer_norm": True},
         PALETTE[2], "^"),
    )
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    for label, kwargs, color, marker in runs:
        norms = gradient_norms_by_depth(num_layers=24, embed_dim=64, seed=0, **kwargs)
        ax.semilogy(range(1, len(norms) + 1), norms, color=color, marker=marker, ms=4, lw=1.8,
                    label=label)
    ax.set_xlabel("layer (1 = nearest the input, 24 = nearest the loss)")
    ax.set_ylabel("gradient norm of the layer's parameters")
    ax.set_xlim(0.5, 24.5)
    ax.grid(True, which="major")
    ax.legend(loc="lower right", fontsize=9)
    return fig


# --- Chapter 8: layer normalization ---


@figure("figures/08-activation-scale.svg")
def activation_scale() -> Figure:
    """Scale of the residual stream through 24 feed-forward sub-layers, with and without LayerNorm.

    The weights are multiplied by a gain (1×, 2×, 3× PyTorch's initial scale) to mimic layers
    whose weights grew during training.
    """
    import torch

    from minigpt.feed_forward import FeedForward
    from minigpt.layer_norm import LayerNorm
    from minigpt.residual import residual_add

    num_layers, dim = 24, 64
    norm = LayerNorm(dim)  # γ = 1, β = 0, as every LayerNorm starts: one can serve all layers
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    for gain, color in zip((1.0, 2.0, 3.0), (PALETTE[0], PALETTE[1], PALETTE[3])):
        for layer_norm, style in ((False, "-"), (True, (0, (4, 3)))):
            torch.manual_seed(0)
            sublayers = [FeedForward(dim) for _ in range(num_layers)]
            x = torch.randn(32, dim)
            scales = [x.std().item()]
            with torch.no_grad():
                for sublayer in sublayers:
                    sublayer.expand.weight.mul_(gain)
                    sublayer.project.weight.mul_(gain)
                    x = residual_add(x, sublayer(norm(x) if layer_norm else x))
                    scales.append(x.std().item())
            where = "LayerNorm first" if layer_norm else "no LayerNorm"
            ax.semilogy(range(num_layers + 1), scales, color=color, linestyle=style, lw=2,
                        label=f"weights × {gain:g}, {where}")
    ax.set_xlabel("sub-layers passed (each: x + f(x))")
    ax.set_ylabel("standard deviation of the stream")
    ax.set_xlim(0, num_layers)
    ax.grid(True, which="major")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=9)
    return fig


@figure("figures/08-layer-norm-histograms.svg")
def layer_norm_histograms() -> Figure:
    """Values of five vectors with different offsets and scales, before and after LayerNorm."""
    import torch

    from minigpt.layer_norm import LayerNorm

    torch.manual_seed(0)
    offsets = torch.tensor([-6.0, -2.0, 0.0, 3.0, 7.0]).unsqueeze(1)
    scales = torch.tensor([0.5, 2.0, 1.0, 3.0, 0.8]).unsqueeze(1)
    before = offsets + scales * torch.randn(5, 768)  # five 768-dimensional vectors
    with torch.no_grad():
        after = LayerNorm(768)(before)
    fig, (left, right) = plt.subplots(1, 2, figsize=(9.5, 3.6))
    for i, color in enumerate(PALETTE[:5]):
        label = f"vector {i + 1}: mean {before[i].mean():.1f}, std {before[i].std():.1f}"
        for ax, values, edges in ((left, before[i], torch.linspace(-11, 11, 89)),
                                  (right, after[i], torch.linspace(-4.5, 4.5, 37))):
            ax.hist(values.numpy(), bins=edges.numpy(), color=color, alpha=0.3,
                    histtype="stepfilled")
            ax.hist(values.numpy(), bins=edges.numpy(), color=color, histtype="step", lw=1.4,
                    label=label if ax is left else None)
    left.set(title="before LayerNorm", xlabel="value", ylabel="number of dimensions")
    right.set(title="after LayerNorm (γ = 1, β = 0)", xlabel="value")
    fig.legend(loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=3, fontsize=9)
    fig.tight_layout()
    return fig


# --- Chapter 9: transformer block ---


@figure("figures/09-residual-stream.svg")
def residual_stream_norms() -> Figure:
    """Length of each running-example token's vector after each block, untrained GPT-2 small."""
    import torch

    from minigpt import MiniGPT, MiniGPTConfig
    from minigpt.tokenization import GPT2Tokenizer

    tokenizer = GPT2Tokenizer()
    text = EXAMPLE_TEXT
    ids = torch.tensor([tokenizer.encode(text)])
    torch.manual_seed(0)
    model = MiniGPT(MiniGPTConfig()).eval()  # GPT-2 small's shape, random initialisation
    with torch.no_grad():
        x = model.token_embedding(ids) + model.position_embedding(torch.arange(ids.shape[1]))
        norms = [x.norm(dim=-1)[0]]
        for block in model.blocks:
            x = block(x)
            norms.append(x.norm(dim=-1)[0])
    norms = torch.stack(norms)  # (num_layers + 1, tokens)
    depth = range(len(norms))
    fig, ax = plt.subplots(figsize=(7, 3.8))
    for i, token in enumerate(tokenizer.tokens(text)):
        ax.plot(depth, norms[:, i].numpy(), marker="o", ms=3.5, lw=1.6,
                label=repr(token).replace("'", '"'))
    ax.set_xticks(list(depth), ["emb."] + [str(i) for i in depth[1:]])
    ax.set(xlabel="after block (emb. = embeddings, before the first block)",
           ylabel="norm of the token's vector",
           title=f"Residual stream of an untrained {model.config.num_layers}-block model "
                 f"(embed_dim {model.config.embed_dim})")
    ax.set_ylim(bottom=0)
    ax.grid(True, axis="y")
    ax.legend(title="token", loc="upper left", fontsize=9, title_fontsize=9)
    return fig


# --- Chapter 10: MiniGPT ---


def _run_summary(name: str) -> dict[str, Any] | None:
    """The `run.json` of a committed run, or None when that run is not in the repository."""
    import json

    path = RUNS_DIR / name / "run.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _guide_models() -> dict[str, Any]:
    """The models of chapter 10's size table, as MiniGPTConfigs (character presets only when
    a committed run tells the size of Tiny Shakespeare's character vocabulary)."""
    from minigpt import MiniGPTConfig
    from minigpt.tokenization import GPT2Tokenizer
    from minigpt.training import make_config

    gpt2_vocab = GPT2Tokenizer().vocab_size
    models = {"tiny (ch. 10)": MiniGPTConfig(vocab_size=gpt2_vocab, block_size=16, embed_dim=32,
                                             num_heads=4, num_layers=2)}
    summary = _run_summary("shakespeare-char-cpu")
    if summary is not None:
        char_vocab = summary["model_config"]["vocab_size"]
        for preset in ("shakespeare-char-cpu", "shakespeare-char"):
            models[preset] = make_config(preset).model_config(char_vocab)
    models["shakespeare-gpt2"] = make_config("shakespeare-gpt2").model_config(gpt2_vocab)
    models["GPT-2 small"] = MiniGPTConfig()
    return models


@figure("figures/10-parameter-breakdown.svg")
def parameter_breakdown() -> Figure:
    """Where each model's parameters sit: embeddings, attention, feed-forward, LayerNorms."""
    import torch

    from minigpt import MiniGPT

    parts = {
        "token embedding = output layer (tied)": ("token_embedding.", "output."),
        "positional embedding": ("position_embedding.",),
        "attention": (".attention.",),
        "feed-forward": (".feed_forward.",),
        "LayerNorms": (".norm1.", ".norm2.", "final_norm."),
    }
    names, shares, totals = [], [], []
    for name, config in _guide_models().items():
        with torch.device("meta"):  # shapes only, no memory
            model = MiniGPT(config)
        counts = dict.fromkeys(parts, 0)
        for param_name, param in model.named_parameters():  # a tied matrix is listed once
            key = next(k for k, prefixes in parts.items()
                       if any(p in f".{param_name}" for p in prefixes))
            counts[key] += param.numel()
        total = model.num_parameters()
        assert sum(counts.values()) == total
        names.append(name)
        totals.append(total)
        shares.append([100 * counts[k] / total for k in parts])
    fig, ax = plt.subplots(figsize=(8, 0.55 * len(names) + 1.6))
    rows = range(len(names))[::-1]  # first model on top
    left = [0.0] * len(names)
    for j, (label, color) in enumerate(zip(parts, PALETTE)):
        widths = [s[j] for s in shares]
        ax.barh(list(rows), widths, left=left, color=color, label=label, height=0.62)
        for row, start, width in zip(rows, left, widths):
            if width >= 7:
                ax.text(start + width / 2, row, f"{width:.0f}%", ha="center", va="center",
                        color="white", fontsize=9)
        left = [a + b for a, b in zip(left, widths)]
    ax.set_yticks(list(rows), [f"{n}\n{t / 1e6:.2f}M parameters" for n, t in zip(names, totals)],
                  fontsize=9)
    ax.set_xlim(0, 100)
    ax.set_xlabel("share of the model's parameters (%)")
    ax.spines["left"].set_visible(False)
    ax.tick_params(axis="y", length=0)
    ax.legend(loc="lower center", bbox_to_anchor=(0.45, 1.0), ncol=3, fontsize=9)
    return fig


# A short text for a tiny character-level model to learn in seconds (chapter 10's figure).
TINY_TEXT = (
    "Every moment is a beginning. Every beginning is a promise, and every promise is a "
    "moment that waits for its ending. Every ending is a beginning too: the moment a story "
    "stops, another one starts. So begin again, and again, and again.\n"
)


def _tiny_trained_char_model(steps: int = 120):
    """A 2-block character-level MiniGPT trained on TINY_TEXT with AdamW; (model, tokenizer)."""
    import torch

    from minigpt import MiniGPT, MiniGPTConfig
    from minigpt.data import get_batch
    from minigpt.tokenization import CharTokenizer

    tokenizer = CharTokenizer.from_text(TINY_TEXT)
    data = torch.tensor(tokenizer.encode(TINY_TEXT)).numpy()
    torch.manual_seed(0)
    config = MiniGPTConfig(vocab_size=tokenizer.vocab_size, block_size=32, embed_dim=32,
                           num_heads=4, num_layers=2)
    model = MiniGPT(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    generator = torch.Generator().manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices: threads cost more than they save
    try:
        for _ in range(steps):
            x, y = get_batch(data, 16, config.block_size, generator)
            _, loss = model(x, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    finally:
        torch.set_num_threads(threads)
    return model.eval(), tokenizer


@figure("figures/10-temperature.svg")
def temperature_distributions() -> Figure:
    """Next-character probabilities of a tiny trained model at three temperatures."""
    import torch

    steps = 120
    model, tokenizer = _tiny_trained_char_model(steps)
    prompt = "Every moment is a "
    with torch.no_grad():
        logits = model(torch.tensor([tokenizer.encode(prompt)]))[0][0, -1]
    temperatures = (0.5, 1.0, 2.0)
    order = torch.argsort(logits, descending=True)[:12]  # the 12 most likely characters
    labels = [repr(tokenizer.decode([i]))[1:-1].replace(" ", "␣") or "?" for i in order.tolist()]
    fig, axes = plt.subplots(1, len(temperatures), figsize=(10, 3.4), sharey=True)
    for ax, temperature, color in zip(axes, temperatures, PALETTE):
        probabilities = torch.softmax(logits / temperature, dim=-1)
        ax.bar(range(len(order)), probabilities[order].numpy(), color=color)
        ax.set_xticks(range(len(order)), labels, family="monospace")
        rest = 1 - probabilities[order].sum().item()
        ax.set_title(f"temperature {temperature:g}\n(other {len(logits) - len(order)} "
                     f"characters: {rest:.1%})", fontsize=10)
        ax.grid(True, axis="y")
    axes[0].set_ylabel("probability of the next character")
    fig.suptitle(f"After the prompt {prompt!r}: a tiny character model trained for {steps} steps "
                 f"on a {len(TINY_TEXT)}-character paragraph", fontsize=10)
    fig.tight_layout()
    return fig


# --- Chapter 11: training ---

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

    runs = {name: read_metrics(RUNS_DIR / name / "metrics.jsonl") for name in GUIDE_RUNS
            if (RUNS_DIR / name / "metrics.jsonl").is_file()}
    fig, (loss_ax, lr_ax) = plt.subplots(1, 2, figsize=(10, 3.8),
                                         gridspec_kw={"width_ratios": [2.2, 1]})
    if not runs:
        for ax in (loss_ax, lr_ax):
            ax.axis("off")
        loss_ax.text(0.5, 0.5, "no training run committed in docs/runs/ yet", ha="center",
                     va="center", transform=loss_ax.transAxes)
        return fig
    for (name, records), color in zip(runs.items(), PALETTE):
        label = f"{name} ({GUIDE_RUNS[name]})"
        train = [r for r in records if r.get("kind") == "train"]
        evals = [r for r in records if r.get("kind") == "eval"]
        loss_ax.plot([r["step"] for r in train], [r["train_loss"] for r in train], color=color,
                     lw=1, alpha=0.45, label=f"{label}: training batches")
        loss_ax.plot([r["step"] for r in evals], [r["val_loss"] for r in evals], color=color,
                     lw=2, marker="o", ms=3.5, label=f"{label}: validation")
        lr_ax.plot([r["step"] for r in train], [r["lr"] for r in train], color=color, lw=1.6,
                   label=label)
        summary = _run_summary(name)
        if summary is not None:  # the loss of a uniform guess over the vocabulary
            vocab_size = summary["model_config"]["vocab_size"]
            loss_ax.axhline(math.log(vocab_size), color=color, lw=1, ls=":",
                            label=f"{label}: ln V (uniform guess, V = {vocab_size:,})")
    loss_ax.set(xlabel="optimizer step", ylabel="cross-entropy loss (nats per token)",
                title="Loss")
    loss_ax.grid(True, axis="y")
    loss_ax.legend(fontsize=9)
    lr_ax.set(xlabel="optimizer step", ylabel="learning rate", title="Learning rate")
    lr_ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 2))
    lr_ax.grid(True, axis="y")
    fig.tight_layout()
    return fig
