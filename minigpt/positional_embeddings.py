"""Chapter 3 — positional embeddings: tell the model where each token sits."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F


# --8<-- [start:learned]
class LearnedPositionalEmbedding(nn.Module):
    """GPT-2's choice: one learnable vector per position, 0 … block_size − 1."""

    def __init__(self, block_size: int, embed_dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(block_size, embed_dim) * 0.02)

    def forward(self, positions: Tensor) -> Tensor:
        return F.embedding(positions, self.weight)  # (seq_len, embed_dim): row per position
        # --8<-- [end:learned]


# --8<-- [start:sinusoidal_table]
def sinusoidal_table(num_positions: int, embed_dim: int) -> Tensor:
    """The original Transformer's fixed encoding.

    PE[pos, 2i] = sin(pos / 10000^(2i/d)) and PE[pos, 2i+1] = cos(pos / 10000^(2i/d)):
    each pair of dimensions is a sine wave of its own wavelength, from 2π up to 10000·2π,
    so every position gets a distinct pattern and nearby positions get similar ones.
    """
    if embed_dim % 2 != 0:
        raise ValueError(f"sinusoidal positions need an even embed_dim, got {embed_dim}")
    position = torch.arange(num_positions, dtype=torch.float64).unsqueeze(1)  # (P, 1)
    two_i = torch.arange(0, embed_dim, 2, dtype=torch.float64)  # 0, 2, 4, ...
    angle = position / torch.pow(10000.0, two_i / embed_dim)  # (P, d/2)
    table = torch.empty(num_positions, embed_dim, dtype=torch.float64)
    table[:, 0::2] = torch.sin(angle)
    table[:, 1::2] = torch.cos(angle)
    return table.to(torch.get_default_dtype())
    # --8<-- [end:sinusoidal_table]


class SinusoidalPositionalEmbedding(nn.Module):
    """Fixed (not learned) positions from `sinusoidal_table`, stored as a buffer."""

    def __init__(self, block_size: int, embed_dim: int) -> None:
        super().__init__()
        self.register_buffer("table", sinusoidal_table(block_size, embed_dim), persistent=False)

    def forward(self, positions: Tensor) -> Tensor:
        return self.table[positions]
