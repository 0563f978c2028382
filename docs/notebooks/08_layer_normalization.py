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
# # Notebook 8: layer normalization, a worksheet
#
# Companion to [Chapter 8, Layer normalization](../08-layer-normalization.md). You will predict
# what LayerNorm does to a few vectors, write `LayerNorm` yourself, and see what the checker
# says about the most common LayerNorm bug.
#
# **How the worksheet works.** An exercise that asks for code gives you a stub with the
# package's name and signature; it raises `NotImplementedError`. Replace the `raise` lines with
# your code and run the check cell below it: `check` tests your object against `minigpt`'s own
# (outputs, gradients, edge cases) and prints ✓ or ✗ with a hint for each check. Every other
# cell uses the package's code, so the notebook runs from top to bottom whether or not you are
# done. The solutions are in the [chapter's exercises](../08-layer-normalization.md#exercises),
# folded away. The same checks run from a terminal: `minigpt check layer_norm my_file.py`.

# %%
import torch
from torch import nn

import minigpt.layer_norm
from minigpt.exercises import check, folded
from minigpt.tokenization import GPT2Tokenizer

# %% [markdown]
# Five token vectors of width 16 for "Every moment is a beginning". So that normalization has
# something to do, each token gets its own offset and scale, like activations that drifted in a
# deep network.

# %%
tokens = GPT2Tokenizer().tokens("Every moment is a beginning")
d = 16
torch.manual_seed(0)
offsets = torch.tensor([3.0, -1.0, 0.0, 10.0, -5.0]).reshape(1, 5, 1)
scales = torch.tensor([0.1, 2.0, 1.0, 5.0, 0.5]).reshape(1, 5, 1)
x = offsets + scales * torch.randn(1, len(tokens), d)  # (batch=1, T=5, d=16)
for token, row in zip(tokens, x[0]):
    print(f"{token!r:>12}: mean {row.mean():+7.3f}, std {row.std(unbiased=False):6.3f}")

# %% [markdown]
# ## Exercise 1 (predict): three small vectors
#
# With $\gamma = 1$ and $\beta = 0$ (a new LayerNorm), what comes out for
# `[-1, 1]`, for `[2, 4, 6]` and for the constant vector `[3, 3, 3, 3]`? Write your guesses
# down, then run the cell, which uses the package's `LayerNorm`, and open the answer.

# %%
lines = []
with torch.no_grad():
    for v in ([-1.0, 1.0], [2.0, 4.0, 6.0], [3.0, 3.0, 3.0, 3.0]):
        out = minigpt.layer_norm.LayerNorm(len(v))(torch.tensor(v))
        lines.append(f"{v} -> {[round(value, 4) for value in out.tolist()]}")
folded("\n".join(lines))

# %% [markdown]
# ## Exercise 2 (implement): LayerNorm
#
# Write `LayerNorm(dim, eps=1e-5, bias=True)`: a `weight` parameter of ones ($\gamma$), a `bias`
# parameter of zeros ($\beta$, or `self.bias = None` when `bias=False`), and a `forward` that
# normalizes every vector along the last dimension,
# $\hat{x} = (x - \mu) / \sqrt{\sigma^2 + \varepsilon}$, then returns
# $\gamma \hat{x} + \beta$. The checks copy the package's `weight` and `bias` into your module
# by those names, then compare outputs and gradients for several shapes, in float32 and
# float64.


# %%
class LayerNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-5, bias: bool = True) -> None:
        super().__init__()
        raise NotImplementedError("eps, weight and bias")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError("normalize, scale, shift")


# %%
check("layer_norm", LayerNorm)

# %% [markdown]
# ## Exercise 3 (change and observe): a classic bug
#
# `torch.var` divides by $d - 1$ unless told otherwise (`unbiased=True` is its default). Here
# is a LayerNorm with exactly that mistake. Run the check on it and read the hint; then
# predict by what factor its outputs are off for $d = 16$, and check with the last cell.


# %%
class UnbiasedLayerNorm(minigpt.layer_norm.LayerNorm):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(dim=-1, keepdim=True)
        variance = x.var(dim=-1, keepdim=True)  # divides by d - 1
        out = (x - mean) / torch.sqrt(variance + self.eps) * self.weight
        return out + self.bias if self.bias is not None else out


check("layer_norm", UnbiasedLayerNorm)

# %%
with torch.no_grad():
    ratio = UnbiasedLayerNorm(d)(x) / minigpt.layer_norm.LayerNorm(d)(x)
folded(f"wrong / right: {ratio.mean():.4f} (sqrt((d - 1) / d) = {((d - 1) / d) ** 0.5:.4f})")

# %% [markdown]
# ## Per token, not per batch
#
# LayerNorm's output for "Every" does not depend on the other tokens; `nn.BatchNorm1d` applied
# to the five vectors as a batch of five rows does. Change the vector of " beginning" and
# compare the first row of each output. Why would the BatchNorm behaviour be a problem in a
# model that must not look at later tokens?

# %%
rows = x[0]  # (5, d)
changed = rows.clone()
changed[4] += 3.0  # change " beginning"
layer_norm, batch_norm = minigpt.layer_norm.LayerNorm(d), nn.BatchNorm1d(d)
with torch.no_grad():
    for name, norm in (("LayerNorm", layer_norm), ("BatchNorm", batch_norm)):
        moved = not torch.allclose(norm(rows)[0], norm(changed)[0])
        print(f"{name}: output for 'Every' changed: {moved}")

# %% [markdown]
# BatchNorm's statistics mix all the rows of the batch, so the first token's output depends on
# the last token: in a causal language model that leaks the future into the past.

# %% [markdown]
# ## Exercise 4 (implement): RMSNorm
#
# Many recent models use RMSNorm instead: no mean subtraction and no shift,
# $y = \gamma\, x / \sqrt{\frac{1}{d}\sum_i x_i^2 + \varepsilon}$. Write
# `RMSNorm(dim, eps=1e-6)`: one parameter, `weight` ($\gamma$, ones), and a `forward` that
# normalizes along the last dimension with the `eps` it was given. PyTorch's
# `nn.RMSNorm(d, eps=1e-6)` computes the same, to compare with.


# %%
class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        raise NotImplementedError("eps and weight")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError("divide by the root mean square, scale")


# %%
check("rms_norm", RMSNorm)
