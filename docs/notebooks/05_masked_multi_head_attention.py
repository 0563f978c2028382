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
# # Notebook 5: masked multi-head attention by hand
#
# Companion to [Chapter 5, Masked multi-head attention](../05-masked-multi-head-attention.md).
# You will build the causal mask, use it to hide later tokens, then split attention into
# heads, attend, concatenate and project, all from torch primitives and with the weights of a
# `minigpt` `MultiHeadAttention` layer. At the end your result must equal the layer's
# explicit path (`fused=False`) and its fused path (`fused=True`).
#
# Each exercise has its solution in the next cell: try it first, then run the solution.

# %%
import math

import torch

from minigpt.multi_head_attention import MultiHeadAttention, causal_mask
from minigpt.tokenization import GPT2Tokenizer

# %% [markdown]
# ## The input
#
# The running example, "Every moment is a beginning", is five GPT-2 tokens. As in the
# chapter, seeded random 16-dimensional vectors stand in for their embeddings, and an
# untrained `MultiHeadAttention` layer with 4 heads provides the weights we reuse.

# %%
tokens = GPT2Tokenizer().tokens("Every moment is a beginning")
torch.manual_seed(0)
x = torch.randn(1, len(tokens), 16)  # (batch=1, T=5, embed_dim=16)
layer = MultiHeadAttention(embed_dim=16, num_heads=4, block_size=8, fused=False)
layer.requires_grad_(False)
batch, T, d = x.shape
num_heads = 4
head_dim = d // num_heads
print(tokens, tuple(x.shape))

# %% [markdown]
# ## The causal mask
#
# **Exercise 1.** Build the (T, T) boolean mask that is `True` where token `i` may look at
# token `j`, i.e. where `j <= i`, without `torch.tril`. Hint: compare `torch.arange(T)` with
# itself, once as a column and once as a row.

# %%
# Solution
positions = torch.arange(T)
mask = positions[:, None] >= positions[None, :]  # row i, column j: j <= i
print(mask.int())
for i, token in enumerate(tokens):
    print(f"{token!r:>12} sees {[t for t, ok in zip(tokens, mask[i]) if ok]}")
assert torch.equal(mask, causal_mask(T))

# %% [markdown]
# ## Masking with −∞
#
# **Exercise 2.** Here are random scores for 5 tokens. Mask them three ways and compare the
# softmax rows: (a) blocked scores set to −∞, (b) blocked scores set to 0, (c) the softmax
# taken first and blocked *weights* set to 0 afterwards. Which one gives rows that sum to 1
# and give later tokens exactly 0?

# %%
# Solution
torch.manual_seed(1)
scores = torch.randn(T, T)
a = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)
b = torch.softmax(scores.masked_fill(~mask, 0.0), dim=-1)
c = torch.softmax(scores, dim=-1).masked_fill(~mask, 0.0)
for name, w in (("(a) -inf", a), ("(b) zero score", b), ("(c) zero weight", c)):
    print(f"{name:16} row sums {w.sum(-1).numpy().round(3)}  "
          f"weight on later tokens {w[~mask].sum().item():.3f}")

# %% [markdown]
# Only (a) does both. (b) gives blocked tokens the ordinary weight e⁰ = 1 before
# normalising; (c) leaves rows that no longer sum to 1.

# %% [markdown]
# ## Queries, keys and values for all heads
#
# The layer computes the queries, keys and values of all heads with one linear layer,
# `layer.qkv`: its weight is (3·d, d) and its bias 3·d. Rows 0–15 of the weight make the
# queries, 16–31 the keys and 32–47 the values, and within each block the first 4 outputs
# belong to head 0, the next 4 to head 1, and so on.
#
# **Exercise 3.** Compute `q`, `k`, `v` (each (1, 5, 16)) with a matrix product and the
# bias, without calling `layer.qkv`.

# %%
# Solution
W, bias = layer.qkv.weight, layer.qkv.bias  # (48, 16), (48,)
qkv = x @ W.T + bias
q, k, v = qkv[..., :d], qkv[..., d:2 * d], qkv[..., 2 * d:]
print(q.shape, k.shape, v.shape)
torch.testing.assert_close(qkv, layer.qkv(x))

# %% [markdown]
# ## One head at a time
#
# **Exercise 4.** For each head `n`, take its 4 columns of `q`, `k` and `v`, compute masked
# scaled dot-product attention, and collect the (1, 5, 4) outputs in a list.

# %%
# Solution
heads, head_weights = [], []
for n in range(num_heads):
    cols = slice(n * head_dim, (n + 1) * head_dim)
    s = q[..., cols] @ k[..., cols].transpose(-2, -1) / math.sqrt(head_dim)
    w = torch.softmax(s.masked_fill(~mask, float("-inf")), dim=-1)
    heads.append(w @ v[..., cols])
    head_weights.append(w)
    print(f"head {n}: row of ' beginning' = {w[0, 4].numpy().round(2)}")

# %% [markdown]
# ## Concatenate and project
#
# **Exercise 5.** Concatenate the heads back to (1, 5, 16) and apply the output projection
# (`layer.output.weight`, `layer.output.bias`) by hand.

# %%
# Solution
concat = torch.cat(heads, dim=-1)
mine = concat @ layer.output.weight.T + layer.output.bias
print(mine.shape)

# %% [markdown]
# ## All heads at once, without a loop
#
# **Exercise 6.** Do Exercise 4 again with reshapes instead of the loop: view `q`, `k`, `v`
# as (batch, T, heads, head_dim), move the head axis forward to get
# (batch, heads, T, head_dim), attend, then undo the reshape.

# %%
# Solution
def split_heads(t: torch.Tensor) -> torch.Tensor:
    return t.view(batch, T, num_heads, head_dim).transpose(1, 2)


qh, kh, vh = split_heads(q), split_heads(k), split_heads(v)
s = qh @ kh.transpose(-2, -1) / math.sqrt(head_dim)  # (1, 4, 5, 5): one map per head
w = torch.softmax(s.masked_fill(~mask, float("-inf")), dim=-1)
context = (w @ vh).transpose(1, 2).reshape(batch, T, d)
batched = context @ layer.output.weight.T + layer.output.bias
torch.testing.assert_close(batched, mine)
torch.testing.assert_close(w, torch.stack(head_weights, dim=1))
print("loop == batched")

# %% [markdown]
# ## Check against `minigpt`: explicit and fused paths
#
# The same weights in a `fused=True` layer use PyTorch's fused kernel instead of the explicit
# steps. Your hand-built result must match both.

# %%
fused = MultiHeadAttention(embed_dim=16, num_heads=4, block_size=8, fused=True)
fused.load_state_dict(layer.state_dict())
fused.requires_grad_(False)

torch.testing.assert_close(mine, layer(x))  # fused=False
torch.testing.assert_close(mine, fused(x))  # fused=True
print("max |mine - explicit| =", (mine - layer(x)).abs().max().item())
print("max |mine - fused|    =", (mine - fused(x)).abs().max().item())

# %% [markdown]
# ## The property: no peeking
#
# **Exercise 7.** Replace the vector of the last token (" beginning") with a random one and
# check that the outputs at positions 0–3 do not change at all, while position 4 does.

# %%
# Solution
changed = x.clone()
changed[0, 4] = torch.randn(d)
before, after = layer(x), layer(changed)
print("change per position:", (before - after).abs().amax(dim=-1)[0].numpy())
assert torch.equal(before[:, :4], after[:, :4])
assert not torch.allclose(before[:, 4], after[:, 4])

# %% [markdown]
# ## Going further
#
# * Remove the mask in Exercise 6 and redo Exercise 7: which positions change now?
# * GPT-2 small has `embed_dim=768` and 12 heads. How many dimensions does each head get, and
#   how many numbers does one layer's attention-weight tensor hold for a batch of 8 sequences
#   of 1,024 tokens?
# * Set `layer.record_weights = True`, call `layer(x)`, and compare `layer.attention_weights`
#   with `w` from Exercise 6.
