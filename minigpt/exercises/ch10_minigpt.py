"""Chapter 10's exercises: sample_next_token and MiniGPT."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from .. import model, sampling
from ..config import MiniGPTConfig
from .core import Exercise
from .tools import (
    DTYPES,
    build_pair,
    copy_parameters,
    expect_close,
    expect_equal,
    expect_same_gradients,
    expect_some_error,
    expect_tensor,
    fail,
    hint_if_raises,
)

sample_next_token = Exercise(
    "sample_next_token",
    10,
    sampling.sample_next_token,
    "greedy, temperature, top-k and top-p choice of the next id",
)
DRAWS = 8_000  # samples per distribution: a frequency is within ±0.03 at over 5 sigma


def _sample(yours, logits, **options):
    with hint_if_raises(f"sample_next_token({_options(options)}) failed"):
        ids = yours(logits, **options)
    expect_tensor(ids, "the result", shape=(logits.shape[0], 1))
    if ids.dtype != torch.long:
        fail(f"the ids are {ids.dtype}: return torch.long ids, as torch.multinomial does")
    return ids


def _options(options):
    return ", ".join(f"{k}={v}" for k, v in options.items() if k != "generator")


def _frequencies(yours, probabilities, **options):
    """How often each token is drawn from DRAWS copies of one row of logits."""
    logits = probabilities.log().expand(DRAWS, -1).clone()
    options["generator"] = torch.Generator().manual_seed(0)
    ids = _sample(yours, logits, **options)
    return torch.bincount(ids.flatten(), minlength=len(probabilities)).double() / DRAWS


def _expect_distribution(yours, probabilities, expected, variants, **options):
    freq = _frequencies(yours, probabilities, **options)
    if (freq - expected).abs().max() <= 0.03:
        return
    for hint, wrong in variants.items():
        if (freq - wrong).abs().max() <= 0.03:
            fail(hint)
    fail(
        f"with {_options(options)} the tokens came out with frequencies "
        f"{freq.round(decimals=2).tolist()}; expected about {expected.round(decimals=2).tolist()}"
    )


PROBS = torch.tensor([0.45, 0.25, 0.15, 0.1, 0.05], dtype=torch.float64)


@sample_next_token.check("returns one id per row: shape (batch, 1), dtype torch.long")
def shape(yours):
    _sample(yours, torch.randn(3, 10), generator=torch.Generator().manual_seed(0))


@sample_next_token.check("temperature 0 is greedy: each row's most likely id")
def greedy(yours):
    logits = torch.randn(4, 10)
    with hint_if_raises(
        "temperature=0 means greedy decoding: return logits.argmax(dim=-1, keepdim=True) "
        "before anything divides by the temperature"
    ):
        ids = yours(logits, temperature=0)
    expect_equal(ids, logits.argmax(dim=-1, keepdim=True), "the ids for temperature=0")


@sample_next_token.check("draws follow softmax(logits / temperature), for temperature 1, 0.5, 2")
def temperature(yours):
    for t in (1.0, 0.5, 2.0):
        expected = torch.softmax(PROBS.log() / t, -1)
        variants = {
            "divide the logits by the temperature (T < 1 sharpens), don't multiply": torch.softmax(
                PROBS.log() * t, -1
            ),
            "the temperature is ignored: softmax(logits / temperature)": PROBS,
        }
        _expect_distribution(yours, PROBS, expected, variants, temperature=t)


@sample_next_token.check("top_k keeps exactly the k most likely tokens, renormalized")
def top_k(yours):
    for k in (1, 3):
        expected = torch.zeros_like(PROBS)
        expected[:k] = PROBS[:k] / PROBS[:k].sum()
        variants = {}
        if k < 4:
            kept = PROBS[: k + 1] / PROBS[: k + 1].sum()
            variants[
                f"{k + 1} tokens were kept for top_k={k}: keep exactly k, masking the logits "
                "below the k-th largest, torch.topk(logits, k).values[:, -1:]"
            ] = torch.cat([kept, torch.zeros(len(PROBS) - k - 1, dtype=torch.float64)])
        _expect_distribution(yours, PROBS, expected, variants, top_k=k)


@sample_next_token.check("top_k larger than the vocabulary keeps every token")
def top_k_above_vocabulary(yours):
    _expect_distribution(yours, PROBS, PROBS, {}, top_k=50)


@sample_next_token.check("top_p keeps the smallest set of most likely tokens reaching p")
def top_p(yours):
    order = torch.tensor([2, 0, 4, 1, 3])  # not sorted by id, so a sort is needed
    probabilities = PROBS[order]  # token i has probability PROBS[order[i]]
    for p, kept in ((0.6, 2), (0.4, 1), (0.9, 4)):
        expected = torch.where(order < kept, probabilities, 0.0)
        expected = expected / expected.sum()
        one_less = torch.where(order < kept - 1, probabilities, 0.0)
        cumulative = probabilities.cumsum(-1)  # in id order: no sort
        unsorted = torch.where(cumulative - probabilities >= p, 0.0, probabilities)
        variants = {
            "sort the probabilities (descending) before the cumulative sum: top-p keeps the "
            "most likely tokens, not the first ids": unsorted / unsorted.sum(),
            "the token that crosses p was dropped: keep tokens until their probabilities "
            "add up to at least p (drop a token only when the ones before it already reach p)": (
                one_less / one_less.sum() if kept > 1 else one_less
            ),
        }
        with hint_if_raises(
            f"top_p={p} failed: the most likely token must always stay, even when it alone is "
            "above p"
        ):
            _expect_distribution(yours, probabilities, expected, variants, top_p=p)


@sample_next_token.check("each row of a batch is sampled from its own logits")
def rows_are_independent(yours):
    logits = torch.zeros(2, 5)
    logits[0, 1] = logits[1, 3] = 30.0  # each row all but certain of its own token
    ids = _sample(yours, logits, generator=torch.Generator().manual_seed(0))
    expect_equal(ids.tolist(), [[1], [3]], "the ids", "softmax and sample along dim=-1, per row")


@sample_next_token.check("the generator makes the draws reproducible")
def reproducible(yours):
    logits = torch.randn(200, 10)
    draws = [_sample(yours, logits, generator=torch.Generator().manual_seed(3)) for _ in range(2)]
    if not torch.equal(*draws):
        fail(
            "two generators with the same seed gave different draws: pass generator= on to "
            "torch.multinomial"
        )


@sample_next_token.check("leaves the logits unchanged")
def logits_untouched(yours):
    logits = torch.randn(3, 10)
    original = logits.clone()
    _sample(yours, logits, temperature=0.5, top_k=4, generator=torch.Generator().manual_seed(0))
    if not torch.equal(logits, original):
        fail("the logits passed in changed: logits /= temperature writes into the model's output")


mini_gpt = Exercise(
    "mini_gpt",
    10,
    model.MiniGPT,
    "embeddings → blocks → LayerNorm → tied output; logits, loss (copies all)",
)
CONFIG = MiniGPTConfig(vocab_size=37, block_size=8, embed_dim=16, num_heads=2, num_layers=2)
NAMES = (
    "name the parts token_embedding, position_embedding, blocks (an nn.ModuleList), "
    "final_norm and output, and tie the output layer to the token embedding: "
    "self.output.weight = self.token_embedding.weight"
)


def _logits_variants(ref, ids):
    positions = torch.arange(ids.shape[1])
    tokens = ref.token_embedding(ids)
    with_positions = tokens + ref.position_embedding(positions)
    variants = {}
    for hint, x, final in (
        ("apply final_norm before the output layer", with_positions, False),
        ("add the positional embedding of positions 0…T−1 to the token vectors", tokens, True),
    ):
        for block in ref.blocks:
            x = block(x)
        variants[hint] = ref.output(ref.final_norm(x) if final else x)
    return variants


def _forward(mine, ids, targets=None):
    with hint_if_raises(f"forward on ids of shape {tuple(ids.shape)} failed"):
        result = mine(ids) if targets is None else mine(ids, targets)
    if not isinstance(result, tuple) or len(result) != 2:
        fail(f"forward returned {type(result).__name__}; return a pair (logits, loss)")
    return result


def _ids(*shape):
    return torch.randint(0, CONFIG.vocab_size, shape)


@mini_gpt.check("has the package's parameters, output layer tied to the token embedding", True)
def has_the_packages_parameters(yours):
    with hint_if_raises("MiniGPT(config) failed"):
        module = yours(CONFIG)
    copy_parameters(model.MiniGPT(CONFIG), module, "MiniGPT", NAMES)


@mini_gpt.check("forward(ids) returns (logits of shape (batch, T, vocab_size), None)")
def returns_logits(yours):
    mine, _ = build_pair(yours, model.MiniGPT, CONFIG, hint=NAMES)
    logits, loss = _forward(mine, _ids(2, 5))
    expect_tensor(logits, "the logits", shape=(2, 5, CONFIG.vocab_size))
    if loss is not None:
        fail(f"without targets the loss must be None; it is {type(loss).__name__}")


@mini_gpt.check("logits equal the package's, float32 and float64, for T = 1, 5 and block_size")
def equals_the_reference(yours):
    for dtype in DTYPES:
        mine, ref = build_pair(yours, model.MiniGPT, CONFIG, dtype=dtype, jitter=0.05, hint=NAMES)
        for seq_len in (1, 5, 8):
            ids = _ids(2, seq_len)
            with torch.no_grad():
                expected, variants = ref(ids)[0], _logits_variants(ref, ids)
                logits, _ = _forward(mine, ids)
            expect_close(logits, expected, f"the logits for T = {seq_len} ({dtype})", "", variants)


@mini_gpt.check("forward(ids, targets) returns the mean cross-entropy of every position")
def loss(yours):
    # In float32: the package computes the loss in float32 whatever the model's dtype.
    mine, ref = build_pair(yours, model.MiniGPT, CONFIG, jitter=0.05, hint=NAMES)
    ids, targets = _ids(2, 6), _ids(2, 6)
    with torch.no_grad():
        logits, expected = ref(ids, targets)
        _, yours_loss = _forward(mine, ids, targets)
        flat = logits.flatten(0, 1)
        variants = {
            "targets are already the next tokens (targets[:, t] follows ids[:, t]): compare "
            "logits[:, t] with targets[:, t], don't shift again": F.cross_entropy(
                logits[:, :-1].flatten(0, 1), targets[:, 1:].flatten()
            ),
            "average the loss over the tokens (F.cross_entropy's default reduction), not sum": (
                F.cross_entropy(flat, targets.flatten(), reduction="sum")
            ),
            "every position is a prediction: the loss covers all of them, not just the last": (
                F.cross_entropy(logits[:, -1], targets[:, -1])
            ),
        }
    expect_close(yours_loss, expected, "the loss", variants=variants)


@mini_gpt.check("targets of -1 are ignored (ignore_index=-1)")
def ignored_targets(yours):
    mine, ref = build_pair(yours, model.MiniGPT, CONFIG, hint=NAMES)
    ids, targets = _ids(2, 6), _ids(2, 6)
    targets[:, :2] = -1
    with hint_if_raises(
        "a target of -1 (padding) must be skipped: F.cross_entropy(..., ignore_index=-1)"
    ):
        _, yours_loss = mine(ids, targets)
    expect_close(yours_loss, ref(ids, targets)[1], "the loss with targets of -1", "ignore_index=-1")


@mini_gpt.check("no token sees the future: a later token changes no earlier logits")
def causal(yours):
    mine, _ = build_pair(yours, model.MiniGPT, CONFIG, hint=NAMES)
    ids = _ids(1, 6)
    changed = ids.clone()
    changed[0, 4] = (ids[0, 4] + 1) % CONFIG.vocab_size
    with torch.no_grad():
        moved = (_forward(mine, ids)[0] - _forward(mine, changed)[0]).abs().amax(dim=-1)[0] > 1e-6
    if bool(moved[:4].any()):
        fail("changing token 4 changed earlier logits: the blocks' attention must be causal")


@mini_gpt.check("gradients of every weight equal the package's")
def gradients(yours):
    mine, ref = build_pair(yours, model.MiniGPT, CONFIG, jitter=0.05, hint=NAMES)
    ids, targets = _ids(2, 6), _ids(2, 6)
    _forward(mine, ids, targets)[1].backward()
    ref(ids, targets)[1].backward()
    expect_same_gradients(mine, ref)


@mini_gpt.check("a sequence longer than block_size raises an error")
def too_long(yours):
    mine, _ = build_pair(yours, model.MiniGPT, CONFIG, hint=NAMES)
    expect_some_error(
        lambda: mine(_ids(1, CONFIG.block_size + 1)),
        f"ids of length {CONFIG.block_size + 1} with block_size {CONFIG.block_size}",
        "the model has positions 0…block_size−1 only: raise a clear error for longer input",
    )


EXERCISES = [sample_next_token, mini_gpt]
