"""Figures of chapter 1, tokenization: tokens of GPT-2 and how BPE merges build them."""

from __future__ import annotations

import matplotlib
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from .registry import figure
from .style import (
    EXAMPLE_TEXT,
    MIN_FONT_SIZE,
    NARROW_MIN_FONT_SIZE,
    NEUTRAL,
    PALETTE,
    ink_on,
    shown,
)


@figure("figures/01-tokens.svg")
def colored_tokens(narrow: bool) -> Figure:
    """GPT-2's tokens of three lines, each on its own colour, with its id below.

    Narrow: a line's tokens wrap onto as many rows as the phone's column needs."""
    from minigpt.tokenization import GPT2Tokenizer

    tokenizer = GPT2Tokenizer()
    lines = [
        EXAMPLE_TEXT,
        EXAMPLE_TEXT.upper(),
        "Tokenizers can't count: 1234567 sunsets \U0001f305",
    ]
    char_w, pad, gap, row_h = 0.105, 0.14, 0.07, 0.95
    limit = 3.5 if narrow else float("inf")  # inches a row may take
    rows: list[list[tuple[float, str, int, int]]] = []  # (x, token, id, colour) per box
    ys: list[float] = []  # each row's height: a line's own rows sit closer than two lines
    width, y = 0.0, row_h
    for line in lines:
        ids = tokenizer.encode(line)
        row: list[tuple[float, str, int, int]] = []
        x, y = 0.0, y - row_h
        for k, (token, token_id) in enumerate(zip(tokenizer.tokens(line), ids)):
            w = max(len(shown(token)), len(str(token_id))) * char_w + pad
            if row and x + w > limit:
                rows.append(row)
                ys.append(y)
                row, x, y = [], 0.0, y - 0.62
            row.append((x, token, token_id, k))
            width = max(width, x + w)
            x += w + gap
        rows.append(row)
        ys.append(y)
    if narrow:  # the axes fill the figure: one data unit is one inch
        fig = plt.figure(figsize=(width + 0.04, -ys[-1] + 0.67))
        ax = fig.add_axes((0, 0, 1, 1))
    else:
        fig, ax = plt.subplots(figsize=(width + 0.1, row_h * len(lines)))
    for row, y in zip(rows, ys):
        for x, token, token_id, k in row:
            label = shown(token)
            w = max(len(label), len(str(token_id))) * char_w + pad
            face = PALETTE[k % len(PALETTE)]
            ax.add_patch(
                matplotlib.patches.FancyBboxPatch(
                    (x, y - 0.17),
                    w,
                    0.34,
                    boxstyle="round,pad=0,rounding_size=0.07",
                    facecolor=face,
                    edgecolor="none",
                )
            )
            ax.text(
                x + w / 2,
                y,
                label,
                ha="center",
                va="center",
                color=ink_on(face),
                family="monospace",
                fontsize=10.5,
            )
            ax.text(
                x + w / 2,
                y - 0.32,
                str(token_id),
                ha="center",
                va="center",
                family="monospace",
                fontsize=MIN_FONT_SIZE,
            )
    ax.set_xlim(-0.02, width + 0.02)
    ax.set_ylim(ys[-1] - 0.45, 0.22)
    ax.set_aspect("equal")
    ax.axis("off")
    return fig


def _merge_steps(bpe, chunk: str) -> list[list[int]]:
    """The ids of `chunk` before any merge and after each merge that encoding applies."""
    from itertools import pairwise

    from minigpt.bpe import merge_pair

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
def bpe_merges(narrow: bool) -> Figure:
    """How GPT-2's merges build each token of the running example, starting from its bytes.

    Each row applies one merge, always the lowest-ranked pair present (`bpe_encode_chunk`):
    the token it creates is blue, the finished token green with its id. Narrow: the words in
    groups of at most 12 bytes, one group below the other.
    """
    import regex

    from minigpt.bpe import BPETokenizer
    from minigpt.tokenization import GPT2Tokenizer

    bpe = BPETokenizer.from_tiktoken(GPT2Tokenizer().encoding)
    chunks = regex.findall(bpe.pattern, EXAMPLE_TEXT)
    all_steps = [_merge_steps(bpe, chunk) for chunk in chunks]
    unit, row_h, gap = (0.22, 0.4, 0.3) if narrow else (0.27, 0.42, 0.8)
    groups: list[list[int]] = [[]]  # chunks side by side; the groups one below the other
    for c, chunk in enumerate(chunks):
        size = sum(len(chunks[g].encode("utf-8")) for g in groups[-1])
        if narrow and groups[-1] and size + len(chunk.encode("utf-8")) > 12:
            groups.append([])
        groups[-1].append(c)
    widths = [
        sum(len(chunks[c].encode("utf-8")) * unit for c in group) + gap * (len(group) - 1)
        for group in groups
    ]
    heights = [max(len(all_steps[c]) for c in group) for group in groups]
    total = max(widths)
    n_rows = sum(heights) + 1.0 * (len(groups) - 1)  # a row's space between groups
    label_w = 0.6 if narrow else 0.8
    fig, ax = plt.subplots(figsize=(total + label_w, n_rows * row_h + 0.3))
    if narrow:  # the axes fill the figure: one data unit is one inch
        fig.subplots_adjust(left=0, right=1, bottom=0, top=1)
    top = 0.0
    for group, height in zip(groups, heights):
        x0 = 0.0
        for c in group:
            _draw_merges(ax, bpe, all_steps[c], x0, top, unit, row_h, 9 if narrow else 9.5)
            x0 += len(chunks[c].encode("utf-8")) * unit + gap
        for r in range(height):
            ax.text(
                -0.1,
                top - r * row_h,
                "bytes" if r == 0 else f"merge {r}",
                ha="right",
                va="center",
                fontsize=NARROW_MIN_FONT_SIZE if narrow else 9,
            )
        top -= (height + 1.0) * row_h
    ax.set_xlim(-label_w - 0.1, total)
    ax.set_ylim(top + 2 * row_h - 0.4, 0.2)
    ax.set_aspect("equal")
    ax.axis("off")
    return fig


def _draw_merges(
    ax, bpe, steps: list[list[int]], x0: float, y0: float, unit: float, row_h: float, size: float
) -> None:
    """One chunk's merge steps as rows of boxes, the first row (its bytes) at height `y0`."""
    before: set[tuple[int, int]] = set()
    for r, ids in enumerate(steps):
        y = y0 - r * row_h
        spans, start = [], 0
        for token_id in ids:
            spans.append((start, start + len(bpe.vocab[token_id])))
            start = spans[-1][1]
        for token_id, span in zip(ids, spans):
            if r == len(steps) - 1:  # the finished token
                face, edge, color = PALETTE[2], "none", ink_on(PALETTE[2])
            elif r > 0 and span not in before:  # made by this row's merge
                face, edge, color = PALETTE[0], "none", ink_on(PALETTE[0])
            else:
                face, edge, color = "none", NEUTRAL, NEUTRAL
            x, w = x0 + span[0] * unit, (span[1] - span[0]) * unit
            ax.add_patch(
                matplotlib.patches.FancyBboxPatch(
                    (x + 0.025, y - 0.15),
                    w - 0.05,
                    0.3,
                    boxstyle="round,pad=0,rounding_size=0.05",
                    facecolor=face,
                    edgecolor=edge,
                    linewidth=0.8,
                )
            )
            text = shown(bpe.vocab[token_id].decode("utf-8", "backslashreplace"))
            ax.text(
                x + w / 2,
                y,
                text,
                ha="center",
                va="center",
                color=color,
                family="monospace",
                fontsize=size,
            )
            if r == len(steps) - 1:
                ax.text(
                    x + w / 2,
                    y - 0.27,
                    str(token_id),
                    ha="center",
                    va="center",
                    family="monospace",
                    fontsize=min(size, MIN_FONT_SIZE),
                )
        before = set(spans)
