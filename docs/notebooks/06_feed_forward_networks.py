# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Notebook 6: the feed-forward network, a worksheet
#
# Companion to [Chapter 6, Feed-forward networks](../06-feed-forward-networks.md). You will
# write the network that follows attention in every block, count its parameters, and measure
# how far the two GELUs are apart.
#
# **How the worksheet works.** An exercise that asks for code gives you a stub with the
# package's name and signature; it raises `NotImplementedError`. Replace the `raise` lines with
# your code and run the check cell below it: `check` tests your object against `minigpt`'s own
# and prints ✓ or ✗ with a hint for each check. Every other cell uses the package's code, so
# the notebook runs from top to bottom whether or not you are done. The solutions are in the
# [chapter's exercises](../06-feed-forward-networks.md#exercises), folded away. The same checks
# run from a terminal: `minigpt check feed_forward my_file.py`.

# %%
import math

import torch
from torch import nn
from torch.nn import functional as F

import minigpt.feed_forward
from minigpt.exercises import check, folded

# %% [markdown]
# ## Exercise 1 (implement): FeedForward
#
# Write `FeedForward(embed_dim, hidden_dim=None, dropout=0.0, bias=True)`: `expand`, an
# `nn.Linear(embed_dim, hidden_dim)`, then GELU with the tanh approximation (GPT-2's), then
# `project`, an `nn.Linear(hidden_dim, embed_dim)`, then dropout. `hidden_dim=None` means
# `4 * embed_dim`, and `bias` goes to both layers. The checks copy the package's `expand` and
# `project` into yours by those names.


# %%
class FeedForward(nn.Module):
    def __init__(
        self,
        embed_dim: int,
        hidden_dim: int | None = None,
        dropout: float = 0.0,
        bias: bool = True,
    ) -> None:
        super().__init__()
        raise NotImplementedError("expand, GELU, project, dropout")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError("Linear, GELU, Linear, dropout")


# %%
check("feed_forward", FeedForward)

# %% [markdown]
# ## Exercise 2 (predict): where the parameters are
#
# How many parameters does GPT-2 XL's feed-forward network have, `FeedForward(1600)`? And
# `FeedForward(1600, hidden_dim=3200, bias=False)`? Work both out from the shapes, then run the
# cell and open the answer.

# %%
d, lines = 1600, []
for hidden, bias in ((4 * d, True), (2 * d, False)):
    ffn = minigpt.feed_forward.FeedForward(d, hidden_dim=hidden, bias=bias)
    formula = 2 * d * hidden + (hidden + d if bias else 0)
    counted = sum(p.numel() for p in ffn.parameters())
    lines.append(f"hidden {hidden}, bias={bias}: {counted:,} (2·d·hidden + biases = {formula:,})")
folded("\n".join(lines))

# %% [markdown]
# ## Exercise 3 (change and observe): two GELUs
#
# GPT-2 uses the tanh approximation of GELU,
# $\tfrac{x}{2}\bigl(1 + \tanh(\sqrt{2/\pi}\,(x + 0.044715\,x^3))\bigr)$; PyTorch's default
# `nn.GELU()` is the exact $x\,\Phi(x)$. Predict how far apart they get on $[-5, 5]$, run the
# cell, then change `approximate="tanh"` to `"none"` in your `FeedForward` and see which
# check notices.

# %%
grid = torch.linspace(-5, 5, 1001)
tanh_formula = 0.5 * grid * (1 + torch.tanh(math.sqrt(2 / math.pi) * (grid + 0.044715 * grid**3)))
torch.testing.assert_close(tanh_formula, F.gelu(grid, approximate="tanh"))
gap = (F.gelu(grid) - F.gelu(grid, approximate="tanh")).abs()
folded(f"largest |exact - tanh| on [-5, 5]: {gap.max():.1e} at x = {grid[gap.argmax()]:.2f}")

# %% [markdown]
# ## Every token on its own
#
# The network sees one token vector at a time: change one token and only its output moves.

# %%
torch.manual_seed(0)
ffn = minigpt.feed_forward.FeedForward(16)
x = torch.randn(1, 5, 16)
changed = x.clone()
changed[0, 2] += 1.0
with torch.no_grad():
    moved = (ffn(x) - ffn(changed)).abs().amax(dim=-1)[0] > 0
print("outputs that changed:", moved.tolist())
