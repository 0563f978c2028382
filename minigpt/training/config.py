"""The settings of a training run: `TrainConfig`, the named presets, and TOML files.

Settings combine as preset < TOML file < explicit overrides (`make_config`), which is also the
order `minigpt train --preset … --config … --flag …` applies them in.
"""

from __future__ import annotations

import math
import os
import typing
from dataclasses import asdict, dataclass, fields
from typing import Any

from ..config import MiniGPTConfig
from ..sampling import check_seed
from .device import DTYPES

try:  # Python 3.11+
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib


# Counts and sizes above this overflow the 32-bit indices of many kernels (and no run needs them).
MAX_COUNT = 2**31 - 1
AT_LEAST_ONE = ("batch_size", "grad_accum_steps", "eval_interval", "eval_iters", "log_interval")


# --8<-- [start:train_config]
@dataclass
class TrainConfig:
    """Everything a training run needs; every field is also a `minigpt train --flag`."""

    # The model (see MiniGPTConfig; vocab_size comes from the tokenizer).
    block_size: int = 64
    embed_dim: int = 128
    num_heads: int = 4
    num_layers: int = 4
    hidden_dim: int | None = None  # None → 4 × embed_dim
    dropout: float = 0.0
    bias: bool = True
    tie_weights: bool = True
    positional: str = "learned"
    residual: bool = True
    fused_attention: bool = True
    vocab_multiple: int = 1  # pad the vocabulary to a multiple of this (64 suits GPUs)
    # The data.
    data: str = "tinyshakespeare"  # a named corpus or the path of a UTF-8 text file
    tokenizer: str = "char"  # "char", "gpt2" or the path of a saved BPE tokenizer
    val_fraction: float = 0.1  # the last 10 % of the tokens are held out
    # The optimisation.
    batch_size: int = 32  # sequences per micro-batch (per process)
    grad_accum_steps: int = 1  # micro-batches per optimizer step (per process)
    max_iters: int = 2000  # optimizer steps
    learning_rate: float = 1e-3  # the peak learning rate, reached after warmup
    min_lr: float = 1e-4  # the learning rate at the end of the cosine decay
    warmup_iters: int = 100
    lr_decay_iters: int | None = None  # None → max_iters
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.99
    grad_clip: float = 1.0  # maximum gradient norm; 0 turns clipping off
    # Evaluation and logging.
    eval_interval: int = 250  # steps between evaluations (and checkpoints)
    eval_iters: int = 20  # fixed batches per split in each evaluation
    log_interval: int = 10  # steps between training-loss log lines
    # The system.
    device: str = "auto"  # "auto" (cuda → mps → cpu), "cpu", "cuda", "cuda:1", "mps"
    dtype: str = "auto"  # "auto" (bfloat16 on CUDA, else float32), "float32", "bfloat16", "float16"
    compile: bool = False  # torch.compile the model (falls back to eager if it fails)
    seed: int = 1337
    out_dir: str = "out"
    resume: bool = False  # continue from out_dir/ckpt.pt, bitwise on the same machine and threads
    overwrite: bool = False  # replace out_dir's run (kept until the new one has saved)
    checkpoints: bool = True  # write out_dir/ckpt.pt
    progress: bool = True  # show a progress bar and evaluation lines
    # --8<-- [end:train_config]

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in fields(self):
            value = getattr(self, f.name)
            allowed = typing.get_args(hints[f.name]) or (hints[f.name],)
            if float in allowed and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
                setattr(self, f.name, value)
            ok = any(
                value is None
                if t is type(None)
                else isinstance(value, t) and (t is bool or not isinstance(value, bool))
                for t in allowed
            )
            if not ok:
                names = " or ".join("None" if t is type(None) else t.__name__ for t in allowed)
                raise ValueError(f"{f.name} must be {names}, got {value!r}")
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"{f.name} must be a finite number, got {value}")
            if isinstance(value, int) and not isinstance(value, bool) and f.name != "seed":
                if f.name in AT_LEAST_ONE and value < 1:
                    raise ValueError(f"{f.name} must be at least 1, got {value}")
                if value < 0:
                    raise ValueError(f"{f.name} must be >= 0, got {value}")
                if value > MAX_COUNT:
                    raise ValueError(f"{f.name} must be at most {MAX_COUNT}, got {value}")
        for name in ("weight_decay", "grad_clip", "min_lr"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate}")
        if self.min_lr > self.learning_rate:
            raise ValueError(
                f"min_lr ({self.min_lr}) must not exceed learning_rate ({self.learning_rate})"
            )
        for name in ("beta1", "beta2"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        if not 0.0 < self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in (0, 1), got {self.val_fraction}")
        if self.dtype != "auto" and self.dtype not in DTYPES:
            raise ValueError(f"dtype must be auto, {', '.join(DTYPES)}; got {self.dtype!r}")
        check_seed(self.seed)
        self.out_dir = os.path.expanduser(self.out_dir)
        self.model_config(vocab_size=1)  # checks the model's sizes early

    def model_config(self, vocab_size: int) -> MiniGPTConfig:
        """The MiniGPTConfig these settings describe, for a vocabulary of `vocab_size`."""
        return MiniGPTConfig(
            vocab_size=vocab_size, **{name: getattr(self, name) for name in MODEL_FIELDS}
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


MODEL_FIELDS = (
    "block_size",
    "embed_dim",
    "num_heads",
    "num_layers",
    "hidden_dim",
    "dropout",
    "bias",
    "tie_weights",
    "positional",
    "residual",
    "fused_attention",
    "vocab_multiple",
)

# --8<-- [start:presets]
PRESETS: dict[str, dict[str, Any]] = {
    # The sizes and schedule of nanoGPT's character-level Shakespeare baseline, for a GPU.
    "shakespeare-char": dict(
        block_size=256,
        embed_dim=384,
        num_heads=6,
        num_layers=6,
        dropout=0.2,
        tokenizer="char",
        batch_size=64,
        max_iters=5000,
        learning_rate=1e-3,
        min_lr=1e-4,
        warmup_iters=100,
        lr_decay_iters=5000,
        beta2=0.99,
        eval_interval=250,
        eval_iters=200,
        log_interval=10,
        compile=True,
        out_dir="out/shakespeare-char",
    ),
    # A small version that reaches a validation loss below 1.9 in a few minutes on a CPU.
    "shakespeare-char-cpu": dict(
        block_size=64,
        embed_dim=128,
        num_heads=4,
        num_layers=4,
        dropout=0.0,
        tokenizer="char",
        batch_size=16,
        max_iters=1500,
        learning_rate=2e-3,
        min_lr=2e-4,
        warmup_iters=100,
        lr_decay_iters=1500,
        beta2=0.99,
        eval_interval=250,
        eval_iters=20,
        log_interval=10,
        compile=False,
        out_dir="out/shakespeare-char-cpu",
    ),
    # The same corpus in GPT-2 tokens (50,257 ids), so the embedding table dominates.
    "shakespeare-gpt2": dict(
        block_size=256,
        embed_dim=384,
        num_heads=6,
        num_layers=6,
        dropout=0.2,
        vocab_multiple=64,
        tokenizer="gpt2",
        batch_size=32,
        max_iters=2500,
        learning_rate=6e-4,
        min_lr=6e-5,
        warmup_iters=100,
        lr_decay_iters=2500,
        beta2=0.95,
        eval_interval=250,
        eval_iters=100,
        log_interval=10,
        compile=True,
        out_dir="out/shakespeare-gpt2",
    ),
}
# --8<-- [end:presets]


def read_toml_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The settings in a TOML file (keys are field names; dashes count as underscores)."""
    path = os.path.expanduser(path)
    try:
        with open(path, "rb") as f:
            values = tomllib.load(f)
    except FileNotFoundError:
        raise FileNotFoundError(f"config file {path} not found") from None
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"config file {path} is not valid TOML: {err}") from None
    values = {key.replace("-", "_"): value for key, value in values.items()}
    _check_keys(values, f"config file {path}")
    return values


def _check_keys(values: dict[str, Any], where: str) -> None:
    known = [f.name for f in fields(TrainConfig)]
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ValueError(
            f"unknown setting(s) in {where}: {', '.join(unknown)}; valid settings "
            f"are {', '.join(known)}"
        )


def make_config(
    preset: str | None = None,
    toml: str | os.PathLike[str] | None = None,
    overrides: dict[str, Any] | None = None,
    base: dict[str, Any] | None = None,
) -> TrainConfig:
    """Combine settings, later ones winning: `base` or the preset < the TOML file < overrides."""
    values: dict[str, Any] = dict(base or {})
    if preset is not None:
        if preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
        values.update(PRESETS[preset])
    if toml is not None:
        values.update(read_toml_config(toml))
    if overrides:
        _check_keys(overrides, "overrides")
        values.update(overrides)
    return TrainConfig(**values)
