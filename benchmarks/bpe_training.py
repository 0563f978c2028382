"""Benchmark the from-scratch BPE: training time, compression, and encoding speed vs tiktoken.

Usage: python benchmarks/bpe_training.py --corpus path/to/input.txt [--vocab-sizes 768 4352]

Prints one JSON object per vocabulary size. Encoding is timed twice for the from-scratch
tokenizer: "cold" (empty chunk cache, as on first use) and "warm" (every chunk already cached).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from minigpt.bpe import BPETokenizer

T = TypeVar("T")


def seconds(action: Callable[[], T]) -> tuple[float, T]:
    """Run `action` once; return its wall-clock time and its result."""
    start = time.perf_counter()
    result = action()
    return time.perf_counter() - start, result


def benchmark(text: str, vocab_size: int) -> dict[str, object]:
    train_s, tokenizer = seconds(lambda: BPETokenizer.train(text, vocab_size))
    cold = BPETokenizer.from_dict(tokenizer.to_dict())  # same merges, empty chunk cache
    cold_s, ids = seconds(lambda: cold.encode(text))
    warm_s, _ = seconds(lambda: cold.encode(text))
    exported = tokenizer.to_tiktoken()
    tiktoken_s, tiktoken_ids = seconds(lambda: exported.encode_ordinary(text))
    assert tiktoken_ids == ids, "from-scratch and tiktoken encodings differ"
    num_bytes = len(text.encode("utf-8"))
    return {
        "vocab_size": vocab_size,
        "merges": len(tokenizer.merges),
        "train_seconds": round(train_s, 3),
        "corpus_bytes": num_bytes,
        "tokens": len(ids),
        "bytes_per_token": round(num_bytes / len(ids), 3),
        "encode_seconds_from_scratch_cold": round(cold_s, 3),
        "encode_seconds_from_scratch_warm": round(warm_s, 3),
        "encode_seconds_tiktoken": round(tiktoken_s, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, required=True, help="UTF-8 text file to train on")
    parser.add_argument("--vocab-sizes", type=int, nargs="+", default=[768, 4352])
    args = parser.parse_args()
    text = args.corpus.read_text(encoding="utf-8")
    for vocab_size in args.vocab_sizes:
        print(json.dumps(benchmark(text, vocab_size)))


if __name__ == "__main__":
    main()
