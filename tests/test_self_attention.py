"""Chapter 4: step-by-step attention equals PyTorch's scaled_dot_product_attention."""

import math

import pytest
import torch
from torch.nn import functional as F

from minigpt.multi_head_attention import causal_mask
from minigpt.self_attention import SelfAttention, scaled_dot_product_attention
from tests.helpers import TOLERANCES, assert_same_forward_and_grad


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("causal", [False, True])
def test_equals_pytorch_forward_and_gradients(dtype, causal):
    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 3, 9, 16, dtype=dtype, requires_grad=True) for _ in range(3))
    mask = causal_mask(9) if causal else None

    def ours(q, k, v):
        return scaled_dot_product_attention(q, k, v, mask)[0]

    def reference(q, k, v):
        return F.scaled_dot_product_attention(q, k, v, is_causal=causal)

    assert_same_forward_and_grad(ours, reference, [q, k, v])


def test_weights_are_rows_of_probabilities():
    torch.manual_seed(0)
    q, k, v = torch.randn(5, 8), torch.randn(5, 8), torch.randn(5, 4)
    context, weights = scaled_dot_product_attention(q, k, v)
    assert weights.shape == (5, 5) and context.shape == (5, 4)
    assert (weights >= 0).all()
    torch.testing.assert_close(weights.sum(-1), torch.ones(5))
    torch.testing.assert_close(context, weights @ v)


def test_weights_follow_the_five_steps():
    torch.manual_seed(1)
    q, k, v = torch.randn(4, 6), torch.randn(4, 6), torch.randn(4, 6)
    _, weights = scaled_dot_product_attention(q, k, v)
    expected = torch.softmax(q @ k.T / math.sqrt(6), dim=-1)
    torch.testing.assert_close(weights, expected)


def test_scaling_keeps_score_variance_near_one():
    torch.manual_seed(0)
    d_k = 512
    q, k = torch.randn(2000, d_k), torch.randn(2000, d_k)
    raw = (q * k).sum(-1)
    assert raw.var().item() == pytest.approx(d_k, rel=0.1)
    assert (raw / math.sqrt(d_k)).var().item() == pytest.approx(1.0, rel=0.1)


def test_masked_scores_get_zero_probability():
    torch.manual_seed(0)
    q = k = v = torch.randn(6, 4)
    _, weights = scaled_dot_product_attention(q, k, v, causal_mask(6))
    assert torch.equal(weights.triu(1), torch.zeros(6, 6))
    assert weights[0, 0] == 1.0


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_self_attention_module_equals_pytorch(dtype):
    torch.manual_seed(0)
    attention = SelfAttention(embed_dim=12, head_dim=8).to(dtype)
    x = torch.randn(2, 5, 12, dtype=dtype)
    context, weights = attention(x)
    q, k, v = attention.query(x), attention.key(x), attention.value(x)
    expected = F.scaled_dot_product_attention(q, k, v)
    torch.testing.assert_close(context, expected, **TOLERANCES[dtype])
    assert weights.shape == (2, 5, 5)
