"""Sampling: choosing the next token from the logits (greedy, temperature, top-k, top-p),
and turning a trained model's tokens into streamed text."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from .tokenization import Tokenizer

if TYPE_CHECKING:  # model.py imports this module
    from .model import MiniGPT


def check_sampling_options(temperature: float, top_k: int | None, top_p: float | None) -> None:
    """Reject settings that would silently sample nonsense."""
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0 (0 means greedy), got {temperature}")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
        raise ValueError(f"top_k must be a positive integer or None, got {top_k!r}")
    if top_p is not None and not 0.0 < top_p <= 1.0:
        raise ValueError(f"top_p must be in (0, 1] or None, got {top_p}")


# --8<-- [start:sample_next_token]
def sample_next_token(logits: Tensor, temperature: float = 1.0, top_k: int | None = None,
                      top_p: float | None = None,
                      generator: torch.Generator | None = None) -> Tensor:
    """Pick one token id per row of `logits` (batch, vocab); returns (batch, 1).

    - temperature 0 → greedy: always the most likely token.
    - temperature < 1 sharpens the distribution, > 1 flattens it.
    - top_k keeps only the k most likely tokens.
    - top_p keeps the smallest set of tokens whose probabilities add up to at least p.
    """
    if temperature == 0:
        return logits.argmax(dim=-1, keepdim=True)
    logits = logits.float() / temperature
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


def prompt_ids(tokenizer: Tokenizer, prompt: str) -> list[int]:
    """The prompt's ids; an empty prompt starts from end-of-text, or a line break."""
    if prompt:
        return tokenizer.encode(prompt)
    if tokenizer.eot_token is not None:
        return [tokenizer.eot_token]
    try:
        return tokenizer.encode("\n")
    except ValueError:
        return [0]


# --8<-- [start:stream_text]
def stream_text(model: MiniGPT, tokenizer: Tokenizer, prompt: str = "",
                max_new_tokens: int = 500, temperature: float = 1.0, top_k: int | None = None,
                top_p: float | None = None, seed: int | None = None,
                use_cache: bool = True) -> Iterator[str]:
    """Generate text after `prompt`, yielding it piece by piece as tokens are sampled.

    A BPE token can hold part of a character (an emoji spans several tokens), so a piece is
    yielded only once its bytes decode completely. Stops at end-of-text or `max_new_tokens`.
    """
    device = next(model.parameters()).device
    ids = torch.tensor([prompt_ids(tokenizer, prompt)], dtype=torch.long, device=device)
    generator = None
    if seed is not None:
        generator = torch.Generator(device=device).manual_seed(seed)
    pending: list[int] = []
    for next_id in model.stream(ids, max_new_tokens, temperature, top_k, top_p, use_cache,
                                tokenizer.eot_token, generator):
        token = int(next_id[0, 0])
        if token == tokenizer.eot_token:
            break
        pending.append(token)
        text = tokenizer.decode(pending)
        if text.endswith("\ufffd") and len(pending) < 4:
            continue  # an incomplete UTF-8 character: wait for the tokens holding the rest
        yield text
        pending = []
    if pending:
        yield tokenizer.decode(pending)
# --8<-- [end:stream_text]


def generate_text(model: MiniGPT, tokenizer: Tokenizer, prompt: str = "", **options: Any) -> str:
    """The prompt followed by its generated continuation, as one string."""
    return prompt + "".join(stream_text(model, tokenizer, prompt, **options))
