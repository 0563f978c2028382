"""Chapter 9's exercise: TransformerBlock."""

from __future__ import annotations

import dataclasses

import torch

from .. import transformer_block
from ..config import MiniGPTConfig
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
    randn,
)

transformer_block_exercise = Exercise(
    "transformer_block",
    9,
    transformer_block.TransformerBlock,
    "pre-norm attention and feed-forward, each added back (copies all)",
)
BLOCK = transformer_block.TransformerBlock
CONFIG = MiniGPTConfig(vocab_size=50, block_size=8, embed_dim=16, num_heads=4, num_layers=1)
NAMES = (
    "build the parts from config with the package's classes, named norm1 (LayerNorm), "
    "attention (MultiHeadAttention), norm2 (LayerNorm) and feed_forward (FeedForward)"
)


def _config(**changes) -> MiniGPTConfig:
    return dataclasses.replace(CONFIG, **changes)


def _twin(ref, config: MiniGPTConfig):
    """A reference block for another config, with `ref`'s weights."""
    twin = BLOCK(config).eval()
    twin.load_state_dict(ref.state_dict())
    return twin


def _forward(mine, x):
    with hint_if_raises(f"forward on x of shape {tuple(x.shape)} failed"):
        return observe(mine(x))


def _call(mine, x):
    return mine(x)


def _variants(ref, x):
    """What the usual wirings compute with the reference's parts, each with its hint."""
    attn, ffn, norm1, norm2 = ref.attention, ref.feed_forward, ref.norm1, ref.norm2
    post = norm1(x + attn(x))
    h = x + attn(norm1(x))
    normed = norm1(x)
    normed_stream = normed + attn(normed)
    normed_stream = norm2(normed_stream) + ffn(norm2(normed_stream))
    return {
        "this is post-norm, LayerNorm after each addition as in the 2017 Transformer; GPT-2 "
        "normalizes the sub-layer's input: x + attention(norm1(x))": norm2(post + ffn(post)),
        "the residual stream itself was normalized: add each sub-layer's output to the "
        "un-normalized x, x = x + attention(norm1(x))": normed_stream,
        "the feed-forward sub-layer has no residual connection: x = x + feed_forward(norm2(x))": (
            ffn(norm2(h))
        ),
        "the attention sub-layer has no residual connection: x = x + attention(norm1(x))": (
            attn(norm1(x)) + ffn(norm2(attn(norm1(x))))
        ),
        "the feed-forward network reads the attention output alone: give it norm2 of the "
        "stream, x + attention(norm1(x))": h + ffn(norm2(attn(norm1(x)))),
        "the feed-forward sub-layer reads norm1 again: give it the block's second LayerNorm, "
        "x = x + feed_forward(norm2(x))": h + ffn(norm1(h)),
    }


@transformer_block_exercise.check(
    "has the package's parameters: norm1, attention (qkv, output), norm2, feed_forward", True
)
def has_the_packages_parameters(yours):
    with hint_if_raises("TransformerBlock(config) failed"):
        module = yours(CONFIG)
    copy_parameters(BLOCK(CONFIG), module, "TransformerBlock", NAMES)


@transformer_block_exercise.check(
    "pre-norm wiring: x + attention(norm1(x)), then x + feed_forward(norm2(x))"
)
def pre_norm(yours):
    mine, ref = build_pair(yours, BLOCK, CONFIG, dtype=torch.float64, jitter=0.3, hint=NAMES)
    x = randn(2, 5, 16, dtype=torch.float64) * 2
    with torch.no_grad():
        expected, variants = ref(x), _variants(ref, x)
        expect_close(_forward(mine, x), expected, "the output", variants=variants)


@transformer_block_exercise.check("equals the package's, float32 and float64, for T = 1 and 8")
def equals_the_reference(yours):
    for dtype in DTYPES:
        mine, ref = build_pair(yours, BLOCK, CONFIG, dtype=dtype, jitter=0.3, hint=NAMES)
        for seq_len in (1, 8):
            x = randn(2, seq_len, 16, dtype=dtype)
            with torch.no_grad():
                expected, variants = ref(x), _variants(ref, x)
            what = f"the output for T = {seq_len} ({dtype})"
            expect_close(_forward(mine, x), expected, what, variants=variants)


@transformer_block_exercise.check(
    "no token sees the future: a later token changes no earlier output"
)
def causal(yours):
    mine, _ = build_pair(yours, BLOCK, CONFIG, hint=NAMES)
    x = randn(1, 6, 16)
    changed = x.clone()
    changed[0, 4] += 1.0
    with torch.no_grad():
        moved = (_forward(mine, x) - _forward(mine, changed)).abs().amax(dim=-1)[0] > 1e-6
    if bool(moved[:4].any()):
        fail("changing token 4 changed earlier outputs: use the causal MultiHeadAttention")


@transformer_block_exercise.check("gradients of the input and every weight equal the package's")
def gradients(yours):
    mine, ref = build_pair(yours, BLOCK, CONFIG, dtype=torch.float64, jitter=0.3, hint=NAMES)
    expect_same_backward(mine, ref, randn(2, 5, 16, dtype=torch.float64), _call)


@transformer_block_exercise.check("config.residual=False drops both skip paths (chapter 7)")
def residual_switch(yours):
    config = _config(residual=False)
    mine, ref = build_pair(yours, BLOCK, config, hint=NAMES)
    x = randn(1, 5, 16)
    with torch.no_grad():
        variants = {
            "the skip paths stayed on: add with residual_add(x, ..., config.residual), so "
            "chapter 7's experiment can switch them off": _twin(ref, CONFIG)(x)
        }
        expect_close(_forward(mine, x), ref(x), "the output with residual=False", "", variants)


@transformer_block_exercise.check(
    "config.bias, config.layer_norm_eps and config.dropout reach the parts"
)
def config_options(yours):
    config = _config(bias=False, layer_norm_eps=0.1)
    with hint_if_raises("TransformerBlock(config with bias=False) failed"):
        module = yours(config)
    copy_parameters(
        BLOCK(config),
        module,
        "TransformerBlock(bias=False)",
        "pass bias=config.bias to the two LayerNorms, MultiHeadAttention and FeedForward",
    )
    mine, ref = build_pair(yours, BLOCK, config, hint=NAMES)
    x = randn(1, 5, 16)
    with torch.no_grad():
        variants = {
            "give eps=config.layer_norm_eps to both LayerNorms": _twin(ref, _config(bias=False))(x)
        }
        expect_close(_forward(mine, x), ref(x), "the output with layer_norm_eps=0.1", "", variants)
    mine, _ = build_pair(yours, BLOCK, _config(dropout=0.5), hint=NAMES)
    mine.train()
    with torch.no_grad():
        if torch.equal(_forward(mine, x), _forward(mine, x)):
            fail(
                "with config.dropout=0.5 two calls in train() mode gave the same output: "
                "pass dropout=config.dropout to MultiHeadAttention and FeedForward"
            )


EXERCISES = [transformer_block_exercise]
