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
# # Notebook 6: the feed-forward network from torch primitives
#
# Companion to [Chapter 6, Feed-forward networks](../06-feed-forward-networks.md). You will build
# the network that follows attention in every transformer block out of plain tensors, matrix
# products and the tanh formula for GELU, apply it to the running example
# "Every moment is a beginning", and check that your result is exactly what
# `minigpt.feed_forward.FeedForward` computes.
#
# Each exercise has its solution in the next cell: try it first, then run the solution.

# %%
import math

import torch
from torch.nn import functional as F

from minigpt.feed_forward import FeedForward
from minigpt.tokenization import GPT2Tokenizer

# %% [markdown]
# ## The input
#
# Five tokens, each a vector. To keep the numbers readable we use a narrow width, `d = 16`,
# and seeded random vectors in place of real embeddings; the network does not care where its
# input comes from. The hidden width is the usual four times `d`.

# %%
tokens = GPT2Tokenizer().tokens("Every moment is a beginning")
d, hidden = 16, 4 * 16
torch.manual_seed(0)
x = torch.randn(1, len(tokens), d)  # (batch=1, T=5, d=16)
print(tokens)
print("x:", tuple(x.shape))

# %% [markdown]
# ## Exercise 1: the weights
#
# The network has four tensors: `W1` of shape `(hidden, d)` with bias `b1` of shape
# `(hidden,)` for the expansion, and `W2` of shape `(d, hidden)` with bias `b2` of shape
# `(d,)` for the projection (the `(out_features, in_features)` layout of `nn.Linear`).
# Create them with random values; a scale of `1 / sqrt(fan_in)` keeps the outputs of order 1.

# %%
# Your code here: W1, b1, W2, b2

# %%
# Solution
torch.manual_seed(1)
W1 = torch.randn(hidden, d) / math.sqrt(d)
b1 = torch.randn(hidden) * 0.1
W2 = torch.randn(d, hidden) / math.sqrt(hidden)
b2 = torch.randn(d) * 0.1
print({name: tuple(t.shape) for name, t in dict(W1=W1, b1=b1, W2=W2, b2=b2).items()})

# %% [markdown]
# ## Exercise 2: GELU with the tanh formula
#
# GPT-2's activation is
#
# $$\text{GELU}(x) \approx \tfrac{x}{2}\Bigl(1 + \tanh\bigl(\sqrt{2/\pi}\,
#   (x + 0.044715\,x^3)\bigr)\Bigr).$$
#
# Write `gelu_tanh(x)` with `torch.tanh` only, and the exact version
# `gelu_exact(x) = x * Φ(x)` with `torch.erf` (`Φ(x) = (1 + erf(x / √2)) / 2`). Compare both
# with PyTorch's `F.gelu` on a grid of inputs, and measure how far apart the two versions are.

# %%
# Your code here: gelu_tanh, gelu_exact

# %%
# Solution
def gelu_tanh(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))


def gelu_exact(x: torch.Tensor) -> torch.Tensor:
    return x * 0.5 * (1 + torch.erf(x / math.sqrt(2)))


grid = torch.linspace(-5, 5, 1001)
torch.testing.assert_close(gelu_tanh(grid), F.gelu(grid, approximate="tanh"))
torch.testing.assert_close(gelu_exact(grid), F.gelu(grid))
print(f"largest |exact - tanh| on [-5, 5]: {(gelu_exact(grid) - gelu_tanh(grid)).abs().max():.1e}")

# %% [markdown]
# ## Exercise 3: the forward pass
#
# Compute the network for all five tokens at once: expand (`x @ W1.T + b1`), apply GELU, project
# (`@ W2.T + b2`). Print the shape after each step. (Dropout is off outside training, so leave
# it out.)

# %%
# Your code here: expanded, activated, out

# %%
# Solution
expanded = x @ W1.T + b1  # (1, 5, hidden)
activated = gelu_tanh(expanded)  # same shape, element by element
out = activated @ W2.T + b2  # (1, 5, d)
print("expanded: ", tuple(expanded.shape))
print("activated:", tuple(activated.shape))
print("out:      ", tuple(out.shape))

# %% [markdown]
# ## Exercise 4: every token on its own
#
# Show that the network treats the tokens independently: run it on each token vector alone
# (a vector of shape `(d,)`) and compare with the rows of `out`. Then change the vector of one
# token and check that only that token's output changes.

# %%
# Your code here

# %%
# Solution
def ffn_by_hand(v: torch.Tensor) -> torch.Tensor:
    return gelu_tanh(v @ W1.T + b1) @ W2.T + b2


alone = torch.stack([ffn_by_hand(x[0, t]) for t in range(len(tokens))])
torch.testing.assert_close(alone, out[0])

changed = x.clone()
changed[0, 2] += 1.0  # change " is"
moved = (ffn_by_hand(changed) - out).abs().amax(dim=-1)[0] > 0
print({token: bool(m) for token, m in zip(tokens, moved)})

# %% [markdown]
# ## Exercise 5: count the parameters
#
# Count the numbers in `W1, b1, W2, b2`, compare with the formula `8 d² + 5 d`, and evaluate the
# formula for GPT-2 small's width, `d = 768`.

# %%
# Your code here

# %%
# Solution
counted = sum(t.numel() for t in (W1, b1, W2, b2))
print("counted:", counted, " formula:", 8 * d**2 + 5 * d)
print(f"GPT-2 small (d = 768): {8 * 768**2 + 5 * 768:,} parameters per feed-forward network")

# %% [markdown]
# ## Exercise 6 (bonus): a sum over hidden units
#
# Each hidden unit `i` has a "key" (row `i` of `W1`) and a "value" (column `i` of `W2`). Rewrite
# the network for the token " moment" as a loop that adds `GELU(key · x + b1[i]) * value` over
# all hidden units, and check it against `out`. This exact rewriting is the starting point of
# the "feed-forward layers are key-value memories" interpretation in the chapter.

# %%
# Your code here

# %%
# Solution
token = x[0, 1]  # " moment"
total = b2.clone()
for i in range(hidden):
    total += gelu_tanh(W1[i] @ token + b1[i]) * W2[:, i]
torch.testing.assert_close(total, out[0, 1])
print("the sum over hidden units matches")

# %% [markdown]
# ## Check against `minigpt`
#
# Load your four tensors into the package's `FeedForward` (its parameters are called
# `expand.weight`, `expand.bias`, `project.weight` and `project.bias`) and compare its output,
# and PyTorch's built-in layers, with yours.

# %%
ffn = FeedForward(embed_dim=d)
ffn.load_state_dict({"expand.weight": W1, "expand.bias": b1,
                     "project.weight": W2, "project.bias": b2})
with torch.no_grad():
    theirs = ffn(x)
    builtin = torch.nn.Sequential(ffn.expand, torch.nn.GELU(approximate="tanh"), ffn.project)(x)

torch.testing.assert_close(out, theirs)
torch.testing.assert_close(out, builtin)
print("your feed-forward network equals minigpt's FeedForward and the built-in layers")
