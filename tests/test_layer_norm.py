"""Chapter 8: layer normalization from scratch equals nn.LayerNorm, and so does the module."""

import pytest
import torch
from torch import nn

from minigpt.layer_norm import LayerNorm, layer_norm
from tests.helpers import assert_same_forward_and_grad


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("bias", [True, False])
def test_equals_nn_layer_norm(dtype, bias):
    torch.manual_seed(0)
    ours = LayerNorm(16, eps=1e-5, bias=bias).to(dtype)
    reference = nn.LayerNorm(16, eps=1e-5, bias=bias).to(dtype)
    with torch.no_grad():  # non-trivial scale and shift, the same in both
        ours.weight.uniform_(0.5, 1.5)
        reference.weight.copy_(ours.weight)
        if bias:
            ours.bias.uniform_(-1, 1)
            reference.bias.copy_(ours.bias)
    x = (torch.randn(3, 7, 16, dtype=dtype) * 5 + 3).requires_grad_()
    pairs = [(ours.weight, reference.weight)] + ([(ours.bias, reference.bias)] if bias else [])
    assert_same_forward_and_grad(ours, reference, [x], pairs)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("reference_kind", [LayerNorm, nn.LayerNorm])
def test_taught_function_equals_the_module_and_nn_layer_norm(dtype, bias, reference_kind):
    """The explicit steps the chapter shows compute what the fused kernel computes."""
    torch.manual_seed(0)
    reference = reference_kind(16, eps=1e-5, bias=bias).to(dtype)
    with torch.no_grad():
        reference.weight.uniform_(0.5, 1.5)
        if bias:
            reference.bias.uniform_(-1, 1)
    weight = reference.weight.detach().clone().requires_grad_()
    shift = reference.bias.detach().clone().requires_grad_() if bias else None
    x = (torch.randn(3, 7, 16, dtype=dtype) * 5 + 3).requires_grad_()
    pairs = [(weight, reference.weight)] + ([(shift, reference.bias)] if bias else [])
    assert_same_forward_and_grad(
        lambda x: layer_norm(x, weight, shift, 1e-5), reference, [x], pairs
    )


def test_taught_function_on_a_worked_example():
    x = torch.tensor([1.0, 2.0, 3.0, 4.0])
    y = layer_norm(x, torch.full((4,), 2.0), torch.full((4,), 0.5), eps=0.0)
    torch.testing.assert_close(y, 2 * (x - 2.5) / 1.25**0.5 + 0.5)


def test_output_has_zero_mean_unit_variance_per_token():
    torch.manual_seed(0)
    x = torch.randn(4, 10, 32) * 100 + 50
    y = LayerNorm(32)(x)
    torch.testing.assert_close(y.mean(-1), torch.zeros(4, 10), atol=1e-5, rtol=0)
    torch.testing.assert_close(y.var(-1, unbiased=False), torch.ones(4, 10), atol=1e-3, rtol=0)


def test_worked_example():
    # mean 2.5, variance 1.25 → (x − 2.5) / √(1.25 + eps)
    y = LayerNorm(4, eps=0.0)(torch.tensor([1.0, 2.0, 3.0, 4.0]))
    expected = torch.tensor([-1.5, -0.5, 0.5, 1.5]) / 1.25**0.5
    torch.testing.assert_close(y, expected)


def test_constant_vector_does_not_divide_by_zero():
    y = LayerNorm(4)(torch.full((4,), 7.0))
    assert torch.equal(y, torch.zeros(4))
