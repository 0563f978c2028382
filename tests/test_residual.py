"""Chapter 7: residual connections, and why deep stacks need them."""

import torch

from minigpt import MiniGPT, MiniGPTConfig
from minigpt.residual import gradient_norms_by_depth, residual_add


def test_residual_adds_the_sublayer_output():
    x, fx = torch.tensor([1.0, 2.0]), torch.tensor([0.5, -1.0])
    assert torch.equal(residual_add(x, fx), torch.tensor([1.5, 1.0]))
    assert torch.equal(residual_add(x, fx, enabled=False), fx)


def test_a_block_without_residuals_replaces_its_input():
    torch.manual_seed(0)
    config = MiniGPTConfig(vocab_size=16, block_size=8, embed_dim=16, num_heads=2, num_layers=1)
    with_skip = MiniGPT(config).blocks[0]
    without = MiniGPT(MiniGPTConfig(**(config.to_dict() | {"residual": False}))).blocks[0]
    without.load_state_dict(with_skip.state_dict())
    x = torch.randn(1, 8, 16)
    h = x + with_skip.attention(with_skip.norm1(x))
    torch.testing.assert_close(with_skip(x), h + with_skip.feed_forward(with_skip.norm2(h)))
    h = without.attention(without.norm1(x))
    torch.testing.assert_close(without(x), without.feed_forward(without.norm2(h)))


def test_residuals_keep_gradients_alive_in_deep_stacks():
    with_skip = gradient_norms_by_depth(num_layers=24, residual=True)
    without = gradient_norms_by_depth(num_layers=24, residual=False)
    assert len(with_skip) == len(without) == 24
    # With residuals the first layer gets a gradient of the same order as the last one;
    # without them it has vanished: each layer multiplies it by a factor below one.
    assert 0.5 < with_skip[0] / with_skip[-1] < 2
    assert without[0] / without[-1] < 1e-10
    assert all(a < b for a, b in zip(without, without[1:]))


def test_layer_norm_alone_also_rescales_gradients():
    normalized = gradient_norms_by_depth(num_layers=24, residual=False, layer_norm=True)
    assert 0.1 < normalized[0] / normalized[-1] < 10
