"""Figures of chapter 9, transformer block: the residual stream through the blocks."""

from __future__ import annotations

from functools import cache
from typing import Any

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from .registry import figure
from .style import EXAMPLE_TEXT, NARROW_MIN_FONT_SIZE


@figure("figures/09-residual-stream.svg")
def residual_stream_norms(narrow: bool) -> Figure:
    """Length of each running-example token's vector after each block, untrained GPT-2 small.

    Narrow: every other block numbered, the title on two lines, the legend below."""
    tokens, norms, config = _stream_norms()
    depth = range(len(norms))
    fig, ax = plt.subplots(
        figsize=(3.6, 4.6) if narrow else (7, 3.8), layout="constrained" if narrow else None
    )
    for i, token in enumerate(tokens):
        ax.plot(
            depth,
            norms[:, i].numpy(),
            marker="o",
            ms=3 if narrow else 3.5,
            lw=1.6,
            label=repr(token).replace("'", '"'),
        )
    numbered = [d for d in depth if not narrow or d % 2 == 0]
    ax.set_xticks(numbered, ["emb." if d == 0 else str(d) for d in numbered])
    title = (
        f"Residual stream of an untrained {config.num_layers}-block model"
        f"{chr(10) if narrow else ' '}(embed_dim {config.embed_dim})"
    )
    ax.set(
        xlabel="after block (emb.: before the first)"
        if narrow
        else "after block (emb. = embeddings, before the first block)",
        ylabel="norm of the token's vector",
        title=title,
    )
    ax.set_ylim(bottom=0)
    ax.grid(True, axis="y")
    if narrow:
        fig.legend(
            title="token",
            loc="outside lower center",
            ncols=3,
            handlelength=1.2,
            fontsize=NARROW_MIN_FONT_SIZE,
            title_fontsize=NARROW_MIN_FONT_SIZE,
        )
    else:
        ax.legend(title="token", loc="upper left", fontsize=9, title_fontsize=9)
    return fig


@cache
def _stream_norms() -> tuple[list[str], Any, Any]:
    """The tokens, the norms (blocks + 1, tokens) and the config of the figure's experiment,
    computed once for both variants."""
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
    return tokenizer.tokens(text), norms, model.config
