"""Chapter 4's exercises: scaled_dot_product_attention, SelfAttention and padding_mask."""

from __future__ import annotations

import math

import torch

from .. import self_attention
from .core import Exercise
from .tools import (
    DTYPES,
    build_pair,
    copy_parameters,
    expect_close,
    expect_equal,
    expect_raises,
    expect_same_gradients,
    expect_tensor,
    fail,
    hint_if_raises,
    leaf,
    observe,
    randn,
    rng,
    short,
)

scaled_dot_product_attention = Exercise(
    "scaled_dot_product_attention",
    4,
    self_attention.scaled_dot_product_attention,
    "softmax(QKᵀ/√d_k)·V with an optional mask; returns both",
)
REFERENCE = self_attention.scaled_dot_product_attention


def _attend(yours, q, k, v, mask=None, keep_graph=False, **options):
    """The reader's (context, weights), observed (or, for a backward, as they are)."""
    with hint_if_raises(f"attention on query {tuple(q.shape)}, key {tuple(k.shape)} failed"):
        result = yours(q, k, v, mask, **options)
    pair = observe(isinstance(result, tuple) and len(result) == 2)
    if not pair:
        fail("it did not return a pair: return (weights @ value, weights)")
    return result if keep_graph else observe(tuple(result))


def _inputs(*shapes, dtype=torch.float32):
    return [randn(*shape, dtype=dtype) for shape in shapes]


def _weight_variants(q, k, mask=None):
    """The weights that the usual mistakes produce, each with its hint."""
    scores = q @ k.transpose(-2, -1)
    d_k = q.shape[-1]
    scaled = scores / math.sqrt(d_k)
    variants = {
        "the scores are not divided by √d_k: without it they grow with d_k and the softmax "
        "saturates": scores.softmax(-1),
        "divide the scores by √d_k, not by d_k": (scores / d_k).softmax(-1),
        "softmax over the wrong axis: use dim=-1, so that each query's weights over the keys "
        "sum to 1": scaled.softmax(-2),
        "the weights are transposed: scores are query @ key.transpose(-2, -1), one row per "
        "query": scaled.softmax(-1).transpose(-2, -1),
    }
    if mask is not None:
        variants |= {
            "blocked scores were set to 0, and softmax still gives e⁰ = 1 to each of them: "
            "fill them with float('-inf')": scaled.masked_fill(~mask, 0.0).softmax(-1),
            "the weights were masked after the softmax, so the rows no longer sum to 1: mask "
            "the scores before it": scaled.softmax(-1).masked_fill(~mask, 0.0),
            "the mask is inverted: True means 'may look', so fill where the mask is False "
            "(~mask)": scaled.masked_fill(mask, float("-inf")).softmax(-1),
        }
    return variants


def _expect_attention(yours, q, k, v, mask=None, what=""):
    context, weights = _attend(yours, q, k, v, mask)
    ref_context, ref_weights = REFERENCE(q, k, v, mask)
    variants = _weight_variants(q, k, mask)
    expect_close(weights, ref_weights, f"the weights{what}", variants=variants)
    expect_close(context, ref_context, f"the context{what}", "the context is weights @ value")


@scaled_dot_product_attention.check(
    "returns (context, weights) of shapes (…, T_q, d_v) and (…, T_q, T_k)", essential=True
)
def shapes(yours):
    q, k, v = _inputs((2, 3, 4), (2, 5, 4), (2, 5, 6))
    context, weights = _attend(yours, q, k, v)
    for name, value, shape in (("context", context, (2, 3, 6)), ("weights", weights, (2, 3, 5))):
        if not isinstance(value, torch.Tensor) or tuple(value.shape) != shape:
            got = tuple(value.shape) if isinstance(value, torch.Tensor) else short(value)
            fail(
                f"{name} has shape {got}, expected {shape} for 3 queries over 5 keys with values "
                "of width 6: return (weights @ value, weights)"
            )


@scaled_dot_product_attention.check("each row of weights is a softmax over the keys")
def rows_sum_to_one(yours):
    q, k, v = _inputs((3, 4), (5, 4), (5, 2))
    _expect_attention(yours, q, k, v)


@scaled_dot_product_attention.check("scores are divided by √d_k (d_k = 16 here)")
def scaled_by_sqrt_dk(yours):
    q, k, v = _inputs((4, 16), (4, 16), (4, 3))
    _expect_attention(yours, q, k, v)


@scaled_dot_product_attention.check(
    "equals the package's, float32 and float64, with batch and head dimensions"
)
def equals_the_reference(yours):
    for dtype in DTYPES:
        q, k, v = _inputs((2, 3, 5, 8), (2, 3, 5, 8), (2, 3, 5, 4), dtype=dtype)
        _expect_attention(yours, q, k, v, what=f" ({dtype}, shape (2, 3, 5, 8))")


@scaled_dot_product_attention.check("a mask gives blocked pairs weight exactly 0; rows sum to 1")
def masked(yours):
    q, k, v = _inputs((5, 4), (5, 4), (5, 3))
    mask = torch.tril(torch.ones(5, 5, dtype=torch.bool))
    _expect_attention(yours, q, k, v, mask, " with a causal mask")
    _, weights = _attend(yours, q, k, v, mask)
    if bool((weights[~mask] != 0).any()):
        fail("blocked pairs got a weight that is not exactly 0: fill their scores with -inf")


@scaled_dot_product_attention.check("a single token (T = 1) attends to itself with weight 1")
def single_token(yours):
    q, k, v = _inputs((1, 1, 4), (1, 1, 4), (1, 1, 3))
    _expect_attention(yours, q, k, v, torch.ones(1, 1, dtype=torch.bool), " for T = 1")


@scaled_dot_product_attention.check("gradients of query, key and value equal the package's")
def gradients(yours):
    inputs = _inputs((2, 4, 8), (2, 6, 8), (2, 6, 3), dtype=torch.float64)
    mine, ref = [leaf(t) for t in inputs], [leaf(t) for t in inputs]
    upstream = randn(2, 4, 3, dtype=torch.float64)
    with hint_if_raises("backward() through your attention failed"):
        (_attend(yours, *mine, keep_graph=True)[0] * upstream).sum().backward()
    grads = observe([a.grad for a in mine])
    (REFERENCE(*ref)[0] * upstream).sum().backward()
    for name, grad, b in zip(("query", "key", "value"), grads, ref):
        if grad is None:
            fail(f"{name} got no gradient: is the context detached from it?")
        expect_close(grad, b.grad, f"the gradient of {name}")


@scaled_dot_product_attention.check("dropout_p zeroes some weights and scales the rest by 1/(1−p)")
def dropout(yours):
    q, k, v = _inputs((8, 4), (8, 4), (8, 3))
    _, plain = REFERENCE(q, k, v)
    _, dropped = _attend(yours, q, k, v, dropout_p=0.5)
    zero = dropped == 0
    if not bool(zero.any()):
        fail("with dropout_p=0.5 no weight became 0: apply F.dropout(weights, p=dropout_p)")
    expect_close(
        torch.where(zero, 2 * plain, dropped),
        2 * plain,
        "the weights that dropout kept",
        "the kept weights are scaled by 1/(1 − p), as F.dropout does",
    )


self_attention_exercise = Exercise(
    "self_attention",
    4,
    self_attention.SelfAttention,
    "one attention head with its three projections (copies them)",
)
SELF_ATTENTION = self_attention.SelfAttention
NAMES = "name the three nn.Linear(embed_dim, head_dim) layers query, key and value"


def _forward(mine, x, mask=None, keep_graph=False):
    with hint_if_raises(f"forward on x of shape {tuple(x.shape)} failed"):
        result = mine(x, mask)
    if not observe(isinstance(result, tuple) and len(result) == 2):
        fail("forward did not return a pair: return (context, weights)")
    return result if keep_graph else observe(tuple(result))


@self_attention_exercise.check("query, key and value are nn.Linear(16, 8) layers", True)
def has_the_packages_parameters(yours):
    for bias in (False, True):
        with hint_if_raises(f"SelfAttention(16, 8, bias={bias}) failed"):
            module = yours(16, 8, bias=bias)
        copy_parameters(SELF_ATTENTION(16, 8, bias=bias), module, "SelfAttention", NAMES)


@self_attention_exercise.check("forward(x) equals the package's (float32, float64)")
def module_equals_the_reference(yours):
    for dtype in DTYPES:
        mine, ref = build_pair(yours, SELF_ATTENTION, 16, 8, dtype=dtype, hint=NAMES)
        x = randn(2, 5, 16, dtype=dtype)
        (context, weights), (ref_context, ref_weights) = _forward(mine, x), ref(x)
        q, k = ref.query(x), ref.key(x)
        swapped = (k @ q.transpose(-2, -1) / math.sqrt(8)).softmax(-1)
        by_embed_dim = (q @ k.transpose(-2, -1) / math.sqrt(16)).softmax(-1)
        variants = _weight_variants(q, k) | {
            "queries and keys are swapped: the scores are self.query(x) @ self.key(x).T": swapped,
            "the scores were divided by √embed_dim (√16): divide by √head_dim (√8), the width "
            "of the queries and keys": by_embed_dim,
        }
        expect_close(weights, ref_weights, f"the weights ({dtype})", variants=variants)
        expect_close(context, ref_context, f"the context ({dtype})", "weights @ self.value(x)")


@self_attention_exercise.check("forward(x, mask) passes the mask on")
def uses_the_mask(yours):
    mine, ref = build_pair(yours, SELF_ATTENTION, 16, 8, hint=NAMES)
    x = randn(1, 4, 16)
    mask = torch.tril(torch.ones(4, 4, dtype=torch.bool))
    q, k = ref.query(x), ref.key(x)
    expect_close(
        _forward(mine, x, mask)[1],
        ref(x, mask)[1],
        "the weights with a causal mask",
        variants=_weight_variants(q, k, mask)
        | {
            "the mask was not applied: give it to scaled_dot_product_attention(q, k, v, mask)": (
                ref(x)[1]
            )
        },
    )


@self_attention_exercise.check("bias=True adds a bias to each projection")
def with_bias(yours):
    mine, ref = build_pair(yours, SELF_ATTENTION, 16, 8, bias=True, jitter=0.5, hint=NAMES)
    x = randn(1, 3, 16)
    expect_close(_forward(mine, x)[0], ref(x)[0], "the context with bias=True")


@self_attention_exercise.check("gradients of every weight equal the package's")
def module_gradients(yours):
    mine, ref = build_pair(yours, SELF_ATTENTION, 16, 8, dtype=torch.float64, hint=NAMES)
    x = randn(2, 5, 16, dtype=torch.float64)
    upstream = randn(2, 5, 8, dtype=torch.float64)
    with hint_if_raises("backward() through your SelfAttention failed"):
        (_forward(mine, x, keep_graph=True)[0] * upstream).sum().backward()
    (ref(x)[0] * upstream).sum().backward()
    expect_same_gradients(mine, ref)


padding_mask = Exercise(
    "padding_mask",
    4,
    self_attention.padding_mask,
    "True where a key is a real token of its text, not padding; (batch, 1, seq_len)",
)


def _padding(yours, lengths, seq_len):
    with hint_if_raises(f"padding_mask(tensor({lengths.tolist()}), {seq_len}) failed"):
        return observe(yours(lengths, seq_len))


@padding_mask.check("shape (batch, 1, seq_len), dtype torch.bool", essential=True)
def padding_shape(yours):
    lengths = torch.tensor([3, 5])
    mask = expect_tensor(_padding(yours, lengths, 5), "padding_mask(tensor([3, 5]), 5)")
    if tuple(mask.shape) == (2, 5):
        fail(
            "the mask is (batch, seq_len): add the query dimension, .unsqueeze(1), so that it "
            "broadcasts over every query's row of scores"
        )
    expect_tensor(mask, "padding_mask(tensor([3, 5]), 5)", shape=(2, 1, 5))
    if mask.dtype != torch.bool:
        fail(f"the mask is {mask.dtype}: make it torch.bool (True = a real token)")


@padding_mask.check("True exactly where j < lengths[b], for random lengths")
def padding_values(yours):
    draw = rng()
    for _ in range(5):
        seq_len = draw.randrange(1, 10)
        lengths = torch.tensor(
            [draw.randrange(1, seq_len + 1) for _ in range(draw.randrange(1, 5))]
        )
        mask = _padding(yours, lengths, seq_len)
        expected = self_attention.padding_mask(lengths, seq_len)
        if isinstance(mask, torch.Tensor) and mask.shape == expected.shape:
            if torch.equal(mask.bool(), ~expected):
                fail("the mask is inverted: True must mean 'a real token, may look'")
            after = torch.arange(seq_len) <= lengths.unsqueeze(-1)
            if torch.equal(mask.bool(), after.unsqueeze(1)) and not torch.equal(
                after, expected[:, 0]
            ):
                fail("the token at position lengths[b] is padding too: keep j < lengths[b]")
        what = f"padding_mask(tensor({lengths.tolist()}), {seq_len})"
        expect_equal(mask, expected, what)


@padding_mask.check("with scaled_dot_product_attention, padded keys get weight 0")
def padding_in_attention(yours):
    lengths = torch.tensor([2, 4])
    q, k, v = randn(2, 4, 8), randn(2, 4, 8), randn(2, 4, 3)
    with hint_if_raises("padding_mask(tensor([2, 4]), 4) in attention failed"):
        _, weights = self_attention.scaled_dot_product_attention(q, k, v, yours(lengths, 4))
        weights = observe(weights)
    _, expected = self_attention.scaled_dot_product_attention(
        q, k, v, self_attention.padding_mask(lengths, 4)
    )
    expect_close(weights, expected, "the attention weights of a padded batch")


@padding_mask.check("a length of 0 (or above seq_len) raises ValueError")
def padding_bad_lengths(yours):
    hint = (
        "a text without tokens leaves its queries nothing to look at (0/0 weights): check "
        "1 <= lengths <= seq_len"
    )
    for lengths in ([0, 3], [2, 6]):
        expect_raises(
            lambda lengths=lengths: yours(torch.tensor(lengths), 5),
            ValueError,
            f"padding_mask(tensor({lengths}), 5)",
            hint,
        )


EXERCISES = [scaled_dot_product_attention, self_attention_exercise, padding_mask]
