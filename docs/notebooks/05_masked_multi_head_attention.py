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
# # Notebook 5: masked multi-head attention, a worksheet
#
# Companion to [Chapter 5, Masked multi-head attention](../05-masked-multi-head-attention.md).
# You will write the causal mask, predict what goes wrong when blocked scores are set to 0
# instead of $-\infty$, and write multi-head attention yourself.
#
# **How the worksheet works.** An exercise that asks for code gives you a stub with the
# package's name and signature; it raises `NotImplementedError`. Replace the `raise` lines with
# your code and run the check cell below it: `check` tests your object against `minigpt`'s own
# and prints ✓ or ✗ with a hint for each check. Every other cell uses the package's code, so
# the notebook runs from top to bottom whether or not you are done. The solutions are in the
# [chapter's exercises](../05-masked-multi-head-attention.md#exercises), folded away. The same
# checks run from a terminal: `minigpt check causal_mask my_file.py`.

# %%
import torch
from torch import nn

import minigpt.multi_head_attention
from minigpt.exercises import check, folded
from minigpt.tokenization import GPT2Tokenizer

tokens = GPT2Tokenizer().tokens("Every moment is a beginning")
T = len(tokens)

# %% [markdown]
# ## Exercise 1 (implement): causal_mask
#
# Write `causal_mask(seq_len, device=None)`: a `(seq_len, seq_len)` tensor of dtype
# `torch.bool` that is `True` where token `i` (the row) may look at token `j` (the column),
# that is where `j <= i`, created on `device`.


# %%
def causal_mask(seq_len: int, device: torch.device | str | None = None) -> torch.Tensor:
    raise NotImplementedError("True on and below the diagonal")


# %%
check("causal_mask", causal_mask)

# %%
mask = minigpt.multi_head_attention.causal_mask(T)
for i, token in enumerate(tokens):
    print(f"{token!r:>12} sees {[t for t, ok in zip(tokens, mask[i]) if ok]}")

# %% [markdown]
# ## Exercise 2 (predict): a mask without its diagonal
#
# Build the mask with `torch.tril(..., diagonal=-1)`, so that a token sees only the tokens
# before it, not itself. What are the attention weights of the first row, and of the second?
# Decide, then run the cell and open the answer.

# %%
torch.manual_seed(1)
scores = torch.randn(T, T)
strict = torch.tril(torch.ones(T, T, dtype=torch.bool), diagonal=-1)
weights = torch.softmax(scores.masked_fill(~strict, float("-inf")), dim=-1)
folded(
    f"{weights}\n\nThe first row is all -inf, and the softmax of that is 0/0, NaN; the second "
    "token sees only the first, with weight 1. A causal mask keeps its diagonal."
)

# %% [markdown]
# ## Exercise 3 (implement): MultiHeadAttention
#
# Write `MultiHeadAttention(embed_dim, num_heads, block_size, dropout=0.0, bias=True)`:
#
# * a `ValueError` when `embed_dim` is not divisible by `num_heads`;
# * `qkv = nn.Linear(embed_dim, 3 * embed_dim, bias=bias)`, whose output splits into queries,
#   keys and values, and `output = nn.Linear(embed_dim, embed_dim, bias=bias)`;
# * `forward(x)` for `x` of shape `(batch, T, embed_dim)`: split into `num_heads` heads of
#   `embed_dim // num_heads` dimensions, masked attention in each head (scaled by
#   $\sqrt{d_k}$ of the head), heads concatenated back, output projection; dropout on the
#   attention weights and after the projection.
#
# The checks copy the package's `qkv` and `output` layers into yours by those names.


# %%
class MultiHeadAttention(nn.Module):
    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        block_size: int,
        dropout: float = 0.0,
        bias: bool = True,
    ) -> None:
        super().__init__()
        raise NotImplementedError("qkv, output, dropout, mask")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError("split, attend, merge, project")


# %%
check("multi_head_attention", MultiHeadAttention)

# %% [markdown]
# ## Exercise 4 (implement): sliding_window_mask
#
# Models for long texts, such as Mistral, let each token see only the last `window` tokens.
# Write `sliding_window_mask(seq_len, window, device=None)`: a `(seq_len, seq_len)` tensor of
# dtype `torch.bool`, created on `device`, `True` where token `i` (the row) may look at token
# `j` (the column), that is where $i - \text{window} < j \le i$. A `window` below 1 raises
# `ValueError`.


# %%
def sliding_window_mask(
    seq_len: int, window: int, device: torch.device | str | None = None
) -> torch.Tensor:
    raise NotImplementedError("causal, and no older than window - 1 tokens back")


# %%
check("sliding_window_mask", sliding_window_mask)

# %% [markdown]
# ## No peeking
#
# The property the mask buys: replace the vector of the last token with a random one, and the
# outputs at positions 0–3 do not change at all. (This uses the package's layer; the checks
# above test the same on yours.)

# %%
torch.manual_seed(0)
x = torch.randn(1, T, 16)
layer = minigpt.multi_head_attention.MultiHeadAttention(16, num_heads=4, block_size=8)
changed = x.clone()
changed[0, 4] = torch.randn(16)
with torch.no_grad():
    change = (layer(x) - layer(changed)).abs().amax(dim=-1)[0]
print("largest change per position:", change.numpy())
