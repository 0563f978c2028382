"""Generation speed with and without the KV cache (JSON to stdout and benchmarks/results/).

A shakespeare-char-sized model (6 layers, 6 heads, 384 dimensions, block 256, 65 tokens) with
random weights generates 256 new tokens after a one-token prompt, at batch 1 and batch 16
(tokens/s counts every sequence of the batch). Random weights are fine: the work per token
does not depend on what the weights are. On a GPU the model runs in bfloat16.

    python benchmarks/generation.py [--device auto] [--new-tokens 256] [--batch-size 1 16]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
from report import RESULTS, emit

from minigpt import MiniGPT, MiniGPTConfig
from minigpt.training import hardware_info, resolve_device, software_info


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def tokens_per_second(
    model: MiniGPT, new_tokens: int, use_cache: bool, repeats: int, batch_size: int
) -> dict:
    device = next(model.parameters()).device
    prompt = torch.zeros(batch_size, 1, dtype=torch.long, device=device)
    model.generate(prompt, 8, use_cache=use_cache)  # warm-up
    times = []
    for seed in range(repeats):
        generator = torch.Generator(device=device).manual_seed(seed)
        synchronize(device)
        start = time.perf_counter()
        out = model.generate(
            prompt, new_tokens, temperature=1.0, use_cache=use_cache, generator=generator
        )
        synchronize(device)
        times.append(time.perf_counter() - start)
        assert out.shape == (batch_size, 1 + new_tokens)
    median = statistics.median(times)
    return {
        "use_cache": use_cache,
        "seconds": round(median, 4),
        "tokens_per_sec": round(batch_size * new_tokens / median, 1),
        "all_seconds": [round(t, 4) for t in times],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="auto")
    parser.add_argument("--new-tokens", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--out", default=None, help="result file (default: results/...)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    torch.manual_seed(0)
    config = MiniGPTConfig(
        vocab_size=65, block_size=256, embed_dim=384, num_heads=6, num_layers=6, dropout=0.0
    )
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    model = MiniGPT(config).to(device=device, dtype=dtype).eval()
    runs = []
    for batch_size in args.batch_size:
        cached = tokens_per_second(model, args.new_tokens, True, args.repeats, batch_size)
        uncached = tokens_per_second(model, args.new_tokens, False, args.repeats, batch_size)
        runs.append(
            {
                "batch_size": batch_size,
                "with_cache": cached,
                "without_cache": uncached,
                "speedup": round(cached["tokens_per_sec"] / uncached["tokens_per_sec"], 2),
            }
        )
    result = {
        "benchmark": "generation",
        "model": config.to_dict(),
        "num_parameters": model.num_parameters(),
        "dtype": str(dtype).removeprefix("torch."),
        "prompt_tokens": 1,
        "new_tokens": args.new_tokens,
        "device": str(device),
        "runs": runs,
        "hardware": hardware_info(device),
        "software": software_info(),
    }
    emit(result, Path(args.out) if args.out else RESULTS / f"generation-{device.type}.json")


if __name__ == "__main__":
    main()
