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
# # Notebook 2: an embedding table, a worksheet
#
# Companion to [Chapter 2, Token embeddings](../02-token-embeddings.md). You will write the
# embedding table twice, as a lookup (`TokenEmbedding`) and as a one-hot matrix product
# (`one_hot_embedding`), and predict which rows of the table a gradient reaches.
#
# **How the worksheet works.** An exercise that asks for code gives you a stub with the
# package's name and signature; it raises `NotImplementedError`. Replace the `raise` lines with
# your code and run the check cell below it: `check` tests your object against `minigpt`'s own
# and prints ✓ or ✗ with a hint for each check. Every other cell uses the package's code, so
# the notebook runs from top to bottom whether or not you are done. The solutions are in the
# [chapter's exercises](../02-token-embeddings.md#exercises), folded away. The same checks run
# from a terminal: `minigpt check token_embedding my_file.py`.

# %%
import torch
from torch import nn

import minigpt.token_embeddings
from minigpt.exercises import check, folded
from minigpt.tokenization import GPT2Tokenizer

tokenizer = GPT2Tokenizer()
ids = torch.tensor(tokenizer.encode("Every moment is a beginning"))
print(tokenizer.tokens("Every moment is a beginning"), ids.tolist())

# %% [markdown]
# ## Exercise 1 (implement): TokenEmbedding
#
# Write `TokenEmbedding(vocab_size, embed_dim)`: one parameter, `weight`, a
# `(vocab_size, embed_dim)` table drawn from a normal distribution with standard deviation
# 0.02 (GPT-2's choice), and a `forward(ids)` that returns row `i` for every id `i`, for ids of
# any shape. An id outside `[0, vocab_size)` must raise an error; careful, indexing alone
# accepts `-1`. The checks copy the package's `weight` into yours by that name.


# %%
class TokenEmbedding(nn.Module):
    def __init__(self, vocab_size: int, embed_dim: int) -> None:
        super().__init__()
        raise NotImplementedError("create self.weight")

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError("the rows of self.weight")


# %%
check("token_embedding", TokenEmbedding)

# %% [markdown]
# ## Exercise 2 (implement): one_hot_embedding
#
# The same lookup as a matrix product: `one_hot_embedding(ids, weight)` builds the one-hot
# matrix of `ids` (one row per id, a single 1 in the column of that id, as many columns as
# `weight` has rows) and multiplies it by `weight`, in `weight`'s dtype; an id outside the
# table must raise an error, as `weight[ids]` does. `torch.nn.functional.one_hot` helps; mind
# its `num_classes` and its integer dtype.


# %%
def one_hot_embedding(ids: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    raise NotImplementedError("one-hot(ids) @ weight")


# %%
check("one_hot_embedding", one_hot_embedding)

# %% [markdown]
# The product does `vocab_size` times more work than indexing and builds a matrix that is
# almost all zeros. For a GPT-2-sized batch that matrix alone would be large:

# %%
batch_size, block_size = 8, 1024
gib = batch_size * block_size * tokenizer.vocab_size * 4 / 2**30
print(f"one-hot input of a ({batch_size}, {block_size}) batch: {gib:.1f} GiB in float32")

# %% [markdown]
# ## Exercise 3 (predict): which rows get a gradient?
#
# A batch holds the ids `[3, 7, 3]` and the loss is the sum of all the looked-up numbers. Which
# rows of `weight.grad` are non-zero, and what is in row 3? Guess, then run the cell, which
# uses the package's `TokenEmbedding`, and open the answer.

# %%
torch.manual_seed(0)
embedding = minigpt.token_embeddings.TokenEmbedding(10, 4)
embedding(torch.tensor([3, 7, 3])).sum().backward()
grad = embedding.weight.grad
lines = [f"row {row}: {g.tolist()}" for row, g in enumerate(grad) if g.any()]
lines.append(f"rows without a gradient: {[r for r, g in enumerate(grad) if not g.any()]}")
folded("\n".join(lines))
