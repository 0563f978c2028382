"""Chapter 5: causal_mask and MultiHeadAttention, wrong."""

import math

import torch
from torch import nn

from minigpt.multi_head_attention import causal_mask

from .registry import mistake


@mistake("causal_mask", "the diagonal is blocked")
def without_the_diagonal(seq_len, device=None):
    return torch.tril(torch.ones(seq_len, seq_len, dtype=torch.bool, device=device), diagonal=-1)


@mistake("causal_mask", "upper triangle")
def upper_triangle(seq_len, device=None):
    return torch.triu(torch.ones(seq_len, seq_len, dtype=torch.bool, device=device))


@mistake("causal_mask", "make it torch.bool")
def float_mask(seq_len, device=None):
    return torch.tril(torch.ones(seq_len, seq_len, device=device))


class _Attention(nn.Module):
    """A learner's multi-head attention; the subclasses below each get one step wrong."""

    def __init__(self, embed_dim, num_heads, block_size, dropout=0.0, bias=True):
        super().__init__()
        if embed_dim % num_heads:
            raise ValueError("embed_dim must be divisible by num_heads")
        self.num_heads, self.head_dim = num_heads, embed_dim // num_heads
        self.qkv = nn.Linear(embed_dim, 3 * embed_dim, bias=bias)
        self.output = nn.Linear(embed_dim, embed_dim, bias=bias)
        self.dropout = nn.Dropout(dropout)
        self.register_buffer("mask", causal_mask(block_size), persistent=False)

    def split(self, t, batch, seq_len):
        return t.view(batch, seq_len, self.num_heads, self.head_dim).transpose(1, 2)

    def merge(self, t, batch, seq_len):
        return t.transpose(1, 2).reshape(batch, seq_len, -1)

    def scale(self, embed_dim):
        return math.sqrt(self.head_dim)

    def forward(self, x):
        batch, seq_len, embed_dim = x.shape
        q, k, v = (self.split(t, batch, seq_len) for t in self.qkv(x).split(embed_dim, dim=2))
        scores = q @ k.transpose(-2, -1) / self.scale(embed_dim)
        scores = self.masked(scores, seq_len)
        weights = self.dropout(torch.softmax(scores, dim=-1))
        return self.dropout(self.output(self.merge(weights @ v, batch, seq_len)))

    def masked(self, scores, seq_len):
        return scores.masked_fill(~self.mask[:seq_len, :seq_len], float("-inf"))


@mistake("multi_head_attention", "later tokens are visible")
class NoMask(_Attention):
    def masked(self, scores, seq_len):
        return scores


@mistake("multi_head_attention", "the heads are split wrongly")
class ReshapeWithoutTranspose(_Attention):
    def split(self, t, batch, seq_len):
        return t.reshape(batch, self.num_heads, seq_len, self.head_dim)

    def merge(self, t, batch, seq_len):
        return t.reshape(batch, seq_len, -1)


@mistake("multi_head_attention", "not √embed_dim")
class ScaledByTheWidth(_Attention):
    def scale(self, embed_dim):
        return math.sqrt(embed_dim)


@mistake("multi_head_attention", "check embed_dim % num_heads")
class NoDivisibilityCheck(_Attention):
    def __init__(self, embed_dim, num_heads, block_size, dropout=0.0, bias=True):
        super().__init__(embed_dim, embed_dim, block_size, dropout, bias)  # check passes
        self.num_heads, self.head_dim = num_heads, embed_dim // num_heads


@mistake("multi_head_attention", "apply dropout to the attention weights")
class NoDropout(_Attention):
    def __init__(self, embed_dim, num_heads, block_size, dropout=0.0, bias=True):
        super().__init__(embed_dim, num_heads, block_size, 0.0, bias)


@mistake("multi_head_attention", "merged without moving them back", absent="apply the causal mask")
class MergeWithoutTranspose(_Attention):
    def merge(self, t, batch, seq_len):
        return t.reshape(batch, seq_len, -1)


@mistake("sliding_window_mask", "each token sees window + 1 tokens")
def window_one_too_wide(seq_len, window, device=None):
    if window < 1:
        raise ValueError("window must be at least 1")
    mask = torch.ones(seq_len, seq_len, dtype=torch.bool, device=device)
    return torch.tril(mask) & ~torch.tril(mask, diagonal=-window - 1)


@mistake("sliding_window_mask", "later tokens are visible")
def window_both_ways(seq_len, window, device=None):
    if window < 1:
        raise ValueError("window must be at least 1")
    offset = torch.arange(seq_len, device=device)
    return (offset.unsqueeze(1) - offset.unsqueeze(0)).abs() < window


@mistake("sliding_window_mask", "check window >= 1")
def window_unchecked(seq_len, window, device=None):
    mask = torch.ones(seq_len, seq_len, dtype=torch.bool, device=device)
    return torch.tril(mask) & ~torch.tril(mask, diagonal=-window)
