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
# # Notebook 4: self-attention, a worksheet
#
# Companion to [Chapter 4, Self-attention](../04-self-attention.md). You will write scaled
# dot-product attention and a single attention head yourself, and predict what happens to the
# attention weights when the vectors grow.
#
# **How the worksheet works.** An exercise that asks for code gives you a stub with the
# package's name and signature; it raises `NotImplementedError`. Replace the `raise` lines with
# your code and run the check cell below it: `check` tests your object against `minigpt`'s own
# and prints ✓ or ✗ with a hint for each check. Every other cell uses the package's code, so
# the notebook runs from top to bottom whether or not you are done. The solutions are in the
# [chapter's exercises](../04-self-attention.md#exercises), folded away. The same checks run
# from a terminal: `minigpt check scaled_dot_product_attention my_file.py`.

# %%
import math

import torch
from torch import nn

import minigpt.self_attention
from minigpt.exercises import check, folded
from minigpt.tokenization import GPT2Tokenizer

# %% [markdown]
# As in the chapter: five GPT-2 tokens, seeded random 16-dimensional vectors standing in for
# their embeddings, and one untrained head that works in 8 dimensions.

# %%
tokens = GPT2Tokenizer().tokens("Every moment is a beginning")
torch.manual_seed(0)
x = torch.randn(1, len(tokens), 16)  # (batch=1, T=5, embed_dim=16)
head = minigpt.self_attention.SelfAttention(embed_dim=16, head_dim=8).requires_grad_(False)
q, k, v = head.query(x), head.key(x), head.value(x)  # each (1, 5, 8)
print(tokens)

# %% [markdown]
# ## Exercise 1 (implement): scaled_dot_product_attention
#
# Write `scaled_dot_product_attention(query, key, value, mask=None, dropout_p=0.0)` for inputs
# with any number of leading dimensions: the scores `query @ keyᵀ` divided by $\sqrt{d_k}$;
# where `mask` is `False`, a score of $-\infty$; a softmax over the keys; then
# `dropout_p` applied to the weights (`torch.nn.functional.dropout`, which scales the kept
# weights by $1/(1-p)$); return
# `(weights @ value, weights)`.


# %%
def scaled_dot_product_attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    mask: torch.Tensor | None = None,
    dropout_p: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    raise NotImplementedError("(context, weights)")


# %%
check("scaled_dot_product_attention", scaled_dot_product_attention)

# %% [markdown]
# The package's function on the example: each row of the weights is one token's distribution
# over the five tokens.

# %%
context, weights = minigpt.self_attention.scaled_dot_product_attention(q, k, v)
for token, row in zip(tokens, weights[0]):
    print(f"{token!r:>12}: {row.numpy().round(2)}")

# %% [markdown]
# ## Exercise 2 (predict): larger vectors
#
# Multiply `x` by 10 and recompute the weights. What happens to each row's largest weight, and
# why? (Think of what dividing by $\sqrt{d_k}$ is for.) Guess, then run the cell and open the
# answer.

# %%
lines = []
for scale in (1, 10):
    xs = scale * x
    _, w = minigpt.self_attention.scaled_dot_product_attention(
        head.query(xs), head.key(xs), head.value(xs)
    )
    lines.append(f"x * {scale:2}: largest weight per row {w[0].amax(dim=-1).numpy().round(3)}")
lines.append(
    "The scores grow with the square of the scale, and a softmax of large scores puts almost "
    "all the weight on one token: it saturates, and its gradients vanish. Dividing by √d_k "
    "keeps scores of random vectors at unit variance, whatever the head size."
)
folded("\n".join(lines))

# %% [markdown]
# ## Exercise 3 (implement): SelfAttention
#
# One head as a module: `SelfAttention(embed_dim, head_dim, bias=False)` has three
# `nn.Linear(embed_dim, head_dim, bias=bias)` layers named `query`, `key` and `value`;
# `forward(x, mask=None)` projects `x` and returns the attention's `(context, weights)`. Use
# your function from Exercise 1 (or the package's). The checks copy the package's three layers
# into yours by those names.


# %%
class SelfAttention(nn.Module):
    def __init__(self, embed_dim: int, head_dim: int, bias: bool = False) -> None:
        super().__init__()
        raise NotImplementedError("query, key, value")

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError("project x, then attend")


# %%
check("self_attention", SelfAttention)

# %% [markdown]
# ## Exercise 4 (implement): padding_mask
#
# A batch of texts of different lengths is padded to one length, `seq_len`. Write
# `padding_mask(lengths, seq_len)`: a `torch.bool` tensor of shape `(batch, 1, seq_len)`,
# `True` where key `j` is a real token of text `b` ($j <$ `lengths[b]`), so that it broadcasts
# over the queries when given as `mask` to `scaled_dot_product_attention`. A length below 1 or
# above `seq_len` raises `ValueError`.


# %%
def padding_mask(lengths: torch.Tensor, seq_len: int) -> torch.Tensor:
    raise NotImplementedError("True where j < lengths[b], shape (batch, 1, seq_len)")


# %%
check("padding_mask", padding_mask)

# %% [markdown]
# **Going further.** The variance argument for the scaling, measured: draw 10,000 pairs of
# random vectors with unit-variance components for $d_k = 8$ and $d_k = 512$ and compare the
# variance of their dot products before and after dividing by $\sqrt{d_k}$.

# %%
torch.manual_seed(1)
for d_k in (8, 512):
    a, b = torch.randn(10_000, d_k), torch.randn(10_000, d_k)
    dots = (a * b).sum(dim=-1)
    print(f"d_k={d_k:3}: variance {dots.var():7.1f}, scaled {(dots / math.sqrt(d_k)).var():.2f}")
