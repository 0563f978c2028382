"""What a run reports: a `StepInfo` to callbacks after every step, a `TrainResult` at the end."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..model import MiniGPT
from ..tokenization import Tokenizer
from .config import TrainConfig
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
