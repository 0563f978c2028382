"""Training and evaluation throughput: MiniGPT side by side with its peers, round-robin.

Every implementation trains the same configuration on the same batch with the same AdamW, in
the same process: MiniGPT, Hugging Face `transformers`' GPT2LMHeadModel (sdpa attention),
rasbt's `llms-from-scratch` GPTModelFast (`pip install --no-deps llms-from-scratch`) and,
when MINIGPT_NANOGPT_MODEL points at a copy of nanoGPT's model.py, nanoGPT's GPT (never
committed here: https://github.com/karpathy/nanoGPT). Missing peers are reported as skipped.

    python benchmarks/train_throughput.py                       # CPU: baby and small sizes
    python benchmarks/train_throughput.py --threads 1 --rounds 7  # steadier on a shared CPU
    python benchmarks/train_throughput.py --size tiny --steps 1   # what the tests run

Two things are timed: a train step (forward, loss, backward, gradient clipping, AdamW step)
and an eval forward (forward and loss, no gradients, dropout off). The implementations take
turns (round-robin), `--rounds` times, so a burst of load elsewhere on the machine hits all
of them; the report gives the best and the median round. Besides wall-clock tokens/s it
reports tokens per second of *process CPU time*, which other processes on a shared machine
barely disturb (at one thread; more threads add their busy-waiting to it). The load average
is recorded with the result.

FLOPs per token use the standard estimate 6·N + 12·L·C·T (N parameters without the
positional table, L layers, C width, T context; PaLM appendix B). MFU divides the achieved
FLOP/s by the GPU's dense bf16 peak; on a CPU there is no meaningful peak and MFU is null.
Prints one JSON object; `--out FILE` also writes it.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from report import emit, load_average
from torch import nn
from torch.nn import functional as F

from minigpt import MiniGPT, MiniGPTConfig

NANOGPT_MODEL_ENV = "MINIGPT_NANOGPT_MODEL"

# Dense bf16 peak FLOP/s by device-name fragment (vendor datasheets, no sparsity).
PEAK_BF16_FLOPS = {
    "H200": 989e12,
    "H100 SXM": 989e12,
    "H100 NVL": 835e12,
    "H100 PCIe": 756e12,
    "H100": 989e12,
    "A100": 312e12,
    "L40S": 362e12,
    "A10": 125e12,
    "RTX 4090": 165e12,
}


@dataclass(frozen=True)
class Size:
    vocab_size: int
    block_size: int
    embed_dim: int
    num_heads: int
    num_layers: int
    batch_size: int
    dropout: float = 0.0
    steps: int = 10  # per timed chunk, unless --steps says otherwise: a few seconds each


SIZES = {
    # The shakespeare-char-cpu preset's model ("baby GPT") at batch 12.
    "baby": Size(65, 64, 128, 4, 4, batch_size=12, steps=20),
    # nanoGPT's character-level Shakespeare model at a CPU-sized batch.
    "small": Size(65, 256, 384, 6, 6, batch_size=8, steps=3),
    # nanoGPT's character-level Shakespeare baseline, for a GPU.
    "shakespeare-char": Size(65, 256, 384, 6, 6, batch_size=64, dropout=0.2),
    # GPT-2 small at nanoGPT's padded vocabulary.
    "gpt2-124m": Size(50304, 1024, 768, 12, 12, batch_size=16),
    # Small enough to keep the script tested in CI.
    "tiny": Size(256, 64, 64, 4, 2, batch_size=4, steps=3),
}
DEFAULT_SIZES = {"cpu": ["baby", "small"], "cuda": ["shakespeare-char", "gpt2-124m"]}

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def build_minigpt(size: Size) -> tuple[nn.Module, LossFn]:
    config = MiniGPTConfig(
        vocab_size=size.vocab_size,
        block_size=size.block_size,
        embed_dim=size.embed_dim,
        num_heads=size.num_heads,
        num_layers=size.num_layers,
        dropout=size.dropout,
    )
    model = MiniGPT(config)

    def loss_fn(ids: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return model(ids, targets)[1]

    return model, loss_fn


def build_nanogpt(size: Size) -> tuple[nn.Module, LossFn]:
    path = os.environ.get(NANOGPT_MODEL_ENV)
    if not path:
        raise ImportError(f"set {NANOGPT_MODEL_ENV} to the path of nanoGPT's model.py")
    spec = importlib.util.spec_from_file_location("nanogpt_model", path)
    if spec is None or not Path(path).is_file():
        raise ImportError(f"{NANOGPT_MODEL_ENV}={path} is not a file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses and torch.compile look it up there
    spec.loader.exec_module(module)
    config = module.GPTConfig(
        block_size=size.block_size,
        vocab_size=size.vocab_size,
        n_layer=size.num_layers,
        n_head=size.num_heads,
        n_embd=size.embed_dim,
        dropout=size.dropout,
        bias=True,
    )
    with contextlib.redirect_stdout(sys.stderr):  # it prints its parameter count
        model = module.GPT(config)

    def loss_fn(ids: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return model(ids, targets)[1]

    return model, loss_fn


def build_transformers(size: Size) -> tuple[nn.Module, LossFn]:
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(
        vocab_size=size.vocab_size,
        n_positions=size.block_size,
        n_embd=size.embed_dim,
        n_layer=size.num_layers,
        n_head=size.num_heads,
        resid_pdrop=size.dropout,
        embd_pdrop=size.dropout,
        attn_pdrop=size.dropout,
        bos_token_id=0,
        eos_token_id=0,
    )
    config._attn_implementation = "sdpa"
    model = GPT2LMHeadModel(config)

    def loss_fn(ids: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        logits = model(input_ids=ids).logits
        return F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten())

    return model, loss_fn


def build_llms_from_scratch(size: Size) -> tuple[nn.Module, LossFn]:
    from llms_from_scratch.ch04 import GPTModelFast

    model = GPTModelFast(
        {
            "vocab_size": size.vocab_size,
            "context_length": size.block_size,
            "emb_dim": size.embed_dim,
            "n_heads": size.num_heads,
            "n_layers": size.num_layers,
            "drop_rate": size.dropout,
            "qkv_bias": True,
        }
    )

    def loss_fn(ids: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(model(ids).flatten(0, 1).float(), targets.flatten())

    return model, loss_fn


IMPLEMENTATIONS: dict[str, Callable[[Size], tuple[nn.Module, LossFn]]] = {
    "minigpt": build_minigpt,
    "nanogpt": build_nanogpt,
    "transformers": build_transformers,
    "llms-from-scratch": build_llms_from_scratch,
}
PEERS = tuple(name for name in IMPLEMENTATIONS if name != "minigpt")


def flops_per_token(model: nn.Module, size: Size) -> float:
    """6·N + 12·L·C·T, with N the parameters except the positional table."""
    positional = size.block_size * size.embed_dim
    params = sum(p.numel() for p in model.parameters()) - positional
    return 6 * params + 12 * size.num_layers * size.embed_dim * size.block_size


def peak_flops(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((peak for key, peak in PEAK_BF16_FLOPS.items() if key in name), None)


class Contestant:
    """One implementation, ready to run timed chunks of train steps and eval forwards."""

    def __init__(
        self, name: str, size: Size, device: torch.device, compile_model: bool, fused: bool
    ) -> None:
        self.name = name
        torch.manual_seed(0)
        self.model, loss_fn = IMPLEMENTATIONS[name](size)
        self.model.to(device)
        self.device = device
        # The same AdamW for everyone (one flat group, as in the original benchmark).
        self.optimizer = torch.optim.AdamW(
            self.model.parameters(), lr=1e-4, weight_decay=0.1, fused=fused
        )
        self.loss_fn = torch.compile(loss_fn) if compile_model else loss_fn
        self.autocast = torch.autocast(
            device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"
        )
        generator = torch.Generator().manual_seed(0)  # the same batch for every contestant
        shape = (size.batch_size, size.block_size)
        self.ids = torch.randint(0, size.vocab_size, shape, generator=generator).to(device)
        self.targets = torch.randint(0, size.vocab_size, shape, generator=generator).to(device)
        self.times: dict[str, list[tuple[float, float]]] = {"train": [], "eval": []}
        self.last_loss: dict[str, torch.Tensor] = {}

    def train_step(self) -> torch.Tensor:
        with self.autocast:
            loss = self.loss_fn(self.ids, self.targets)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return loss.detach()

    @torch.no_grad()
    def eval_forward(self) -> torch.Tensor:
        with self.autocast:
            return self.loss_fn(self.ids, self.targets)

    def run(self, mode: str, steps: int, record: bool = True) -> None:
        """`steps` train steps or eval forwards; with `record`, keep (wall, CPU) seconds."""
        if steps == 0:
            return
        self.model.train(mode == "train")
        work = self.train_step if mode == "train" else self.eval_forward
        synchronize(self.device)
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(steps):
            loss = work()
        synchronize(self.device)  # the only host sync: after the timed steps
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        self.last_loss[mode] = loss
        if record:
            self.times[mode].append((wall, cpu))


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def rates(seconds: list[float], tokens: int) -> dict[str, float]:
    """Tokens/s of the best and of the median chunk."""
    return {
        "best": round(tokens / min(seconds), 1),
        "median": round(tokens / statistics.median(seconds), 1),
    }


def summary(contestant: Contestant, size: Size, steps: int) -> dict:
    tokens = steps * size.batch_size * size.block_size
    model, device = contestant.model, contestant.device
    flops = flops_per_token(model, size)
    peak = peak_flops(device)
    result: dict = {
        "implementation": contestant.name,
        "parameters": sum(p.numel() for p in model.parameters()),
        "flops_per_token": flops,
    }
    for mode, times in contestant.times.items():
        wall = rates([w for w, _ in times], tokens)
        cpu = rates([c for _, c in times], tokens)
        result[mode] = {
            "tokens_per_sec": wall,
            "tokens_per_cpu_sec": cpu,
            "step_ms": round(1000 * min(w for w, _ in times) / steps, 2),
            "loss": round(contestant.last_loss[mode].item(), 4),
        }
        if mode == "train":
            result[mode]["mfu"] = round(flops * wall["best"] / peak, 4) if peak else None
    if device.type == "cuda":
        result["peak_memory_gib"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
    return result


def speedups(runs: list[dict]) -> dict:
    """MiniGPT's rate over each peer's and over the fastest peer's, per mode and measure."""
    ours = next((r for r in runs if r["implementation"] == "minigpt"), None)
    peers = [r for r in runs if r["implementation"] != "minigpt" and "skipped" not in r]
    if ours is None or not peers:
        return {}
    table: dict = {}
    for mode in ("train", "eval"):
        for measure in ("tokens_per_sec", "tokens_per_cpu_sec"):
            for stat in ("best", "median"):
                key = f"{mode}.{measure}.{stat}"
                mine = ours[mode][measure][stat]
                by_peer = {p["implementation"]: mine / p[mode][measure][stat] for p in peers}
                fastest = min(by_peer, key=by_peer.get)
                table[key] = {
                    **{name: round(ratio, 3) for name, ratio in by_peer.items()},
                    "vs_fastest_peer": round(by_peer[fastest], 3),
                    "fastest_peer": fastest,
                }
    return table


def benchmark_size(
    size: Size,
    names: list[str],
    device: torch.device,
    steps: int,
    warmup: int,
    rounds: int,
    compile_model: bool,
    fused: bool,
) -> list[dict]:
    contestants, skipped = [], []
    for name in names:
        try:
            contestants.append(Contestant(name, size, device, compile_model, fused))
        except ImportError as err:
            skipped.append({"implementation": name, "skipped": f"not installed: {err}"})
    for contestant in contestants:  # compilation, autotuning, allocator warm-up
        for mode in ("train", "eval"):
            contestant.run(mode, warmup, record=False)
    for _ in range(rounds):  # round-robin: every contestant once per round
        for contestant in contestants:
            for mode in ("train", "eval"):
                contestant.run(mode, steps)
    return [summary(c, size, steps) for c in contestants] + skipped


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--size",
        choices=sorted(SIZES),
        action="append",
        help="model size (repeatable; default: baby and small on a CPU, "
        "shakespeare-char and gpt2-124m on a GPU)",
    )
    parser.add_argument(
        "--implementations",
        default=",".join(IMPLEMENTATIONS),
        help="comma-separated subset of " + ", ".join(IMPLEMENTATIONS),
    )
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--steps", type=int, help="steps per timed chunk (default: by size)")
    parser.add_argument("--rounds", type=int, default=5, help="timed chunks per implementation")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    parser.add_argument(
        "--compile",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="torch.compile every model (default: on for CUDA)",
    )
    parser.add_argument(
        "--fused-adamw",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="AdamW(fused=True) for every implementation (default: on)",
    )
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    compile_model = device.type == "cuda" if args.compile is None else args.compile
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    names = args.implementations.split(",")
    unknown = set(names) - set(IMPLEMENTATIONS)
    if unknown:
        parser.error(f"unknown implementation(s): {', '.join(sorted(unknown))}")
    load_before = load_average()
    results = []
    for size_name in args.size or DEFAULT_SIZES.get(device.type, ["tiny"]):
        size = SIZES[size_name]
        steps = args.steps or size.steps
        runs = benchmark_size(
            size,
            names,
            device,
            steps,
            args.warmup,
            args.rounds,
            compile_model,
            args.fused_adamw,
        )
        result = {"size": size_name, **asdict(size), "runs": runs}
        result["steps"] = steps  # per timed chunk
        results.append(result | {"minigpt_speedup": speedups(runs)})
    report = {
        "benchmark": "train_throughput",
        "command": "python benchmarks/train_throughput.py " + " ".join(argv or sys.argv[1:]),
        "device": torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "precision": "bf16 autocast" if device.type == "cuda" else "fp32",
        "compile": compile_model,
        "fused_adamw": args.fused_adamw,
        "rounds": args.rounds,
        "load_average": {"before": load_before, "after": load_average()},
        "results": results,
    }
    emit(report, args.out)
    return report


if __name__ == "__main__":
    main()
