"""Chapter 8 — layer normalization: keep every token vector at a steady scale."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F


# --8<-- [start:layer_norm_function]
def layer_norm(x: Tensor, weight: Tensor, bias: Tensor | None, eps: float = 1e-5) -> Tensor:
    """Normalizes each vector to mean 0 and variance 1, then rescales and shifts it.

    The statistics are taken over the last dimension, separately for every token, so the
    result does not depend on the batch. `eps` avoids a division by zero for a constant
    vector. Equal to `torch.nn.functional.layer_norm`.
    """
    mean = x.mean(dim=-1, keepdim=True)
    variance = x.var(dim=-1, keepdim=True, unbiased=False)  # divide by n, not n − 1
    normalized = (x - mean) / torch.sqrt(variance + eps)
    output = normalized * weight
    return output + bias if bias is not None else output
    # --8<-- [end:layer_norm_function]


# --8<-- [start:layer_norm]
class LayerNorm(nn.Module):
    """`layer_norm` with a learned scale (`weight`) and shift (`bias`), one per dimension.

    They start at 1 and 0, which leaves the normalized vector unchanged. The forward pass
    calls PyTorch's fused kernel, which computes exactly the steps of `layer_norm` above in
    one pass over the data (the tests check that the two agree, gradients included).
    """

    def __init__(self, dim: int, eps: float = 1e-5, bias: bool = True) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))
        self.bias = nn.Parameter(torch.zeros(dim)) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, self.eps)
        # --8<-- [end:layer_norm]


# --8<-- [start:rms_norm]
class RMSNorm(nn.Module):
    """LayerNorm without the mean and the shift, as in Llama and Mistral: each vector divided
    by its root mean square, √(mean(x²) + ε), then scaled by `weight`.

    One reduction instead of two, and in practice as good; `nn.RMSNorm` computes the same.
    """

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + self.eps) * self.weight
        # --8<-- [end:rms_norm]
