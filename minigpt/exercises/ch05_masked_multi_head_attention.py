"""Chapter 5's exercises: causal_mask and MultiHeadAttention."""

from __future__ import annotations

import math

import torch

from .. import multi_head_attention
from .core import Exercise
from .tools import (
    DTYPES,
    build_pair,
    copy_parameters,
    expect_close,
    expect_equal,
    expect_raises,
    expect_same_backward,
    expect_tensor,
    fail,
    hint_if_raises,
    is_close,
    observe,
    randn,
    rng,
)

causal_mask = Exercise(
    "causal_mask",
    5,
    multi_head_attention.causal_mask,
    "True where token i may look at token j, that is j ≤ i",
)


def _mask(yours, seq_len, **options):
    with hint_if_raises(f"causal_mask({seq_len}) failed"):
        return observe(yours(seq_len, **options))


@causal_mask.check("a (seq_len, seq_len) tensor of dtype torch.bool")
def bool_square(yours):
    mask = expect_tensor(_mask(yours, 4), "causal_mask(4)", shape=(4, 4))
    if mask.dtype != torch.bool:
        fail(
            f"the mask is {mask.dtype}: make it torch.bool (True = may look), as "
            "masked_fill(~mask, …) needs"
        )


@causal_mask.check("the lower triangle, diagonal included: row i sees columns 0…i")
def lower_triangle(yours):
    mask = _mask(yours, 5)
    expected = multi_head_attention.causal_mask(5)
    if isinstance(mask, torch.Tensor) and mask.shape == expected.shape:
        mask = mask.bool()
        if torch.equal(mask, torch.tril(expected, diagonal=-1)):
            fail(
                "the diagonal is blocked: a token must see itself, or token 0 would see "
                "nothing (torch.tril keeps the diagonal; diagonal=-1 drops it)"
            )
        if torch.equal(mask, expected.T) or torch.equal(mask, expected.T.triu(1)):
            fail(
                "this is the upper triangle: row i is the query and may look at columns j ≤ i, "
                "the tokens at and before it"
            )
        if torch.equal(mask, ~expected):
            fail("the mask is inverted: True must mean 'may look' (j ≤ i)")
    expect_equal(mask, expected, "causal_mask(5)")


@causal_mask.check("seq_len 1 gives [[True]]")
def one_token(yours):
    expect_equal(_mask(yours, 1), torch.ones(1, 1, dtype=torch.bool), "causal_mask(1)")


@causal_mask.check("device= puts the mask on that device")
def on_the_device(yours):
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for device in devices:
        with hint_if_raises(f"causal_mask(3, device={device!r}) failed"):
            mask = yours(3, device=device)
            where = observe(mask.device if isinstance(mask, torch.Tensor) else None)
        expect_tensor(observe(mask), f"causal_mask(3, device={device!r})")
        if not isinstance(where, torch.device) or where.type != device:
            fail(
                f"the mask is on {where}, not {device}: create it there, "
                "torch.ones(..., device=device), so a model on a GPU gets its mask on the GPU"
            )


sliding_window_mask = Exercise(
    "sliding_window_mask",
    5,
    multi_head_attention.sliding_window_mask,
    "a causal mask in which token i sees only the last `window` tokens, itself included",
)


def _window(yours, seq_len, window):
    with hint_if_raises(f"sliding_window_mask({seq_len}, {window}) failed"):
        return observe(yours(seq_len, window))


def _band(seq_len, window, low, high):
    """True where low < i − j < high, i the row and j the column."""
    offset = torch.arange(seq_len).unsqueeze(1) - torch.arange(seq_len).unsqueeze(0)
    return (offset > low) & (offset < high)


WINDOW_MISTAKES = (
    (
        "each token sees window + 1 tokens: keep j > i − window (strictly), so that with "
        "itself it sees exactly `window`",
        lambda n, w: _band(n, w, -1, w + 1),
    ),
    (
        "later tokens are visible: the window slides over the past only, so keep j ≤ i as "
        "causal_mask does",
        lambda n, w: _band(n, w, -w, w),
    ),
    (
        "the window is ignored: this is causal_mask; also block j ≤ i − window",
        lambda n, w: _band(n, w, -1, n),
    ),
)


def _expect_window(yours, seq_len, window):
    mask = _window(yours, seq_len, window)
    expected = multi_head_attention.sliding_window_mask(seq_len, window)
    if isinstance(mask, torch.Tensor) and mask.shape == expected.shape:
        for hint, wrong in WINDOW_MISTAKES:
            if not torch.equal(wrong(seq_len, window), expected) and torch.equal(
                mask.bool(), wrong(seq_len, window)
            ):
                fail(hint)
    expect_equal(mask, expected, f"sliding_window_mask({seq_len}, {window})")


@sliding_window_mask.check("a (seq_len, seq_len) tensor of dtype torch.bool")
def window_bool_square(yours):
    mask = expect_tensor(_window(yours, 5, 2), "sliding_window_mask(5, 2)", shape=(5, 5))
    if mask.dtype != torch.bool:
        fail(f"the mask is {mask.dtype}: make it torch.bool (True = may look)")


@sliding_window_mask.check("row i sees columns i − window + 1 … i, for random sizes")
def window_rows(yours):
    draw = rng()
    for _ in range(6):
        seq_len = draw.randrange(2, 12)
        _expect_window(yours, seq_len, draw.randrange(1, seq_len))


@sliding_window_mask.check("window 1 is the diagonal; a window of seq_len or more is causal")
def window_extremes(yours):
    for seq_len, window in ((4, 1), (5, 5), (3, 8)):
        _expect_window(yours, seq_len, window)


@sliding_window_mask.check("a window below 1 raises ValueError")
def window_below_one(yours):
    expect_raises(
        lambda: yours(4, 0),
        ValueError,
        "sliding_window_mask(4, 0)",
        "a window of 0 would block every token, even from itself: check window >= 1",
    )


@sliding_window_mask.check("device= puts the mask on that device")
def window_device(yours):
    with hint_if_raises("sliding_window_mask(3, 2, device='cpu') failed"):
        mask = yours(3, 2, device="cpu")
        where = observe(mask.device if isinstance(mask, torch.Tensor) else None)
    if not isinstance(where, torch.device) or where.type != "cpu":
        fail(f"the mask is on {where}: create it on the device given")


multi_head_attention_exercise = Exercise(
    "multi_head_attention",
    5,
    multi_head_attention.MultiHeadAttention,
    "causal attention with several heads (copies qkv, output)",
    keyword_only=("dropout", "bias"),
)
MHA = multi_head_attention.MultiHeadAttention
NAMES = (
    "compute queries, keys and values with one nn.Linear(embed_dim, 3 * embed_dim) named qkv, "
    "and mix the heads with an nn.Linear(embed_dim, embed_dim) named output"
)


def _variant(ref, x, mask=True, scale_dim=None, split=True, merge=True):
    """What the usual mistakes compute with the reference's weights."""
    batch, seq_len, d = x.shape
    heads, head_dim = ref.num_heads, d // ref.num_heads
    q, k, v = ref.qkv(x).split(d, dim=2)
    if split:
        q, k, v = (t.view(batch, seq_len, heads, head_dim).transpose(1, 2) for t in (q, k, v))
    else:  # a reshape straight to (batch, heads, T, head_dim) mixes tokens into the heads
        q, k, v = (t.reshape(batch, heads, seq_len, head_dim) for t in (q, k, v))
    scores = q @ k.transpose(-2, -1) / math.sqrt(scale_dim or head_dim)
    if mask:
        scores = scores.masked_fill(~multi_head_attention.causal_mask(seq_len), float("-inf"))
    context = scores.softmax(-1) @ v
    if split and merge:
        context = context.transpose(1, 2)
    return ref.output(context.reshape(batch, seq_len, d))


def _variants(ref, x):
    return {
        "later tokens are visible: mask the scores with causal_mask (blocked → -inf) "
        "before the softmax": _variant(ref, x, mask=False),
        "scale by √head_dim (each head's d_k), not √embed_dim": _variant(
            ref, x, scale_dim=x.shape[-1]
        ),
        "the heads are split wrongly: view (batch, T, heads, head_dim) and then .transpose(1, 2); "
        "a plain reshape to (batch, heads, T, head_dim) mixes tokens into heads": _variant(
            ref, x, split=False
        ),
        MERGE_HINT: _variant(ref, x, merge=False),
    }


MERGE_HINT = (
    "the heads were merged without moving them back: the context is (batch, heads, T, "
    "head_dim); .transpose(1, 2) to (batch, T, heads, head_dim) before the reshape to "
    "(batch, T, embed_dim)"
)


def _forward(mine, x):
    with hint_if_raises(f"forward on x of shape {tuple(x.shape)} failed"):
        return observe(mine(x))


def _call(mine, x):
    return mine(x)


@multi_head_attention_exercise.check(
    "MultiHeadAttention(16, 4, 8) has qkv (48, 16) and output (16, 16), with biases", True
)
def has_the_packages_parameters(yours):
    for bias in (True, False):
        with hint_if_raises(f"MultiHeadAttention(16, 4, 8, bias={bias}) failed"):
            module = yours(16, 4, 8, bias=bias)
        copy_parameters(MHA(16, 4, 8, bias=bias), module, "MultiHeadAttention", NAMES)


@multi_head_attention_exercise.check("embed_dim not divisible by num_heads raises ValueError")
def heads_must_divide(yours):
    expect_raises(
        lambda: yours(10, 4, 8),
        ValueError,
        "MultiHeadAttention(10, 4, 8)",
        "10 dimensions cannot be split into 4 equal heads: check embed_dim % num_heads",
    )


@multi_head_attention_exercise.check(
    "equals the package's, float32 and float64, for T = 1, 5 and block_size"
)
def equals_the_reference(yours):
    for dtype in DTYPES:
        mine, ref = build_pair(yours, MHA, 16, 4, 8, dtype=dtype, hint=NAMES)
        for seq_len in (5, 1, 8):
            x = randn(2, seq_len, 16, dtype=dtype)
            with torch.no_grad():
                expected, variants = ref(x), _variants(ref, x)
            what = f"the output for T = {seq_len} ({dtype})"
            expect_close(_forward(mine, x), expected, what, variants=variants)


@multi_head_attention_exercise.check(
    "no token sees the future: a later token changes no earlier output"
)
def no_future_leakage(yours):
    mine, ref = build_pair(yours, MHA, 16, 4, 8, hint=NAMES)
    x = randn(1, 6, 16)
    changed = x.clone()
    changed[0, 3] += 1.0
    with torch.no_grad():
        before, after = _forward(mine, x), _forward(mine, changed)
        merged_wrongly = _variant(ref, x, merge=False)
    if is_close(before, merged_wrongly):
        fail(MERGE_HINT)
    moved = (before - after).abs().amax(dim=-1)[0] > 1e-6
    if bool(moved[:3].any()):
        fail(
            "changing token 3 changed the outputs at positions before it: apply the causal mask "
            "to every head's scores"
        )
    if not bool(moved[3]):
        fail("changing token 3 did not change its own output: does the output depend on x?")


@multi_head_attention_exercise.check("gradients of the input and every weight equal the package's")
def gradients(yours):
    mine, ref = build_pair(yours, MHA, 16, 4, 8, dtype=torch.float64, hint=NAMES)
    expect_same_backward(mine, ref, randn(2, 5, 16, dtype=torch.float64), _call)


@multi_head_attention_exercise.check("dropout acts in train() only; eval() is deterministic")
def dropout(yours):
    mine, _ = build_pair(yours, MHA, 16, 4, 8, dropout=0.5, hint=NAMES)
    x = randn(2, 5, 16)
    mine.train()
    with torch.no_grad():
        if torch.equal(_forward(mine, x), _forward(mine, x)):
            fail(
                "with dropout=0.5 two calls in train() mode gave the same output: apply "
                "dropout to the attention weights (and after the output projection)"
            )
        mine.eval()
        if not torch.equal(_forward(mine, x), _forward(mine, x)):
            fail("two calls in eval() mode differ: use nn.Dropout, which eval() switches off")


EXERCISES = [causal_mask, sliding_window_mask, multi_head_attention_exercise]
