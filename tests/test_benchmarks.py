"""The benchmarks keep working on a CPU at tiny sizes (their numbers are not asserted)."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"

# A stand-in with nanoGPT's interface (GPTConfig, GPT(config), forward(idx, targets) →
# (logits, loss), a parameter count printed to stdout), so the MINIGPT_NANOGPT_MODEL path is
# tested without nanoGPT's code in the repository.
NANOGPT_STAND_IN = """
from dataclasses import dataclass

from minigpt import MiniGPT, MiniGPTConfig


@dataclass
class GPTConfig:
    block_size: int
    vocab_size: int
    n_layer: int
    n_head: int
    n_embd: int
    dropout: float = 0.0
    bias: bool = True


class GPT(MiniGPT):
    def __init__(self, config):
        super().__init__(
            MiniGPTConfig(
                vocab_size=config.vocab_size,
                block_size=config.block_size,
                embed_dim=config.n_embd,
                num_heads=config.n_head,
                num_layers=config.n_layer,
                dropout=config.dropout,
            )
        )
        print("number of parameters: %.2fM" % (self.num_parameters() / 1e6,))
"""


def load(name: str):
    if str(BENCHMARKS) not in sys.path:  # as when run as a script: report.py sits beside it
        sys.path.insert(0, str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


def run_tiny_train_throughput(tmp_path, monkeypatch, implementations: str) -> dict:
    """train_throughput's report at the tiny size, nanoGPT played by a stand-in."""
    bench = load("train_throughput")
    stand_in = tmp_path / "model.py"
    stand_in.write_text(NANOGPT_STAND_IN, encoding="utf-8")
    monkeypatch.setenv(bench.NANOGPT_MODEL_ENV, str(stand_in))
    argv = ["--size", "tiny", "--steps", "1", "--rounds", "2", "--warmup", "0", "--threads", "1"]
    argv += ["--device", "cpu", "--implementations", implementations]
    return bench.main(argv + ["--out", str(tmp_path / "result.json")])


def test_train_throughput_runs_every_implementation_round_robin(tmp_path, monkeypatch, capsys):
    # The optional peer is absent here whether or not it is installed: it is reported as
    # skipped, with its reason, and every other implementation still runs.
    monkeypatch.setitem(sys.modules, "llms_from_scratch", None)
    bench = load("train_throughput")
    report = run_tiny_train_throughput(tmp_path, monkeypatch, ",".join(bench.IMPLEMENTATIONS))
    # stdout is exactly the JSON report: the stand-in's print went to stderr.
    assert json.loads(capsys.readouterr().out) == report
    assert json.loads((tmp_path / "result.json").read_text()) == report
    assert report["threads"] == 1 and len(report["load_average"]["before"]) == 3
    (result,) = report["results"]
    runs = {run["implementation"]: run for run in result["runs"]}
    assert set(runs) == {"minigpt", "nanogpt", "transformers", "llms-from-scratch"}
    assert runs["llms-from-scratch"]["skipped"].startswith("not installed: ")
    ours = runs["minigpt"]
    for mode in ("train", "eval"):
        for measure in ("tokens_per_sec", "tokens_per_cpu_sec"):
            assert ours[mode][measure]["best"] >= ours[mode][measure]["median"] > 0
    assert ours["train"]["mfu"] is None  # no peak FLOP/s for a CPU
    # 6·N + 12·L·C·T with N = all parameters but the positional table.
    size = bench.SIZES["tiny"]
    n = ours["parameters"] - size.block_size * size.embed_dim
    assert ours["flops_per_token"] == 6 * n + 12 * size.num_layers * size.embed_dim * 64
    # The stand-in is MiniGPT itself: same weights from the same seed, same losses.
    assert runs["nanogpt"]["eval"]["loss"] == ours["eval"]["loss"]
    speedup = result["minigpt_speedup"]["train.tokens_per_cpu_sec.best"]
    measured = {"nanogpt", "transformers"}
    assert set(speedup) == measured | {"vs_fastest_peer", "fastest_peer"}
    assert speedup["vs_fastest_peer"] == min(speedup[p] for p in measured)


def test_train_throughput_runs_llms_from_scratch_when_installed(tmp_path, monkeypatch):
    pytest.importorskip(
        "llms_from_scratch",
        reason="optional benchmark peer, not installed (pip install --no-deps llms-from-scratch)",
    )
    report = run_tiny_train_throughput(tmp_path, monkeypatch, "minigpt,llms-from-scratch")
    (result,) = report["results"]
    rasbt = result["runs"][1]
    assert rasbt["implementation"] == "llms-from-scratch" and "skipped" not in rasbt
    assert rasbt["train"]["tokens_per_sec"]["best"] > 0
    assert set(result["minigpt_speedup"]["train.tokens_per_cpu_sec.best"]) == {
        "llms-from-scratch",
        "vs_fastest_peer",
        "fastest_peer",
    }


def test_train_throughput_skips_nanogpt_without_its_model(monkeypatch):
    bench = load("train_throughput")
    monkeypatch.delenv(bench.NANOGPT_MODEL_ENV, raising=False)
    argv = ["--size", "tiny", "--steps", "1", "--rounds", "1", "--warmup", "0"]
    report = bench.main(argv + ["--device", "cpu", "--implementations", "minigpt,nanogpt"])
    nanogpt = report["results"][0]["runs"][1]
    assert nanogpt["implementation"] == "nanogpt"
    assert bench.NANOGPT_MODEL_ENV in nanogpt["skipped"]
    assert report["results"][0]["minigpt_speedup"] == {}


def test_peak_flops_lookup():
    bench = load("train_throughput")
    assert bench.peak_flops(torch.device("cpu")) is None
    assert bench.PEAK_BF16_FLOPS["H100 SXM"] == 989e12


def test_generation_compares_with_transformers_greedy(tmp_path):
    bench = load("generation")
    out = tmp_path / "generation.json"
    argv = ["--shape", "tiny", "--new-tokens", "6", "--repeats", "1", "--batch-size", "1", "3"]
    report = bench.main(
        argv + ["--device", "cpu", "--threads", "1", "--uncached"] + ["--out", str(out)]
    )
    assert json.loads(out.read_text()) == report
    assert [r["batch_size"] for r in report["results"]] == [1, 3]
    for result in report["results"]:
        runs = result["runs"]
        assert set(runs) == {"minigpt", "transformers", "minigpt-no-cache"}
        # Greedy decoding picks the same tokens with and without the cache, and as HF does.
        assert all(run["same_tokens_as_minigpt"] for run in runs.values())
        assert result["minigpt_speedup_vs_transformers"]["tokens_per_cpu_sec.best"] > 0
