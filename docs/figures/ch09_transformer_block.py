"""Figures of chapter 9, transformer block: the residual stream through the blocks."""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from .registry import figure
from .style import EXAMPLE_TEXT


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
        ax.plot(
            depth,
            norms[:, i].numpy(),
            marker="o",
            ms=3.5,
            lw=1.6,
            label=repr(token).replace("'", '"'),
        )
    ax.set_xticks(list(depth), ["emb."] + [str(i) for i in depth[1:]])
    ax.set(
        xlabel="after block (emb. = embeddings, before the first block)",
        ylabel="norm of the token's vector",
        title=f"Residual stream of an untrained {model.config.num_layers}-block model "
        f"(embed_dim {model.config.embed_dim})",
    )
    ax.set_ylim(bottom=0)
    ax.grid(True, axis="y")
    ax.legend(title="token", loc="upper left", fontsize=9, title_fontsize=9)
    return fig
