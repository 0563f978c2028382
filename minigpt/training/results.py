"""What a run reports: a `StepInfo` to callbacks after every step, the training loss of each
log line (`LogInterval`), and a `TrainResult` at the end."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..model import MiniGPT
from ..tokenization import Tokenizer
from .checkpoint import RunProgress
from .config import TrainConfig
from .device import hardware_info, software_info
from .run_dir import RunDir


@dataclass
class StepInfo:
    """What a callback sees after each optimizer step (losses only on log/eval steps)."""

    step: int
    max_iters: int
    lr: float
    model: MiniGPT
    train_loss: float | None = None  # mean training loss since the last log line
    tokens_per_sec: float | None = None
    eval_train_loss: float | None = None  # loss on the fixed training batches
    val_loss: float | None = None  # loss on the fixed validation batches


Callback = Callable[[StepInfo], None]


@dataclass
class TrainResult:
    """What `train` returns: the trained model and where its files are."""

    model: MiniGPT
    tokenizer: Tokenizer
    config: TrainConfig
    step: int
    train_loss: float | None  # on the fixed training batches, at the last evaluation
    val_loss: float | None  # on the fixed validation batches, at the last evaluation
    best_val_loss: float | None
    wall_time_s: float
    tokens_per_sec: float
    out_dir: Path
    checkpoint_path: Path | None
    metrics_path: Path
    run_path: Path
    summary: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_summary(
        cls,
        model: MiniGPT,
        tokenizer: Tokenizer,
        config: TrainConfig,
        run_dir: RunDir,
        summary: dict[str, Any],
    ) -> TrainResult:
        """The result of a finished run, from its `run.json` summary."""
        return cls(
            model=model,
            tokenizer=tokenizer,
            config=config,
            step=summary["steps"],
            train_loss=summary["final_train_loss"],
            val_loss=summary["final_val_loss"],
            best_val_loss=summary["best_val_loss"],
            wall_time_s=summary["wall_time_s"],
            tokens_per_sec=summary["tokens_per_sec"],
            out_dir=run_dir.path,
            checkpoint_path=run_dir.checkpoint if config.checkpoints else None,
            metrics_path=run_dir.metrics,
            run_path=run_dir.summary,
            summary=summary,
        )


def run_summary(
    config: TrainConfig,
    model: MiniGPT,
    step: int,
    progress: RunProgress,
    tokens_per_step: int,
    *,
    wall_time: float,
    device: torch.device,
    dtype: torch.dtype,
    compiled: bool,
    resumed_from_step: int | None,
    distributed: dict[str, Any] | None,
) -> dict[str, Any]:
    """What `run.json` holds: the settings, the losses, the speed and the machine."""
    train_time = progress.train_time
    return {
        "minigpt_version": software_info()["minigpt"],
        "config": config.to_dict(),
        "model_config": model.config.to_dict(),
        "num_parameters": model.num_parameters(),
        "steps": step,
        "tokens_per_step": tokens_per_step,
        "tokens_seen": step * tokens_per_step,
        "final_train_loss": progress.last_eval.get("train_loss"),
        "final_val_loss": progress.last_eval.get("val_loss"),
        "best_val_loss": progress.best_val_loss,
        "wall_time_s": round(wall_time, 2),
        "train_time_s": round(train_time, 2),
        # CPU seconds this process used: steadier than wall time on a shared machine.
        "process_cpu_time_s": round(time.process_time(), 2),
        "tokens_per_sec": round(step * tokens_per_step / train_time, 1) if train_time else 0.0,
        "device": str(device),
        "dtype": str(dtype).removeprefix("torch."),
        "compiled": compiled,
        "resumed_from_step": resumed_from_step,
        "distributed": distributed,
        "hardware": hardware_info(device),
        "software": software_info(),
    }


class LogInterval:
    """The summed training loss and time of the steps since the last train log line; saved in
    checkpoints, so the first line after a resume averages the same steps as without one."""

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

    def state_dict(self) -> dict[str, Any]:
        return {
            "loss_sum": self.loss_sum.detach().cpu(),
            "steps": self.steps,
            "seconds": self.seconds,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.loss_sum.copy_(state["loss_sum"])
        self.steps, self.seconds = int(state["steps"]), float(state["seconds"])
