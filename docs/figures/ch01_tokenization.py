"""Figures of chapter 1, tokenization: tokens of GPT-2 and how BPE merges build them."""

from __future__ import annotations

import matplotlib
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from .registry import figure
from .style import EXAMPLE_TEXT, MIN_FONT_SIZE, NEUTRAL, PALETTE, ink_on, shown


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
    width = max(
        sum(max(len(shown(t)), len(str(i))) * char_w + pad + gap for t, i in row) for row in rows
    )
    fig, ax = plt.subplots(figsize=(width + 0.1, row_h * len(rows)))
    for r, row in enumerate(rows):
        y = -r * row_h
        x = 0.0
        for k, (token, token_id) in enumerate(row):
            label = shown(token)
            w = max(len(label), len(str(token_id))) * char_w + pad
            ax.add_patch(
                matplotlib.patches.FancyBboxPatch(
                    (x, y - 0.17),
                    w,
                    0.34,
                    boxstyle="round,pad=0,rounding_size=0.07",
                    facecolor=PALETTE[k % len(PALETTE)],
                    edgecolor="none",
                )
            )
            ax.text(
                x + w / 2,
                y,
                label,
                ha="center",
                va="center",
                color=ink_on(PALETTE[k % len(PALETTE)]),
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
            x += w + gap
    ax.set_xlim(-0.02, width)
    ax.set_ylim(-row_h * (len(rows) - 1) - 0.45, 0.22)
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
def bpe_merges() -> Figure:
    """How GPT-2's merges build each token of the running example, starting from its bytes.

    Each row applies one merge, always the lowest-ranked pair present (`bpe_encode_chunk`):
    the token it creates is blue, the finished token green with its id.
    """
    import regex

    from minigpt.bpe import BPETokenizer
    from minigpt.tokenization import GPT2Tokenizer

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
                    fontsize=9.5,
                )
                if r == len(steps) - 1:
                    ax.text(
                        x + w / 2,
                        y - 0.27,
                        str(token_id),
                        ha="center",
                        va="center",
                        family="monospace",
                        fontsize=MIN_FONT_SIZE,
                    )
            before = set(spans)
        x0 += len(chunk.encode("utf-8")) * unit + gap
    for r in range(n_rows):
        ax.text(
            -0.12,
            -r * row_h,
            "bytes" if r == 0 else f"merge {r}",
            ha="right",
            va="center",
            fontsize=9,
        )
    ax.set_xlim(-0.9, total)
    ax.set_ylim(-(n_rows - 1) * row_h - 0.4, 0.2)
    ax.set_aspect("equal")
    ax.axis("off")
    return fig
