"""Training throughput and model FLOPs utilisation: MiniGPT side by side with its peers.

For each model size, every implementation trains at the same hyperparameters, precision
and compile setting in the same process: MiniGPT, Hugging Face `transformers`'
GPT2LMHeadModel (sdpa attention) and rasbt's `llms-from-scratch` GPTModel (install with
`pip install --no-deps llms-from-scratch`). Missing peers are reported as skipped.

    python benchmarks/train_throughput.py                      # both sizes, on the GPU
    python benchmarks/train_throughput.py --size tiny --steps 3  # what CI runs on a CPU

FLOPs per token use the standard estimate 6·N + 12·L·C·T (N parameters without the
positional table, L layers, C width, T context; PaLM appendix B). MFU divides the achieved
FLOP/s by the GPU's dense bf16 peak; on a CPU there is no meaningful peak and MFU is null.
Prints one JSON object; `--out FILE` also writes it.
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from report import emit
from torch import nn
from torch.nn import functional as F

from minigpt import MiniGPT, MiniGPTConfig

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


SIZES = {
    # nanoGPT's character-level Shakespeare baseline (vocab 65 padded to 128 for MiniGPT).
    "shakespeare-char": Size(65, 256, 384, 6, 6, batch_size=64, dropout=0.2),
    # GPT-2 small at nanoGPT's padded vocabulary.
    "gpt2-124m": Size(50304, 1024, 768, 12, 12, batch_size=16),
    # Small enough for a CPU: keeps the script working in CI.
    "tiny": Size(256, 64, 64, 4, 2, batch_size=4),
}


def build_minigpt(size: Size) -> nn.Module:
    config = MiniGPTConfig(
        vocab_size=size.vocab_size,
        block_size=size.block_size,
        embed_dim=size.embed_dim,
        num_heads=size.num_heads,
        num_layers=size.num_layers,
        dropout=size.dropout,
        vocab_multiple=64,
    )
    model = MiniGPT(config)

    def loss_fn(ids: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return model(ids, targets)[1]

    return model, loss_fn


def build_transformers(size: Size):
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


def build_llms_from_scratch(size: Size):
    from llms_from_scratch.ch04 import GPTModel

    model = GPTModel(
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


IMPLEMENTATIONS: dict[str, Callable] = {
    "minigpt": build_minigpt,
    "transformers": build_transformers,
    "llms-from-scratch": build_llms_from_scratch,
}


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


def measure(
    name: str, size: Size, device: torch.device, steps: int, warmup: int, compile_model: bool
) -> dict:
    torch.manual_seed(0)
    try:
        model, loss_fn = IMPLEMENTATIONS[name](size)
    except ImportError as err:
        return {"implementation": name, "skipped": f"not installed: {err}"}
    model.to(device).train()
    cuda = device.type == "cuda"
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.1, fused=cuda)
    step_loss = torch.compile(loss_fn) if compile_model else loss_fn
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=cuda)
    shape = (size.batch_size, size.block_size)
    ids = torch.randint(0, size.vocab_size, shape, device=device)
    targets = torch.randint(0, size.vocab_size, shape, device=device)

    def train_step() -> torch.Tensor:
        with autocast:
            loss = step_loss(ids, targets)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss

    for _ in range(warmup):  # compilation, autotuning, allocator warm-up
        train_step()
    if cuda:
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        loss = train_step()
    final_loss = loss.item()  # the only host sync: after the timed steps
    seconds = time.perf_counter() - start
    tokens_per_sec = steps * size.batch_size * size.block_size / seconds
    flops = flops_per_token(model, size)
    peak = peak_flops(device)
    return {
        "implementation": name,
        "parameters": sum(p.numel() for p in model.parameters()),
        "tokens_per_sec": round(tokens_per_sec, 1),
        "step_ms": round(1000 * seconds / steps, 2),
        "flops_per_token": flops,
        "mfu": round(flops * tokens_per_sec / peak, 4) if peak else None,
        "final_loss": round(final_loss, 4),
        "peak_memory_gib": round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
        if cuda
        else None,
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--size",
        choices=sorted(SIZES),
        action="append",
        help="model size (repeatable; default: shakespeare-char and gpt2-124m)",
    )
    parser.add_argument(
        "--implementations",
        default=",".join(IMPLEMENTATIONS),
        help="comma-separated subset of " + ", ".join(IMPLEMENTATIONS),
    )
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument(
        "--compile",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="torch.compile every model (default: on for CUDA)",
    )
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    compile_model = device.type == "cuda" if args.compile is None else args.compile
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    unknown = set(args.implementations.split(",")) - set(IMPLEMENTATIONS)
    if unknown:
        parser.error(f"unknown implementation(s): {', '.join(sorted(unknown))}")
    results = []
    for size_name in args.size or ["shakespeare-char", "gpt2-124m"]:
        size = SIZES[size_name]
        runs = [
            measure(name, size, device, args.steps, args.warmup, compile_model)
            for name in args.implementations.split(",")
        ]
        ours = next((r for r in runs if r["implementation"] == "minigpt"), None)
        for run in runs:
            if ours and "tokens_per_sec" in run and run is not ours:
                run["minigpt_speedup"] = round(ours["tokens_per_sec"] / run["tokens_per_sec"], 3)
        results.append({"size": size_name, **size.__dict__, "runs": runs})
    report = {
        "benchmark": "train_throughput",
        "device": torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "precision": "bf16 autocast" if device.type == "cuda" else "fp32",
        "compile": compile_model,
        "steps": args.steps,
        "results": results,
    }
    emit(report, args.out)
    return report


if __name__ == "__main__":
    main()
