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
# # Notebook 8: layer normalization by hand
#
# Companion to [Chapter 8, Layer normalization](../08-layer-normalization.md). You will normalize
# token vectors of the running example "Every moment is a beginning" with nothing but means,
# squares and square roots, add the learned scale and shift, and check that your function is
# exactly what `minigpt.layer_norm.LayerNorm` and PyTorch's `torch.nn.LayerNorm` compute,
# gradients included.
#
# Each exercise has its solution in the next cell: try it first, then run the solution.

# %%
import torch
from torch import nn

from minigpt.layer_norm import LayerNorm
from minigpt.tokenization import GPT2Tokenizer

# %% [markdown]
# ## The input
#
# Five token vectors of width 16. So that normalization has something to do, each token gets
# its own offset and scale, like activations that drifted in a deep network.

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
# ## Exercise 1: one token
#
# Take the vector of " moment" (`x[0, 1]`). Compute its mean $\mu$, its variance
# $\sigma^2 = \frac{1}{d}\sum_i (x_i - \mu)^2$ (divide by $d$), and the normalized vector
# $\hat{x} = (x - \mu) / \sqrt{\sigma^2 + \varepsilon}$ with $\varepsilon = 10^{-5}$. Check that
# $\hat{x}$ has mean 0 and variance close to 1.

# %%
# Your code here

# %%
# Solution
v = x[0, 1]
mu = v.sum() / d
var = ((v - mu) ** 2).sum() / d
v_hat = (v - mu) / torch.sqrt(var + 1e-5)
print(f"mean {mu:.4f}, variance {var:.4f}")
print(f"normalized: mean {v_hat.mean():.1e}, variance {((v_hat - v_hat.mean()) ** 2).mean():.5f}")

# %% [markdown]
# ## Exercise 2: the whole batch, with scale and shift
#
# Write `my_layer_norm(x, gamma, beta, eps=1e-5)` that normalizes every vector along the last
# dimension (use `keepdim=True` so the statistics broadcast back), then computes
# `gamma * x_hat + beta`. Apply it to `x` with `gamma = ones(d)` and `beta = zeros(d)` and print
# each token's mean and standard deviation.

# %%
# Your code here

# %%
# Solution
def my_layer_norm(x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor,
                  eps: float = 1e-5) -> torch.Tensor:
    mu = x.mean(dim=-1, keepdim=True)
    var = ((x - mu) ** 2).mean(dim=-1, keepdim=True)
    return gamma * (x - mu) / torch.sqrt(var + eps) + beta


y = my_layer_norm(x, torch.ones(d), torch.zeros(d))
for token, row in zip(tokens, y[0]):
    print(f"{token!r:>12}: mean {row.mean():+.1e}, std {row.std(unbiased=False):.4f}")

# %% [markdown]
# ## Exercise 3: a classic bug
#
# `torch.var` divides by $d - 1$ by default (`unbiased=True`), the estimator of a population's
# variance. Rewrite the normalization with `x.var(dim=-1, keepdim=True)` and measure how far the
# result is from `y`. Which way is it off, and by roughly what factor for `d = 16`?

# %%
# Your code here

# %%
# Solution
mu = x.mean(dim=-1, keepdim=True)
wrong = (x - mu) / torch.sqrt(x.var(dim=-1, keepdim=True) + 1e-5)
print(f"largest difference: {(wrong - y).abs().max():.3f}")
print(f"ratio wrong / right: {(wrong / y).mean():.4f}")
print(f"sqrt((d - 1) / d):   {((d - 1) / d) ** 0.5:.4f}")

# %% [markdown]
# ## Exercise 4: against `minigpt` and PyTorch
#
# Give $\gamma$ and $\beta$ random values, copy them into `minigpt`'s `LayerNorm(d)` and into
# `torch.nn.LayerNorm(d)`, and check that all three agree, for the outputs *and* for the
# gradients of a loss with respect to the input and to $\gamma$ and $\beta$. Work in float64:
# in float32 the three differ by rounding, and dividing by a small standard deviation (the
# vector of "Every") magnifies that rounding in the gradients.

# %%
# Your code here

# %%
# Solution
torch.manual_seed(1)
gamma = torch.rand(d, dtype=torch.float64) + 0.5
beta = torch.rand(d, dtype=torch.float64) - 0.5

ours = LayerNorm(d).double()
builtin = nn.LayerNorm(d, eps=1e-5).double()
with torch.no_grad():
    for module in (ours, builtin):
        module.weight.copy_(gamma)
        module.bias.copy_(beta)

inputs = [x.double().requires_grad_() for _ in range(3)]
gamma_mine, beta_mine = gamma.clone().requires_grad_(), beta.clone().requires_grad_()
outputs = [my_layer_norm(inputs[0], gamma_mine, beta_mine), ours(inputs[1]), builtin(inputs[2])]
weights = torch.randn_like(outputs[0])  # a random loss, so every gradient is non-trivial
for out in outputs:
    (out * weights).sum().backward()

torch.testing.assert_close(outputs[0], outputs[1])
torch.testing.assert_close(outputs[0], outputs[2])
for other in inputs[1:]:
    torch.testing.assert_close(inputs[0].grad, other.grad)
for module in (ours, builtin):
    torch.testing.assert_close(gamma_mine.grad, module.weight.grad)
    torch.testing.assert_close(beta_mine.grad, module.bias.grad)
print("your LayerNorm equals minigpt's LayerNorm and torch.nn.LayerNorm, gradients included")

# %% [markdown]
# ## Exercise 5: per token, not per batch
#
# Show that LayerNorm's output for "Every" does not depend on the other tokens: change the
# vector of " beginning" and compare the first row of the output. Do the same with
# `nn.BatchNorm1d(d)` applied to the five vectors as a batch of five rows. Why would the
# BatchNorm behaviour be a problem in a model that must not look at later tokens?

# %%
# Your code here

# %%
# Solution
rows = x[0].double()  # (5, d), float64 like `ours` now
changed = rows.clone()
changed[4] += 3.0  # change " beginning"
batch_norm = nn.BatchNorm1d(d).double()
with torch.no_grad():
    print("LayerNorm, 'Every' changed:",
          not torch.allclose(ours(rows)[0], ours(changed)[0]))
    print("BatchNorm, 'Every' changed:",
          not torch.allclose(batch_norm(rows)[0], batch_norm(changed)[0]))

# %% [markdown]
# BatchNorm's statistics mix all the rows of the batch, so the first token's output depends on
# the last token: in a causal language model that leaks the future into the past.

# %% [markdown]
# ## Exercise 6 (bonus): RMSNorm
#
# Many recent models use RMSNorm instead: no mean subtraction, no shift, divide by the root mean
# square, $y = \gamma \, x / \sqrt{\frac{1}{d}\sum_i x_i^2 + \varepsilon}$. Write it and compare
# with PyTorch's `nn.RMSNorm(d, eps=1e-5)`. On which of our five tokens does it differ most from
# LayerNorm, and why?

# %%
# Your code here

# %%
# Solution
def my_rms_norm(x: torch.Tensor, gamma: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    return gamma * x / torch.sqrt((x**2).mean(dim=-1, keepdim=True) + eps)


with torch.no_grad():
    rms = my_rms_norm(x, torch.ones(d))
    torch.testing.assert_close(rms, nn.RMSNorm(d, eps=1e-5)(x))
    layer = my_layer_norm(x, torch.ones(d), torch.zeros(d))
for token, a, b in zip(tokens, rms[0], layer[0]):
    print(f"{token!r:>12}: largest |RMSNorm - LayerNorm| = {(a - b).abs().max():.3f}")

# %% [markdown]
# The two agree when a vector's mean is already near 0 and differ most for vectors with a large
# offset relative to their spread: RMSNorm keeps the offset (it only rescales), LayerNorm
# removes it.
