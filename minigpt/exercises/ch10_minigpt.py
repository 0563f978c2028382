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
    observe,
    parameter_summary,
    randint,
    randn,
    rng,
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
        ids = observe(yours(logits, **options))
    expect_tensor(ids, "the result", shape=(logits.shape[0], 1))
    if ids.dtype != torch.long:
        fail(f"the ids are {ids.dtype}: return torch.long ids, as torch.multinomial does")
    return ids


def _options(options):
    return ", ".join(f"{k}={v}" for k, v in options.items() if k != "generator")


def _frequencies(yours, probabilities, **options):
    """How often each token is drawn from DRAWS copies of one row of logits."""
    logits = probabilities.log().expand(DRAWS, -1).clone()
    options["generator"] = _generator()
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


def _generator() -> torch.Generator:
    """A generator for the reader's draws, seeded from the run's seed."""
    return torch.Generator().manual_seed(rng().randrange(2**31))


@sample_next_token.check("returns one id per row: shape (batch, 1), dtype torch.long")
def shape(yours):
    _sample(yours, randn(3, 10), generator=_generator())


@sample_next_token.check("temperature 0 is greedy: each row's most likely id")
def greedy(yours):
    logits = randn(4, 10)
    with hint_if_raises(
        "temperature=0 means greedy decoding: return logits.argmax(dim=-1, keepdim=True) "
        "before anything divides by the temperature"
    ):
        ids = observe(yours(logits, temperature=0))
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


@sample_next_token.check("top_k with top_p: top-p applies to the k tokens top-k kept, renormalized")
def top_k_then_top_p(yours):
    top_k = torch.zeros_like(PROBS)
    top_k[:3] = PROBS[:3] / PROBS[:3].sum()  # [0.53, 0.29, 0.18, 0, 0]: 0.82 after two
    expected = torch.zeros_like(PROBS)
    expected[:2] = PROBS[:2] / PROBS[:2].sum()
    variants = {
        "top_p was measured on the full distribution, where 0.45 + 0.25 = 0.70 < 0.8 keeps a "
        "third token: apply top_k first, then top_p to the renormalized probabilities of the "
        "k tokens kept (0.53 + 0.29 ≥ 0.8 keeps two)": top_k,
    }
    _expect_distribution(yours, PROBS, expected, variants, top_k=3, top_p=0.8)


@sample_next_token.check("each row of a batch is sampled from its own logits")
def rows_are_independent(yours):
    logits = torch.zeros(2, 5)
    logits[0, 1] = logits[1, 3] = 30.0  # each row all but certain of its own token
    ids = _sample(yours, logits, generator=_generator())
    expect_equal(ids.tolist(), [[1], [3]], "the ids", "softmax and sample along dim=-1, per row")


@sample_next_token.check("the generator makes the draws reproducible")
def reproducible(yours):
    logits = randn(200, 10)
    seed = rng().randrange(2**31)
    draws = [
        _sample(yours, logits, generator=torch.Generator().manual_seed(seed)) for _ in range(2)
    ]
    if not torch.equal(*draws):
        fail(
            "two generators with the same seed gave different draws: pass generator= on to "
            "torch.multinomial"
        )


@sample_next_token.check("leaves the logits unchanged")
def logits_untouched(yours):
    logits = randn(3, 10)
    original = logits.clone()
    _sample(yours, logits, temperature=0.5, top_k=4, generator=_generator())
    if not torch.equal(observe(logits), original):
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


def _forward(mine, ids, targets=None, keep_graph=False):
    with hint_if_raises(f"forward on ids of shape {tuple(ids.shape)} failed"):
        result = mine(ids) if targets is None else mine(ids, targets)
    if not observe(isinstance(result, tuple) and len(result) == 2):
        fail("forward did not return a pair: return (logits, loss)")
    return result if keep_graph else observe(tuple(result))


def _ids(*shape):
    return randint(0, CONFIG.vocab_size, shape)


@mini_gpt.check("has the package's parameters, output layer tied to the token embedding", True)
def has_the_packages_parameters(yours):
    with hint_if_raises("MiniGPT(config) failed"):
        module = yours(CONFIG)
    found = observe(parameter_summary(module))
    if found is not None and "output.weight" in found and "token_embedding.weight" in found:
        fail(
            "the output layer has a weight of its own: tie it to the token embedding, "
            "self.output.weight = self.token_embedding.weight, so both use one table"
        )
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


def _loss(logits, targets, **options):
    return F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten(), **options)


def _loss_variants(logits, targets):
    """The losses the usual mistakes compute from the reader's own logits."""
    return {
        "targets are already the next tokens (targets[:, t] follows ids[:, t]): compare "
        "logits[:, t] with targets[:, t], don't shift again": _loss(
            logits[:, :-1], targets[:, 1:], ignore_index=-1
        ),
        "average the loss over the tokens (F.cross_entropy's default reduction), not sum": (
            _loss(logits, targets, ignore_index=-1, reduction="sum")
        ),
        "every position is a prediction: the loss covers all of them, not just the last": (
            _loss(logits[:, -1:], targets[:, -1:], ignore_index=-1)
        ),
    }


@mini_gpt.check("forward(ids, targets) returns the mean cross-entropy of every position")
def loss(yours):
    # Judged against the cross-entropy of your own logits (the logits have their own check).
    mine, _ = build_pair(yours, model.MiniGPT, CONFIG, jitter=0.05, hint=NAMES)
    ids, targets = _ids(2, 6), _ids(2, 6)
    with torch.no_grad():
        logits, yours_loss = _forward(mine, ids, targets)
    expect_tensor(logits, "the logits", shape=(2, 6, CONFIG.vocab_size))
    expected = _loss(logits, targets, ignore_index=-1)
    variants = _loss_variants(logits, targets)
    expect_close(yours_loss, expected, "the loss", variants=variants)


@mini_gpt.check("targets of -1 are ignored (ignore_index=-1)")
def ignored_targets(yours):
    mine, _ = build_pair(yours, model.MiniGPT, CONFIG, hint=NAMES)
    ids, targets = _ids(2, 6), _ids(2, 6)
    targets[:, :2] = -1
    with hint_if_raises(
        "a target of -1 (padding) must be skipped: F.cross_entropy(..., ignore_index=-1)"
    ):
        logits, yours_loss = mine(ids, targets)
    logits, yours_loss = observe((logits, yours_loss))
    expect_tensor(logits, "the logits", shape=(2, 6, CONFIG.vocab_size))
    kept = targets >= 0
    variants = _loss_variants(logits, targets) | {
        "the targets of -1 were counted: F.cross_entropy(..., ignore_index=-1) skips them": (
            _loss(logits, targets.clamp(min=0))
        ),
        "the loss was averaged over every position, padding included: ignore_index=-1 "
        "averages over the kept ones only": _loss(logits, targets, ignore_index=-1)
        * kept.sum()
        / kept.numel(),
    }
    expected = _loss(logits, targets, ignore_index=-1)
    expect_close(yours_loss, expected, "the loss with targets of -1", variants=variants)


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
    with hint_if_raises("backward() from your loss failed"):
        _forward(mine, ids, targets, keep_graph=True)[1].backward()
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
