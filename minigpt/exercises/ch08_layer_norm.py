"""Chapter 8's exercises: LayerNorm and RMSNorm."""

from __future__ import annotations

import torch

from .. import layer_norm
from .core import Exercise
from .tools import (
    DTYPES,
    build_pair,
    copy_parameters,
    expect_close,
    expect_same_backward,
    expect_same_gradients,
    fail,
    hint_if_raises,
    leaf,
    observe,
    randn,
)

layer_norm_exercise = Exercise(
    "layer_norm",
    8,
    layer_norm.LayerNorm,
    "normalize each vector, then scale and shift (copies weight, bias)",
)
LAYER_NORM = layer_norm.LayerNorm
NAMES = "name the scale weight (ones) and the shift bias (zeros, or None with bias=False)"


def _variants(x, weight, bias, eps):
    """What the usual mistakes compute, each with its hint."""
    mean = x.mean(-1, keepdim=True)
    centred = x - mean
    var = x.var(-1, keepdim=True, unbiased=False)

    def affine(normalized):
        return normalized * weight + (bias if bias is not None else 0)

    variants = {
        "the variance divides by n − 1; layer norm divides by n: use "
        "x.var(dim=-1, unbiased=False), or ((x - mean)**2).mean(dim=-1)": affine(
            centred / torch.sqrt(x.var(-1, keepdim=True, unbiased=True) + eps)
        ),
        "ε goes under the square root: (x − μ) / √(σ² + ε), not (x − μ) / (σ + ε)": affine(
            centred / (var.sqrt() + eps)
        ),
        "the mean is not subtracted: normalize x − μ, not x": affine(x / torch.sqrt(var + eps)),
        "the learned scale and shift are not applied: return normalized * weight + bias": (
            centred / torch.sqrt(var + eps)
        ),
    }
    if x.dim() > 1 and x.shape[0] > 1:
        mean0, var0 = x.mean(0, keepdim=True), x.var(0, keepdim=True, unbiased=False)
        variants[
            "the statistics were taken over the wrong dimension: mean and variance over the "
            "last one (dim=-1, keepdim=True), each token vector on its own"
        ] = affine((x - mean0) / torch.sqrt(var0 + eps))
    return variants


def _expect_normalized(mine, ref, x, what):
    with hint_if_raises(f"forward on {what} failed"):
        out = observe(mine(x))
    with torch.no_grad():
        expected = ref(x)
        variants = _variants(x, ref.weight, ref.bias, ref.eps)
    expect_close(out, expected, f"the output for {what}", variants=variants)


@layer_norm_exercise.check("LayerNorm(4) has weight (4,) and bias (4,), starting at 1 and 0", True)
def has_the_packages_parameters(yours):
    with hint_if_raises("LayerNorm(4) failed"):
        module = yours(4)
        initial = observe({n: p for n, p in module.named_parameters()})
    copy_parameters(LAYER_NORM(4), module, "LayerNorm", NAMES)
    if not (
        torch.equal(initial["weight"], torch.ones(4))
        and torch.equal(initial["bias"], torch.zeros(4))
    ):
        fail("weight must start at 1 and bias at 0, so that a new LayerNorm only normalizes")


@layer_norm_exercise.check("the variance divides by n: [-1, 1] normalizes to about [-1, 1]")
def biased_variance(yours):
    mine, ref = build_pair(yours, LAYER_NORM, 2, hint=NAMES)
    _expect_normalized(mine, ref, torch.tensor([[-1.0, 1.0]]), "[[-1, 1]]")


@layer_norm_exercise.check("ε sits under the square root (a vector with variance 1e-6)")
def epsilon_inside(yours):
    mine, ref = build_pair(yours, LAYER_NORM, 8, dtype=torch.float64, hint=NAMES)
    x = randn(3, 8, dtype=torch.float64) * 1e-3
    _expect_normalized(mine, ref, x, "small vectors")


@layer_norm_exercise.check("a constant vector gives the bias, not NaN")
def constant_vector(yours):
    mine, ref = build_pair(yours, LAYER_NORM, 4, jitter=0.5, hint=NAMES)
    x = torch.full((2, 4), 3.0)
    with hint_if_raises("forward on a constant vector failed"):
        out = observe(mine(x))
    expect_close(
        out,
        ref(x),
        "the output for [3, 3, 3, 3]",
        "a constant vector has variance 0: ε keeps the division finite, and x − μ is 0",
    )


@layer_norm_exercise.check(
    "equals the package's with random weight and bias, float32 and float64, 3 shapes"
)
def equals_the_reference(yours):
    for dtype in DTYPES:
        mine, ref = build_pair(yours, LAYER_NORM, 8, dtype=dtype, jitter=0.5, hint=NAMES)
        for shape in ((8,), (2, 5, 8), (3, 1, 8)):
            x = randn(*shape, dtype=dtype) * 3 + 2
            _expect_normalized(mine, ref, x, f"shape {shape} ({dtype})")


@layer_norm_exercise.check("gradients of the input, weight and bias equal the package's")
def gradients(yours):
    mine, ref = build_pair(yours, LAYER_NORM, 8, dtype=torch.float64, jitter=0.5, hint=NAMES)
    x = randn(2, 5, 8, dtype=torch.float64) * 3 + 2
    inputs = leaf(x), leaf(x)
    upstream = randn(2, 5, 8, dtype=torch.float64)
    with hint_if_raises("backward() through your LayerNorm failed"):
        (mine(inputs[0]) * upstream).sum().backward()
    (ref(inputs[1]) * upstream).sum().backward()
    expect_same_gradients(mine, ref, inputs=inputs)


@layer_norm_exercise.check("bias=False: no bias parameter, no shift")
def without_bias(yours):
    with hint_if_raises("LayerNorm(4, bias=False) failed"):
        module = yours(4, bias=False)
    copy_parameters(
        LAYER_NORM(4, bias=False),
        module,
        "LayerNorm(4, bias=False)",
        "with bias=False keep self.bias = None (no parameter) and skip the shift",
    )
    mine, ref = build_pair(yours, LAYER_NORM, 4, bias=False, jitter=0.5, hint=NAMES)
    x = randn(3, 4)
    _expect_normalized(mine, ref, x, "x with bias=False")


@layer_norm_exercise.check("uses the eps it is given (eps=0.5 here)")
def uses_eps(yours):
    mine, ref = build_pair(yours, LAYER_NORM, 4, eps=0.5, hint=NAMES)
    x = randn(3, 4)
    with hint_if_raises("LayerNorm(4, eps=0.5) failed"):
        out = observe(mine(x))
    with torch.no_grad():
        fixed = LAYER_NORM(4).to(x.dtype)
        fixed.load_state_dict(ref.state_dict())
        variants = {"use self.eps, not a fixed 1e-5": fixed(x)}
        expect_close(out, ref(x), "the output with eps=0.5", variants=variants)


rms_norm = Exercise(
    "rms_norm",
    8,
    layer_norm.RMSNorm,
    "LayerNorm without mean and shift: x / √(mean(x²) + ε) · weight (copies weight)",
)
RMS_NORM = layer_norm.RMSNorm
RMS_NAMES = "keep the scale in self.weight = nn.Parameter(torch.ones(dim)), and no bias"


def _rms_variants(x, weight, eps):
    """What the usual RMSNorm mistakes compute, each with its hint."""
    mean_square = x.pow(2).mean(-1, keepdim=True)
    centred = x - x.mean(-1, keepdim=True)
    return {
        "the mean was subtracted: that is LayerNorm; RMSNorm divides x itself by "
        "√(mean(x²) + ε)": centred
        / torch.sqrt(centred.pow(2).mean(-1, keepdim=True) + eps)
        * weight,
        "ε goes under the square root: x / √(mean(x²) + ε), not x / (√mean(x²) + ε)": x
        / (mean_square.sqrt() + eps)
        * weight,
        "the root of the sum was used: take the mean of x² over the last dimension, not the sum": x
        / torch.sqrt(x.pow(2).sum(-1, keepdim=True) + eps)
        * weight,
        "the learned scale is not applied: multiply by self.weight": x
        / torch.sqrt(mean_square + eps),
    }


def _expect_rms(mine, ref, x, what):
    with hint_if_raises(f"forward on {what} failed"):
        out = observe(mine(x))
    with torch.no_grad():
        expected, variants = ref(x), _rms_variants(x, ref.weight, ref.eps)
    expect_close(out, expected, f"the output for {what}", variants=variants)


@rms_norm.check("RMSNorm(4) has one parameter, weight (4,), starting at 1", True)
def rms_parameters(yours):
    with hint_if_raises("RMSNorm(4) failed"):
        module = yours(4)
        initial = observe({n: p for n, p in module.named_parameters()})
    copy_parameters(RMS_NORM(4), module, "RMSNorm", RMS_NAMES)
    if not torch.equal(initial["weight"], torch.ones(4)):
        fail("weight must start at 1, so that a new RMSNorm only rescales")


@rms_norm.check("equals the package's with a random weight, float32 and float64, 3 shapes")
def rms_equals_the_reference(yours):
    for dtype in DTYPES:
        mine, ref = build_pair(yours, RMS_NORM, 8, dtype=dtype, jitter=0.5, hint=RMS_NAMES)
        for shape in ((8,), (2, 5, 8), (3, 1, 8)):
            _expect_rms(mine, ref, randn(*shape, dtype=dtype) * 3 + 2, f"shape {shape} ({dtype})")


@rms_norm.check("ε sits under the square root, and the given eps is used (eps=0.5)")
def rms_epsilon(yours):
    mine, ref = build_pair(yours, RMS_NORM, 8, dtype=torch.float64, hint=RMS_NAMES)
    _expect_rms(mine, ref, randn(3, 8, dtype=torch.float64) * 1e-3, "small vectors")
    mine, ref = build_pair(yours, RMS_NORM, 4, eps=0.5, hint=RMS_NAMES)
    _expect_rms(mine, ref, randn(3, 4), "x with eps=0.5")


@rms_norm.check("gradients of the input and weight equal the package's")
def rms_gradients(yours):
    mine, ref = build_pair(yours, RMS_NORM, 8, dtype=torch.float64, jitter=0.5, hint=RMS_NAMES)
    expect_same_backward(mine, ref, randn(2, 5, 8, dtype=torch.float64) * 3, _call)


def _call(mine, x):
    return mine(x)


EXERCISES = [layer_norm_exercise, rms_norm]
