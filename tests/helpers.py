"""Shared assertions for the component tests."""

from __future__ import annotations

import torch

# Tolerances for "equal to PyTorch's built-in": float32 differs by rounding only.
TOLERANCES = {
    torch.float32: {"atol": 1e-5, "rtol": 1e-5},
    torch.float64: {"atol": 1e-10, "rtol": 1e-10},
}


def assert_same_forward_and_grad(
    ours,
    reference,
    inputs: list[torch.Tensor],
    params: list[tuple[torch.Tensor, torch.Tensor]] = (),
) -> None:
    """Both callables give the same outputs, input gradients and parameter gradients.

    `inputs` must require grad; `params` pairs each of our parameters with the reference's.
    """
    dtype = inputs[0].dtype
    tol = TOLERANCES[dtype]
    ref_inputs = [x.detach().clone().requires_grad_(x.requires_grad) for x in inputs]
    out, ref_out = ours(*inputs), reference(*ref_inputs)
    torch.testing.assert_close(out, ref_out, **tol)
    upstream = torch.randn_like(out)
    out.backward(upstream)
    ref_out.backward(upstream)
    for x, ref_x in zip(inputs, ref_inputs):
        if x.requires_grad:
            torch.testing.assert_close(x.grad, ref_x.grad, **tol)
    for ours_p, ref_p in params:
        torch.testing.assert_close(ours_p.grad, ref_p.grad, **tol)
