"""Chapter 9 — the transformer block: attention and feed-forward, each normalized and added."""

from __future__ import annotations

from torch import Tensor, nn

from .config import MiniGPTConfig
from .feed_forward import FeedForward
from .layer_norm import LayerNorm
from .multi_head_attention import KVCache, MultiHeadAttention
from .residual import residual_add


# --8<-- [start:transformer_block]
class TransformerBlock(nn.Module):
    """LayerNorm → masked multi-head attention → add → LayerNorm → feed-forward → add.

    This is the "pre-norm" arrangement GPT-2 uses: each sub-layer sees a normalized copy
    of the stream, and its output is added back onto the un-normalized stream. Dropout
    sits at the end of both sub-layers (inside `MultiHeadAttention` and `FeedForward`).
    """

    # --8<-- [start:init]
    def __init__(self, config: MiniGPTConfig) -> None:
        super().__init__()
        self.residual = config.residual
        self.norm1 = LayerNorm(config.embed_dim, eps=config.layer_norm_eps, bias=config.bias)
        self.attention = MultiHeadAttention(
            config.embed_dim,
            config.num_heads,
            config.block_size,
            dropout=config.dropout,
            bias=config.bias,
            fused=config.fused_attention,
        )
        self.norm2 = LayerNorm(config.embed_dim, eps=config.layer_norm_eps, bias=config.bias)
        self.feed_forward = FeedForward(
            config.embed_dim, config.hidden_dim, dropout=config.dropout, bias=config.bias
        )
        # --8<-- [end:init]

    # --8<-- [start:forward]
    def forward(self, x: Tensor, kv_cache: KVCache | None = None) -> Tensor:
        x = residual_add(x, self.attention(self.norm1(x), kv_cache), self.residual)
        x = residual_add(x, self.feed_forward(self.norm2(x)), self.residual)
        return x
        # --8<-- [end:forward]
        # --8<-- [end:transformer_block]
