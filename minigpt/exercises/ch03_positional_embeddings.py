"""Chapter 3's exercises: sinusoidal_table and LearnedPositionalEmbedding."""

from __future__ import annotations

import torch

from .. import positional_embeddings
from .core import Exercise
from .tools import (
    build_pair,
    copy_parameters,
    expect_close,
    expect_raises,
    expect_tensor,
    fail,
    hint_if_raises,
    observe,
    randn,
)

sinusoidal_table = Exercise(
    "sinusoidal_table",
    3,
    positional_embeddings.sinusoidal_table,
    "the original Transformer's sine and cosine positions",
)


def _variant(num_positions: int, d: int, exponent: str, swap: bool = False) -> torch.Tensor:
    """Tables that the usual mistakes produce, computed in float64."""
    position = torch.arange(num_positions, dtype=torch.float64).unsqueeze(1)
    if exponent == "per column":  # every column its own frequency
        column = torch.arange(d, dtype=torch.float64)
        angle = position / torch.pow(10000.0, column / d)
        table = torch.where(column.long() % 2 == 0, torch.sin(angle), torch.cos(angle))
    else:
        i = torch.arange(0, d, 2, dtype=torch.float64)
        angle = position / torch.pow(10000.0, (i / 2 if exponent == "i/d" else i) / d)
        first, second = (torch.cos, torch.sin) if swap else (torch.sin, torch.cos)
        table = torch.empty(num_positions, d, dtype=torch.float64)
        table[:, 0::2], table[:, 1::2] = first(angle), second(angle)
    return table.to(torch.get_default_dtype())


MISTAKES = [  # (hint, exponent, sin and cos swapped)
    (
        "sin and cos are swapped: sin goes in the even columns (0, 2, 4, …), cos in the odd ones",
        "2i/d",
        True,
    ),
    (
        "every column got its own frequency: columns 2i and 2i+1 share one angle, "
        "pos / 10000^(2i/d), where 2i is the even column's index",
        "per column",
        False,
    ),
    (
        "the exponent is 2i/d with 2i the even column's index (0, 2, 4, …); you used i/d with "
        "i the pair's index (0, 1, 2, …), so the wavelengths grow half as fast",
        "i/d",
        False,
    ),
]


def _table(yours, num_positions, d):
    with hint_if_raises(f"sinusoidal_table({num_positions}, {d}) failed"):
        return observe(yours(num_positions, d))


def _expect_table(yours, num_positions, d, hint=""):
    table = _table(yours, num_positions, d)
    variants = {mistake: _variant(num_positions, d, *spec) for mistake, *spec in MISTAKES}
    expected = positional_embeddings.sinusoidal_table(num_positions, d)
    expect_close(table, expected, f"sinusoidal_table({num_positions}, {d})", hint, variants)


@sinusoidal_table.check("shape (num_positions, embed_dim), in the default dtype (float32)")
def shape_and_dtype(yours):
    table = expect_tensor(_table(yours, 7, 6), "sinusoidal_table(7, 6)", shape=(7, 6))
    if table.dtype != torch.get_default_dtype():
        fail(f"the table is {table.dtype}: convert it with .to(torch.get_default_dtype())")


@sinusoidal_table.check("position 0 is [0, 1, 0, 1, …]: sin(0) and cos(0)")
def position_zero(yours):
    _expect_table(yours, 1, 8)


@sinusoidal_table.check("equals the package's table (sizes 8 × 4, 50 × 16, 9 × 2)")
def equals_the_table(yours):
    for num_positions, d in ((8, 4), (50, 16), (9, 2)):
        _expect_table(yours, num_positions, d)


@sinusoidal_table.check("precise at position 1000: the angles are computed in float64")
def precise_far_out(yours):
    table = _table(yours, 1024, 64)
    expected = positional_embeddings.sinusoidal_table(1024, 64)
    expect_tensor(table, "sinusoidal_table(1024, 64)", shape=(1024, 64))
    error = (table.double() - expected.double()).abs().max().item()
    if error > 1e-6:
        fail(
            f"far positions are off by up to {error:.1e}: compute the angles in float64 and "
            "convert at the end (float32 stores an angle near 1000 radians only to about 1e-4)"
        )


@sinusoidal_table.check("follows torch.get_default_dtype() (float64 here)")
def follows_default_dtype(yours):
    torch.set_default_dtype(torch.float64)
    _expect_table(yours, 12, 8, "return the table in torch.get_default_dtype()")


@sinusoidal_table.check("an odd embed_dim raises ValueError")
def odd_width(yours):
    expect_raises(
        lambda: yours(4, 5),
        ValueError,
        "sinusoidal_table(4, 5)",
        "an odd width would leave a sine without its cosine: check embed_dim % 2 first",
    )


@sinusoidal_table.check("the dot product of two rows depends only on their distance")
def relative_offsets(yours):
    table = _table(yours, 64, 16).double()
    dots = torch.stack([table[p] @ table[p + 5] for p in range(0, 59, 7)])
    if not torch.allclose(dots, dots[0].expand_as(dots), atol=1e-4):
        fail("PE[p] · PE[p+5] changes with p: each sin/cos pair must share its frequency")


learned_positional_embedding = Exercise(
    "learned_positional_embedding",
    3,
    positional_embeddings.LearnedPositionalEmbedding,
    "GPT-2's learned positions, one row each (copies weight)",
)

LEARNED = positional_embeddings.LearnedPositionalEmbedding


@learned_positional_embedding.check("(8, 4) has one parameter, weight, of shape (8, 4)", True)
def has_the_packages_parameter(yours):
    with hint_if_raises("LearnedPositionalEmbedding(8, 4) failed"):
        module = yours(8, 4)
    copy_parameters(
        LEARNED(8, 4),
        module,
        "LearnedPositionalEmbedding",
        "keep the table in self.weight = nn.Parameter(...), one row per position",
    )


@learned_positional_embedding.check("starts small and random: N(0, 0.02), as GPT-2")
def initialisation(yours):
    with hint_if_raises("LearnedPositionalEmbedding(1024, 64) failed"):
        weight = observe(yours(1024, 64).weight)
    expect_tensor(weight, "weight", shape=(1024, 64))
    std = weight.double().std().item()
    if not 0.015 < std < 0.025:
        fail(f"the weights' standard deviation is {std:.3g}: use torch.randn(...) * 0.02")


@learned_positional_embedding.check("forward(positions) returns weight[positions]")
def rows_of_the_table(yours):
    mine, ref = build_pair(yours, LEARNED, 8, 4)
    positions = torch.arange(5)
    with hint_if_raises("forward(torch.arange(5)) failed"):
        out = observe(mine(positions))
    expect_close(out, ref(positions), "the output for positions 0…4")


@learned_positional_embedding.check("positions need not start at 0 (3…6, as with a KV cache)")
def later_positions(yours):
    mine, ref = build_pair(yours, LEARNED, 8, 4)
    positions = torch.arange(3, 7)
    with hint_if_raises("forward(torch.arange(3, 7)) failed"):
        out = observe(mine(positions))
    expect_close(
        out,
        ref(positions),
        "the output for positions 3…6",
        variants={
            "you returned rows 0…3: look up the positions given (weight[positions]), not the "
            "first len(positions) rows: generation with a KV cache asks for later ones": (
                ref.weight[:4]
            )
        },
    )


@learned_positional_embedding.check("gradients reach the rows of the positions used")
def gradients(yours):
    mine, ref = build_pair(yours, LEARNED, 8, 4)
    positions = torch.tensor([0, 2, 5])
    upstream = randn(3, 4)
    with hint_if_raises("forward and backward on positions [0, 2, 5] failed"):
        (mine(positions) * upstream).sum().backward()
        grad = observe(mine.weight.grad)
    (ref(positions) * upstream).sum().backward()
    if grad is None:
        fail("weight got no gradient: return self.weight[positions]")
    expect_close(grad, ref.weight.grad, "the gradient of weight")


EXERCISES = [sinusoidal_table, learned_positional_embedding]
