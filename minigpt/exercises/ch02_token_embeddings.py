"""Chapter 2's exercises: TokenEmbedding and one_hot_embedding."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from .. import token_embeddings
from .core import Exercise, Mismatch
from .tools import (
    DTYPES,
    attempt,
    build_pair,
    copy_parameters,
    expect_close,
    expect_some_error,
    fail,
    hint_if_raises,
    leaf,
    observe,
    randint,
    randn,
)

token_embedding = Exercise(
    "token_embedding",
    2,
    token_embeddings.TokenEmbedding,
    "a learnable table, one row per token id (copies weight)",
)

NAMES = "keep the table in self.weight = nn.Parameter(...), of shape (vocab_size, embed_dim)"


@token_embedding.check("TokenEmbedding(10, 4) has one parameter, weight, of shape (10, 4)", True)
def has_the_packages_parameter(yours):
    with hint_if_raises("TokenEmbedding(10, 4) failed"):
        module = yours(10, 4)
    copy_parameters(token_embeddings.TokenEmbedding(10, 4), module, "TokenEmbedding", NAMES)


@token_embedding.check("the table starts small and random: N(0, 0.02), as GPT-2")
def initialisation(yours):
    with hint_if_raises("TokenEmbedding(1000, 64) failed"):
        weights = observe([yours(1000, 64).weight for _ in range(2)])
    std = weights[0].std().item()
    if not 0.015 < std < 0.025:
        fail(
            f"the weights' standard deviation is {std:.3g}: draw them as "
            "torch.randn(vocab_size, embed_dim) * 0.02"
        )
    if torch.equal(weights[0], weights[1]):
        fail("two new tables are equal: draw the weights at random in __init__")


@token_embedding.check("forward(ids) returns the rows of weight, for ids of any shape")
def rows_of_the_table(yours):
    for dtype in DTYPES:
        mine, ref = build_pair(yours, token_embeddings.TokenEmbedding, 10, 4, dtype=dtype)
        for shape in ((5,), (2, 3), (2, 1, 3)):
            ids = randint(0, 10, shape)
            with hint_if_raises(f"forward on ids of shape {shape} failed"):
                out = observe(mine(ids))
            expect_close(out, ref(ids), f"the output for ids of shape {shape} ({dtype})")


@token_embedding.check("gradients reach the rows of the ids used; a repeated id adds up")
def gradients(yours):
    mine, ref = build_pair(yours, token_embeddings.TokenEmbedding, 10, 4)
    ids = torch.tensor([[1, 3, 3], [7, 1, 1]])
    weights = randn(2, 3, 4)
    with hint_if_raises("forward and backward on ids [[1, 3, 3], [7, 1, 1]] failed"):
        (mine(ids) * weights).sum().backward()
        grad = observe(mine.weight.grad)
    (ref(ids) * weights).sum().backward()
    if grad is None:
        fail("weight got no gradient: return self.weight[ids] (no .detach(), no copy)")
    expect_close(grad, ref.weight.grad, "the gradient of weight")


@token_embedding.check("an id outside [0, vocab_size), such as -1, raises an error")
def rejects_bad_ids(yours):
    with hint_if_raises("TokenEmbedding(10, 4) failed"):
        module = yours(10, 4)
    for bad in (-1, 10):
        expect_some_error(
            lambda bad=bad: module(torch.tensor([2, bad])),
            f"ids [2, {bad}]",
            "check 0 <= id < vocab_size first (weight[-1] would silently return the last row)",
        )


one_hot_embedding = Exercise(
    "one_hot_embedding",
    2,
    token_embeddings.one_hot_embedding,
    "the same lookup as a one-hot matrix times the table",
)


def _lookup(yours, ids, weight, what):
    with hint_if_raises(f"one_hot_embedding on {what} failed"):
        return observe(yours(ids, weight))


@one_hot_embedding.check("equals weight[ids] for ids of shape (T,) and (batch, T)")
def equals_the_lookup(yours):
    weight = randn(6, 3)
    for ids in (torch.tensor([5, 0, 2, 2]), torch.tensor([[1, 5], [0, 3]])):
        expect_close(_lookup(yours, ids, weight, f"ids {ids.tolist()}"), weight[ids], "the rows")


@one_hot_embedding.check("has one column per vocabulary entry, even when the last id is unused")
def one_column_per_id(yours):
    weight = randn(6, 3)
    ids = torch.tensor([0, 2])
    out, err = attempt(lambda: yours(ids, weight))
    if err is not None and _too_few_columns(err):
        raise Mismatch(
            "F.one_hot(ids) alone makes max(ids) + 1 columns, here 3, not 6: pass "
            "num_classes=weight.shape[0]"
        ) from err
    _raise_with_hint(err, "one_hot_embedding on ids [0, 2] of a 6-row table failed")
    expect_close(out, weight[ids], "the rows for ids [0, 2] of a 6-row table")


def _too_few_columns(err: Exception) -> bool:
    """The matrix product failed on its shapes: the one-hot matrix has too few columns."""
    return "shapes cannot be multiplied" in str(err) and "x3 and 6x" in str(err)


def _is_dtype_error(err: Exception) -> bool:
    return "dtype" in str(err).lower() or "Long" in str(err)


def _raise_with_hint(err: Exception | None, hint: str) -> None:
    if isinstance(err, NotImplementedError):
        raise err
    if err is not None:
        raise Mismatch(hint) from err


@one_hot_embedding.check("works in the weight's dtype (float32 and float64)")
def follows_the_dtype(yours):
    for dtype in DTYPES:
        weight = randn(6, 3, dtype=dtype)
        ids = torch.tensor([4, 1, 5])
        out, err = attempt(lambda weight=weight, ids=ids: yours(ids, weight))
        if err is not None and _is_dtype_error(err):
            raise Mismatch(
                "F.one_hot returns int64 ids: convert the one-hot matrix to weight.dtype "
                "(.to(weight.dtype)) before the product"
            ) from err
        _raise_with_hint(err, f"one_hot_embedding with a {dtype} weight failed")
        expect_close(out, weight[ids], f"the rows ({dtype})")


@one_hot_embedding.check("the gradient reaches weight, as the lookup's does")
def gradient(yours):
    weight = randn(6, 3)
    ids = torch.tensor([[1, 4, 4]])
    mine, ref = leaf(weight), leaf(weight)
    upstream = randn(1, 3, 3)
    with hint_if_raises("one_hot_embedding on a weight that requires grad failed"):
        out = yours(ids, mine)
        tracked = observe(isinstance(out, torch.Tensor) and out.grad_fn is not None)
    if not tracked:
        fail("the output does not depend on weight for autograd: multiply by weight itself")
    with hint_if_raises("backward() through one_hot_embedding failed"):
        (out * upstream).sum().backward()
        grad = observe(mine.grad)
    (F.embedding(ids, ref) * upstream).sum().backward()
    expect_close(grad, ref.grad, "the gradient of weight")


@one_hot_embedding.check("an id outside the table raises an error")
def one_hot_rejects_bad_ids(yours):
    expect_some_error(
        lambda: yours(torch.tensor([6]), torch.zeros(6, 3)),
        "one_hot_embedding(tensor([6]), a 6-row weight)",
        "F.one_hot(ids, num_classes) raises for an id >= num_classes",
    )


EXERCISES = [token_embedding, one_hot_embedding]
