"""Chapter 6 — the feed-forward network: per-token processing after attention mixed tokens."""

from __future__ import annotations

from torch import Tensor, nn


# --8<-- [start:feed_forward]
class FeedForward(nn.Module):
    """Linear → GELU → Linear, applied to every token vector on its own.

    Attention moves information between tokens; this network then transforms each
    token's vector. It expands to `hidden_dim` (4 × embed_dim by default), applies the
    non-linearity there, and projects back. GELU uses the tanh approximation, as GPT-2.
    """

    def __init__(
        self, embed_dim: int, hidden_dim: int | None = None, dropout: float = 0.0, bias: bool = True
    ) -> None:
        super().__init__()
        hidden_dim = 4 * embed_dim if hidden_dim is None else hidden_dim
        self.expand = nn.Linear(embed_dim, hidden_dim, bias=bias)
        self.activation = nn.GELU(approximate="tanh")
        self.project = nn.Linear(hidden_dim, embed_dim, bias=bias)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.dropout(self.project(self.activation(self.expand(x))))
        # --8<-- [end:feed_forward]
