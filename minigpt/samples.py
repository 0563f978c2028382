"""Samples as `minigpt sample` makes them: seeded continuations of one prompt, shown as they
are generated, and the file `--out` keeps them in, with their settings in its header.

`minigpt publish` writes a published run's `samples.txt` with the same function, so that file
is exactly what a reader gets from `minigpt sample --checkpoint <folder> ... --out`.
"""

from __future__ import annotations

import random
import typing
from dataclasses import dataclass
from pathlib import Path

from .generation import stream_text
from .model import MiniGPT
from .sampling import check_sampling_options, check_seed
from .tokenization import Tokenizer


@dataclass(frozen=True)
class SampleOptions:
    """What to generate: the options of `minigpt sample`."""

    prompt: str = ""
    num_samples: int = 1
    max_new_tokens: int = 500
    temperature: float = 0.8
    top_k: int | None = None
    top_p: float | None = None
    seed: int | None = None  # sample i uses seed + i; None: a random seed for each
    use_cache: bool = True

    def check(self) -> None:
        """Raise ValueError for options no sample can be made with, before any work."""
        check_sampling_options(self.temperature, self.top_k, self.top_p)
        if self.seed is not None:
            check_seed(self.seed)
            check_seed(self.seed + self.num_samples - 1)


def write_samples(
    model: MiniGPT,
    tokenizer: Tokenizer,
    options: SampleOptions,
    shown: typing.TextIO,
    source: Path,
    step: int,
    out: Path | None = None,
) -> None:
    """Stream each sample to `shown` as it grows; then, with `out`, save them all there.

    `source` and `step` (the model's file and training step) go into the saved file's header.
    Once `shown` has lost its reader (`minigpt sample | head`) and nothing is saved, stop.
    """
    samples = []
    for i in range(options.num_samples):
        seed = options.seed + i if options.seed is not None else random.randrange(2**31)
        if options.num_samples > 1:
            if i:
                print(file=shown)
            print(f"--- sample {i + 1} (seed {seed}) ---", file=shown, flush=True)
        print(options.prompt, end="", file=shown, flush=True)
        pieces = [options.prompt]
        for piece in stream_text(
            model,
            tokenizer,
            options.prompt,
            options.max_new_tokens,
            options.temperature,
            options.top_k,
            options.top_p,
            seed,
            options.use_cache,
        ):
            print(piece, end="", file=shown, flush=True)
            pieces.append(piece)
            if getattr(shown, "reader_gone", False) and out is None:
                return  # nobody reads any more, and nothing is saved: stop
        print(file=shown, flush=True)
        samples.append((seed, "".join(pieces)))
    if out is not None:
        header = (
            f"# MiniGPT samples from {source} (step {step})\n"
            f"# temperature={options.temperature} top_k={options.top_k} top_p={options.top_p} "
            f"max_new_tokens={options.max_new_tokens} use_cache={options.use_cache} "
            f"prompt={options.prompt!r}\n"
        )
        body = "".join(
            f"\n=== sample {i + 1} · seed {seed} · temperature {options.temperature} · "
            f"prompt {options.prompt!r} ===\n{text}\n"
            for i, (seed, text) in enumerate(samples)
        )
        out = out.expanduser()
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(header + body, encoding="utf-8")
