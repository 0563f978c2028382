"""Training throughput (tokens/s) of each preset on this machine (JSON to stdout and results/).

Each preset trains for a few warm-up steps (which include torch.compile, when the preset uses
it) and then a few measured steps; the reported number is the median tokens/s of the measured
steps. Evaluation and checkpoints are turned off. On a CPU the GPU presets are slow, so they run
fewer steps and without torch.compile unless --compile is given.

    python benchmarks/train_presets.py [--presets shakespeare-char-cpu ...] [--device auto]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch
from report import RESULTS, emit

from minigpt.training import (
    PRESETS,
    StepInfo,
    hardware_info,
    make_config,
    resolve_device,
    software_info,
    train,
)


def measure(
    preset: str, device: torch.device, warmup: int, steps: int, compile_model: bool | None
) -> dict:
    samples: list[float] = []

    def record(info: StepInfo) -> None:
        if info.step > warmup and info.tokens_per_sec is not None:
            samples.append(info.tokens_per_sec)

    with tempfile.TemporaryDirectory() as out_dir:
        overrides = dict(
            max_iters=warmup + steps,
            log_interval=1,
            eval_interval=10**9,
            eval_iters=1,
            checkpoints=False,
            progress=False,
            out_dir=out_dir,
            device=str(device),
        )
        if compile_model is not None:
            overrides["compile"] = compile_model
        config = make_config(preset, overrides=overrides)
        started = time.perf_counter()
        result = train(config, callbacks=[record])
        seconds = time.perf_counter() - started
    return {
        "preset": preset,
        "tokens_per_sec": round(statistics.median(samples), 1),
        "tokens_per_step": result.summary["tokens_per_step"],
        "num_parameters": result.summary["num_parameters"],
        "warmup_steps": warmup,
        "measured_steps": steps,
        "compiled": result.summary["compiled"],
        "dtype": result.summary["dtype"],
        "seconds_total": round(seconds, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--presets", nargs="+", default=sorted(PRESETS), choices=sorted(PRESETS))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--warmup", type=int, default=None, help="warm-up steps per preset")
    parser.add_argument("--steps", type=int, default=None, help="measured steps per preset")
    parser.add_argument(
        "--compile",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="override the presets' torch.compile setting",
    )
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--out", default=None, help="result file (default: results/...)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    results = []
    for preset in args.presets:
        small = preset.endswith("-cpu")
        on_cpu = device.type == "cpu"
        warmup = args.warmup if args.warmup is not None else (5 if small or not on_cpu else 1)
        steps = args.steps if args.steps is not None else (20 if small or not on_cpu else 2)
        compile_model = args.compile
        if compile_model is None and on_cpu:
            compile_model = False  # inductor on a CPU takes minutes to compile
        results.append(measure(preset, device, warmup, steps, compile_model))
        print(json.dumps(results[-1]), flush=True)
    summary = {
        "benchmark": "train_presets",
        "device": str(device),
        "results": results,
        "hardware": hardware_info(device),
        "software": software_info(),
    }
    emit(summary, Path(args.out) if args.out else RESULTS / f"train_presets-{device.type}.json")


if __name__ == "__main__":
    main()
