"""The training loop: what `minigpt train` runs, one optimizer step at a time.

`train(config)` locks the run's folder, builds a `Trainer` and runs it. `Trainer.__init__`
prepares everything (data, model, optimizer, samplers, a resumed state); `Trainer.run` is the
loop itself, and `Trainer.train_step` is one optimizer step, top to bottom.
"""

from __future__ import annotations

import contextlib
import math
import random
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor, nn
from tqdm import tqdm

from ..data import BatchSampler, FixedBatches, TokenDataset
from ..model import MiniGPT
from ..sampling import MAX_SEED
from .checkpoint import (
    RunProgress,
    check_resumable,
    check_same_model,
    checkpoint_tokenizer,
    load_checkpoint,
    restore_random_state,
    restore_training,
    rng_state,
    save_checkpoint,
    set_rng_state,
    training_checkpoint,
    unwrap_model,
)
from .config import TrainConfig
from .device import autocast, check_memory, resolve_device, resolve_dtype, training_memory
from .distributed import (
    Distributed,
    distributed_summary,
    load_once_per_machine,
    setup_distributed,
    wrap_model,
)
from .interrupts import DeferredInterrupt
from .optim import configure_optimizer, learning_rate_at
from .results import Callback, LogInterval, StepInfo, TrainResult, run_summary
from .run_dir import RunDir


class TrainingDiverged(ValueError):
    """The loss became NaN or infinite: the run stops and keeps its last good checkpoint."""


def train(
    config: TrainConfig, callbacks: Sequence[Callback] = (), dataset: TokenDataset | None = None
) -> TrainResult:
    """Train a MiniGPT as `config` says.

    Writes `out_dir/metrics.jsonl` (a JSON line per log and evaluation), `out_dir/ckpt.pt`
    (atomically, at every evaluation, at the end and when stopped) and `out_dir/run.json` (a
    summary, at the end). `callbacks` are called after every optimizer step with a
    `StepInfo`. `dataset` replaces `config.data`/`config.tokenizer` with an already loaded
    `TokenDataset`. Ctrl-C, SIGTERM or SIGHUP stop the run after the current step; it saves
    a checkpoint, then raises `Interrupted` (a KeyboardInterrupt).
    """
    distributed = setup_distributed(config.device)
    run_dir = RunDir(config.out_dir, is_main=distributed.is_main)
    try:
        run_dir.lock()  # one run per folder; also tidies what a killed run left behind
        return Trainer(config, distributed, dataset, run_dir).run(callbacks)
    finally:
        run_dir.unlock()
        if distributed.owns_group:
            dist.destroy_process_group()


# --8<-- [start:evaluate]
@torch.no_grad()
def estimate_loss(
    model: nn.Module,
    batches: FixedBatches,
    precision: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
) -> float:
    """The mean loss over fixed batches, with dropout off."""
    was_training = model.training
    model.eval()
    try:
        total = torch.zeros(())
        for x, y in batches:
            with precision():
                _, loss = model(x, y)
            total = total.to(loss.device) + loss.float()
        return total.item() / len(batches)
    finally:
        model.train(was_training)
    # --8<-- [end:evaluate]


class Trainer:
    """The state of one training run; `train` is the public entry point."""

    def __init__(
        self,
        config: TrainConfig,
        distributed: Distributed,
        dataset: TokenDataset | None,
        run_dir: RunDir | None = None,
    ) -> None:
        self.config = config
        self.dist = distributed
        self.device = resolve_device(config.device)
        if distributed.enabled and self.device.type == "cuda":
            self.device = torch.device("cuda", distributed.local_rank)
        self.dtype = resolve_dtype(config.dtype, self.device)
        self.run_dir = run_dir or RunDir(config.out_dir, is_main=distributed.is_main)

        # The data: resuming reuses the checkpoint's tokenizer, so the ids mean the same.
        earlier = self.run_dir.run_files
        if earlier and not (config.resume or config.overwrite):
            raise FileExistsError(
                f"{self.run_dir.path} already holds a run ({', '.join(p.name for p in earlier)}); "
                f"continue it with --resume, start over with --overwrite (the earlier run is kept "
                f"until the new one has saved), or choose another --out-dir"
            )
        resume = load_checkpoint(self.run_dir.checkpoint) if config.resume else None
        tokenizer: Any = config.tokenizer
        if resume is not None:
            check_resumable(resume, self.run_dir.checkpoint, config)
            tokenizer = checkpoint_tokenizer(resume, self.run_dir.checkpoint)
        if dataset is None:
            dataset = load_once_per_machine(self.dist, config.data, tokenizer, config.val_fraction)
        elif resume is not None and dataset.tokenizer.to_dict() != resume["tokenizer"]:
            raise ValueError("cannot resume: the dataset's tokenizer differs from the checkpoint's")
        self.dataset = dataset
        self.tokenizer = dataset.tokenizer

        # The model, its optimizer and the batches, all seeded (each process its own stream).
        seed = (config.seed + distributed.rank) % (MAX_SEED + 1)
        torch.manual_seed(seed)
        np.random.seed(seed)
        random.seed(seed)
        self.model_config = config.model_config(self.tokenizer.vocab_size)
        if resume is not None:
            check_same_model(resume, self.run_dir.checkpoint, self.model_config)
        needed = training_memory(self.model_config, config.batch_size)
        parameters = self.model_config.num_parameters()
        check_memory(needed, self.device, f"training {parameters:,} parameters")
        self.model = MiniGPT(self.model_config).to(self.device)
        self.optimizer = configure_optimizer(self.model, config, self.device)
        # float16 needs loss scaling to keep small gradients from underflowing to zero.
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.dtype == torch.float16)
        b, t = config.batch_size, config.block_size
        self.sampler = BatchSampler(dataset.train, b, t, seed, self.device, "train")
        self.eval_batches = {
            name: FixedBatches(
                split, config.eval_iters, b, t, config.seed + offset, self.device, name
            )
            for name, split, offset in (
                ("train", dataset.train, 1_000_003),
                ("val", dataset.val, 2_000_003),
            )
        }
        self.tokens_per_step = b * t * config.grad_accum_steps * distributed.world_size

        # Where the run stands; a resumed run takes all of it from the checkpoint.
        self.step, self.progress = 0, RunProgress()
        self.interval = LogInterval(self.device)  # the training loss since the last log line
        if resume is not None:
            self.step, self.progress = restore_training(
                resume, self.run_dir.checkpoint, self.model, self.optimizer, self.scaler
            )
            restore_random_state(
                resume, self.run_dir.checkpoint, self.sampler, self.interval, distributed.rank, seed
            )

        if self.device.type == "cuda":
            torch.set_float32_matmul_precision("high")  # TF32 matrix products
        self.compiled = False
        self.eval_model: nn.Module = self.model
        if config.compile:
            try:
                self.eval_model = torch.compile(self.model)
                self.compiled = True
            except Exception as err:
                _warn_compile(err)
        self.forward_model = wrap_model(self.eval_model, self.dist, self.device)

    # --8<-- [start:train_step]
    def train_step(self, lr: float) -> Tensor:
        """One optimizer step over `grad_accum_steps` micro-batches; returns the summed loss
        as a tensor, so nothing waits for the device here."""
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        accum = self.config.grad_accum_steps
        loss_sum = torch.zeros((), device=self.device)
        for micro in range(accum):
            x, y = self.sampler()
            # Under DDP, gradients are averaged across processes only on the last micro-step.
            last = micro == accum - 1
            if last or not self.dist.enabled:
                sync = contextlib.nullcontext()
            else:
                sync = self.forward_model.no_sync()
            with sync:
                with self.precision():
                    _, loss = self.forward_model(x, y)
                self.scaler.scale(loss / accum).backward()
            loss_sum += loss.detach()
        if self.config.grad_clip > 0:
            self.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        return loss_sum
        # --8<-- [end:train_step]

    def run(self, callbacks: Sequence[Callback]) -> TrainResult:
        """The loop: step, log every `log_interval` steps, evaluate and save every
        `eval_interval` steps, until `max_iters`; a first stop signal ends it after the step."""
        config, resumed = self.config, self.config.resume
        self.session_start = time.perf_counter()
        self.elapsed_before = self.progress.elapsed  # the clock time of earlier sessions
        self.saved_step = self.step if resumed else -1
        if config.overwrite and not resumed:
            self.run_dir.set_aside()  # the earlier run's files, until this one has saved
        self.run_dir.start_log(self.step if resumed else None)
        bar = tqdm(
            total=config.max_iters,
            initial=min(self.step, config.max_iters),
            unit="step",
            dynamic_ncols=True,
            disable=not (self.dist.is_main and config.progress),
        )
        first_step, interval, mid_step = self.step, self.interval, False
        try:
            with DeferredInterrupt(active=not self.dist.enabled) as interrupt:
                if not resumed or self.progress.eval_pending:  # the first, or a redone, one
                    self._evaluate_and_save(bar, save=resumed)
                while self.step < config.max_iters:
                    lr = learning_rate_at(self.step, config)
                    started = time.perf_counter()
                    mid_step = True  # weights and optimizer may be half-updated until the end
                    if self.step == first_step:  # compiles the model, if asked to
                        loss = self._with_compile_fallback(self.train_step, lr)
                    else:
                        loss = self.train_step(lr)
                    self.step += 1
                    mid_step = False
                    info = StepInfo(self.step, config.max_iters, lr, self.model)
                    last = self.step == config.max_iters
                    interval.add(loss)
                    log_step = self.step % config.log_interval == 0 or last
                    if log_step:  # the only host sync in the loop: once per log_interval steps
                        info.train_loss = self._mean_train_loss(interval)
                    seconds = time.perf_counter() - started
                    interval.seconds += seconds
                    self.progress.train_time += seconds
                    if log_step:
                        info.tokens_per_sec = interval.tokens_per_sec(self.tokens_per_step)
                        self.run_dir.log(
                            "train",
                            self.step,
                            self.elapsed(),
                            lr,
                            info.train_loss,
                            tokens_per_sec=info.tokens_per_sec,
                        )
                        bar.set_postfix(
                            loss=f"{info.train_loss:.4f}",
                            tok_s=f"{info.tokens_per_sec:,.0f}",
                            refresh=False,
                        )
                        interval.reset()
                    bar.update(1)
                    if self.step % config.eval_interval == 0 or last:
                        evaluation = self._evaluate_and_save(bar)
                        info.eval_train_loss = evaluation["train_loss"]
                        info.val_loss = evaluation["val_loss"]
                    for callback in callbacks:
                        callback(info)
                    if interrupt.requested is not None and not last:
                        interrupt.stop()
        except KeyboardInterrupt:
            bar.close()
            self._save_on_interrupt(mid_step)
            raise
        finally:
            if self.run_dir.restore_replaced():
                print(
                    f"stopped before its first checkpoint: the earlier run in "
                    f"{self.run_dir.path} is kept",
                    file=sys.stderr,
                    flush=True,
                )
        bar.close()
        if self.saved_step != self.step:
            self.save()
        return self._finish(first_step)

    # -- evaluation, checkpoints and the summary ------------------------------------------

    def _mean_train_loss(self, interval: LogInterval) -> float:
        """The mean loss of the interval's micro-batches (across processes, under DDP)."""
        loss_sum = interval.loss_sum
        if self.dist.enabled:
            dist.all_reduce(loss_sum)
            loss_sum /= self.dist.world_size
        loss = loss_sum.item() / (interval.steps * self.config.grad_accum_steps)
        first = self.step - interval.steps + 1
        self._check_finite(loss, f"the training loss of steps {first}-{self.step}")
        return loss

    def evaluate(self) -> dict[str, Any]:
        """The loss on the fixed train and validation batches, logged and remembered."""
        losses = {
            name: self._with_compile_fallback(
                lambda b: estimate_loss(self.eval_model, b, self.precision), batches
            )
            for name, batches in self.eval_batches.items()
        }
        for name, loss in losses.items():
            self._check_finite(loss, f"the {name} loss at step {self.step}")
        self.progress.last_eval = {
            "step": self.step,
            "train_loss": losses["train"],
            "val_loss": losses["val"],
        }
        if self.progress.best_val_loss is None or losses["val"] < self.progress.best_val_loss:
            self.progress.best_val_loss = losses["val"]
        lr = learning_rate_at(max(self.step - 1, 0), self.config)
        self.run_dir.log("eval", self.step, self.elapsed(), lr, losses["train"], losses["val"])
        return self.progress.last_eval

    def _evaluate_and_save(self, bar: Any, save: bool = True) -> dict[str, Any]:
        """Evaluate this step, then checkpoint it. A checkpoint saved while the evaluation
        was interrupted says so, and the resumed run evaluates first: no line goes missing."""
        self.progress.eval_pending = True
        evaluation = self.evaluate()
        self.progress.eval_pending = False
        if not bar.disable:
            bar.write(
                f"step {evaluation['step']}: train loss {evaluation['train_loss']:.4f}, "
                f"val loss {evaluation['val_loss']:.4f}"
            )
        if save:
            self.save()
        return evaluation

    def _check_finite(self, loss: float, what: str) -> None:
        """Stop a diverged run before it logs or saves anything non-finite."""
        if not math.isfinite(loss):
            raise TrainingDiverged(
                f"training diverged: {what} is {loss}; {self._kept()}. Lower --learning-rate, "
                f"keep --grad-clip on, or train in float32 (--dtype float32)"
            )

    def _kept(self) -> str:
        """What a stopped run leaves behind."""
        if self.saved_step >= 0 and self.config.checkpoints:
            return f"the checkpoint of step {self.saved_step} is kept"
        return "no checkpoint was saved"

    def save(self, collective: bool = True) -> None:
        """Save on rank 0. `collective` gathers every rank's random state first (all ranks
        must call it then); a save on a stop signal keeps only rank 0's."""
        if not self.config.checkpoints:
            return
        state = {**rng_state(self.sampler), "log_interval": self.interval.state_dict()}
        states = [state]
        if self.dist.enabled and collective:
            gathered: list[Any] = [None] * self.dist.world_size
            dist.all_gather_object(gathered, state)
            states = gathered
        if self.dist.is_main:
            self.progress.elapsed = self.elapsed()
            payload = training_checkpoint(
                unwrap_model(self.model), self.optimizer, self.scaler, self.step, self.progress,
                states, self.tokenizer, self.config,
            )  # fmt: skip
            save_checkpoint(self.run_dir.checkpoint, payload)
        self.saved_step = self.step
        self.run_dir.discard_replaced()

    def _save_on_interrupt(self, mid_step: bool) -> None:
        """Stopped between steps: save. Stopped inside a step (a second signal): keep the
        last good checkpoint rather than save half-updated weights."""
        config = self.config
        announce = self.dist.is_main and config.checkpoints and config.progress
        if mid_step:
            if announce:
                print(f"interrupted inside step {self.step + 1}; {self._kept()}", flush=True)
            return
        if self.saved_step != self.step or self.progress.eval_pending:
            self.save(collective=False)
        if announce:
            print(
                f"interrupted at step {self.step}; checkpoint saved to {self.run_dir.checkpoint}",
                flush=True,
            )

    def _finish(self, first_step: int) -> TrainResult:
        summary = run_summary(
            self.config,
            self.model,
            self.step,
            self.progress,
            self.tokens_per_step,
            wall_time=self.elapsed(),
            device=self.device,
            dtype=self.dtype,
            compiled=self.compiled,
            resumed_from_step=first_step if self.config.resume else None,
            distributed=distributed_summary(self.model, self.dist),
        )
        self.run_dir.write_summary(summary)
        self.run_dir.discard_replaced()  # a run without checkpoints has now replaced the old
        self.model.eval()
        return TrainResult.from_summary(
            self.model, self.tokenizer, self.config, self.run_dir, summary
        )

    # -- helpers ----------------------------------------------------------------------------

    def elapsed(self) -> float:
        return self.elapsed_before + time.perf_counter() - self.session_start

    def precision(self) -> contextlib.AbstractContextManager:
        return autocast(self.device, self.dtype)

    def _with_compile_fallback(self, function: Callable[..., Any], *args: Any) -> Any:
        """Run `function`; if the compiled model fails (compilation happens on first use),
        warn, switch to the eager model and run it again from the same random state."""
        if not self.compiled:
            return function(*args)
        saved = rng_state(self.sampler)
        try:
            return function(*args)
        except Exception as err:
            _warn_compile(err)
            self.optimizer.zero_grad(set_to_none=True)
            set_rng_state(saved, self.sampler)
            self.compiled = False
            self.eval_model = self.model
            self.forward_model = wrap_model(self.model, self.dist, self.device)
            return function(*args)


def _warn_compile(err: Exception) -> None:
    message = str(err).strip().splitlines()[0] if str(err).strip() else ""
    warnings.warn(
        f"torch.compile failed ({type(err).__name__}: {message}); training without it "
        f"(set compile=False to skip the attempt)",
        RuntimeWarning,
        stacklevel=3,
    )
