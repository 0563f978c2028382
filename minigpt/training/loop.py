"""The training loop: what `minigpt train` runs, one optimizer step at a time.

`train(config)` builds a `Trainer` and runs it. `Trainer.__init__` prepares everything (data,
model, optimizer, samplers, a resumed state); `Trainer.run` is the loop itself, and
`Trainer.train_step` is one optimizer step, top to bottom.
"""

from __future__ import annotations

import contextlib
import random
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from ..data import BatchSampler, FixedBatches, TokenDataset, load_dataset
from ..model import MiniGPT
from ..tokenization import tokenizer_from_dict
from .checkpoint import (
    CHECKPOINT_FORMAT,
    check_same_model,
    clean_state_dict,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
    unwrap_model,
)
from .config import TrainConfig
from .device import autocast, hardware_info, resolve_device, resolve_dtype, software_info
from .distributed import Distributed, distributed_summary, setup_distributed
from .interrupts import DeferredInterrupt
from .optim import configure_optimizer, learning_rate_at
from .results import Callback, StepInfo, TrainResult
from .run_dir import RunDir


def train(
    config: TrainConfig, callbacks: Sequence[Callback] = (), dataset: TokenDataset | None = None
) -> TrainResult:
    """Train a MiniGPT as `config` says.

    Writes `out_dir/metrics.jsonl` (a JSON line per log and evaluation), `out_dir/ckpt.pt`
    (atomically, at every evaluation, at the end and on Ctrl-C) and `out_dir/run.json` (a
    summary, at the end). `callbacks` are called after every optimizer step with a
    `StepInfo`. `dataset` replaces `config.data`/`config.tokenizer` with an already loaded
    `TokenDataset`. Ctrl-C (KeyboardInterrupt) saves a checkpoint, then re-raises.
    """
    distributed = setup_distributed(config.device)
    try:
        return Trainer(config, distributed, dataset).run(callbacks)
    finally:
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
        self, config: TrainConfig, distributed: Distributed, dataset: TokenDataset | None
    ) -> None:
        self.config = config
        self.dist = distributed
        self.device = resolve_device(config.device)
        if distributed.enabled and self.device.type == "cuda":
            self.device = torch.device("cuda", distributed.local_rank)
        self.dtype = resolve_dtype(config.dtype, self.device)
        self.run_dir = RunDir(config.out_dir, is_main=distributed.is_main)

        # The data: resuming reuses the checkpoint's tokenizer, so the ids mean the same.
        if not (config.resume or config.overwrite) and self.run_dir.checkpoint.exists():
            raise FileExistsError(
                f"{self.run_dir.path} already holds a run ({self.run_dir.checkpoint}); continue "
                f"it with --resume, start over with --overwrite, or choose another --out-dir"
            )
        resume = load_checkpoint(self.run_dir.checkpoint) if config.resume else None
        tokenizer: Any = config.tokenizer
        if resume is not None:
            tokenizer = tokenizer_from_dict(resume["tokenizer"])
        if dataset is None:
            dataset = self._load_dataset(tokenizer)
        elif resume is not None and dataset.tokenizer.to_dict() != resume["tokenizer"]:
            raise ValueError("cannot resume: the dataset's tokenizer differs from the checkpoint's")
        self.dataset = dataset
        self.tokenizer = dataset.tokenizer

        # The model, its optimizer and the batches, all seeded (each process its own stream).
        seed = config.seed + distributed.rank
        torch.manual_seed(seed)
        np.random.seed(seed)
        random.seed(seed)
        self.model_config = config.model_config(self.tokenizer.vocab_size)
        if resume is not None:
            check_same_model(resume["model_config"], self.model_config)
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
        self.step = 0
        self.elapsed_before = 0.0  # clock time of earlier sessions of a resumed run
        self.train_time = 0.0  # time spent in optimizer steps (evaluations excluded)
        self.last_eval: dict[str, Any] = {}
        self.best_val_loss: float | None = None
        if resume is not None:
            self._restore(resume)

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
        self.forward_model = self._wrap(self.eval_model)

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
        `eval_interval` steps, until `max_iters`; a first Ctrl-C stops after the step."""
        config, resumed = self.config, self.config.resume
        self.session_start = time.perf_counter()
        self.saved_step = self.step if resumed else -1
        self.run_dir.start_log(self.step if resumed else None)
        show = self.dist.is_main and config.progress
        bar = tqdm(
            total=config.max_iters,
            initial=min(self.step, config.max_iters),
            unit="step",
            dynamic_ncols=True,
            disable=not show,
        )
        first_step = self.step
        if not resumed:
            self._report(bar, self.evaluate())
        interval = _LogInterval(self.device)  # the training loss since the last train line
        mid_step = False
        try:
            with DeferredInterrupt(active=not self.dist.enabled) as interrupt:
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
                    self.train_time += seconds
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
                        evaluation = self.evaluate()
                        info.eval_train_loss = evaluation["train_loss"]
                        info.val_loss = evaluation["val_loss"]
                        self._report(bar, evaluation)
                        self.save()
                    for callback in callbacks:
                        callback(info)
                    if interrupt.requested and not last:
                        raise KeyboardInterrupt
        except KeyboardInterrupt:
            bar.close()
            self._save_on_interrupt(mid_step)
            raise
        bar.close()
        if self.saved_step != self.step:
            self.save()
        return self._finish(first_step)

    # -- evaluation, checkpoints and the summary ------------------------------------------

    def _mean_train_loss(self, interval: _LogInterval) -> float:
        """The mean loss of the interval's micro-batches (across processes, under DDP)."""
        loss_sum = interval.loss_sum
        if self.dist.enabled:
            dist.all_reduce(loss_sum)
            loss_sum /= self.dist.world_size
        return loss_sum.item() / (interval.steps * self.config.grad_accum_steps)

    def evaluate(self) -> dict[str, Any]:
        """The loss on the fixed train and validation batches, logged and remembered."""
        losses = {
            name: self._with_compile_fallback(
                lambda b: estimate_loss(self.eval_model, b, self.precision), batches
            )
            for name, batches in self.eval_batches.items()
        }
        self.last_eval = {
            "step": self.step,
            "train_loss": losses["train"],
            "val_loss": losses["val"],
        }
        if self.best_val_loss is None or losses["val"] < self.best_val_loss:
            self.best_val_loss = losses["val"]
        lr = learning_rate_at(max(self.step - 1, 0), self.config)
        self.run_dir.log("eval", self.step, self.elapsed(), lr, losses["train"], losses["val"])
        return self.last_eval

    def save(self, collective: bool = True) -> None:
        """Save on rank 0. `collective` gathers every rank's random state first (all ranks
        must call it then); a Ctrl-C save keeps only rank 0's."""
        if not self.config.checkpoints:
            return
        state = rng_state(self.sampler)
        states = [state]
        if self.dist.enabled and collective:
            gathered: list[Any] = [None] * self.dist.world_size
            dist.all_gather_object(gathered, state)
            states = gathered
        if self.dist.is_main:
            save_checkpoint(self.run_dir.checkpoint, self._payload(states))
        self.saved_step = self.step

    def _save_on_interrupt(self, mid_step: bool) -> None:
        """Ctrl-C between steps saves; a second Ctrl-C inside a step keeps the last good
        checkpoint rather than saving half-updated weights."""
        config = self.config
        announce = self.dist.is_main and config.checkpoints and config.progress
        if mid_step:
            if announce:
                kept = (
                    f"the checkpoint of step {self.saved_step} is kept"
                    if self.saved_step >= 0
                    else "no checkpoint was saved"
                )
                print(f"interrupted inside step {self.step + 1}; {kept}", flush=True)
            return
        if self.saved_step != self.step:
            self.save(collective=False)
        if announce:
            print(
                f"interrupted at step {self.step}; checkpoint saved to {self.run_dir.checkpoint}",
                flush=True,
            )

    def _payload(self, rng: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "format": CHECKPOINT_FORMAT,
            "model_config": self.model_config.to_dict(),
            "model": clean_state_dict(unwrap_model(self.model).state_dict()),
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else None,
            "step": self.step,
            "elapsed": self.elapsed(),
            "train_time": self.train_time,
            "last_eval": self.last_eval,
            "best_val_loss": self.best_val_loss,
            "rng": rng,
            "tokenizer": self.tokenizer.to_dict(),
            "train_config": self.config.to_dict(),
        }

    def _restore(self, payload: dict[str, Any]) -> None:
        self.model.load_state_dict(clean_state_dict(payload["model"]))
        self.optimizer.load_state_dict(payload["optimizer"])
        if payload.get("scaler"):
            self.scaler.load_state_dict(payload["scaler"])
        self.step = payload["step"]
        self.elapsed_before = payload.get("elapsed", 0.0)
        self.train_time = payload.get("train_time", 0.0)
        self.last_eval = payload.get("last_eval") or {}
        self.best_val_loss = payload.get("best_val_loss")
        states = payload.get("rng") or []
        if self.dist.rank < len(states):
            set_rng_state(states[self.dist.rank], self.sampler)
        else:  # a rank whose state was not saved (Ctrl-C under torchrun): a fresh stream
            seed = self.config.seed + self.dist.rank + 7919 * self.step
            torch.manual_seed(seed)
            self.sampler.generator.manual_seed(seed)

    def _report(self, bar: Any, evaluation: dict[str, Any]) -> None:
        if not bar.disable:
            bar.write(
                f"step {evaluation['step']}: train loss {evaluation['train_loss']:.4f}, "
                f"val loss {evaluation['val_loss']:.4f}"
            )

    def _finish(self, first_step: int) -> TrainResult:
        tokens_per_sec = (
            self.step * self.tokens_per_step / self.train_time if self.train_time > 0 else 0.0
        )
        summary = {
            "minigpt_version": software_info()["minigpt"],
            "config": self.config.to_dict(),
            "model_config": self.model_config.to_dict(),
            "num_parameters": self.model.num_parameters(),
            "steps": self.step,
            "tokens_per_step": self.tokens_per_step,
            "tokens_seen": self.step * self.tokens_per_step,
            "final_train_loss": self.last_eval.get("train_loss"),
            "final_val_loss": self.last_eval.get("val_loss"),
            "best_val_loss": self.best_val_loss,
            "wall_time_s": round(self.elapsed(), 2),
            "train_time_s": round(self.train_time, 2),
            # CPU seconds this process used: steadier than wall time on a shared machine.
            "process_cpu_time_s": round(time.process_time(), 2),
            "tokens_per_sec": round(tokens_per_sec, 1),
            "device": str(self.device),
            "dtype": str(self.dtype).removeprefix("torch."),
            "compiled": self.compiled,
            "resumed_from_step": first_step if self.config.resume else None,
            "distributed": distributed_summary(self.model, self.dist),
            "hardware": hardware_info(self.device),
            "software": software_info(),
        }
        self.run_dir.write_summary(summary)
        self.model.eval()
        return TrainResult.from_summary(
            self.model, self.tokenizer, self.config, self.run_dir, summary
        )

    # -- helpers ----------------------------------------------------------------------------

    def elapsed(self) -> float:
        return self.elapsed_before + time.perf_counter() - self.session_start

    def precision(self) -> contextlib.AbstractContextManager:
        return autocast(self.device, self.dtype)

    def _load_dataset(self, tokenizer: Any) -> TokenDataset:
        # One process per machine encodes the corpus; the others then read the cached ids.
        if self.dist.enabled and self.dist.local_rank != 0:
            dist.barrier()
        dataset = load_dataset(self.config.data, tokenizer, self.config.val_fraction)
        if self.dist.enabled and self.dist.local_rank == 0:
            dist.barrier()
        return dataset

    def _wrap(self, model: nn.Module) -> nn.Module:
        if not self.dist.enabled:
            return model
        device_ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=device_ids)

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
            self.forward_model = self._wrap(self.model)
            return function(*args)


class _LogInterval:
    """The summed training loss and time of the steps since the last train log line."""

    def __init__(self, device: torch.device) -> None:
        self.loss_sum = torch.zeros((), device=device)
        self.steps = 0
        self.seconds = 0.0

    def add(self, loss: Tensor) -> None:
        self.loss_sum += loss
        self.steps += 1

    def tokens_per_sec(self, tokens_per_step: int) -> float:
        return self.steps * tokens_per_step / self.seconds

    def reset(self) -> None:
        self.loss_sum.zero_()
        self.steps, self.seconds = 0, 0.0


def _warn_compile(err: Exception) -> None:
    message = str(err).strip().splitlines()[0] if str(err).strip() else ""
    warnings.warn(
        f"torch.compile failed ({type(err).__name__}: {message}); training without it "
        f"(set compile=False to skip the attempt)",
        RuntimeWarning,
        stacklevel=3,
    )
