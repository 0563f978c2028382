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
# # Notebook 3: positions, a worksheet
#
# Companion to [Chapter 3, Positional embeddings](../03-positional-embeddings.md). You will see
# that attention-like mixing cannot tell word order apart, write the original Transformer's
# sinusoidal table and GPT-2's learned positions yourself, and predict a property of the
# sinusoidal table that makes relative offsets visible.
#
# **How the worksheet works.** An exercise that asks for code gives you a stub with the
# package's name and signature; it raises `NotImplementedError`. Replace the `raise` lines with
# your code and run the check cell below it: `check` tests your object against `minigpt`'s own
# and prints ✓ or ✗ with a hint for each check. Every other cell uses the package's code, so
# the notebook runs from top to bottom whether or not you are done. The solutions are in the
# [chapter's exercises](../03-positional-embeddings.md#exercises), folded away. The same checks
# run from a terminal: `minigpt check sinusoidal_table my_file.py`.

# %%
import torch
from torch import nn

import minigpt.positional_embeddings
from minigpt.exercises import check, folded
from minigpt.token_embeddings import TokenEmbedding
from minigpt.tokenization import GPT2Tokenizer

# %% [markdown]
# ## Order is invisible without positions
#
# `mix` replaces every row by a similarity-weighted average of all rows: attention without
# learned projections and without positions. The two sentences hold the same tokens in another
# order, and `" dog"` comes out as exactly the same vector in both.

# %%
tokenizer = GPT2Tokenizer()
first, second = "The dog jumps on the cat", "The cat jumps on the dog"
torch.manual_seed(0)
embedding = TokenEmbedding(tokenizer.vocab_size, 16)


def mix(x: torch.Tensor) -> torch.Tensor:
    return torch.softmax(x @ x.T, dim=-1) @ x


with torch.no_grad():
    dogs = [
        mix(embedding(torch.tensor(tokenizer.encode(s))))[tokenizer.tokens(s).index(" dog")]
        for s in (first, second)
    ]
print("' dog' is the same vector in both sentences:", torch.allclose(*dogs))

# %% [markdown]
# ## Exercise 1 (implement): sinusoidal_table
#
# The original Transformer adds a fixed table instead of a learned one:
#
# $$P_{p,\,2i} = \sin\!\left(\frac{p}{10000^{2i/d}}\right), \qquad
#   P_{p,\,2i+1} = \cos\!\left(\frac{p}{10000^{2i/d}}\right).$$
#
# Write `sinusoidal_table(num_positions, embed_dim)`, a `(num_positions, embed_dim)` tensor in
# `torch.get_default_dtype()`. Compute the angles in float64 (float32 rounds an angle near 1000
# radians by about 1e-4) and raise `ValueError` for an odd `embed_dim`.


# %%
def sinusoidal_table(num_positions: int, embed_dim: int) -> torch.Tensor:
    raise NotImplementedError("sin, cos, sin, cos, ...")


# %%
check("sinusoidal_table", sinusoidal_table)

# %% [markdown]
# ## Exercise 2 (predict): a row with itself
#
# What is the dot product of a row of the 16-wide table with itself, `P[p] @ P[p]`, and does it
# depend on `p`? And for a table 64 wide? Decide, then run the cell and open the answer.

# %%
lines = []
for width in (16, 64):
    table = minigpt.positional_embeddings.sinusoidal_table(200, width).double()
    lines.append(
        f"width {width}: "
        + ", ".join(f"P[{p}] @ P[{p}] = {table[p] @ table[p]:.6f}" for p in (0, 10, 150))
    )
lines.append(
    "sin² + cos² = 1 for each of the d/2 pairs of columns: every row has squared length d/2."
)
folded("\n".join(lines))

# %% [markdown]
# ## Exercise 3 (implement): LearnedPositionalEmbedding
#
# GPT-2 learns its positions instead: `LearnedPositionalEmbedding(block_size, embed_dim)` holds
# a parameter `weight` of shape `(block_size, embed_dim)`, drawn with standard deviation 0.02,
# and `forward(positions)` returns the rows of the given positions. With a KV cache
# (chapter 10) those positions do not start at 0. The checks copy the package's `weight` into
# yours by that name.


# %%
class LearnedPositionalEmbedding(nn.Module):
    def __init__(self, block_size: int, embed_dim: int) -> None:
        super().__init__()
        raise NotImplementedError("create self.weight")

    def forward(self, positions: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError("the rows of the positions")


# %%
check("learned_positional_embedding", LearnedPositionalEmbedding)

# %% [markdown]
# With positions added, the two sentences no longer give `" dog"` the same vector:

# %%
positions = minigpt.positional_embeddings.LearnedPositionalEmbedding(32, 16)
with torch.no_grad():
    dogs = []
    for s in (first, second):
        ids = torch.tensor(tokenizer.encode(s))
        x = embedding(ids) + positions(torch.arange(len(ids)))
        dogs.append(mix(x)[tokenizer.tokens(s).index(" dog")])
print("' dog' is the same vector in both sentences:", torch.allclose(*dogs))
