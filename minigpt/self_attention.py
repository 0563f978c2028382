"""Chapter 4 — self-attention: every token gathers information from the others."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F


# --8<-- [start:attention]
def scaled_dot_product_attention(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    mask: Tensor | None = None,
    dropout_p: float = 0.0,
) -> tuple[Tensor, Tensor]:
    """Attention written out step by step; returns (context vectors, attention weights).

    `query` is (..., T_q, d_k), `key` (..., T_k, d_k), `value` (..., T_k, d_v). `mask` is
    True where a query may look at a key; blocked pairs get a score of −∞ so softmax gives
    them probability 0. Equal to `torch.nn.functional.scaled_dot_product_attention`.
    """
    d_k = query.shape[-1]
    # --8<-- [start:scores]
    scores = query @ key.transpose(-2, -1)  # (..., T_q, T_k): how well each query matches each key
    # --8<-- [end:scores]
    # --8<-- [start:scale]
    scores = scores / math.sqrt(d_k)  # keep the scores' variance near 1 whatever d_k is
    # --8<-- [end:scale]
    # --8<-- [start:mask]
    if mask is not None:  # blocked pairs get −∞, which softmax turns into probability 0
        scores = scores.masked_fill(~mask, float("-inf"))
    # --8<-- [end:mask]
    # --8<-- [start:softmax]
    weights = torch.softmax(scores, dim=-1)  # each row is a probability distribution
    # --8<-- [end:softmax]
    if dropout_p > 0.0:
        weights = F.dropout(weights, p=dropout_p)
    # --8<-- [start:context]
    context = weights @ value  # (..., T_q, d_v): a weighted average of the value vectors
    # --8<-- [end:context]
    return context, weights
    # --8<-- [end:attention]


# --8<-- [start:self_attention]
class SelfAttention(nn.Module):
    """One attention head over a sequence: every position attends to every position.

    Three learned projections turn each token vector into a query (what am I looking
    for?), a key (what do I contain?) and a value (what do I pass on?).
    """

    def __init__(self, embed_dim: int, head_dim: int, bias: bool = False) -> None:
        super().__init__()
        self.query = nn.Linear(embed_dim, head_dim, bias=bias)
        self.key = nn.Linear(embed_dim, head_dim, bias=bias)
        self.value = nn.Linear(embed_dim, head_dim, bias=bias)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        q, k, v = self.query(x), self.key(x), self.value(x)  # each (batch, T, head_dim)
        return scaled_dot_product_attention(q, k, v, mask)
        # --8<-- [end:self_attention]


# --8<-- [start:padding_mask]
def padding_mask(lengths: Tensor, seq_len: int) -> Tensor:
    """For a batch of texts padded to `seq_len`: True where key j is a real token of text b
    (j < lengths[b]), of shape (batch, 1, seq_len), so that it broadcasts over the queries of
    a (batch, seq_len, seq_len) score matrix. Every text needs a token: a query with no key to
    look at would get 0/0 weights.
    """
    if bool((lengths < 1).any()) or bool((lengths > seq_len).any()):
        raise ValueError(f"lengths must be between 1 and seq_len={seq_len}, got {lengths.tolist()}")
    positions = torch.arange(seq_len, device=lengths.device)
    return (positions < lengths.unsqueeze(-1)).unsqueeze(1)
    # --8<-- [end:padding_mask]
