"""Chapter 5: the causal mask and masked multi-head attention (explicit = fused)."""

import pytest
import torch

from minigpt.multi_head_attention import MultiHeadAttention, causal_mask
from tests.helpers import TOLERANCES


def test_causal_mask_is_lower_triangular_ones():
    assert causal_mask(4).int().tolist() == [
        [1, 0, 0, 0],
        [1, 1, 0, 0],
        [1, 1, 1, 0],
        [1, 1, 1, 1],
    ]


def make_pair(dtype=torch.float32, **kwargs):
    torch.manual_seed(0)
    options = dict(embed_dim=32, num_heads=4, block_size=16) | kwargs
    explicit = MultiHeadAttention(fused=False, **options).to(dtype)
    fused = MultiHeadAttention(fused=True, **options).to(dtype)
    fused.load_state_dict(explicit.state_dict())
    return explicit, fused


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", [(1, 1), (2, 5), (3, 16)])
def test_explicit_equals_fused_forward_and_gradients(dtype, shape):
    explicit, fused = make_pair(dtype)
    x = torch.randn(*shape, 32, dtype=dtype, requires_grad=True)
    x2 = x.detach().clone().requires_grad_()
    out, out2 = explicit(x), fused(x2)
    torch.testing.assert_close(out, out2, **TOLERANCES[dtype])
    upstream = torch.randn_like(out)
    out.backward(upstream)
    out2.backward(upstream)
    torch.testing.assert_close(x.grad, x2.grad, **TOLERANCES[dtype])
    for (name, p), p2 in zip(explicit.named_parameters(), fused.parameters()):
        torch.testing.assert_close(p.grad, p2.grad, **TOLERANCES[dtype], msg=name)


@pytest.mark.parametrize("fused", [False, True])
def test_no_future_leakage_for_every_position(fused):
    """Changing tokens after position t never changes outputs at positions ≤ t."""
    torch.manual_seed(0)
    attention = MultiHeadAttention(32, 4, block_size=12, fused=fused).double()
    x = torch.randn(2, 12, 32, dtype=torch.float64)
    reference = attention(x)
    for t in range(12):
        changed = x.clone()
        changed[:, t + 1 :] = torch.randn_like(changed[:, t + 1 :])
        out = attention(changed)
        torch.testing.assert_close(out[:, : t + 1], reference[:, : t + 1], atol=1e-12, rtol=0)
        if t + 1 < 12:
            assert not torch.allclose(out[:, t + 1 :], reference[:, t + 1 :])


def test_heads_attend_independently_then_concatenate():
    torch.manual_seed(0)
    attention = MultiHeadAttention(8, num_heads=2, block_size=4, fused=False, bias=False)
    x = torch.randn(1, 4, 8)
    q, k, v = attention.qkv(x).split(8, dim=2)
    mask = causal_mask(4)
    heads = []
    for h in range(2):  # one head at a time, by hand
        cols = slice(4 * h, 4 * h + 4)
        scores = q[..., cols] @ k[..., cols].transpose(-2, -1) / 2.0
        weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)
        heads.append(weights @ v[..., cols])
    expected = attention.output(torch.cat(heads, dim=-1))
    torch.testing.assert_close(attention(x), expected)


def test_records_weights_for_figures():
    explicit, _ = make_pair()
    explicit.record_weights = True
    explicit(torch.randn(2, 6, 32))
    weights = explicit.attention_weights
    assert weights.shape == (2, 4, 6, 6)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 4, 6))
    assert torch.equal(weights.triu(1), torch.zeros_like(weights))


def test_embed_dim_must_divide_into_heads():
    with pytest.raises(ValueError, match=r"embed_dim \(30\) must be divisible by num_heads \(4\)"):
        MultiHeadAttention(30, 4, block_size=8)


def test_dropout_only_in_training():
    torch.manual_seed(0)
    explicit, fused = make_pair(dropout=0.5)
    x = torch.randn(2, 8, 32)
    for module in (explicit, fused):
        module.eval()
        torch.testing.assert_close(module(x), module(x))
        module.train()
        assert not torch.allclose(module(x), module(x))
