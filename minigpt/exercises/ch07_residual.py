"""Chapter 7's exercise: residual_add."""

from __future__ import annotations

import torch

from .. import residual
from .core import Exercise
from .tools import expect_close, fail, hint_if_raises, leaf, observe, randn

residual_add = Exercise(
    "residual_add",
    7,
    residual.residual_add,
    "x + f(x), or f(x) alone when the skip path is switched off",
)


def _add(yours, x, out, keep_graph=False, **options):
    given = "".join(f", {k}={v}" for k, v in options.items())
    with hint_if_raises(f"residual_add(x, sublayer_output{given}) failed"):
        result = yours(x, out, **options)
    return result if keep_graph else observe(result)


@residual_add.check("returns x + sublayer_output")
def adds(yours):
    x, out = randn(2, 3, 4), randn(2, 3, 4)
    expected = x + out
    expect_close(
        _add(yours, x.clone(), out),
        expected,
        "residual_add(x, f(x))",
        variants={"the result is f(x) alone: add the input back, x + sublayer_output": out},
    )


@residual_add.check("enabled=False returns sublayer_output alone (chapter 7's experiment)")
def disabled(yours):
    x, out = randn(3, 4), randn(3, 4)
    expect_close(
        _add(yours, x.clone(), out, enabled=False),
        out,
        "residual_add(x, f(x), enabled=False)",
        variants={
            "enabled=False still adds x: return sublayer_output alone when disabled": x + out,
            "enabled=False returned x: without the skip path the stream is f(x)": x,
        },
    )


@residual_add.check("leaves x unchanged (no in-place +=)")
def not_in_place(yours):
    x, out = randn(3, 4), randn(3, 4)
    original = x.clone()
    _add(yours, x, out)
    if not torch.equal(observe(x), original):
        fail(
            "x changed: x += ... writes into the caller's tensor, which autograd may still "
            "need; return x + sublayer_output, a new tensor"
        )


@residual_add.check("the gradient reaching x is 1 + the sub-layer's (the identity path)")
def identity_gradient(yours):
    x = leaf(randn(3, 4))
    with hint_if_raises("residual_add(x, 2 * x) failed when x requires grad"):
        _add(yours, x, 2 * x, keep_graph=True).sum().backward()
    expect_close(observe(x.grad), torch.full((3, 4), 3.0), "d/dx of residual_add(x, 2 x)")
    x = leaf(randn(3, 4))
    with hint_if_raises("residual_add(x, 2 * x, enabled=False) failed when x requires grad"):
        _add(yours, x, 2 * x, keep_graph=True, enabled=False).sum().backward()
    expect_close(
        observe(x.grad), torch.full((3, 4), 2.0), "d/dx of residual_add(x, 2 x, enabled=False)"
    )


EXERCISES = [residual_add]
