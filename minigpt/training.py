"""Chapter 11 — training MiniGPT: the optimizer, the learning-rate schedule and the loop.

`train(TrainConfig(...))` is what `minigpt train` runs. It

- encodes the corpus once (see `minigpt.data`) and samples random blocks of it;
- builds a `MiniGPT` and an AdamW optimizer that decays only the weight matrices;
- warms the learning rate up linearly, then lowers it along a cosine to `min_lr`;
- accumulates gradients over `grad_accum_steps` micro-batches and clips their norm;
- evaluates the train and validation loss on the same fixed batches every `eval_interval` steps;
- logs to `out_dir/metrics.jsonl`, saves `out_dir/ckpt.pt` (atomically) at every evaluation, at
  the end and on Ctrl-C, and writes a summary `out_dir/run.json` when it finishes;
- resumes exactly from a checkpoint (`resume=True`): weights, optimizer, step and every random
  state, so a resumed run reproduces the uninterrupted one;
- runs on CUDA (bf16 autocast, TF32, fused AdamW, optional `torch.compile`), Apple MPS or the
  CPU (float32), and on several GPUs or machines when started with `torchrun` (DDP).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import random
import signal
import threading
import time
import typing
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from .config import MiniGPTConfig
from .data import BatchSampler, FixedBatches, TokenDataset, load_dataset, write_text_atomic
from .model import MiniGPT
from .positional_embeddings import LearnedPositionalEmbedding
from .token_embeddings import TokenEmbedding
from .tokenization import Tokenizer, tokenizer_from_dict

try:  # Python 3.11+
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib

CHECKPOINT_NAME = "ckpt.pt"
METRICS_NAME = "metrics.jsonl"
RUN_NAME = "run.json"
CHECKPOINT_FORMAT = "minigpt-checkpoint-v1"
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


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
    resume: bool = False  # continue from out_dir/ckpt.pt
    overwrite: bool = False  # start afresh even if out_dir already holds a run's checkpoint
    checkpoints: bool = True  # write out_dir/ckpt.pt
    progress: bool = True  # show a progress bar and evaluation lines
    # --8<-- [end:train_config]

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in fields(self):
            value = getattr(self, f.name)
            expected = hints[f.name]
            allowed = typing.get_args(expected) or (expected,)
            if float in allowed and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
                setattr(self, f.name, value)
            ok = any(value is None if t is type(None) else
                     isinstance(value, t) and (t is bool or not isinstance(value, bool))
                     for t in allowed)
            if not ok:
                names = " or ".join("None" if t is type(None) else t.__name__ for t in allowed)
                raise ValueError(f"{f.name} must be {names}, got {value!r}")
        for name in ("batch_size", "grad_accum_steps", "eval_interval", "eval_iters",
                     "log_interval"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("max_iters", "warmup_iters", "lr_decay_iters", "weight_decay", "grad_clip",
                     "min_lr"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{name} must be >= 0, got {value}")
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate}")
        if self.min_lr > self.learning_rate:
            raise ValueError(f"min_lr ({self.min_lr}) must not exceed learning_rate "
                             f"({self.learning_rate})")
        for name in ("beta1", "beta2"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        if not 0.0 < self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in (0, 1), got {self.val_fraction}")
        if self.dtype != "auto" and self.dtype not in DTYPES:
            raise ValueError(f"dtype must be auto, {', '.join(DTYPES)}; got {self.dtype!r}")
        self.model_config(vocab_size=1)  # checks the model's sizes early

    def model_config(self, vocab_size: int) -> MiniGPTConfig:
        """The MiniGPTConfig these settings describe, for a vocabulary of `vocab_size`."""
        return MiniGPTConfig(vocab_size=vocab_size, **{name: getattr(self, name)
                                                       for name in MODEL_FIELDS})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


MODEL_FIELDS = ("block_size", "embed_dim", "num_heads", "num_layers", "hidden_dim", "dropout",
                "bias", "tie_weights", "positional", "residual", "fused_attention",
                "vocab_multiple")

# --8<-- [start:presets]
PRESETS: dict[str, dict[str, Any]] = {
    # nanoGPT's character-level Shakespeare baseline: about 10.7M parameters, for a GPU.
    "shakespeare-char": dict(
        block_size=256, embed_dim=384, num_heads=6, num_layers=6, dropout=0.2,
        tokenizer="char", batch_size=64, max_iters=5000, learning_rate=1e-3, min_lr=1e-4,
        warmup_iters=100, lr_decay_iters=5000, beta2=0.99, eval_interval=250, eval_iters=200,
        log_interval=10, compile=True, out_dir="out/shakespeare-char",
    ),
    # A small version that reaches a validation loss below 1.9 in a few minutes on a laptop CPU.
    "shakespeare-char-cpu": dict(
        block_size=64, embed_dim=128, num_heads=4, num_layers=4, dropout=0.0,
        tokenizer="char", batch_size=16, max_iters=1500, learning_rate=2e-3, min_lr=2e-4,
        warmup_iters=100, lr_decay_iters=1500, beta2=0.99, eval_interval=250, eval_iters=20,
        log_interval=10, compile=False, out_dir="out/shakespeare-char-cpu",
    ),
    # The same corpus in GPT-2 tokens (50,257 ids), so the embedding table dominates.
    "shakespeare-gpt2": dict(
        block_size=256, embed_dim=384, num_heads=6, num_layers=6, dropout=0.2,
        vocab_multiple=64, tokenizer="gpt2", batch_size=32, max_iters=2500,
        learning_rate=6e-4, min_lr=6e-5, warmup_iters=100, lr_decay_iters=2500, beta2=0.95,
        eval_interval=250, eval_iters=100, log_interval=10,
        compile=True, out_dir="out/shakespeare-gpt2",
    ),
}
# --8<-- [end:presets]


def read_toml_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The settings in a TOML file (keys are field names; dashes count as underscores)."""
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
        raise ValueError(f"unknown setting(s) in {where}: {', '.join(unknown)}; valid settings "
                         f"are {', '.join(known)}")


def make_config(preset: str | None = None, toml: str | os.PathLike[str] | None = None,
                overrides: dict[str, Any] | None = None,
                base: dict[str, Any] | None = None) -> TrainConfig:
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


# --8<-- [start:optimizer]
def configure_optimizer(model: nn.Module, config: TrainConfig,
                        device: torch.device) -> torch.optim.AdamW:
    """AdamW that decays only the weight matrices of the linear layers.

    Biases, LayerNorm parameters and the embedding tables get no weight decay. By default the
    output layer shares the token embedding's matrix, so it is not decayed either.
    """
    embeddings = {id(p) for module in model.modules()
                  if isinstance(module, (TokenEmbedding, LearnedPositionalEmbedding, nn.Embedding))
                  for p in module.parameters(recurse=False)}
    decay, no_decay = [], []
    for param in model.parameters():  # a shared (tied) parameter is listed once
        if param.requires_grad:
            is_matrix = param.dim() >= 2 and id(param) not in embeddings
            (decay if is_matrix else no_decay).append(param)
    groups = [{"params": decay, "weight_decay": config.weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    fused = True if device.type == "cuda" else None  # one kernel for all parameters on CUDA
    return torch.optim.AdamW(groups, lr=config.learning_rate,
                             betas=(config.beta1, config.beta2), fused=fused)
# --8<-- [end:optimizer]


# --8<-- [start:lr_schedule]
def learning_rate_at(step: int, config: TrainConfig) -> float:
    """Linear warmup to `learning_rate`, then a cosine decay to `min_lr` at `lr_decay_iters`."""
    decay_iters = config.max_iters if config.lr_decay_iters is None else config.lr_decay_iters
    if step < config.warmup_iters:
        return config.learning_rate * (step + 1) / config.warmup_iters
    if step >= decay_iters:
        return config.min_lr
    progress = (step - config.warmup_iters) / (decay_iters - config.warmup_iters)  # 0 → 1
    cosine = 0.5 * (1.0 + math.cos(math.pi * progress))  # 1 → 0
    return config.min_lr + cosine * (config.learning_rate - config.min_lr)
# --8<-- [end:lr_schedule]


def resolve_device(name: str = "auto") -> torch.device:
    """"auto" picks CUDA, then Apple's MPS, then the CPU; other names are checked."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(f"unknown device {name!r}: use auto, cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} requested but CUDA is not available")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {name!r} requested but MPS is not available")
    return device


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    """The autocast precision: "auto" is bfloat16 on CUDA (float16 on GPUs without it)."""
    if name == "auto":
        if device.type != "cuda":
            return torch.float32
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return DTYPES[name]


def autocast(device: torch.device, dtype: torch.dtype) -> contextlib.AbstractContextManager:
    """Mixed precision for the forward pass; float32 needs none."""
    if dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


# --8<-- [start:evaluate]
@torch.no_grad()
def estimate_loss(model: nn.Module, batches: FixedBatches,
                  precision: Callable[[], contextlib.AbstractContextManager]
                  = contextlib.nullcontext) -> float:
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


# ---------------------------------------------------------------------------------------------
# Checkpoints
# ---------------------------------------------------------------------------------------------


def unwrap_model(model: nn.Module) -> nn.Module:
    """The plain model inside DDP (`.module`) and torch.compile (`._orig_mod`) wrappers."""
    while True:
        if isinstance(model, DistributedDataParallel):
            model = model.module
        elif hasattr(model, "_orig_mod"):
            model = model._orig_mod
        else:
            return model


def clean_state_dict(state_dict: dict[str, Tensor]) -> dict[str, Tensor]:
    """Drop the `module.` (DDP) and `_orig_mod.` (torch.compile) prefixes from weight names."""
    cleaned = {}
    for name, tensor in state_dict.items():
        while name.startswith(("module.", "_orig_mod.")):
            name = name.split(".", 1)[1]
        cleaned[name] = tensor
    return cleaned


def rng_state(sampler: BatchSampler | None = None) -> dict[str, Any]:
    """Every random state that training consumes, as tensors and plain Python values."""
    numpy_state = np.random.get_state()
    version, python_state, gauss_next = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {"keys": torch.from_numpy(numpy_state[1].astype(np.int64)),
                  "pos": int(numpy_state[2]), "has_gauss": int(numpy_state[3]),
                  "cached_gaussian": float(numpy_state[4])},
        "python": {"version": version, "state": list(python_state), "gauss_next": gauss_next},
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state()
    if sampler is not None:
        state["sampler"] = sampler.state_dict()
    return state


def set_rng_state(state: dict[str, Any], sampler: BatchSampler | None = None) -> None:
    """Restore what `rng_state` saved."""
    torch.set_rng_state(state["torch"])
    numpy_state = state["numpy"]
    np.random.set_state(("MT19937", numpy_state["keys"].numpy().astype(np.uint32),
                         numpy_state["pos"], numpy_state["has_gauss"],
                         numpy_state["cached_gaussian"]))
    python_state = state["python"]
    random.setstate((python_state["version"], tuple(python_state["state"]),
                     python_state["gauss_next"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])
    if sampler is not None and "sampler" in state:
        sampler.load_state_dict(state["sampler"])


def save_checkpoint(path: str | os.PathLike[str], payload: dict[str, Any]) -> Path:
    """Write a checkpoint atomically: a temporary file, then a rename over the old one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        torch.save(payload, temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path


def checkpoint_path(path: str | os.PathLike[str]) -> Path:
    """A checkpoint file, or a run folder holding `ckpt.pt`."""
    path = Path(path).expanduser()
    return path / CHECKPOINT_NAME if path.is_dir() else path


def load_checkpoint(path: str | os.PathLike[str], map_location: str | torch.device = "cpu",
                    mmap: bool = False) -> dict[str, Any]:
    """Read a checkpoint safely (`weights_only=True`: tensors and plain containers only).

    `mmap=True` maps the tensors instead of reading them: cheap when only the settings matter.
    """
    path = checkpoint_path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} not found")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
    except Exception as err:  # zip, unpickling and EOF errors all mean the same thing here
        raise ValueError(f"checkpoint {path} is corrupt or not a MiniGPT checkpoint "
                         f"({type(err).__name__})") from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a MiniGPT checkpoint")
    for key in ("model_config", "model", "tokenizer", "step"):
        if key not in payload:
            raise ValueError(f"checkpoint {path} is incomplete: it has no {key!r} entry")
    return payload


def load_model(path: str | os.PathLike[str],
               device: str | torch.device = "cpu") -> tuple[MiniGPT, Tokenizer]:
    """The trained model (in eval mode) and its tokenizer, from a checkpoint or run folder."""
    device = resolve_device(device) if isinstance(device, str) else device
    payload = load_checkpoint(path)
    model = MiniGPT(MiniGPTConfig.from_dict(payload["model_config"]))
    model.load_state_dict(clean_state_dict(payload["model"]))
    return model.to(device).eval(), tokenizer_from_dict(payload["tokenizer"])


# ---------------------------------------------------------------------------------------------
# Distributed training (torchrun)
# ---------------------------------------------------------------------------------------------


@dataclass
class Distributed:
    """This process's place in a `torchrun` job (rank 0 of 1 without one)."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    owns_group: bool = False  # True when `train` started the process group

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup_distributed(device_name: str) -> Distributed:
    """Join the process group that torchrun describes in RANK, WORLD_SIZE, MASTER_ADDR, ...

    NCCL connects the GPUs; without CUDA (or with `device="cpu"`) the gloo backend is used.
    """
    if dist.is_available() and dist.is_initialized():
        return Distributed(dist.get_rank(), int(os.environ.get("LOCAL_RANK", 0)),
                           dist.get_world_size())
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return Distributed()
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() and device_name.split(":")[0] in ("auto", "cuda")
    if use_cuda:
        torch.cuda.set_device(local_rank)
    dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return Distributed(dist.get_rank(), local_rank, dist.get_world_size(), owns_group=True)


# ---------------------------------------------------------------------------------------------
# The training loop
# ---------------------------------------------------------------------------------------------


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


class _DeferredInterrupt:
    """Turn the first Ctrl-C into a request to stop after the current step.

    Stopping between steps makes the checkpoint exact. A second Ctrl-C interrupts at once.
    Only active in the main thread of a single-process run.
    """

    def __init__(self, active: bool) -> None:
        self.active = active and threading.current_thread() is threading.main_thread()
        self.requested = False
        self._previous: Any = None

    def __enter__(self) -> _DeferredInterrupt:
        if self.active:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print("\nstopping after this step (Ctrl-C again to stop now)", flush=True)

    def __exit__(self, *exc: object) -> None:
        if self.active:
            signal.signal(signal.SIGINT, self._previous)


def train(config: TrainConfig, callbacks: Sequence[Callback] = (),
          dataset: TokenDataset | None = None) -> TrainResult:
    """Train a MiniGPT as `config` says; see the module docstring for what gets written.

    `callbacks` are called after every optimizer step with a `StepInfo`. `dataset` replaces
    `config.data`/`config.tokenizer` with an already loaded `TokenDataset`.
    Ctrl-C (KeyboardInterrupt) saves a checkpoint, then re-raises.
    """
    distributed = setup_distributed(config.device)
    try:
        return _Trainer(config, distributed, dataset).run(callbacks)
    finally:
        if distributed.owns_group:
            dist.destroy_process_group()


class _Trainer:
    """The state of one training run; `train` is the public entry point."""

    def __init__(self, config: TrainConfig, distributed: Distributed,
                 dataset: TokenDataset | None) -> None:
        self.config = config
        self.dist = distributed
        if distributed.enabled and resolve_device(config.device).type == "cuda":
            self.device = torch.device("cuda", distributed.local_rank)
        else:
            self.device = resolve_device(config.device)
        self.dtype = resolve_dtype(config.dtype, self.device)
        self.out_dir = Path(config.out_dir)
        self.checkpoint_path = self.out_dir / CHECKPOINT_NAME
        self.metrics_path = self.out_dir / METRICS_NAME
        self.run_path = self.out_dir / RUN_NAME

        if not (config.resume or config.overwrite) and self.checkpoint_path.exists():
            raise FileExistsError(
                f"{self.out_dir} already holds a run ({self.checkpoint_path}); continue it with "
                f"--resume, start over with --overwrite, or choose another --out-dir"
            )
        resume = load_checkpoint(self.checkpoint_path) if config.resume else None
        tokenizer: Any = config.tokenizer
        if resume is not None:
            tokenizer = tokenizer_from_dict(resume["tokenizer"])
        if dataset is None:
            dataset = self._load_dataset(tokenizer)
        elif resume is not None and dataset.tokenizer.to_dict() != resume["tokenizer"]:
            raise ValueError("cannot resume: the dataset's tokenizer differs from the "
                             "checkpoint's")
        self.dataset = dataset
        self.tokenizer = dataset.tokenizer

        rank = distributed.rank
        torch.manual_seed(config.seed + rank)
        np.random.seed(config.seed + rank)
        random.seed(config.seed + rank)
        self.model_config = config.model_config(self.tokenizer.vocab_size)
        if resume is not None:
            _check_same_model(resume["model_config"], self.model_config)
        self.model = MiniGPT(self.model_config).to(self.device)
        self.optimizer = configure_optimizer(self.model, config, self.device)
        self.scaler = torch.amp.GradScaler(self.device.type,
                                           enabled=self.dtype == torch.float16)
        b, t = config.batch_size, config.block_size
        self.sampler = BatchSampler(dataset.train, b, t, config.seed + rank, self.device, "train")
        self.eval_batches = {
            name: FixedBatches(dataset.split(name), config.eval_iters, b, t,
                               config.seed + offset, self.device, name)
            for name, offset in (("train", 1_000_003), ("val", 2_000_003))
        }
        self.tokens_per_step = b * t * config.grad_accum_steps * distributed.world_size
        self.step = 0
        self.elapsed_before = 0.0  # clock time of earlier sessions of a resumed run
        self.train_time = 0.0  # time spent in optimizer steps (evaluations excluded)
        self.last_eval: dict[str, Any] = {}
        self.best_val_loss: float | None = None
        if resume is not None:
            self._restore(resume)
        if self.device.type == "cuda":
            torch.set_float32_matmul_precision("high")  # TF32 matrix products
        self.forward_model: nn.Module = self.model
        self.eval_model: nn.Module = self.model
        self.compiled = False
        if config.compile:
            try:
                self.eval_model = torch.compile(self.model)
                self.compiled = True
            except Exception as err:
                _warn_compile(err)
        self.forward_model = self._wrap(self.eval_model)

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

    def precision(self) -> contextlib.AbstractContextManager:
        return autocast(self.device, self.dtype)

    # -- checkpoints ---------------------------------------------------------------------

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
            save_checkpoint(self.checkpoint_path, self._payload(states))
        self.saved_step = self.step

    def elapsed(self) -> float:
        return self.elapsed_before + time.perf_counter() - self.session_start

    # -- logging ------------------------------------------------------------------------

    def _open_metrics(self, resumed: bool) -> None:
        if not self.dist.is_main:
            return
        self.out_dir.mkdir(parents=True, exist_ok=True)
        kept = []
        if resumed and self.metrics_path.is_file():  # drop lines logged after the checkpoint
            for line in self.metrics_path.read_text(encoding="utf-8").splitlines():
                with contextlib.suppress(ValueError, KeyError, TypeError):
                    if json.loads(line)["step"] <= self.step:
                        kept.append(line + "\n")
        write_text_atomic(self.metrics_path, "".join(kept))  # a crash keeps the old log

    def log(self, record: dict[str, Any]) -> None:
        if self.dist.is_main:
            with open(self.metrics_path, "a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")

    def evaluate(self) -> dict[str, Any]:
        losses = {name: self._with_compile_fallback(lambda b: estimate_loss(
                      self.eval_model, b, self.precision), batches)
                  for name, batches in self.eval_batches.items()}
        self.last_eval = {"step": self.step, "train_loss": losses["train"],
                          "val_loss": losses["val"]}
        if self.best_val_loss is None or losses["val"] < self.best_val_loss:
            self.best_val_loss = losses["val"]
        self.log({"kind": "eval", "step": self.step, "time": round(self.elapsed(), 3),
                  "lr": learning_rate_at(max(self.step - 1, 0), self.config),
                  "train_loss": losses["train"], "val_loss": losses["val"],
                  "tokens_per_sec": None})
        return self.last_eval

    # -- one optimizer step -------------------------------------------------------------

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

    # -- the loop -----------------------------------------------------------------------

    def run(self, callbacks: Sequence[Callback]) -> TrainResult:
        config, is_main = self.config, self.dist.is_main
        resumed = config.resume
        self.session_start = time.perf_counter()
        self.saved_step = self.step if resumed else -1
        self._open_metrics(resumed)
        bar = tqdm(total=config.max_iters, initial=min(self.step, config.max_iters),
                   unit="step", dynamic_ncols=True, disable=not (is_main and config.progress))
        first_step = self.step
        if not resumed:
            self._report(bar, self.evaluate())
        loss_sum = torch.zeros((), device=self.device)
        log_steps, log_time = 0, 0.0
        mid_step = False
        try:
            with _DeferredInterrupt(active=not self.dist.enabled) as interrupt:
                while self.step < config.max_iters:
                    lr = learning_rate_at(self.step, config)
                    step_started = time.perf_counter()
                    mid_step = True  # weights and optimizer may be half-updated until the end
                    if self.step == first_step:  # compiles the model, if asked to
                        loss_sum += self._with_compile_fallback(self.train_step, lr)
                    else:
                        loss_sum += self.train_step(lr)
                    self.step += 1
                    mid_step = False
                    log_steps += 1
                    info = StepInfo(self.step, config.max_iters, lr, self.model)
                    if self.step % config.log_interval == 0 or self.step == config.max_iters:
                        # The only host sync in the loop: once per log_interval steps.
                        if self.dist.enabled:
                            dist.all_reduce(loss_sum)
                            loss_sum /= self.dist.world_size
                        info.train_loss = loss_sum.item() / (log_steps * config.grad_accum_steps)
                        log_time += time.perf_counter() - step_started
                        self.train_time += time.perf_counter() - step_started
                        info.tokens_per_sec = log_steps * self.tokens_per_step / log_time
                        self.log({"kind": "train", "step": self.step,
                                  "time": round(self.elapsed(), 3), "lr": lr,
                                  "train_loss": info.train_loss, "val_loss": None,
                                  "tokens_per_sec": round(info.tokens_per_sec, 1)})
                        bar.set_postfix(loss=f"{info.train_loss:.4f}",
                                        tok_s=f"{info.tokens_per_sec:,.0f}", refresh=False)
                        loss_sum.zero_()
                        log_steps, log_time = 0, 0.0
                    else:
                        log_time += time.perf_counter() - step_started
                        self.train_time += time.perf_counter() - step_started
                    bar.update(1)
                    if self.step % config.eval_interval == 0 or self.step == config.max_iters:
                        evaluation = self.evaluate()
                        info.eval_train_loss = evaluation["train_loss"]
                        info.val_loss = evaluation["val_loss"]
                        self._report(bar, evaluation)
                        self.save()
                    for callback in callbacks:
                        callback(info)
                    if interrupt.requested and self.step < config.max_iters:
                        raise KeyboardInterrupt
        except KeyboardInterrupt:
            bar.close()
            if mid_step:  # a second Ctrl-C inside a step: never replace a good checkpoint
                if is_main and config.checkpoints and config.progress:
                    kept = (f"the checkpoint of step {self.saved_step} is kept"
                            if self.saved_step >= 0 else "no checkpoint was saved")
                    print(f"interrupted inside step {self.step + 1}; {kept}", flush=True)
                raise
            if self.saved_step != self.step:
                self.save(collective=False)
            if is_main and config.checkpoints and config.progress:
                print(f"interrupted at step {self.step}; checkpoint saved to "
                      f"{self.checkpoint_path}", flush=True)
            raise
        bar.close()
        if self.saved_step != self.step:
            self.save()
        return self._finish(first_step)

    def _report(self, bar: Any, evaluation: dict[str, Any]) -> None:
        if not bar.disable:
            bar.write(f"step {evaluation['step']}: train loss {evaluation['train_loss']:.4f}, "
                      f"val loss {evaluation['val_loss']:.4f}")

    def _finish(self, first_step: int) -> TrainResult:
        tokens_per_sec = (self.step * self.tokens_per_step / self.train_time
                          if self.train_time > 0 else 0.0)
        summary = {
            "minigpt_version": _version(),
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
            "distributed": self._distributed_summary(),
            "hardware": hardware_info(self.device),
            "software": software_info(),
        }
        if self.dist.is_main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            write_text_atomic(self.run_path, json.dumps(summary, indent=2) + "\n")
        self.model.eval()
        return TrainResult(
            model=self.model, tokenizer=self.tokenizer, config=self.config, step=self.step,
            train_loss=summary["final_train_loss"], val_loss=summary["final_val_loss"],
            best_val_loss=self.best_val_loss, wall_time_s=summary["wall_time_s"],
            tokens_per_sec=tokens_per_sec, out_dir=self.out_dir,
            checkpoint_path=self.checkpoint_path if self.config.checkpoints else None,
            metrics_path=self.metrics_path, run_path=self.run_path, summary=summary,
        )

    def _distributed_summary(self) -> dict[str, Any] | None:
        if not self.dist.enabled:
            return None
        # Every rank must end with the same weights; compare a checksum per parameter.
        sums = torch.stack([p.detach().double().sum() for p in self.model.parameters()])
        gathered = [torch.zeros_like(sums) for _ in range(self.dist.world_size)]
        dist.all_gather(gathered, sums)
        return {"world_size": self.dist.world_size, "backend": dist.get_backend(),
                "weights_identical_across_ranks": all(torch.equal(gathered[0], g)
                                                      for g in gathered)}


def _check_same_model(saved: dict[str, Any], current: MiniGPTConfig) -> None:
    for name, value in current.to_dict().items():
        if saved.get(name) != value:
            raise ValueError(f"cannot resume: the checkpoint's model has {name}="
                             f"{saved.get(name)!r} but the config asks for {value!r}")


def _warn_compile(err: Exception) -> None:
    message = str(err).strip().splitlines()[0] if str(err).strip() else ""
    warnings.warn(f"torch.compile failed ({type(err).__name__}: {message}); training without "
                  f"it (set compile=False to skip the attempt)", RuntimeWarning, stacklevel=3)


def _version() -> str:
    from . import __version__

    return __version__


def hardware_info(device: torch.device | None = None) -> dict[str, Any]:
    """The machine a run used: CPU model and cores, GPU model and count."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    info: dict[str, Any] = {"cpu": cpu, "cpu_cores": os.cpu_count(),
                            "torch_threads": torch.get_num_threads()}
    if hasattr(os, "sched_getaffinity"):
        info["cpu_cores_available"] = len(os.sched_getaffinity(0))
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(device if device and device.type == "cuda"
                                                 else None)
        info["gpu_count"] = torch.cuda.device_count()
    return info


def software_info() -> dict[str, Any]:
    """Versions of Python, PyTorch, NumPy and MiniGPT."""
    return {"python": platform.python_version(), "torch": torch.__version__,
            "numpy": np.__version__, "minigpt": _version(), "cuda": torch.version.cuda,
            "platform": platform.platform()}
