"""Generating text with a trained model: a prompt in, its continuation out, streamed.

`MiniGPT.stream` yields token ids; `stream_text` turns them into text as they arrive (what
`minigpt sample` prints), and `generate_text` returns the whole string.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch

from .model import MiniGPT
from .sampling import check_max_new_tokens, check_sampling_options, check_seed
from .tokenization import Tokenizer


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
def stream_text(
    model: MiniGPT,
    tokenizer: Tokenizer,
    prompt: str = "",
    max_new_tokens: int = 500,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int | None = None,
    use_cache: bool = True,
) -> Iterator[str]:
    """Generate text after `prompt`, yielding it piece by piece as tokens are sampled.

    A BPE token can hold part of a character (an emoji spans several tokens), so a piece is
    yielded only once its bytes decode completely. Stops at end-of-text or `max_new_tokens`.
    """
    check_arguments(prompt, max_new_tokens, temperature, top_k, top_p, seed)
    device = next(model.parameters()).device
    ids = torch.tensor([prompt_ids(tokenizer, prompt)], dtype=torch.long, device=device)
    generator = None
    if seed is not None:
        generator = torch.Generator(device=device).manual_seed(seed)
    pending: list[int] = []
    for next_id in model.stream(
        ids, max_new_tokens, temperature, top_k, top_p, use_cache, tokenizer.eot_token, generator
    ):
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


def check_arguments(
    prompt: str,
    max_new_tokens: int,
    temperature: float,
    top_k: int | None,
    top_p: float | None,
    seed: int | None,
) -> None:
    """One clear ValueError for any argument generation cannot use, before any work."""
    if not isinstance(prompt, str):
        raise ValueError(f"prompt must be a str ('' starts afresh), got {prompt!r}")
    check_max_new_tokens(max_new_tokens)
    check_sampling_options(temperature, top_k, top_p)
    if seed is not None:
        check_seed(seed)


def generate_text(model: MiniGPT, tokenizer: Tokenizer, prompt: str = "", **options: Any) -> str:
    """The prompt followed by its generated continuation, as one string."""
    return prompt + "".join(stream_text(model, tokenizer, prompt, **options))
