"""Chapter 6's exercise: FeedForward."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from .. import feed_forward
from .core import Exercise
from .tools import (
    DTYPES,
    build_pair,
    copy_parameters,
    expect_close,
    expect_same_backward,
    fail,
    hint_if_raises,
    observe,
    parameter_shapes,
    parameter_summary,
    randn,
)

feed_forward_exercise = Exercise(
    "feed_forward",
    6,
    feed_forward.FeedForward,
    "Linear → GELU → Linear on each token (copies expand, project)",
)
FEED_FORWARD = feed_forward.FeedForward
NAMES = (
    "name the layers expand, nn.Linear(embed_dim, hidden_dim), and project, "
    "nn.Linear(hidden_dim, embed_dim); hidden_dim=None means 4 × embed_dim"
)


def _forward(mine, x):
    with hint_if_raises(f"forward on x of shape {tuple(x.shape)} failed"):
        return observe(mine(x))


def _call(mine, x):
    return mine(x)


def _variants(ref, x):
    expanded = ref.expand(x)
    return {
        "GPT-2's GELU is the tanh approximation: nn.GELU(approximate='tanh'); the exact GELU "
        "differs by up to 5e-4": ref.project(F.gelu(expanded)),
        "the activation is GELU, not ReLU: GELU lets small negative values through, smoothly": (
            ref.project(F.relu(expanded))
        ),
        "there is no activation between the two layers: without one they collapse into a "
        "single linear map": ref.project(expanded),
    }


@feed_forward_exercise.check(
    "FeedForward(8) has expand (32, 8) and project (8, 32), with biases", True
)
def has_the_packages_parameters(yours):
    with hint_if_raises("FeedForward(8) failed"):
        module = yours(8)
    copy_parameters(FEED_FORWARD(8), module, "FeedForward", NAMES)


@feed_forward_exercise.check("hidden_dim and bias=False are respected")
def options(yours):
    with hint_if_raises("FeedForward(8, hidden_dim=20, bias=False) failed"):
        module = yours(8, hidden_dim=20, bias=False)
    reference = parameter_summary(FEED_FORWARD(8, hidden_dim=20, bias=False))
    found = observe(parameter_summary(module))
    if found != reference:
        fail(
            f"FeedForward(8, hidden_dim=20, bias=False) has {parameter_shapes(found or {})}; the "
            f"package's has {parameter_shapes(reference)}: pass hidden_dim and bias to both "
            "nn.Linear layers"
        )


@feed_forward_exercise.check("GELU with the tanh approximation sits between the layers")
def tanh_gelu(yours):
    mine, ref = build_pair(yours, FEED_FORWARD, 8, dtype=torch.float64, hint=NAMES)
    x = torch.linspace(-4, 4, 40, dtype=torch.float64).reshape(5, 8)
    with torch.no_grad():
        expect_close(_forward(mine, x), ref(x), "the output", variants=_variants(ref, x))


@feed_forward_exercise.check("equals the package's, float32 and float64, for (T, d) and (B, T, d)")
def equals_the_reference(yours):
    for dtype in DTYPES:
        mine, ref = build_pair(yours, FEED_FORWARD, 8, dtype=dtype, hint=NAMES)
        for shape in ((5, 8), (2, 3, 8)):
            x = randn(*shape, dtype=dtype)
            with torch.no_grad():
                expected, variants = ref(x), _variants(ref, x)
            expect_close(
                _forward(mine, x), expected, f"the output for {shape} ({dtype})", "", variants
            )


@feed_forward_exercise.check("every token is processed on its own")
def per_token(yours):
    mine, _ = build_pair(yours, FEED_FORWARD, 8, hint=NAMES)
    x = randn(1, 5, 8)
    changed = x.clone()
    changed[0, 2] += 1.0
    with torch.no_grad():
        moved = (_forward(mine, x) - _forward(mine, changed)).abs().amax(dim=-1)[0] > 1e-6
    if moved.tolist() != [False, False, True, False, False]:
        where = moved.nonzero().flatten().tolist()
        fail(
            f"changing token 2 changed the outputs at positions {where}: apply both layers to "
            "the last dimension only, never across tokens"
        )


@feed_forward_exercise.check("gradients of the input and every weight equal the package's")
def gradients(yours):
    mine, ref = build_pair(yours, FEED_FORWARD, 8, dtype=torch.float64, hint=NAMES)
    expect_same_backward(mine, ref, randn(2, 3, 8, dtype=torch.float64), _call)


@feed_forward_exercise.check("dropout acts on the output in train() only")
def dropout(yours):
    mine, _ = build_pair(yours, FEED_FORWARD, 8, dropout=0.5, hint=NAMES)
    x = randn(4, 8)
    mine.train()
    with torch.no_grad():
        out = _forward(mine, x)
        if not bool((out == 0).any()):
            fail(
                "with dropout=0.5 in train() mode no output became 0: end with nn.Dropout(dropout)"
            )
        mine.eval()
        if not torch.equal(_forward(mine, x), _forward(mine, x)):
            fail("two calls in eval() mode differ: use nn.Dropout, which eval() switches off")


EXERCISES = [feed_forward_exercise]
