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
# # Notebook 7: residual connections, a worksheet
#
# Companion to [Chapter 7, Residual connections](../07-residual-connections.md). You will write
# the residual addition, then predict and measure how the gradient reaching the first layer of
# a deep stack depends on depth, with and without residuals, and look at the chain-rule product
# behind it.
#
# **How the worksheet works.** An exercise that asks for code gives you a stub with the
# package's name and signature; it raises `NotImplementedError`. Replace the `raise` lines with
# your code and run the check cell below it: `check` tests your object against `minigpt`'s own
# and prints ✓ or ✗ with a hint for each check. Every other cell uses the package's code, so
# the notebook runs from top to bottom whether or not you are done. The solutions are in the
# [chapter's exercises](../07-residual-connections.md#exercises), folded away. The same checks
# run from a terminal: `minigpt check residual_add my_file.py`.

# %%
import torch
from torch import nn
from torch.nn import functional as F

from minigpt.exercises import check, folded
from minigpt.residual import gradient_norms_by_depth

# %% [markdown]
# ## Exercise 1 (implement): residual_add
#
# Write `residual_add(x, sublayer_output, enabled=True)`: `x + sublayer_output`, a new tensor
# (never `x += ...`, which would change the caller's `x`), or `sublayer_output` alone when
# `enabled` is `False`, which chapter 7's experiment uses to switch the skip path off.


# %%
def residual_add(
    x: torch.Tensor, sublayer_output: torch.Tensor, enabled: bool = True
) -> torch.Tensor:
    raise NotImplementedError("x + f(x), or f(x)")


# %%
check("residual_add", residual_add)

# %% [markdown]
# ## Exercise 2 (predict): deeper stacks
#
# `gradient_norms_by_depth` stacks freshly initialised feed-forward sub-layers and returns the
# gradient norm that reaches each one. Without residuals the chapter measured a tiny
# first-to-last ratio at 24 layers. What do you expect at 6, 12 and 18 layers: does the ratio
# shrink in proportion to the depth, or faster? And with residuals? Guess, then run the cell
# and open the answer.

# %%
lines = []
for depth in (6, 12, 18, 24):
    plain = gradient_norms_by_depth(num_layers=depth, residual=False)
    skip = gradient_norms_by_depth(num_layers=depth, residual=True)
    lines.append(
        f"{depth:>2} layers: first/last without residuals {plain[0] / plain[-1]:.1e}, "
        f"with residuals {skip[0] / skip[-1]:.2f}"
    )
lines.append(
    "Without residuals the ratio falls exponentially: twice the layers, roughly the square of "
    "the ratio, because every layer multiplies the gradient by about the same factor. With "
    "residuals it stays of order 1 at every depth."
)
folded("\n".join(lines))

# %% [markdown]
# ## Jacobians: $\prod J$ versus $\prod (I + J)$
#
# The argument in matrices. For a small stack (6 layers, $d = 8$) and one input vector, the cell
# computes each sub-layer's Jacobian $J$ at the vector that layer receives, multiplies them
# for the plain stack and multiplies the matrices $I + J$ for the residual one, and prints the
# largest singular value of each product. Change `num_layers` and rerun.

# %%
num_layers, d = 6, 8
torch.manual_seed(0)
layers = [(nn.Linear(d, 4 * d), nn.Linear(4 * d, d)) for _ in range(num_layers)]
start = torch.randn(d)

for residual in (False, True):
    h, product = start, torch.eye(d)
    for expand, project in layers:

        def f(v, expand=expand, project=project):
            return project(F.gelu(expand(v), approximate="tanh"))

        J = torch.autograd.functional.jacobian(f, h)  # (d, d)
        product = ((torch.eye(d) + J) if residual else J) @ product
        with torch.no_grad():
            h = h + f(h) if residual else f(h)
    name = "residual, prod (I + J)" if residual else "plain,    prod J      "
    print(f"{name}: largest singular value {torch.linalg.matrix_norm(product, ord=2):.2e}")
