"""Chapter 6: Linear → GELU → Linear."""

import pytest
import torch
from torch import nn

from minigpt.feed_forward import FeedForward
from tests.helpers import assert_same_forward_and_grad


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_equals_a_sequential_of_builtins(dtype):
    torch.manual_seed(0)
    ours = FeedForward(embed_dim=16).to(dtype)
    reference = nn.Sequential(nn.Linear(16, 64), nn.GELU(approximate="tanh"), nn.Linear(64, 16))
    reference = reference.to(dtype)
    reference.load_state_dict(
        {
            "0.weight": ours.expand.weight,
            "0.bias": ours.expand.bias,
            "2.weight": ours.project.weight,
            "2.bias": ours.project.bias,
        }
    )
    x = torch.randn(2, 5, 16, dtype=dtype, requires_grad=True)
    assert_same_forward_and_grad(
        ours,
        reference,
        [x],
        [(ours.expand.weight, reference[0].weight), (ours.project.bias, reference[2].bias)],
    )


def test_default_hidden_dim_is_four_times_embed_dim():
    ff = FeedForward(embed_dim=24)
    assert ff.expand.weight.shape == (96, 24)
    assert ff.project.weight.shape == (24, 96)
    # Parameters: 24·96 + 96 + 96·24 + 24
    assert sum(p.numel() for p in ff.parameters()) == 2 * 24 * 96 + 96 + 24
    assert FeedForward(embed_dim=24, hidden_dim=10).expand.weight.shape == (10, 24)


def test_each_token_is_processed_independently():
    torch.manual_seed(0)
    ff = FeedForward(embed_dim=8)
    x = torch.randn(1, 5, 8)
    out = ff(x)
    changed = x.clone()
    changed[0, 3] += 1.0
    out2 = ff(changed)
    assert torch.equal(out[0, [0, 1, 2, 4]], out2[0, [0, 1, 2, 4]])
    assert not torch.equal(out[0, 3], out2[0, 3])
