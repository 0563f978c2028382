"""Chapter 7 — residual connections: each sub-layer adds a change to its input."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .feed_forward import FeedForward
from .layer_norm import LayerNorm


# --8<-- [start:residual]
def residual_add(x: Tensor, sublayer_output: Tensor, enabled: bool = True) -> Tensor:
    """x + f(x): the sub-layer learns a modification of x instead of a replacement.

    The addition also gives gradients a direct path back to earlier layers: the
    derivative of x + f(x) with respect to x is 1 + f'(x), never just a product of small
    factors. `enabled=False` drops the skip path, for the chapter's experiment only.
    """
    return x + sublayer_output if enabled else sublayer_output
    # --8<-- [end:residual]


# --8<-- [start:gradient_experiment]
def gradient_norms_by_depth(
    num_layers: int = 24,
    residual: bool = True,
    layer_norm: bool = False,
    embed_dim: int = 64,
    seed: int = 0,
) -> list[float]:
    """Gradient norm reaching each layer of a deep stack of feed-forward sub-layers.

    Stacks `num_layers` freshly initialised `FeedForward` sub-layers (optionally each with
    a `LayerNorm` in front, as in the transformer block), with or without residual
    connections, pushes one random batch through, backpropagates a simple loss and
    returns the gradient norm of each sub-layer's parameters, first (nearest the input)
    to last.
    """
    torch.manual_seed(seed)
    sublayers = [FeedForward(embed_dim) for _ in range(num_layers)]
    norms = [LayerNorm(embed_dim) if layer_norm else nn.Identity() for _ in range(num_layers)]
    x = torch.randn(32, embed_dim)
    for norm, sublayer in zip(norms, sublayers):
        x = residual_add(x, sublayer(norm(x)), enabled=residual)
    x.pow(2).mean().backward()
    return [
        torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in sublayer.parameters()])).item()
        for sublayer in sublayers
    ]
    # --8<-- [end:gradient_experiment]
