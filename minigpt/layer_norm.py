"""Chapter 8 — layer normalization: keep every token vector at a steady scale."""

from __future__ import annotations

import torch
from torch import Tensor, nn


# --8<-- [start:layer_norm]
class LayerNorm(nn.Module):
    """Normalizes each vector to mean 0 and variance 1, then rescales and shifts it.

    The statistics are taken over the last dimension, separately for every token, so the
    result does not depend on the batch. `weight` (scale) and `bias` (shift) are learned;
    they start at 1 and 0, which leaves the normalized vector unchanged. `eps` avoids a
    division by zero for a constant vector. Equal to `torch.nn.LayerNorm`.
    """

    def __init__(self, dim: int, eps: float = 1e-5, bias: bool = True) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))
        self.bias = nn.Parameter(torch.zeros(dim)) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        mean = x.mean(dim=-1, keepdim=True)
        variance = x.var(dim=-1, keepdim=True, unbiased=False)  # divide by n, not n − 1
        normalized = (x - mean) / torch.sqrt(variance + self.eps)
        output = normalized * self.weight
        return output + self.bias if self.bias is not None else output
        # --8<-- [end:layer_norm]
