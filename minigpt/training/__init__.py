"""Chapter 11 — training MiniGPT: settings, optimizer, checkpoints and the loop.

`train(TrainConfig(...))` is what `minigpt train` runs. It

- encodes the corpus once (see `minigpt.data`) and samples random blocks of it;
- builds a `MiniGPT` and an AdamW optimizer that decays only the weight matrices (`optim`);
- warms the learning rate up linearly, then lowers it along a cosine to `min_lr` (`optim`);
- accumulates gradients over `grad_accum_steps` micro-batches and clips their norm (`loop`);
- evaluates the train and validation loss on the same fixed batches every `eval_interval`
  steps, logs to `out_dir/metrics.jsonl` and writes a summary `out_dir/run.json` (`loop`);
- saves `out_dir/ckpt.pt` atomically at every evaluation, at the end and on Ctrl-C, and
  resumes from it exactly: weights, optimizer, step and every random state (`checkpoint`);
- runs on CUDA (bf16 autocast, TF32, optional `torch.compile`), Apple MPS or the CPU
  (`device`), with fused AdamW on CUDA and the CPU, and on several GPUs or machines when
  started with `torchrun` (`distributed`).

The modules, in the order a run uses them: `config` (TrainConfig, presets, TOML), `device`,
`optim`, `checkpoint`, `run_dir` (the files in `--out-dir`), `distributed`, `interrupts`,
`loop` (the loop itself) and `results` (what callbacks and the caller get back).
"""

from .checkpoint import (
    CHECKPOINT_FORMAT,
    CHECKPOINT_NAME,
    checkpoint_path,
    clean_state_dict,
    load_checkpoint,
    load_model,
    rng_state,
    save_checkpoint,
    set_rng_state,
    unwrap_model,
)
from .config import MODEL_FIELDS, PRESETS, TrainConfig, make_config, read_toml_config
from .device import (
    DTYPES,
    autocast,
    hardware_info,
    resolve_device,
    resolve_dtype,
    software_info,
)
from .distributed import Distributed, setup_distributed
from .interrupts import Interrupted
from .loop import Trainer, TrainingDiverged, estimate_loss, train
from .optim import configure_optimizer, learning_rate_at
from .results import Callback, StepInfo, TrainResult
from .run_dir import METRICS_NAME, RUN_NAME, RunDir, RunDirBusy

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_NAME",
    "DTYPES",
    "METRICS_NAME",
    "MODEL_FIELDS",
    "PRESETS",
    "RUN_NAME",
    "RunDir",
    "RunDirBusy",
    "Callback",
    "Distributed",
    "StepInfo",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "TrainingDiverged",
    "Interrupted",
    "autocast",
    "checkpoint_path",
    "clean_state_dict",
    "configure_optimizer",
    "estimate_loss",
    "hardware_info",
    "learning_rate_at",
    "load_checkpoint",
    "load_model",
    "make_config",
    "read_toml_config",
    "resolve_device",
    "resolve_dtype",
    "rng_state",
    "save_checkpoint",
    "set_rng_state",
    "setup_distributed",
    "software_info",
    "train",
    "unwrap_model",
]
