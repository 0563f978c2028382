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
# # Notebook 4: self-attention from torch primitives
#
# Companion to [Chapter 4, Self-attention](../04-self-attention.md). You will compute attention
# for the running example "Every moment is a beginning" one step at a time, using nothing but
# matrix products, `exp` and sums, then check that your result is exactly what
# `minigpt.self_attention.scaled_dot_product_attention` and PyTorch's
# `torch.nn.functional.scaled_dot_product_attention` compute.
#
# Each exercise has its solution in the next cell: try it first, then run the solution.

# %%
import math

import torch
from torch.nn import functional as F

from minigpt.self_attention import SelfAttention, scaled_dot_product_attention
from minigpt.tokenization import GPT2Tokenizer

# %% [markdown]
# ## The input
#
# The same setup as the chapter: five GPT-2 tokens, seeded random 16-dimensional vectors
# standing in for their embeddings, and one untrained attention head that works in 8
# dimensions. We take the head's three weight matrices out as plain tensors: from here on,
# everything is computed by hand.

# %%
tokens = GPT2Tokenizer().tokens("Every moment is a beginning")
torch.manual_seed(0)
x = torch.randn(1, len(tokens), 16)  # (batch=1, T=5, embed_dim=16)
head = SelfAttention(embed_dim=16, head_dim=8).requires_grad_(False)

# nn.Linear stores its weight as (out_features, in_features) and computes x @ weight.T.
W_q, W_k, W_v = head.query.weight.T, head.key.weight.T, head.value.weight.T
print(tokens)
print("x:", tuple(x.shape), " W_q:", tuple(W_q.shape))

# %% [markdown]
# ## Step 1: queries, keys, values
#
# **Exercise 1.** Compute `Q`, `K` and `V` (each of shape (1, 5, 8)) from `x` and the three
# matrices.

# %%
# Solution
Q = x @ W_q
K = x @ W_k
V = x @ W_v
print(Q.shape, K.shape, V.shape)
torch.testing.assert_close(Q, head.query(x))  # the same as the nn.Linear layer

# %% [markdown]
# ## Step 2: scores
#
# **Exercise 2.** Compute the score of " beginning" (token 4) for " moment" (token 1) as an
# explicit sum over the 8 dimensions, then all 25 scores at once with one matrix product.

# %%
# Solution
one_score = sum(Q[0, 4, m] * K[0, 1, m] for m in range(8))
scores = Q @ K.transpose(-2, -1)  # (1, 5, 5): row = query token, column = key token
print("score(' beginning' -> ' moment'):", round(one_score.item(), 4))
print("from the matrix:               ", round(scores[0, 4, 1].item(), 4))

# %% [markdown]
# ## Step 3: scale by √d_k
#
# **Exercise 3.** Check the claim that the dot product of two random vectors with
# unit-variance components has variance d_k. Draw 10,000 pairs for d_k = 8 and d_k = 512,
# and compare the variance before and after dividing by √d_k.

# %%
# Solution
torch.manual_seed(1)
for d_k in (8, 512):
    q, k = torch.randn(10_000, d_k), torch.randn(10_000, d_k)
    dots = (q * k).sum(dim=-1)
    print(f"d_k={d_k:3}: var={dots.var():7.1f}   scaled var={(dots / math.sqrt(d_k)).var():.2f}")

# %%
d_k = Q.shape[-1]
scaled = scores / math.sqrt(d_k)

# %% [markdown]
# ## Step 4: softmax
#
# **Exercise 4.** Write `softmax(s)` along the last dimension with `torch.exp` and `sum`.
# Subtract each row's maximum before exponentiating: it does not change the result (the
# factor e^(−max) cancels) but keeps `exp` from overflowing for large scores.

# %%
# Solution
def softmax(s: torch.Tensor) -> torch.Tensor:
    e = torch.exp(s - s.amax(dim=-1, keepdim=True))
    return e / e.sum(dim=-1, keepdim=True)


weights = softmax(scaled)
print(weights[0].numpy().round(3))
print("rows sum to 1:", torch.allclose(weights.sum(dim=-1), torch.ones(1, 5)))
torch.testing.assert_close(weights, torch.softmax(scaled, dim=-1))

# %% [markdown]
# Try the trick's reason for yourself: `torch.exp(torch.tensor(1000.0))` is `inf`, but
# `softmax(torch.tensor([1000.0, 999.0]))` is fine.

# %%
print(torch.exp(torch.tensor(1000.0)), softmax(torch.tensor([1000.0, 999.0])))

# %% [markdown]
# ## Step 5: context vectors
#
# **Exercise 5.** Compute the context vector of " beginning" as a Python loop over the five
# value vectors, then all five context vectors with one matrix product.

# %%
# Solution
beginning = sum(weights[0, 4, j] * V[0, j] for j in range(5))
context = weights @ V  # (1, 5, 8)
print(beginning.numpy().round(3))
print(context[0, 4].numpy().round(3))
torch.testing.assert_close(beginning, context[0, 4])

# %% [markdown]
# ## Put it together
#
# **Exercise 6.** Write `my_attention(q, k, v)` returning `(context, weights)` for inputs of
# any number of leading dimensions, using only the operations above.

# %%
# Solution
def my_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor):
    weights = softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]))
    return weights @ v, weights


# %% [markdown]
# ## Check against `minigpt` and PyTorch
#
# Our hand-made attention must equal the package's function, PyTorch's fused built-in and the
# `SelfAttention` module, on the example and on a random batch with several heads.

# %%
mine, my_weights = my_attention(Q, K, V)
theirs, their_weights = scaled_dot_product_attention(Q, K, V)
torch.testing.assert_close(mine, theirs)
torch.testing.assert_close(my_weights, their_weights)
torch.testing.assert_close(mine, F.scaled_dot_product_attention(Q, K, V))
torch.testing.assert_close(mine, head(x)[0])

torch.manual_seed(2)
q, k, v = (torch.randn(2, 3, 7, 16) for _ in range(3))  # (batch, heads, T, d_k)
torch.testing.assert_close(my_attention(q, k, v)[0], F.scaled_dot_product_attention(q, k, v))
print("all equal")

# %% [markdown]
# ## Going further
#
# * Multiply `x` by 10 and recompute the weights. What happens to the rows, and why? (Hint:
#   step 3.)
# * Remove the scaling (`/ math.sqrt(d_k)`) from `my_attention` and rerun Exercise 3's
#   experiment through the softmax: how close to 1 does the largest weight of each row get
#   for d_k = 512?
# * Every token can see every other token here, including later ones. Chapter 5 fixes that
#   with a causal mask.
