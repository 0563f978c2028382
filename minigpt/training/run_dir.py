"""A run's folder (`--out-dir`): the checkpoint, the metrics log and the summary it holds.

Only the main process of a distributed run writes here. Every file is replaced atomically (a
temporary file, then a rename), so an interrupted write never leaves half a file.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

from ..data import write_text_atomic
from .checkpoint import CHECKPOINT_NAME

METRICS_NAME = "metrics.jsonl"
RUN_NAME = "run.json"


class RunDir:
    """The files of one run: `ckpt.pt`, `metrics.jsonl` (a JSON line per log line and
    evaluation) and `run.json` (the summary written when the run finishes)."""

    def __init__(self, path: str | Path, is_main: bool = True) -> None:
        self.path = Path(path).expanduser()
        self.is_main = is_main
        self.checkpoint = self.path / CHECKPOINT_NAME
        self.metrics = self.path / METRICS_NAME
        self.summary = self.path / RUN_NAME

    def start_log(self, resumed_at: int | None) -> None:
        """Begin `metrics.jsonl`: empty for a new run; for a resumed one, the lines up to the
        checkpoint's step (later lines were logged after it, and the run redoes those steps)."""
        if not self.is_main:
            return
        self.path.mkdir(parents=True, exist_ok=True)
        kept = []
        if resumed_at is not None and self.metrics.is_file():
            for line in self.metrics.read_text(encoding="utf-8").splitlines():
                with contextlib.suppress(ValueError, KeyError, TypeError):
                    if json.loads(line)["step"] <= resumed_at:
                        kept.append(line + "\n")
        write_text_atomic(self.metrics, "".join(kept))  # a crash keeps the old log

    def log(
        self,
        kind: str,
        step: int,
        time: float,
        lr: float,
        train_loss: float,
        val_loss: float | None = None,
        tokens_per_sec: float | None = None,
    ) -> None:
        """Append one line to `metrics.jsonl`: `kind` "train" (the mean loss of the batches
        since the last train line, and the speed) or "eval" (the fixed evaluation batches)."""
        if not self.is_main:
            return
        record = {
            "kind": kind,
            "step": step,
            "time": round(time, 3),
            "lr": lr,
            "train_loss": train_loss,
            "val_loss": val_loss,
            "tokens_per_sec": None if tokens_per_sec is None else round(tokens_per_sec, 1),
        }
        with open(self.metrics, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")

    def write_summary(self, summary: dict[str, Any]) -> None:
        """Write `run.json`."""
        if self.is_main:
            self.path.mkdir(parents=True, exist_ok=True)
            write_text_atomic(self.summary, json.dumps(summary, indent=2) + "\n")
