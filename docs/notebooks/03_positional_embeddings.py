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
# # Notebook 3: positions from scratch
#
# Companion to [Chapter 3, Positional embeddings](../03-positional-embeddings.md). You will
# see that an attention-like mixing step cannot tell word order apart, fix it with a learned
# position table, and rebuild the original Transformer's sinusoidal table, first with a loop
# and then with tensor operations, checking each against `minigpt.positional_embeddings`.
#
# Each exercise is followed by a solution cell. Try it yourself first, then run the solution
# and the check below it.

# %%
import math

import torch
from torch import nn

from minigpt.config import MiniGPTConfig
from minigpt.model import MiniGPT
from minigpt.positional_embeddings import (
    LearnedPositionalEmbedding,
    SinusoidalPositionalEmbedding,
    sinusoidal_table,
)
from minigpt.token_embeddings import TokenEmbedding
from minigpt.tokenization import GPT2Tokenizer

# %% [markdown]
# ## 1. Order is invisible without positions

# %%
tokenizer = GPT2Tokenizer()
first, second = "The dog jumps on the cat", "The cat jumps on the dog"
ids_1 = torch.tensor(tokenizer.encode(first))
ids_2 = torch.tensor(tokenizer.encode(second))
print(tokenizer.tokens(first))
print(tokenizer.tokens(second))

torch.manual_seed(0)
embed_dim = 16
embedding = TokenEmbedding(tokenizer.vocab_size, embed_dim)


def mix(x: torch.Tensor) -> torch.Tensor:
    """Each row becomes a similarity-weighted average of all rows (attention without positions)."""
    return torch.softmax(x @ x.T, dim=-1) @ x


# %% [markdown]
# **Exercise 1.** Show that `mix` is *permutation-equivariant*: for a random permutation
# `perm` of the rows, `mix(x[perm])` equals `mix(x)[perm]`. Then explain why the two sentences
# give the same vector for `" dog"`.

# %%
# Solution
x = embedding(ids_1).detach()
perm = torch.randperm(len(x))
torch.testing.assert_close(mix(x[perm]), mix(x)[perm])
# The second sentence is a permutation of the first, so " dog" gets the same output vector.
dog_1 = tokenizer.tokens(first).index(" dog")
dog_2 = tokenizer.tokens(second).index(" dog")
torch.testing.assert_close(mix(embedding(ids_1))[dog_1], mix(embedding(ids_2))[dog_2])
print("mixing is order-blind: ' dog' is the same vector in both sentences")

# %% [markdown]
# ## 2. Learned positions
#
# **Exercise 2.** Write a learned position table: `block_size` rows of `embed_dim` small random
# numbers, looked up with `torch.arange(T)`. Add it to the token vectors and check that `" dog"`
# now differs between the sentences. Then compare your lookup with
# `LearnedPositionalEmbedding` holding the same numbers.

# %%
# Solution
block_size = 32
position_table = nn.Parameter(torch.randn(block_size, embed_dim) * 0.02)
where = torch.arange(len(ids_1))
z_1 = embedding(ids_1) + position_table[where]
z_2 = embedding(ids_2) + position_table[where]
print("' dog' still the same after mixing?",
      torch.allclose(mix(z_1)[dog_1], mix(z_2)[dog_2]))

# %%
learned = LearnedPositionalEmbedding(block_size, embed_dim)
learned.load_state_dict({"weight": position_table.detach()})
torch.testing.assert_close(position_table[where], learned(where))
print("our table lookup == LearnedPositionalEmbedding")

# %% [markdown]
# ## 3. The sinusoidal table, with a loop
#
# The original Transformer fixes the table instead of learning it:
#
# $$P_{p,\,2i} = \sin\!\left(\frac{p}{10000^{2i/d}}\right), \qquad
#   P_{p,\,2i+1} = \cos\!\left(\frac{p}{10000^{2i/d}}\right).$$
#
# **Exercise 3.** Fill a `(num_positions, d)` table with two nested Python loops and the
# `math` module, then compare it with `sinusoidal_table`.

# %%
# Solution
def sinusoidal_loops(num_positions: int, d: int) -> torch.Tensor:
    table = torch.zeros(num_positions, d, dtype=torch.float64)
    for p in range(num_positions):
        for i in range(d // 2):
            angle = p / 10000 ** (2 * i / d)
            table[p, 2 * i] = math.sin(angle)
            table[p, 2 * i + 1] = math.cos(angle)
    return table


loops = sinusoidal_loops(50, 16)
torch.testing.assert_close(loops.float(), sinusoidal_table(50, 16))
print("loop version == sinusoidal_table")

# %% [markdown]
# ## 4. The sinusoidal table, with tensor operations
#
# **Exercise 4.** Now without loops: a column of positions `(P, 1)` divided by a row of
# `10000^(2i/d)` `(1, d/2)` broadcasts to all the angles at once; write `sin` into the even
# columns and `cos` into the odd ones. Compute in float64.

# %%
# Solution
def sinusoidal_torch(num_positions: int, d: int, dtype=torch.float64) -> torch.Tensor:
    position = torch.arange(num_positions, dtype=dtype).unsqueeze(1)  # (P, 1)
    frequency = 1.0 / 10000 ** (torch.arange(0, d, 2, dtype=dtype) / d)  # (d/2,)
    angle = position * frequency  # (P, d/2)
    table = torch.empty(num_positions, d, dtype=dtype)
    table[:, 0::2] = torch.sin(angle)
    table[:, 1::2] = torch.cos(angle)
    return table


mine = sinusoidal_torch(1024, 768)
torch.testing.assert_close(mine.float(), sinusoidal_table(1024, 768))
torch.testing.assert_close(sinusoidal_torch(50, 16), loops)
print("tensor version == sinusoidal_table, at GPT-2's size", tuple(mine.shape))

# %% [markdown]
# **Exercise 5.** Why float64? Compute the same table in float32 and look at the largest
# difference. Where in the table is it, and why there?

# %%
# Solution: float32 rounds the angle itself. An angle of ~1000 radians is only stored to
# about 1e-4, and sin/cos pass that error straight on. So the errors are largest at late
# positions, in the early (fast) columns where the angles are largest; which cell wins exactly
# depends on rounding luck.
in_float32 = sinusoidal_torch(1024, 768, dtype=torch.float32).double()
difference = (in_float32 - mine).abs()
row, column = divmod(int(difference.argmax()), difference.shape[1])
print(f"largest float32 error {difference.max():.1e} at position {row}, dimension {column}")

# %% [markdown]
# ## 5. Relative offsets in an absolute table
#
# **Exercise 6.** Check that the dot product of two rows depends only on how far apart they
# are: `table[p] @ table[p + k]` is the same for every `p`, and equals `sum_i cos(w_i * k)`.

# %%
# Solution
d, k = 16, 5
table = sinusoidal_torch(200, d)
frequency = 1.0 / 10000 ** (torch.arange(0, d, 2, dtype=torch.float64) / d)
dots = torch.stack([table[p] @ table[p + k] for p in range(0, 190, 17)])
print(dots)
torch.testing.assert_close(dots, torch.cos(frequency * k).sum().expand_as(dots))

# %% [markdown]
# ## 6. Check against MiniGPT
#
# `MiniGPTConfig(positional="sinusoidal")` builds the model with the fixed table stored as a
# buffer, so it has no parameters to learn. Compare it with your table.

# %%
config = MiniGPTConfig(vocab_size=100, block_size=64, embed_dim=32, num_heads=4, num_layers=1,
                       positional="sinusoidal")
model = MiniGPT(config)
assert isinstance(model.position_embedding, SinusoidalPositionalEmbedding)
assert list(model.position_embedding.parameters()) == []
torch.testing.assert_close(model.position_embedding(torch.arange(64)),
                           sinusoidal_torch(64, 32).float())
print("MiniGPT's sinusoidal positions == your table")
