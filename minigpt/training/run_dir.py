"""A run's folder (`--out-dir`): the checkpoint, the metrics log and the summary it holds.

Only the main process of a distributed run writes here. Every file is replaced atomically (a
temporary file, then a rename), so an interrupted write never leaves half a file. While a run
is alive it holds an OS lock on `.lock`, so a second trainer cannot write into the same folder;
the OS drops the lock when the process dies, however it dies, so a stale lock never blocks.

`--overwrite` cannot lose the earlier run: its files are set aside in `.replaced/` and are
deleted only once the new run has saved its first checkpoint; a new run that stops before
that puts them back (and so does the next run, if the process was killed).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import time
from pathlib import Path
from typing import Any

from ..files import remove_stale_temporaries, write_text_atomic
from .checkpoint import CHECKPOINT_NAME

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no folder lock
    fcntl = None

METRICS_NAME = "metrics.jsonl"
RUN_NAME = "run.json"
LOCK_NAME = ".lock"
REPLACED_NAME = ".replaced"


class RunDirBusy(ValueError):
    """Another live process is training into this folder."""


class RunDir:
    """The files of one run: `ckpt.pt`, `metrics.jsonl` (a JSON line per log line and
    evaluation) and `run.json` (the summary written when the run finishes)."""

    def __init__(self, path: str | Path, is_main: bool = True) -> None:
        self.path = Path(path).expanduser()
        self.is_main = is_main
        self.checkpoint = self.path / CHECKPOINT_NAME
        self.metrics = self.path / METRICS_NAME
        self.summary = self.path / RUN_NAME
        self._lock: Any = None
        self._replacing = False

    @property
    def run_files(self) -> list[Path]:
        """The files of a run that this folder holds now."""
        return [p for p in (self.checkpoint, self.metrics, self.summary) if p.exists()]

    # -- one run at a time ----------------------------------------------------------------

    def lock(self) -> None:
        """Take the folder's lock (refusing if a live run holds it), then tidy what a killed
        run left: temporary files, and an earlier run that an --overwrite had set aside."""
        if not self.is_main:
            return
        self.path.mkdir(parents=True, exist_ok=True)
        if fcntl is not None:
            handle = open(self.path / LOCK_NAME, "a+", encoding="utf-8")  # noqa: SIM115
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.seek(0)
                owner = handle.read().strip() or "another process"
                handle.close()
                raise RunDirBusy(
                    f"{self.path} is in use by a run that is still training ({owner}); wait "
                    f"for it to finish, stop it, or choose another --out-dir"
                ) from None
            handle.seek(0)
            handle.truncate()
            started = time.strftime("%Y-%m-%d %H:%M:%S")
            handle.write(f"pid {os.getpid()} on {socket.gethostname()}, started {started}\n")
            handle.flush()
            self._lock = handle
        remove_stale_temporaries(self.path)
        if (self.path / REPLACED_NAME).is_dir() and not self.checkpoint.exists():
            self._restore_replaced()

    def unlock(self) -> None:
        if self._lock is not None:
            self._lock.close()  # closing the file releases the lock
            self._lock = None

    # -- replacing an earlier run ---------------------------------------------------------

    def set_aside(self) -> None:
        """Move the earlier run's files into `.replaced/`, for `--overwrite`."""
        if not self.is_main or not self.run_files:
            return
        replaced = self.path / REPLACED_NAME
        shutil.rmtree(replaced, ignore_errors=True)
        replaced.mkdir()
        for path in self.run_files:  # the checkpoint first: it is what makes a folder a run
            os.replace(path, replaced / path.name)
        self._replacing = True

    def discard_replaced(self) -> None:
        """The new run has saved: the earlier run's files are no longer needed."""
        if self._replacing:
            shutil.rmtree(self.path / REPLACED_NAME, ignore_errors=True)
            self._replacing = False

    def restore_replaced(self) -> bool:
        """The new run stopped before its first save: put the earlier run back."""
        if not self._replacing:
            return False
        self._restore_replaced()
        return True

    def _restore_replaced(self) -> None:
        replaced = self.path / REPLACED_NAME
        for path in replaced.iterdir():
            os.replace(path, self.path / path.name)
        replaced.rmdir()
        self._replacing = False

    # -- the log and the summary ----------------------------------------------------------

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
            f.write(json.dumps(record, allow_nan=False) + "\n")  # always valid JSON

    def write_summary(self, summary: dict[str, Any]) -> None:
        """Write `run.json`."""
        if self.is_main:
            self.path.mkdir(parents=True, exist_ok=True)
            write_text_atomic(self.summary, json.dumps(summary, indent=2, allow_nan=False) + "\n")
