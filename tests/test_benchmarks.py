"""The benchmarks keep working on a CPU at tiny sizes (their numbers are not asserted)."""

import importlib.util
import sys
from pathlib import Path

import torch

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def load(name: str):
    if str(BENCHMARKS) not in sys.path:  # as when run as a script: report.py sits beside it
        sys.path.insert(0, str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


def test_train_throughput_runs_every_implementation_on_cpu(tmp_path):
    bench = load("train_throughput")
    report = bench.main(
        [
            "--size",
            "tiny",
            "--steps",
            "1",
            "--warmup",
            "0",
            "--device",
            "cpu",
            "--out",
            str(tmp_path / "result.json"),
        ]
    )
    assert (tmp_path / "result.json").is_file()
    runs = {run["implementation"]: run for run in report["results"][0]["runs"]}
    assert set(runs) == {"minigpt", "transformers", "llms-from-scratch"}
    ours = runs["minigpt"]
    assert ours["tokens_per_sec"] > 0 and ours["mfu"] is None  # no peak FLOP/s for a CPU
    # 6·N + 12·L·C·T with N = all parameters but the positional table.
    size = bench.SIZES["tiny"]
    n = ours["parameters"] - size.block_size * size.embed_dim
    assert ours["flops_per_token"] == 6 * n + 12 * size.num_layers * size.embed_dim * 64
    for peer in ("transformers", "llms-from-scratch"):
        run = runs[peer]
        assert "skipped" in run or run["minigpt_speedup"] > 0, run


def test_peak_flops_lookup():
    bench = load("train_throughput")
    assert bench.peak_flops(torch.device("cpu")) is None
    assert bench.PEAK_BF16_FLOPS["H100 SXM"] == 989e12
