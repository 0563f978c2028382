"""Chapter 9: LN → masked MHA → add → LN → FFN → add."""

import torch

from minigpt import MiniGPTConfig
from minigpt.transformer_block import TransformerBlock

CONFIG = MiniGPTConfig(vocab_size=32, block_size=8, embed_dim=16, num_heads=4, num_layers=1)


def test_block_is_the_six_steps():
    torch.manual_seed(0)
    block = TransformerBlock(CONFIG).eval()
    x = torch.randn(2, 8, 16)
    h = x + block.attention(block.norm1(x))  # LN → masked MHA → add
    expected = h + block.feed_forward(block.norm2(h))  # LN → FFN → add
    torch.testing.assert_close(block(x), expected)


def test_block_keeps_shape_and_causality():
    torch.manual_seed(0)
    block = TransformerBlock(CONFIG).eval()
    x = torch.randn(1, 8, 16)
    out = block(x)
    assert out.shape == x.shape
    changed = x.clone()
    changed[:, 5:] += 1.0
    torch.testing.assert_close(block(changed)[:, :5], out[:, :5])


def test_dropout_after_attention_and_feed_forward():
    block = TransformerBlock(MiniGPTConfig(**(CONFIG.to_dict() | {"dropout": 0.3})))
    assert block.attention.output_dropout.p == 0.3
    assert block.feed_forward.dropout.p == 0.3
    x = torch.randn(1, 8, 16)
    block.train()
    assert not torch.allclose(block(x), block(x))
    block.eval()
    assert torch.equal(block(x), block(x))


def test_stacked_blocks_have_independent_weights():
    blocks = torch.nn.Sequential(TransformerBlock(CONFIG), TransformerBlock(CONFIG))
    assert blocks[0].attention.qkv.weight is not blocks[1].attention.qkv.weight
    assert blocks(torch.randn(1, 8, 16)).shape == (1, 8, 16)
