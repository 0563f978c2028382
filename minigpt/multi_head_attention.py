"""Chapter 5 — masked multi-head attention: several heads, none of which sees the future."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from .self_attention import scaled_dot_product_attention


# --8<-- [start:causal_mask]
def causal_mask(seq_len: int, device: torch.device | str | None = None) -> Tensor:
    """The lower-triangular mask: entry (i, j) is 1 (True) when token i may look at token j.

    Token 0 sees only itself, token 1 sees tokens 0–1, and so on: never a later token.
    """
    return torch.tril(torch.ones(seq_len, seq_len, dtype=torch.bool, device=device))
    # --8<-- [end:causal_mask]


# --8<-- [start:sliding_window_mask]
def sliding_window_mask(
    seq_len: int, window: int, device: torch.device | str | None = None
) -> Tensor:
    """A causal mask that also forgets: token i sees tokens i − window + 1 … i, never more than
    `window` of them (the sliding-window attention of Longformer and Mistral). A window of
    seq_len or more is `causal_mask`; a window of 1 lets each token see only itself.
    """
    if window < 1:
        raise ValueError(f"window must be at least 1, got {window}")
    causal = causal_mask(seq_len, device)
    too_old = torch.tril(torch.ones_like(causal), diagonal=-window)  # j ≤ i − window
    return causal & ~too_old
    # --8<-- [end:sliding_window_mask]


class KVCache:
    """Keys and values of the tokens seen so far, so generation computes each only once.

    Preallocated to `max_len` positions; `append` writes the new ones in place and returns
    views of everything cached so far.
    """

    def __init__(
        self,
        batch_size: int,
        num_heads: int,
        max_len: int,
        head_dim: int,
        device: torch.device | str,
        dtype: torch.dtype,
    ) -> None:
        shape = (batch_size, num_heads, max_len, head_dim)
        self.keys = torch.zeros(shape, device=device, dtype=dtype)
        self.values = torch.zeros(shape, device=device, dtype=dtype)
        self.length = 0

    def append(self, keys: Tensor, values: Tensor) -> tuple[Tensor, Tensor]:
        start, end = self.length, self.length + keys.shape[2]
        if end > self.keys.shape[2]:
            raise ValueError(f"KV cache holds {self.keys.shape[2]} positions; {end} requested")
        self.keys[:, :, start:end] = keys
        self.values[:, :, start:end] = values
        self.length = end
        return self.keys[:, :, :end], self.values[:, :, :end]


# --8<-- [start:multi_head_attention]
class MultiHeadAttention(nn.Module):
    """Causal multi-head self-attention, GPT-2 style.

    One Linear layer computes queries, keys and values for all heads at once; the result
    is split into `num_heads` heads that attend independently, then their outputs are
    concatenated and mixed by an output projection. `fused=True` runs PyTorch's fused
    kernel (flash / memory-efficient attention on a GPU); `fused=False` runs the explicit
    steps from chapter 4. Both give the same numbers.
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        block_size: int,
        dropout: float = 0.0,
        bias: bool = True,
        fused: bool = True,
    ) -> None:
        super().__init__()
        if embed_dim % num_heads != 0:
            raise ValueError(
                f"embed_dim ({embed_dim}) must be divisible by num_heads ({num_heads})"
            )
        self.num_heads = num_heads
        self.head_dim = embed_dim // num_heads
        self.dropout = dropout
        self.fused = fused
        self.qkv = nn.Linear(embed_dim, 3 * embed_dim, bias=bias)
        self.output = nn.Linear(embed_dim, embed_dim, bias=bias)
        self.output_dropout = nn.Dropout(dropout)
        self.register_buffer("mask", causal_mask(block_size), persistent=False)
        self.record_weights = False  # set True to keep the last attention weights
        self.attention_weights: Tensor | None = None

    # --8<-- [start:forward]
    def forward(self, x: Tensor, kv_cache: KVCache | None = None) -> Tensor:
        batch, seq_len, embed_dim = x.shape
        # 1. Project every token to a query, key and value, then split them into heads:
        #    (batch, seq_len, embed_dim) → (batch, num_heads, seq_len, head_dim).
        q, k, v = self.qkv(x).split(embed_dim, dim=2)
        q, k, v = (
            t.view(batch, seq_len, self.num_heads, self.head_dim).transpose(1, 2) for t in (q, k, v)
        )
        past = 0
        if kv_cache is not None:
            past = kv_cache.length
            k, v = kv_cache.append(k, v)  # all keys and values so far, this step's included
        # 2. Each head attends independently; the causal mask hides later tokens.
        context = self.attend(q, k, v, past)
        # 3. Concatenate the heads and mix them with the output projection.
        context = context.transpose(1, 2).contiguous().view(batch, seq_len, embed_dim)
        return self.output_dropout(self.output(context))
        # --8<-- [end:forward]

    # --8<-- [start:attend]
    def attend(self, q: Tensor, k: Tensor, v: Tensor, past: int) -> Tensor:
        """Attention of the new queries (positions past … past+T−1) over all keys so far."""
        seq_len, total = q.shape[2], k.shape[2]
        dropout_p = self.dropout if self.training else 0.0
        if self.fused and not self.record_weights:
            if past == 0:  # the common case: a causal square, the fastest kernels apply
                return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=True)
            if seq_len == 1:  # one new token may see every cached key: nothing to mask
                return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p)
            mask = self.mask[past : past + seq_len, :total]
            return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p)
        mask = self.mask[past : past + seq_len, :total]
        context, weights = scaled_dot_product_attention(q, k, v, mask, dropout_p)
        if self.record_weights:
            self.attention_weights = weights.detach()
        return context
        # --8<-- [end:attend]
        # --8<-- [end:multi_head_attention]
