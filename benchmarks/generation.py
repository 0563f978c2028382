"""Generation speed: MiniGPT's KV-cache generation against Hugging Face `generate`, greedy.

Both models hold the same random weights: a `transformers` GPT2LMHeadModel (sdpa attention)
is created, and MiniGPT loads its state dict with `MiniGPT.from_gpt2`. Both generate the same
number of new tokens greedily after the same prompt, and the benchmark checks that they pick
identical tokens. Random weights are fine: the work per token does not depend on what the
weights are. Tokens/s counts every sequence of the batch. The two take turns (round-robin)
`--repeats` times; the report gives the best and the median run, in wall-clock time and in
process CPU time (steadier on a shared machine at one thread), with the load average.

    python benchmarks/generation.py                     # baby and gpt2 shapes, batch 1 and 8
    python benchmarks/generation.py --threads 1 --repeats 5 --uncached

Shapes: "gpt2" is GPT-2 small (12 layers, 768 wide, 50,257 tokens, 1,024 positions); "baby"
is the shakespeare-char-cpu model (4 layers, 128 wide, 65 characters) with 512 positions, so
that the prompt and 256 new tokens fit in its context. `--uncached` also times MiniGPT
without its KV cache (every step recomputes the whole context). On a GPU both run in bfloat16.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from report import RESULTS, emit, load_average

from minigpt import MiniGPT
from minigpt.training import hardware_info, resolve_device, software_info


@dataclass(frozen=True)
class Shape:
    vocab_size: int
    positions: int
    embed_dim: int
    num_heads: int
    num_layers: int


SHAPES = {
    "baby": Shape(65, 512, 128, 4, 4),
    "gpt2": Shape(50257, 1024, 768, 12, 12),
    "tiny": Shape(64, 64, 32, 4, 2),  # keeps the script tested in CI
}


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def build_models(shape: Shape, device: torch.device, dtype: torch.dtype):
    """A random Hugging Face GPT-2 and a MiniGPT holding the same weights."""
    from transformers import GPT2Config, GPT2LMHeadModel
    from transformers.utils import logging

    logging.set_verbosity_error()  # generate() warns about unset generation options
    config = GPT2Config(
        vocab_size=shape.vocab_size,
        n_positions=shape.positions,
        n_embd=shape.embed_dim,
        n_head=shape.num_heads,
        n_layer=shape.num_layers,
        bos_token_id=0,
        eos_token_id=0,
    )
    config._attn_implementation = "sdpa"
    torch.manual_seed(0)
    hf = GPT2LMHeadModel(config).eval()
    ours = MiniGPT.from_gpt2(hf.state_dict(), num_heads=shape.num_heads).eval()
    return hf.to(device=device, dtype=dtype), ours.to(device=device, dtype=dtype)


def generators(hf, ours: MiniGPT, new_tokens: int, uncached: bool) -> dict[str, Callable]:
    """Each implementation as prompt ids → prompt + new ids, greedy."""

    def transformers_generate(ids: torch.Tensor) -> torch.Tensor:
        return hf.generate(
            ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=new_tokens,
            min_new_tokens=new_tokens,
            do_sample=False,
            pad_token_id=0,
            eos_token_id=None,
        )

    runs = {
        "minigpt": lambda ids: ours.generate(ids, new_tokens, temperature=0),
        "transformers": transformers_generate,
    }
    if uncached:
        runs["minigpt-no-cache"] = lambda ids: ours.generate(
            ids, new_tokens, temperature=0, use_cache=False
        )
    return runs


def rates(seconds: list[float], tokens: int) -> dict[str, float]:
    return {
        "best": round(tokens / min(seconds), 1),
        "median": round(tokens / statistics.median(seconds), 1),
    }


@torch.no_grad()
def benchmark(
    shape: Shape,
    batch_size: int,
    prompt_tokens: int,
    new_tokens: int,
    repeats: int,
    uncached: bool,
    device: torch.device,
    dtype: torch.dtype,
) -> dict:
    hf, ours = build_models(shape, device, dtype)
    runs = generators(hf, ours, new_tokens, uncached)
    generator = torch.Generator().manual_seed(0)
    prompt = torch.randint(0, shape.vocab_size, (batch_size, prompt_tokens), generator=generator)
    prompt = prompt.to(device)
    outputs = {name: run(prompt) for name, run in runs.items()}  # warm-up, and the tokens
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            synchronize(device)
            wall, cpu = time.perf_counter(), time.process_time()
            run(prompt)
            synchronize(device)
            times[name].append((time.perf_counter() - wall, time.process_time() - cpu))
    tokens = batch_size * new_tokens
    reference = outputs["minigpt"]
    result: dict = {"batch_size": batch_size, "runs": {}}
    for name, measured in times.items():
        same = outputs[name].shape == reference.shape and torch.equal(outputs[name], reference)
        result["runs"][name] = {
            "tokens_per_sec": rates([w for w, _ in measured], tokens),
            "tokens_per_cpu_sec": rates([c for _, c in measured], tokens),
            "same_tokens_as_minigpt": same,
        }
    ours_run, theirs = result["runs"]["minigpt"], result["runs"]["transformers"]
    result["minigpt_speedup_vs_transformers"] = {
        f"{measure}.{stat}": round(ours_run[measure][stat] / theirs[measure][stat], 3)
        for measure in ("tokens_per_sec", "tokens_per_cpu_sec")
        for stat in ("best", "median")
    }
    return result


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--shape", choices=sorted(SHAPES), action="append", help="repeatable")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--new-tokens", type=int, default=256)
    parser.add_argument("--prompt-tokens", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--uncached", action="store_true", help="also time MiniGPT uncached")
    parser.add_argument("--out", default=None, help="result file (default: results/...)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    load_before = load_average()
    results = []
    for shape_name in args.shape or ["baby", "gpt2"]:
        shape = SHAPES[shape_name]
        for batch_size in args.batch_size:
            run = benchmark(
                shape,
                batch_size,
                args.prompt_tokens,
                args.new_tokens,
                args.repeats,
                args.uncached,
                device,
                dtype,
            )
            results.append({"shape": shape_name, **asdict(shape), **run})
    report = {
        "benchmark": "generation",
        "command": "python benchmarks/generation.py " + " ".join(argv or sys.argv[1:]),
        "decoding": "greedy",
        "dtype": str(dtype).removeprefix("torch."),
        "prompt_tokens": args.prompt_tokens,
        "new_tokens": args.new_tokens,
        "repeats": args.repeats,
        "device": str(device),
        "threads": torch.get_num_threads(),
        "load_average": {"before": load_before, "after": load_average()},
        "results": results,
        "hardware": hardware_info(device),
        "software": software_info(),
    }
    emit(report, Path(args.out) if args.out else RESULTS / f"generation-{device.type}.json")
    return report


if __name__ == "__main__":
    main()
