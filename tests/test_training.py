"""The training loop: configuration, optimizer, schedule, checkpoints, exact resume, DDP."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from minigpt import MiniGPT, MiniGPTConfig, training
from minigpt.generation import generate_text
from minigpt.training import (
    PRESETS,
    StepInfo,
    TrainConfig,
    TrainingDiverged,
    clean_state_dict,
    configure_optimizer,
    learning_rate_at,
    load_checkpoint,
    load_model,
    make_config,
    rng_state,
    set_rng_state,
    train,
    unwrap_model,
)

pytestmark = pytest.mark.usefixtures("one_thread", "private_cache")


def tiny_config(corpus: Path, out_dir: Path, **overrides) -> TrainConfig:
    """A model and run small enough for a test: one block of 16 dimensions, a few steps."""
    values = dict(
        data=str(corpus),
        tokenizer="char",
        block_size=8,
        embed_dim=16,
        num_heads=2,
        num_layers=1,
        dropout=0.1,
        batch_size=4,
        max_iters=8,
        warmup_iters=2,
        learning_rate=1e-2,
        min_lr=1e-3,
        eval_interval=4,
        eval_iters=2,
        log_interval=1,
        device="cpu",
        seed=0,
        out_dir=str(out_dir),
        progress=False,
    )
    values.update(overrides)
    return TrainConfig(**values)


def read_metrics(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


# -- configuration -----------------------------------------------------------------------


def test_presets_are_valid_and_the_gpu_preset_is_nanogpts_baseline():
    for name in PRESETS:
        make_config(name)
    gpu = make_config("shakespeare-char")
    assert (gpu.num_layers, gpu.num_heads, gpu.embed_dim, gpu.block_size) == (6, 6, 384, 256)
    assert (gpu.dropout, gpu.batch_size, gpu.learning_rate, gpu.max_iters) == (0.2, 64, 1e-3, 5000)
    assert gpu.tokenizer == "char"
    cpu = make_config("shakespeare-char-cpu")
    assert (cpu.num_layers, cpu.num_heads, cpu.embed_dim, cpu.block_size) == (4, 4, 128, 64)
    assert make_config("shakespeare-gpt2").tokenizer == "gpt2"


def test_settings_combine_preset_then_toml_then_overrides(tmp_path):
    toml = tmp_path / "run.toml"
    toml.write_text('batch_size = 7\nlearning-rate = 3e-4\nmax_iters = 10\ndata = "x.txt"\n')
    config = make_config("shakespeare-char-cpu", toml, {"max_iters": 20})
    assert config.batch_size == 7 and config.learning_rate == 3e-4  # TOML beats the preset
    assert config.max_iters == 20  # a flag beats TOML
    assert config.embed_dim == 128  # untouched preset value
    assert config.data == "x.txt"


def test_bad_settings_are_clear_errors(tmp_path):
    toml = tmp_path / "bad.toml"
    toml.write_text("batch_sise = 7\n")
    with pytest.raises(ValueError, match=r"unknown setting\(s\) in config file .*: batch_sise"):
        make_config(toml=toml)
    toml.write_text("batch_size = \n")
    with pytest.raises(ValueError, match="is not valid TOML"):
        make_config(toml=toml)
    with pytest.raises(FileNotFoundError, match="config file .* not found"):
        make_config(toml=tmp_path / "missing.toml")
    with pytest.raises(ValueError, match="unknown preset 'gpt5'"):
        make_config("gpt5")
    with pytest.raises(ValueError, match="batch_size must be int, got '8'"):
        TrainConfig(batch_size="8")
    with pytest.raises(ValueError, match="batch_size must be at least 1"):
        TrainConfig(batch_size=0)
    with pytest.raises(ValueError, match="min_lr .* must not exceed learning_rate"):
        TrainConfig(learning_rate=1e-4, min_lr=1e-3)
    with pytest.raises(ValueError, match="dtype must be"):
        TrainConfig(dtype="float8")
    with pytest.raises(ValueError, match="embed_dim .* divisible by num_heads"):
        TrainConfig(embed_dim=10, num_heads=3)
    assert TrainConfig(learning_rate=1).learning_rate == 1.0  # TOML ints are fine for floats


def test_unknown_device_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown device 'gpu'"):
        training.resolve_device("gpu")
    assert training.resolve_device("cpu") == torch.device("cpu")
    assert training.resolve_dtype("auto", torch.device("cpu")) == torch.float32


# -- optimizer and schedule --------------------------------------------------------------


def test_weight_decay_applies_only_to_linear_weight_matrices():
    model = MiniGPT(
        MiniGPTConfig(vocab_size=11, block_size=8, embed_dim=16, num_heads=2, num_layers=2)
    )
    optimizer = configure_optimizer(model, TrainConfig(weight_decay=0.1), torch.device("cpu"))
    decay, no_decay = optimizer.param_groups
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    names = {id(p): n for n, p in model.named_parameters()}
    decayed = sorted(names[id(p)] for p in decay["params"])
    assert all(
        n.endswith(("qkv.weight", "attention.output.weight", "expand.weight", "project.weight"))
        for n in decayed
    )
    assert len(decayed) == 4 * 2
    not_decayed = {names[id(p)] for p in no_decay["params"]}
    assert {"token_embedding.weight", "position_embedding.weight"} <= not_decayed
    assert model.output.weight is model.token_embedding.weight  # tied: counted once, no decay
    total = sum(p.numel() for group in optimizer.param_groups for p in group["params"])
    assert total == model.num_parameters()


def test_learning_rate_warms_up_then_follows_a_cosine():
    config = TrainConfig(learning_rate=1.0, min_lr=0.1, warmup_iters=10, max_iters=110)
    assert learning_rate_at(0, config) == pytest.approx(0.1)
    assert learning_rate_at(4, config) == pytest.approx(0.5)
    assert learning_rate_at(9, config) == pytest.approx(1.0)
    assert learning_rate_at(10, config) == pytest.approx(1.0)
    assert learning_rate_at(60, config) == pytest.approx(0.55)  # halfway: the mean
    assert learning_rate_at(110, config) == pytest.approx(0.1)
    assert learning_rate_at(500, config) == pytest.approx(0.1)
    after_warmup = [learning_rate_at(s, config) for s in range(10, 111)]
    assert all(a >= b for a, b in zip(after_warmup, after_warmup[1:], strict=False))
    config = replace(config, lr_decay_iters=60)
    assert learning_rate_at(35, config) == pytest.approx(0.1 + 0.9 * 0.5)
    assert learning_rate_at(70, config) == pytest.approx(0.1)


# -- the loop ----------------------------------------------------------------------------


def test_train_writes_metrics_checkpoint_and_summary(corpus, tmp_path):
    seen: list[StepInfo] = []
    result = train(tiny_config(corpus, tmp_path / "run"), callbacks=[seen.append])
    assert result.step == 8 and [info.step for info in seen] == list(range(1, 9))
    assert result.val_loss is not None and result.val_loss < math.log(result.tokenizer.vocab_size)
    assert result.model.training is False
    records = read_metrics(result.metrics_path)
    keys = {"kind", "step", "time", "lr", "train_loss", "val_loss", "tokens_per_sec"}
    assert all(set(r) == keys for r in records)
    evals = [r for r in records if r["kind"] == "eval"]
    assert [r["step"] for r in evals] == [0, 4, 8]
    assert evals[-1]["val_loss"] < evals[0]["val_loss"]
    assert [r["step"] for r in records if r["kind"] == "train"] == list(range(1, 9))
    summary = json.loads(result.run_path.read_text())
    assert summary["final_val_loss"] == result.val_loss == evals[-1]["val_loss"]
    assert summary["steps"] == 8 and summary["config"]["max_iters"] == 8
    assert summary["tokens_per_sec"] > 0 and summary["wall_time_s"] > 0
    assert {"cpu", "cpu_cores"} <= set(summary["hardware"])
    assert summary["software"]["torch"] == torch.__version__
    payload = load_checkpoint(result.checkpoint_path)  # weights_only=True
    assert payload["step"] == 8
    assert payload["tokenizer"] == result.tokenizer.to_dict()
    assert payload["train_config"]["embed_dim"] == 16
    assert {"torch", "numpy", "python", "sampler"} <= set(payload["rng"][0])


def test_the_loop_waits_for_the_device_only_at_log_steps(corpus, tmp_path, monkeypatch):
    calls = []
    original = torch.Tensor.item

    def counting_item(self):  # count the loop's own syncs (AdamW on a CPU has its own)
        if sys._getframe(1).f_code.co_filename == training.loop.__file__:
            calls.append(1)
        return original(self)

    monkeypatch.setattr(torch.Tensor, "item", counting_item)
    config = tiny_config(
        corpus, tmp_path / "run", max_iters=12, log_interval=6, eval_interval=100, checkpoints=False
    )
    train(config)
    assert len(calls) == 2 + 2 * 2  # two log steps, two evaluations (train and val)


def test_interrupt_saves_a_checkpoint_and_resume_is_exact(corpus, tmp_path):
    reference = train(tiny_config(corpus, tmp_path / "reference"))

    def interrupt_at_step_3(info: StepInfo) -> None:
        if info.step == 3:
            raise KeyboardInterrupt

    config = tiny_config(corpus, tmp_path / "interrupted")
    with pytest.raises(KeyboardInterrupt):
        train(config, callbacks=[interrupt_at_step_3])
    assert load_checkpoint(tmp_path / "interrupted")["step"] == 3
    resumed = train(replace(config, resume=True))

    def losses(result):
        return [
            (r["kind"], r["step"], r["train_loss"], r["val_loss"])
            for r in read_metrics(result.metrics_path)
        ]

    assert losses(resumed) == losses(reference)  # bitwise: the same floats
    for (name, a), b in zip(
        reference.model.state_dict().items(), resumed.model.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b), name
    summary = json.loads(resumed.run_path.read_text())
    assert summary["resumed_from_step"] == 3


def _losses(result) -> list[tuple]:
    return [
        (r["kind"], r["step"], r["train_loss"], r["val_loss"])
        for r in read_metrics(result.metrics_path)
    ]


def _same_weights(a: nn.Module, b: nn.Module) -> bool:
    return all(
        torch.equal(x, y)
        for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True)
    )


def test_resume_is_exact_when_stopped_between_two_log_lines(corpus, tmp_path):
    """With the default log_interval of 10, a stop at step 13 leaves 3 steps of the next
    train line's mean in flight: the checkpoint carries them."""
    options = dict(max_iters=24, eval_interval=12, log_interval=10)
    reference = train(tiny_config(corpus, tmp_path / "reference", **options))

    def stop_at_step_13(info: StepInfo) -> None:
        if info.step == 13:
            os.kill(os.getpid(), signal.SIGINT)  # a real Ctrl-C: stop after this step

    config = tiny_config(corpus, tmp_path / "interrupted", **options)
    with pytest.raises(KeyboardInterrupt):
        train(config, callbacks=[stop_at_step_13])
    assert load_checkpoint(tmp_path / "interrupted")["step"] == 13
    resumed = train(replace(config, resume=True))
    assert _losses(resumed) == _losses(reference)  # bitwise, the train line of step 20 too
    assert [r["step"] for r in read_metrics(resumed.metrics_path) if r["kind"] == "train"] == [
        10,
        20,
        24,
    ]
    assert _same_weights(resumed.model, reference.model)


def test_a_second_ctrl_c_during_an_evaluation_is_redone_on_resume(corpus, tmp_path, monkeypatch):
    """Stopped inside the final evaluation: the checkpoint says the evaluation is pending, and
    the resumed run does it first, so its log and run.json report the true final losses."""
    reference = train(tiny_config(corpus, tmp_path / "reference"))
    original = training.Trainer.evaluate

    def interrupted_final_evaluation(self):
        if self.step == self.config.max_iters:
            raise KeyboardInterrupt  # the second Ctrl-C, while the losses are being measured
        return original(self)

    config = tiny_config(corpus, tmp_path / "interrupted")
    with monkeypatch.context() as patch:
        patch.setattr(training.Trainer, "evaluate", interrupted_final_evaluation)
        with pytest.raises(KeyboardInterrupt):
            train(config)
    payload = load_checkpoint(tmp_path / "interrupted")
    assert (payload["step"], payload["eval_pending"]) == (8, True)
    resumed = train(replace(config, resume=True))
    assert _losses(resumed) == _losses(reference)
    assert (resumed.val_loss, resumed.train_loss) == (reference.val_loss, reference.train_loss)
    summary = json.loads(resumed.run_path.read_text())
    assert summary["final_val_loss"] == reference.val_loss


def test_a_seeded_run_is_bitwise_reproducible_on_two_threads(corpus, tmp_path):
    """Same seed, same thread count, same machine: the same weights and log, bit for bit.

    The cause of the differences seen before: the token embedding's backward pass used
    `weight[ids]`, whose gradient adds a row's repeated ids from several threads at once
    (atomic adds, in arrival order); `F.embedding` adds them in a fixed order.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        # Big enough that the embedding's backward pass is split across both threads.
        options = dict(
            max_iters=3, eval_interval=3, batch_size=16, block_size=64, embed_dim=64, dropout=0.0
        )
        first = train(tiny_config(corpus, tmp_path / "first", **options))
        second = train(tiny_config(corpus, tmp_path / "second", **options))
    finally:
        torch.set_num_threads(threads)
    assert _losses(first) == _losses(second)
    assert _same_weights(first.model, second.model)


def test_sigterm_and_sighup_stop_a_run_like_ctrl_c(corpus, tmp_path):
    for signum, name in ((signal.SIGTERM, "term"), (signal.SIGHUP, "hup")):
        before = signal.getsignal(signum)  # SIG_IGN for SIGHUP under nohup

        def send(info: StepInfo, signum=signum) -> None:
            if info.step == 2:
                os.kill(os.getpid(), signum)  # what `timeout`, `docker stop`, a closed tty send

        with pytest.raises(KeyboardInterrupt) as stopped:
            train(tiny_config(corpus, tmp_path / name), callbacks=[send])
        assert stopped.value.signum == signum
        assert load_checkpoint(tmp_path / name)["step"] == 2
        assert signal.getsignal(signum) is before  # the handler is restored


def test_a_diverging_run_stops_and_keeps_its_last_good_checkpoint(corpus, tmp_path):
    def poison_at_step_5(info: StepInfo) -> None:
        if info.step == 5:
            with torch.no_grad():
                info.model.final_norm.weight.fill_(float("nan"))

    config = tiny_config(corpus, tmp_path / "run", log_interval=2)
    with pytest.raises(
        TrainingDiverged,
        match=r"training diverged: the training loss of steps 5-6 is nan; the checkpoint of "
        r"step 4 is kept",
    ):
        train(config, callbacks=[poison_at_step_5])
    assert load_checkpoint(tmp_path / "run")["step"] == 4
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert all(json.loads(line)["step"] <= 4 for line in lines)  # no NaN, and valid JSON


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"learning_rate": float("inf")}, "learning_rate must be a finite number, got inf"),
        ({"min_lr": float("nan")}, "min_lr must be a finite number, got nan"),
        ({"weight_decay": float("nan")}, "weight_decay must be a finite number, got nan"),
        ({"grad_clip": float("nan")}, "grad_clip must be a finite number, got nan"),
        ({"batch_size": 99999999999999999999}, "batch_size must be at most 2147483647"),
        ({"block_size": 10**20}, "block_size must be at most 2147483647"),
        ({"embed_dim": 10**20}, "embed_dim must be at most 2147483647"),
        ({"eval_iters": 10**20}, "eval_iters must be at most 2147483647"),
        ({"vocab_multiple": 10**20}, "vocab_multiple must be at most 2147483647"),
        ({"hidden_dim": 10**20}, "hidden_dim must be at most 2147483647"),
        ({"num_layers": 10**20}, "num_layers must be at most 2147483647"),
        ({"seed": -1}, r"seed must be a whole number in \[0, 4294967295\], got -1"),
        ({"seed": 2**32}, "seed must be a whole number in"),
    ],
)
def test_settings_that_cannot_train_are_refused(overrides, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**overrides)


def test_the_same_limits_hold_in_a_toml_file(tmp_path):
    toml = tmp_path / "run.toml"
    toml.write_text("batch_size = 99999999999999999999\n", encoding="utf-8")
    with pytest.raises(ValueError, match="batch_size must be at most 2147483647"):
        make_config(toml=toml)


def test_a_model_too_large_for_memory_is_refused_before_allocating(corpus, tmp_path):
    config = tiny_config(corpus, tmp_path / "run", num_layers=2**31 - 1)
    with pytest.raises(
        ValueError, match=r"training [\d,]+ parameters needs about [\d,.]+ GB of memory, but only"
    ):
        train(config)


def test_a_resumed_run_keeps_its_tokenizer(corpus, tmp_path):
    train(tiny_config(corpus, tmp_path / "run", max_iters=2))
    with pytest.raises(ValueError, match="cannot resume with tokenizer 'gpt2': the checkpoint "):
        train(tiny_config(corpus, tmp_path / "run", resume=True, tokenizer="gpt2"))


def test_the_out_dir_may_start_with_a_tilde(corpus, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    result = train(tiny_config(corpus, "~/runs/tilde", max_iters=2))
    assert result.out_dir == tmp_path / "runs" / "tilde"
    assert (tmp_path / "runs" / "tilde" / "ckpt.pt").is_file()


def test_ctrl_c_stops_after_the_current_step(corpus, tmp_path):
    before = signal.getsignal(signal.SIGINT)  # SIG_IGN in a background job (`pytest &`)

    def press_ctrl_c(info: StepInfo) -> None:
        if info.step == 2:
            os.kill(os.getpid(), signal.SIGINT)  # lands in the handler: stop after this step

    with pytest.raises(KeyboardInterrupt):
        train(tiny_config(corpus, tmp_path / "run"), callbacks=[press_ctrl_c])
    assert load_checkpoint(tmp_path / "run")["step"] == 2
    assert signal.getsignal(signal.SIGINT) is before  # the handler is restored


def test_ctrl_c_on_the_last_step_lets_the_run_finish(corpus, tmp_path):
    def press_ctrl_c(info: StepInfo) -> None:
        if info.step == info.max_iters:
            os.kill(os.getpid(), signal.SIGINT)

    result = train(tiny_config(corpus, tmp_path / "run"), callbacks=[press_ctrl_c])
    assert result.step == 8 and result.run_path.is_file()


def test_a_hard_interrupt_inside_a_step_keeps_the_last_good_checkpoint(
    corpus, tmp_path, monkeypatch
):
    """A second Ctrl-C can land mid-update: the half-updated weights are never saved."""
    original = training.Trainer.train_step

    def interrupted_in_step_6(self, lr):
        if self.step == 5:  # the sixth step; eval_interval=4 saved a checkpoint at step 4
            raise KeyboardInterrupt
        return original(self, lr)

    monkeypatch.setattr(training.Trainer, "train_step", interrupted_in_step_6)
    with pytest.raises(KeyboardInterrupt):
        train(tiny_config(corpus, tmp_path / "run"))
    assert load_checkpoint(tmp_path / "run")["step"] == 4


def test_resume_needs_a_matching_checkpoint(corpus, tmp_path):
    with pytest.raises(FileNotFoundError, match="checkpoint .*ckpt.pt not found"):
        train(tiny_config(corpus, tmp_path / "nothing", resume=True))
    train(tiny_config(corpus, tmp_path / "run", max_iters=2))
    with pytest.raises(ValueError, match="cannot resume: the checkpoint's model has embed_dim=16"):
        train(tiny_config(corpus, tmp_path / "run", resume=True, embed_dim=32))


def test_a_fresh_run_never_overwrites_an_earlier_one(corpus, tmp_path):
    config = tiny_config(corpus, tmp_path / "run", max_iters=2)
    train(config)
    saved = (tmp_path / "run" / "ckpt.pt").read_bytes()
    with pytest.raises(
        FileExistsError,
        match=r"already holds a run \(ckpt.pt, metrics.jsonl, run.json\); continue it "
        "with --resume, start over with --overwrite",
    ):
        train(config)
    assert (tmp_path / "run" / "ckpt.pt").read_bytes() == saved
    assert train(replace(config, overwrite=True)).step == 2


def test_a_resumed_run_can_go_further(corpus, tmp_path):
    config = tiny_config(corpus, tmp_path / "run", max_iters=4, lr_decay_iters=8)
    train(config)
    result = train(replace(config, max_iters=6, resume=True))
    assert result.step == 6
    steps = [r["step"] for r in read_metrics(result.metrics_path) if r["kind"] == "train"]
    assert steps == [1, 2, 3, 4, 5, 6]


def test_compiled_model_names_never_reach_the_checkpoint(corpus, tmp_path, monkeypatch):
    original = torch.compile
    monkeypatch.setattr(torch, "compile", lambda model: original(model, backend="eager"))
    result = train(tiny_config(corpus, tmp_path / "run", max_iters=2, compile=True))
    assert result.summary["compiled"] is True
    names = list(load_checkpoint(result.checkpoint_path)["model"])
    assert names and not any(n.startswith(("_orig_mod.", "module.")) for n in names)


def test_a_failing_compile_falls_back_to_eager(corpus, tmp_path, monkeypatch):
    class Broken(nn.Module):
        def __init__(self, model):
            super().__init__()
            self._orig_mod = model

        def forward(self, *args, **kwargs):
            raise RuntimeError("no C compiler")

    monkeypatch.setattr(torch, "compile", Broken)
    eager = train(tiny_config(corpus, tmp_path / "eager", max_iters=3))
    with pytest.warns(RuntimeWarning, match="torch.compile failed .*no C compiler"):
        fallback = train(tiny_config(corpus, tmp_path / "run", max_iters=3, compile=True))
    assert fallback.summary["compiled"] is False
    assert fallback.val_loss == eager.val_loss  # the failed attempt consumed no randomness


def test_prefixes_are_stripped_from_weight_names():
    weight = torch.zeros(1)
    assert clean_state_dict({"module._orig_mod.blocks.0.w": weight, "b": weight}) == {
        "blocks.0.w": weight,
        "b": weight,
    }
    model = nn.Linear(2, 2)
    assert unwrap_model(torch.compile(model, backend="eager")) is model


def test_random_states_round_trip():
    saved = rng_state()
    expected = (torch.rand(3), np.random.rand(3), __import__("random").random())
    set_rng_state(saved)
    assert torch.equal(torch.rand(3), expected[0])
    assert np.array_equal(np.random.rand(3), expected[1])
    assert __import__("random").random() == expected[2]


def test_missing_and_corrupt_checkpoints_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="checkpoint .*missing.pt not found"):
        load_checkpoint(tmp_path / "missing.pt")
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"\x00not a zip file at all")
    with pytest.raises(ValueError, match="corrupt or not a MiniGPT checkpoint"):
        load_checkpoint(corrupt)
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, other)
    with pytest.raises(ValueError, match="is not a MiniGPT checkpoint"):
        load_checkpoint(other)


# -- sampling from a trained model -------------------------------------------------------


def test_a_padded_vocabulary_trains_and_samples(corpus, tmp_path):
    result = train(tiny_config(corpus, tmp_path / "run", max_iters=2, vocab_multiple=64))
    vocab_size = result.tokenizer.vocab_size
    assert result.model.token_embedding.weight.shape[0] == 64 > vocab_size
    model, tokenizer = load_model(tmp_path / "run")
    text = generate_text(model, tokenizer, "All", max_new_tokens=30, temperature=2.0, seed=0)
    assert len(text) == 33  # every sampled id decodes: no padding id is ever produced


def test_sampling_a_trained_model_is_reproducible(corpus, tmp_path):
    result = train(tiny_config(corpus, tmp_path / "run", max_iters=2))
    model, tokenizer = load_model(tmp_path / "run")
    for a, b in zip(model.state_dict().values(), result.model.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    first = generate_text(model, tokenizer, "All:", max_new_tokens=20, seed=3)
    assert first.startswith("All:") and len(first) == 24
    assert generate_text(model, tokenizer, "All:", max_new_tokens=20, seed=3) == first
    with pytest.raises(ValueError, match="character 'Z'"):
        generate_text(model, tokenizer, "Zebra", max_new_tokens=2)


# -- several processes -------------------------------------------------------------------


def test_two_process_ddp_run_with_gloo(corpus, tmp_path):
    out_dir = tmp_path / "ddp"
    env = {**os.environ, "MINIGPT_CACHE_DIR": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        "-m",
        "minigpt.cli",
        "train",
        "--data",
        str(corpus),
        "--device",
        "cpu",
        "--block-size",
        "8",
        "--embed-dim",
        "16",
        "--num-heads",
        "2",
        "--num-layers",
        "1",
        "--batch-size",
        "4",
        "--max-iters",
        "4",
        "--grad-accum-steps",
        "2",
        "--eval-interval",
        "2",
        "--eval-iters",
        "1",
        "--log-interval",
        "1",
        "--out-dir",
        str(out_dir),
        "--no-progress",
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads((out_dir / "run.json").read_text())
    assert summary["distributed"] == {
        "world_size": 2,
        "backend": "gloo",
        "weights_identical_across_ranks": True,
    }
    assert summary["tokens_per_step"] == 4 * 8 * 2 * 2
    payload = load_checkpoint(out_dir)
    assert len(payload["rng"]) == 2  # every rank's random state, for an exact resume
    rank0, rank1 = (state["sampler"]["generator"] for state in payload["rng"])
    assert not torch.equal(rank0, rank1)  # each rank draws its own batches
    assert not any(name.startswith("module.") for name in payload["model"])
    steps = [r["step"] for r in read_metrics(out_dir / "metrics.jsonl") if r["kind"] == "train"]
    assert steps == [1, 2, 3, 4]  # logged once, by rank 0
