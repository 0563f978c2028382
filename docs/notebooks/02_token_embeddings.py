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
# # Notebook 2: an embedding table from scratch
#
# Companion to [Chapter 2, Token embeddings](../02-token-embeddings.md). You will build an
# embedding lookup two ways, by indexing and as a one-hot matrix product, check that both give
# exactly what `minigpt.token_embeddings.TokenEmbedding` (and PyTorch's `nn.Embedding`) give,
# and see which rows of the table a training step changes.
#
# Each exercise is followed by a solution cell. Try it yourself first, then run the solution
# and the check below it.

# %%
import torch
from torch import nn
from torch.nn import functional as F

from minigpt.token_embeddings import TokenEmbedding, one_hot_embedding
from minigpt.tokenization import GPT2Tokenizer

# %% [markdown]
# The running example as GPT-2 token ids:

# %%
tokenizer = GPT2Tokenizer()
text = "Every moment is a beginning"
ids = torch.tensor(tokenizer.encode(text))
vocab_size, embed_dim = tokenizer.vocab_size, 8
print(tokenizer.tokens(text), ids.tolist())

# %% [markdown]
# ## 1. The table and the lookup
#
# **Exercise 1.** Create a `(vocab_size, embed_dim)` table of small random numbers (normal,
# standard deviation 0.02, as GPT-2) and look up the rows of `ids` by indexing. What shape do
# you get?

# %%
# Solution
torch.manual_seed(0)
weight = torch.randn(vocab_size, embed_dim) * 0.02
vectors = weight[ids]
print(vectors.shape)  # one row of embed_dim numbers per token

# %% [markdown]
# `TokenEmbedding` holds the same kind of table as an `nn.Parameter`. Give it *your* numbers
# and compare:

# %%
embedding = TokenEmbedding(vocab_size, embed_dim)
embedding.load_state_dict({"weight": weight})
torch.testing.assert_close(vectors, embedding(ids))
torch.testing.assert_close(vectors, nn.Embedding.from_pretrained(weight)(ids))
print("indexing == TokenEmbedding == nn.Embedding")

# %% [markdown]
# ## 2. The same lookup as a matrix product
#
# **Exercise 2.** Build the one-hot matrix of `ids` *without* `F.one_hot`: a
# `(len(ids), vocab_size)` matrix of zeros with a single 1 per row, in the column of that
# row's token id. Check it against `F.one_hot`.

# %%
# Solution
one_hot = torch.zeros(len(ids), vocab_size)
one_hot[torch.arange(len(ids)), ids] = 1.0
assert torch.equal(one_hot, F.one_hot(ids, vocab_size).float())
print(one_hot.shape, "ones per row:", one_hot.sum(dim=1).tolist(), "columns:",
      one_hot.argmax(dim=1).tolist())

# %% [markdown]
# **Exercise 3.** Multiply the one-hot matrix by the table. Why does that give the rows of the
# table?

# %%
# Solution: row i of the product is sum_j one_hot[i, j] * weight[j], and only j = ids[i] is 1.
by_matmul = one_hot @ weight
torch.testing.assert_close(by_matmul, embedding(ids))
torch.testing.assert_close(by_matmul, one_hot_embedding(ids, embedding.weight))
print("one_hot @ weight == TokenEmbedding == minigpt's one_hot_embedding")

# %% [markdown]
# **Exercise 4.** Make it work for a *batch* of sequences, ids of shape `(batch, T)`.

# %%
# Solution: the one-hot tensor becomes (batch, T, vocab); @ multiplies over the last dimension.
batch = torch.stack([ids, ids.flip(0)])  # the example, and its tokens in reverse
batch_one_hot = torch.zeros(*batch.shape, vocab_size)
batch_one_hot.scatter_(-1, batch.unsqueeze(-1), 1.0)
torch.testing.assert_close(batch_one_hot @ weight, embedding(batch))
print(batch.shape, "->", (batch_one_hot @ weight).shape)

# %% [markdown]
# The product does `vocab_size` times more work than indexing and builds a matrix that is
# almost all zeros. For a GPT-2-sized batch that matrix alone would be large:

# %%
batch_size, block_size = 8, 1024
print(f"one-hot input of a ({batch_size}, {block_size}) batch: "
      f"{batch_size * block_size * vocab_size * 4 / 2**30:.1f} GiB in float32")

# %% [markdown]
# ## 3. Which rows does a training step change?
#
# **Exercise 5.** Put gradients on both versions: make a leaf copy of the table with
# `requires_grad=True`, compute `(one_hot @ table).sum()` and `table[ids].sum()`, call
# `backward()`, and compare the gradients. Which rows are non-zero?

# %%
# Solution
table_a = weight.clone().requires_grad_()
table_b = weight.clone().requires_grad_()
(one_hot @ table_a).sum().backward()
table_b[ids].sum().backward()
torch.testing.assert_close(table_a.grad, table_b.grad)
touched = table_b.grad.abs().sum(dim=1).nonzero().flatten()
print("rows with a gradient:", touched.tolist())
assert sorted(touched.tolist()) == sorted(set(ids.tolist()))

# %% [markdown]
# **Exercise 6.** A token that appears twice gets the gradient of both positions added into
# its row. Check it on an input in which one id appears twice.

# %%
# Solution
repeated = torch.tensor([ids[1].item(), ids[1].item(), ids[2].item()])
table_c = weight.clone().requires_grad_()
table_c[repeated].sum().backward()
print("gradient row of the repeated token:", table_c.grad[repeated[0]][:4].tolist())
print("gradient row of the single token:  ", table_c.grad[repeated[2]][:4].tolist())
torch.testing.assert_close(table_c.grad[repeated[0]], 2 * table_c.grad[repeated[2]])

# %% [markdown]
# ## 4. Your own embedding module
#
# **Exercise 7.** Write `MyEmbedding(nn.Module)` with a learnable table and a `forward` that
# indexes it, then check it against `TokenEmbedding` with the same weights (including the
# gradients).

# %%
# Solution
class MyEmbedding(nn.Module):
    def __init__(self, vocab_size: int, embed_dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(vocab_size, embed_dim) * 0.02)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.weight[ids]


mine = MyEmbedding(vocab_size, embed_dim)
mine.load_state_dict(embedding.state_dict())
mine(batch).pow(2).sum().backward()
embedding(batch).pow(2).sum().backward()
torch.testing.assert_close(mine(batch), embedding(batch))
torch.testing.assert_close(mine.weight.grad, embedding.weight.grad)
print("MyEmbedding matches minigpt's TokenEmbedding, outputs and gradients")
