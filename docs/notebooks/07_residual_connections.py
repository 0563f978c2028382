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
# # Notebook 7: residual connections and the gradient experiment
#
# Companion to [Chapter 7, Residual connections](../07-residual-connections.md). The chapter
# measures how large a gradient reaches each layer of a deep stack of feed-forward sub-layers,
# with and without residual connections, using `minigpt.residual.gradient_norms_by_depth`. Here
# you rebuild that experiment with your own loop, check that your numbers are the package's
# numbers, and then look at the chain-rule product behind them: the Jacobians.
#
# Each exercise has its solution in the next cell: try it first, then run the solution.

# %%
import math

import torch
from torch import nn
from torch.nn import functional as F

from minigpt.residual import gradient_norms_by_depth

# %% [markdown]
# ## Exercise 1: build the stack
#
# The experiment stacks `num_layers` feed-forward sub-layers of width `d` (hidden width `4 d`).
# Build them as a list of `(expand, project)` pairs of `nn.Linear` layers, right after
# `torch.manual_seed(seed)`, then draw the input batch `torch.randn(32, d)`.
#
# Creating the layers in this order (expand, then project, layer by layer, then the input)
# consumes the random number generator exactly as the package does, so with the same seed you
# get the same weights and the same input.

# %%
# Your code here: def build_stack(num_layers, d, seed) -> (layers, x)

# %%
# Solution
def build_stack(num_layers: int, d: int, seed: int):
    torch.manual_seed(seed)
    layers = [(nn.Linear(d, 4 * d), nn.Linear(4 * d, d)) for _ in range(num_layers)]
    x = torch.randn(32, d)
    return layers, x


layers, x = build_stack(num_layers=24, d=64, seed=0)
print(len(layers), "layers; input", tuple(x.shape))

# %% [markdown]
# ## Exercise 2: forward, backward, gradient norms
#
# Write `my_gradient_norms(num_layers, residual, layer_norm, d, seed)`:
#
# 1. build the stack;
# 2. for each layer compute `f(h) = project(GELU_tanh(expand(h)))`, where `h` is the stream or,
#    with `layer_norm=True`, the stream normalized to mean 0 and variance 1 per row (write the
#    normalization yourself: subtract the mean, divide by `sqrt(variance + 1e-5)`);
# 3. the new stream is `x + f(h)` with residuals, `f(h)` without;
# 4. the loss is `x.pow(2).mean()` of the final stream; call `backward()`;
# 5. for each layer return the norm of all its parameters' gradients taken together:
#    the square root of the sum of their squared entries.

# %%
# Your code here

# %%
# Solution
def normalize(h: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    mean = h.mean(dim=-1, keepdim=True)
    variance = ((h - mean) ** 2).mean(dim=-1, keepdim=True)
    return (h - mean) / torch.sqrt(variance + eps)


def my_gradient_norms(num_layers=24, residual=True, layer_norm=False, d=64, seed=0):
    layers, x = build_stack(num_layers, d, seed)
    for expand, project in layers:
        h = normalize(x) if layer_norm else x
        update = project(F.gelu(expand(h), approximate="tanh"))
        x = x + update if residual else update
    x.pow(2).mean().backward()
    return [
        math.sqrt(sum(p.grad.pow(2).sum().item() for layer in pair for p in layer.parameters()))
        for pair in layers
    ]


mine = my_gradient_norms(residual=False)
print("no residuals, first and last layer:", f"{mine[0]:.2e}", f"{mine[-1]:.2e}")

# %% [markdown]
# ## Exercise 3: the same numbers as the package
#
# Compare your function with `gradient_norms_by_depth` for the three configurations of the
# chapter's figure (and the fourth, residuals with LayerNorm, as in GPT), with the same depth,
# width and seed. Use `torch.testing.assert_close` on the lists turned into tensors.

# %%
# Your code here

# %%
# Solution
configurations = {
    "residuals": dict(residual=True, layer_norm=False),
    "no residuals": dict(residual=False, layer_norm=False),
    "no residuals, LayerNorm": dict(residual=False, layer_norm=True),
    "residuals + LayerNorm": dict(residual=True, layer_norm=True),
}
results = {}
for name, options in configurations.items():
    mine = torch.tensor(my_gradient_norms(num_layers=24, d=64, seed=0, **options))
    package = torch.tensor(gradient_norms_by_depth(num_layers=24, embed_dim=64, seed=0, **options))
    torch.testing.assert_close(mine, package, rtol=1e-4, atol=0.0)
    results[name] = mine
    print(f"{name:>24}: first {mine[0]:.2e}, last {mine[-1]:.2e}, "
          f"ratio first/last {mine[0] / mine[-1]:.1e}")
print("all four configurations match gradient_norms_by_depth")

# %% [markdown]
# ## Exercise 4: the factor per layer
#
# Without residuals the gradient norms fall on a straight line on a log scale: each layer
# multiplies the gradient by about the same factor. Estimate that factor from the first and last
# norms (a geometric mean over the 23 steps between them). Then check the forward direction too:
# print the standard deviation of the stream after every fourth layer, without residuals.

# %%
# Your code here

# %%
# Solution
no_res = results["no residuals"]
factor = (no_res[0] / no_res[-1]) ** (1 / (len(no_res) - 1))
print(f"average factor per layer (going down): {factor:.3f}")

layers, x = build_stack(num_layers=24, d=64, seed=0)
with torch.no_grad():
    for i, (expand, project) in enumerate(layers, start=1):
        x = project(F.gelu(expand(x), approximate="tanh"))
        if i % 4 == 0:
            print(f"after layer {i:>2}: std of the activations {x.std():.4f}")

# %% [markdown]
# The activations shrink fast and then settle at the size of the biases: with PyTorch's default
# initialisation each linear layer divides the variance of its input by about 3. The input is
# forgotten, and the gradient has to pass the same shrinking maps on its way back.

# %% [markdown]
# ## Exercise 5: Jacobians, `∏ J` versus `∏ (I + J)`
#
# The chapter's argument in matrices. Take a small stack (6 layers, `d = 8`) and one input
# vector. For each layer compute the Jacobian `J` of `f(h) = project(GELU(expand(h)))` at the
# vector that layer receives, using `torch.autograd.functional.jacobian`. Multiply the Jacobians
# of the plain stack, and the matrices `I + J` of the residual stack, and compare the largest
# singular value (`torch.linalg.matrix_norm(..., ord=2)`) of the two products.

# %%
# Your code here

# %%
# Solution
small_layers, small_x = build_stack(num_layers=6, d=8, seed=0)


def sublayer(expand, project):
    return lambda h: project(F.gelu(expand(h), approximate="tanh"))


for residual in (False, True):
    h = small_x[0]
    product = torch.eye(8)
    for expand, project in small_layers:
        f = sublayer(expand, project)
        J = torch.autograd.functional.jacobian(f, h)  # (8, 8)
        step = torch.eye(8) + J if residual else J
        product = step @ product  # chain rule: later layers multiply on the left
        with torch.no_grad():
            h = h + f(h) if residual else f(h)
    name = "residual, prod (I + J)" if residual else "plain,    prod J      "
    print(f"{name}: largest singular value {torch.linalg.matrix_norm(product, ord=2):.2e}")

# %% [markdown]
# ## Exercise 6: deeper
#
# Run the package's experiment for 6, 12, 18 and 24 layers and print the first/last ratio with
# and without residuals. How does it scale with depth? What happens at 48 layers without
# residuals? And at 36 layers (look at the first layer's gradient itself)?

# %%
# Your code here

# %%
# Solution
for depth in (6, 12, 18, 24):
    plain = gradient_norms_by_depth(num_layers=depth, residual=False)
    skip = gradient_norms_by_depth(num_layers=depth, residual=True)
    print(f"{depth:>2} layers: first/last without residuals {plain[0] / plain[-1]:.1e}, "
          f"with residuals {skip[0] / skip[-1]:.2f}")
print("36 layers, no residuals, first layer's gradient norm:",
      gradient_norms_by_depth(num_layers=36, residual=False)[0])

# %% [markdown]
# Without residuals the ratio falls exponentially with depth: twice the layers, roughly the
# square of the ratio. At 36 layers the first layer's gradient is below the smallest number
# float32 can hold and comes out as exactly zero. With residuals the ratio stays of order 1 at
# every depth.
