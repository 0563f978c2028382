"""Chapter 10 — sampling: choosing the next token from the logits.

Greedy decoding, temperature, top-k and top-p (nucleus) sampling, for one row of logits per
sequence. `MiniGPT.generate` calls `sample_next_token` once per new token; turning the tokens
into text is `minigpt.generation`'s job.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

MAX_SEED = 2**32 - 1  # NumPy's limit; torch and Python accept these seeds too


def check_seed(seed: int) -> None:
    """Seeds are whole numbers in [0, 2**32 - 1], for training and sampling alike."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise ValueError(f"seed must be a whole number in [0, {MAX_SEED}], got {seed!r}")


def check_sampling_options(temperature: float, top_k: int | None, top_p: float | None) -> None:
    """Reject settings that would silently sample nonsense."""
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)):
        raise ValueError(f"temperature must be a number, got {temperature!r}")
    if not math.isfinite(temperature):
        raise ValueError(f"temperature must be a finite number, got {temperature}")
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0 (0 means greedy), got {temperature}")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
        raise ValueError(f"top_k must be a positive integer or None, got {top_k!r}")
    if top_p is not None and (
        isinstance(top_p, bool)
        or not isinstance(top_p, (int, float))
        or not 0.0 < top_p <= 1.0  # also refuses nan
    ):
        raise ValueError(f"top_p must be in (0, 1] or None, got {top_p!r}")


def check_max_new_tokens(max_new_tokens: int) -> None:
    """How many tokens to generate: a whole number, 0 or more (True is not a number here)."""
    if (
        isinstance(max_new_tokens, bool)
        or not isinstance(max_new_tokens, int)
        or max_new_tokens < 0
    ):
        raise ValueError(f"max_new_tokens must be a whole number >= 0, got {max_new_tokens!r}")


# --8<-- [start:sample_next_token]
def sample_next_token(
    logits: Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Pick one token id per row of `logits` (batch, vocab); returns (batch, 1).

    - temperature 0 → greedy: always the most likely token (and so are temperatures too
      small for float32, such as 1e-45).
    - temperature < 1 sharpens the distribution, > 1 flattens it.
    - top_k keeps only the k most likely tokens.
    - top_p keeps the smallest set of tokens whose probabilities add up to at least p.
    """
    if temperature == 0:
        return logits.argmax(dim=-1, keepdim=True)
    scaled = logits.float() / temperature
    if scaled.isinf().any():  # a temperature so tiny it overflows float32: its limit, greedy
        return logits.argmax(dim=-1, keepdim=True)
    logits = scaled
    if top_k is not None and top_k < logits.shape[-1]:
        kth_largest = torch.topk(logits, top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth_largest, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        sorted_probabilities = torch.softmax(sorted_logits, dim=-1)
        cumulative = sorted_probabilities.cumsum(dim=-1)
        # Drop a token when the tokens before it already reach top_p (the first always stays).
        drop_sorted = (cumulative - sorted_probabilities) >= top_p
        drop = drop_sorted.scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    probabilities = torch.softmax(logits, dim=-1)
    return torch.multinomial(probabilities, num_samples=1, generator=generator)
    # --8<-- [end:sample_next_token]
