"""Checkpoints: save a run atomically, load it safely, and restore every random state.

A checkpoint (`ckpt.pt`) holds the weights, the optimizer, the step, the settings, the
tokenizer and every random generator's state, so `--resume` continues exactly where the run
stopped. It is read with `torch.load(weights_only=True)`: tensors and plain containers only,
never arbitrary pickled objects.
"""

from __future__ import annotations

import errno
import os
import pickle
import random
import shutil
import warnings
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from ..config import MiniGPTConfig
from ..data import BatchSampler
from ..files import temporary_path
from ..model import MiniGPT
from ..tokenization import Tokenizer, tokenizer_from_dict
from .config import TrainConfig
from .device import check_memory, resolve_device, software_info

CHECKPOINT_NAME = "ckpt.pt"
CHECKPOINT_FORMAT = "minigpt-checkpoint-v1"


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
        "numpy": {
            "keys": torch.from_numpy(numpy_state[1].astype(np.int64)),
            "pos": int(numpy_state[2]),
            "has_gauss": int(numpy_state[3]),
            "cached_gaussian": float(numpy_state[4]),
        },
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
    np.random.set_state(
        (
            "MT19937",
            numpy_state["keys"].numpy().astype(np.uint32),
            numpy_state["pos"],
            numpy_state["has_gauss"],
            numpy_state["cached_gaussian"],
        )
    )
    python_state = state["python"]
    random.setstate(
        (python_state["version"], tuple(python_state["state"]), python_state["gauss_next"])
    )
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])
    if sampler is not None and "sampler" in state:
        sampler.load_state_dict(state["sampler"])


@dataclass
class RunProgress:
    """How far a run got, besides its step; saved in every checkpoint."""

    elapsed: float = 0.0  # clock seconds of the sessions so far
    train_time: float = 0.0  # seconds spent in optimizer steps (evaluations excluded)
    last_eval: dict[str, Any] = field(default_factory=dict)  # step, train_loss, val_loss
    best_val_loss: float | None = None
    eval_pending: bool = False  # the evaluation of this step was interrupted: redo it first


def training_checkpoint(
    model: MiniGPT,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    step: int,
    progress: RunProgress,
    rng: list[dict[str, Any]],
    tokenizer: Tokenizer,
    train_config: TrainConfig,
) -> dict[str, Any]:
    """Everything a run needs to continue exactly: what `ckpt.pt` holds."""
    return {
        "format": CHECKPOINT_FORMAT,
        "minigpt_version": software_info()["minigpt"],
        "model_config": model.config.to_dict(),
        "model": clean_state_dict(model.state_dict()),
        "optimizer": optimizer.state_dict(),
        "scaler": scaler.state_dict() if scaler.is_enabled() else None,
        "step": step,
        **asdict(progress),
        "rng": rng,  # one entry per process
        "tokenizer": tokenizer.to_dict(),
        "train_config": train_config.to_dict(),
    }


def restore_training(
    payload: dict[str, Any],
    path: str | os.PathLike[str],
    model: MiniGPT,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
) -> tuple[int, RunProgress]:
    """Load a checkpoint's weights and optimizer state; returns its step and progress."""
    model.load_state_dict(clean_state_dict(payload["model"]))
    try:
        optimizer.load_state_dict(payload["optimizer"])
        if payload.get("scaler"):
            scaler.load_state_dict(payload["scaler"])
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(
            f"cannot resume from {checkpoint_path(path)}: its optimizer state does not fit this "
            f"model ({err})"
        ) from None
    progress = RunProgress(
        **{f.name: payload[f.name] for f in fields(RunProgress) if payload.get(f.name) is not None}
    )
    return payload["step"], progress


def restore_random_state(
    payload: dict[str, Any],
    path: str | os.PathLike[str],
    sampler: BatchSampler,
    interval: Any,
    rank: int,
    seed: int,
) -> None:
    """Put this process's random generators, and its half-finished log line (`interval`, a
    `LogInterval`), back as they were when the checkpoint was saved."""
    states = payload.get("rng") or []
    if rank < len(states):
        try:
            set_rng_state(states[rank], sampler)
            if "log_interval" in states[rank]:
                interval.load_state_dict(states[rank]["log_interval"])
        except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as err:
            raise ValueError(
                f"cannot resume from {checkpoint_path(path)}: its saved random state is invalid "
                f"({type(err).__name__}: {err})"
            ) from None
    else:  # a rank whose state was not saved (stopped under torchrun): a fresh stream
        fresh = (seed + 7919 * payload["step"]) % 2**32
        torch.manual_seed(fresh)
        sampler.generator.manual_seed(fresh)


def save_checkpoint(path: str | os.PathLike[str], payload: dict[str, Any]) -> Path:
    """Write a checkpoint atomically: a temporary file, then a rename over the old one.

    If writing fails (a full disk, most often), the old checkpoint is untouched and the error
    says so, with the free space and the space needed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_path(path)
    try:
        torch.save(payload, temporary)
        os.replace(temporary, path)
    except (OSError, RuntimeError) as err:
        needed = _tensor_bytes(payload)
        free = shutil.disk_usage(path.parent).free
        kept = "the previous checkpoint is kept" if path.exists() else "no checkpoint was written"
        if getattr(err, "errno", None) == errno.ENOSPC or free < needed:
            raise OSError(
                errno.ENOSPC,
                f"cannot save the checkpoint {path}: the disk is full ({free / 1e6:,.0f} MB "
                f"free, about {needed / 1e6:,.0f} MB needed); {kept}",
            ) from None
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise OSError(f"cannot save the checkpoint {path} ({reason}); {kept}") from None
    finally:
        temporary.unlink(missing_ok=True)
    return path


def _tensor_bytes(value: Any) -> int:
    """The bytes of every tensor inside nested dicts and lists: about a checkpoint's size."""
    if isinstance(value, Tensor):
        return value.numel() * value.element_size()
    if isinstance(value, dict):
        return sum(_tensor_bytes(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(_tensor_bytes(v) for v in value)
    return 0


def checkpoint_path(path: str | os.PathLike[str]) -> Path:
    """A checkpoint file, or a run folder holding `ckpt.pt`."""
    path = Path(path).expanduser()
    return path / CHECKPOINT_NAME if path.is_dir() else path


def load_checkpoint(
    path: str | os.PathLike[str], map_location: str | torch.device = "cpu", mmap: bool = False
) -> dict[str, Any]:
    """Read a checkpoint safely and check it before anything uses it.

    `torch.load(weights_only=True)` reads only tensors and plain containers, never arbitrary
    pickled objects. Every record of the archive is checked against its CRC-32 (torch.load
    does not), so a damaged file is refused instead of loading changed weights, and the
    entries are checked for the types a MiniGPT checkpoint has. `mmap=True` maps the tensors
    instead of reading them (and skips the CRC check): cheap when only the settings matter.
    """
    path = checkpoint_path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} not found")
    if not mmap:
        _verify_archive(path)
    try:
        with warnings.catch_warnings():  # torch warns before refusing a pickle: one message
            warnings.simplefilter("ignore")
            payload = torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
    except pickle.UnpicklingError:
        raise ValueError(
            f"checkpoint {path} holds Python objects other than tensors and plain containers; "
            f"MiniGPT does not load such files, since unpickling them can run arbitrary code"
        ) from None
    except Exception as err:  # zip, EOF and format errors all mean the same thing here
        raise ValueError(
            f"checkpoint {path} is corrupt or not a MiniGPT checkpoint ({type(err).__name__})"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a MiniGPT checkpoint")
    _check_entries(payload, path)
    return payload


def _verify_archive(path: Path) -> None:
    try:
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error):
        raise ValueError(
            f"checkpoint {path} is corrupt or not a MiniGPT checkpoint (not a complete zip archive)"
        ) from None
    if damaged is not None:
        raise ValueError(
            f"checkpoint {path} is damaged: its record {damaged} fails its CRC-32 check, so "
            f"its contents changed after it was written; use another copy or checkpoint"
        )


# What each entry of a checkpoint must be: the required ones, then those older files may lack.
_ENTRIES: dict[str, tuple[type, ...]] = {
    "model_config": (dict,),
    "model": (dict,),
    "tokenizer": (dict,),
    "step": (int,),
}
_OPTIONAL_ENTRIES: dict[str, tuple[type, ...]] = {
    "optimizer": (dict,),
    "train_config": (dict,),
    "rng": (list,),
    "last_eval": (dict, type(None)),
    "best_val_loss": (float, type(None)),
    "elapsed": (float, int),
    "train_time": (float, int),
    "minigpt_version": (str,),
}


def _check_entries(payload: dict[str, Any], path: Path) -> None:
    for key, kinds in {**_ENTRIES, **_OPTIONAL_ENTRIES}.items():
        if key not in payload:
            if key in _ENTRIES:
                raise ValueError(f"checkpoint {path} is incomplete: it has no {key!r} entry")
            continue
        value = payload[key]
        if not isinstance(value, kinds) or isinstance(value, bool):
            names = " or ".join(k.__name__ for k in kinds)
            raise ValueError(
                f"checkpoint {path} is invalid: its {key!r} entry is a {type(value).__name__}, "
                f"not a {names} ({written_by(payload)})"
            )
    if payload["step"] < 0:
        raise ValueError(f"checkpoint {path} is invalid: its step is {payload['step']}")
    for name, tensor in payload["model"].items():
        if not isinstance(tensor, Tensor):
            raise ValueError(
                f"checkpoint {path} is invalid: its weight {name!r} is a "
                f"{type(tensor).__name__}, not a tensor"
            )


def written_by(payload: dict[str, Any]) -> str:
    """Which MiniGPT wrote a checkpoint, for error messages."""
    this = software_info()["minigpt"]
    version = payload.get("minigpt_version")
    if isinstance(version, str):
        return f"written by minigpt {version}; this is minigpt {this}"
    return f"written by a minigpt that did not record its version; this is minigpt {this}"


def checkpoint_model_config(payload: dict[str, Any], path: str | os.PathLike[str]) -> MiniGPTConfig:
    """The model's configuration stored in a checkpoint, checked like any other."""
    try:
        return MiniGPTConfig.from_dict(payload["model_config"])
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"checkpoint {checkpoint_path(path)} has an invalid model_config: {err} "
            f"({written_by(payload)})"
        ) from None


def checkpoint_tokenizer(payload: dict[str, Any], path: str | os.PathLike[str]) -> Tokenizer:
    """The tokenizer a checkpoint's model was trained with."""
    try:
        return tokenizer_from_dict(payload["tokenizer"])
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(
            f"checkpoint {checkpoint_path(path)} has an invalid tokenizer ({err})"
        ) from None


def check_model_fits(config: MiniGPTConfig, device: torch.device, source: str) -> None:
    """Refuse, from its sizes alone and before anything is built, a model that cannot fit in
    memory: a few changed bytes of a checkpoint's or a published run's settings must not make
    MiniGPT allocate without bound. `source` names the file the settings came from."""
    check_memory(4 * config.num_parameters(), device, f"the model of {source}")


def check_layers_stored(config: MiniGPTConfig, names: Iterable[str], source: str) -> None:
    """The file must hold weights for exactly `num_layers` blocks: checked from the weights'
    names before the model is built, so a changed num_layers (2**31 - 1, say, with tiny
    layers that fit in memory) cannot make MiniGPT build blocks for minutes."""
    stored = {name.split(".")[1] for name in names if name.startswith("blocks.")}
    if len(stored) != config.num_layers:
        raise ValueError(
            f"{source} does not fit together: its model_config has num_layers="
            f"{config.num_layers} but it holds the weights of {len(stored)} blocks"
        )


def check_tokenizer_fits(tokenizer: Tokenizer, config: MiniGPTConfig, source: str) -> None:
    """A model samples ids below its vocab_size and its tokenizer must decode every one of them:
    the two vocabularies must be the same size, checked at load, not mid-generation."""
    if tokenizer.vocab_size != config.vocab_size:
        raise ValueError(
            f"{source} does not fit together: its tokenizer has a vocabulary of "
            f"{tokenizer.vocab_size:,} but its model_config's vocab_size is {config.vocab_size:,}"
        )


def checkpoint_train_config(payload: dict[str, Any], path: str | os.PathLike[str]) -> dict:
    """The training settings stored in a checkpoint, refusing names this version lacks."""
    saved = dict(payload.get("train_config") or {})
    known = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(saved) - known)
    if unknown:
        raise ValueError(
            f"checkpoint {checkpoint_path(path)} has settings this version does not know: "
            f"{', '.join(unknown)} ({written_by(payload)}); resume it with the version that "
            f"wrote it, or start a new run"
        )
    return saved


def load_model(
    path: str | os.PathLike[str], device: str | torch.device = "cpu"
) -> tuple[MiniGPT, Tokenizer]:
    """The trained model (in eval mode) and its tokenizer, from a checkpoint file, a run
    folder, a published run folder (see `publish`), or the name of a run shipped with the
    package, such as "shakespeare-char-cpu" (see `minigpt.runs`)."""
    from ..runs import find_run
    from .publish import is_published_run, load_published_model  # publish imports this module

    path = find_run(path)
    if is_published_run(path):
        return load_published_model(path, device)
    device = resolve_device(device) if isinstance(device, str) else device
    payload = load_checkpoint(path)
    config = checkpoint_model_config(payload, path)
    source = f"checkpoint {checkpoint_path(path)}"
    check_model_fits(config, device, source)
    tokenizer = checkpoint_tokenizer(payload, path)
    check_tokenizer_fits(tokenizer, config, source)
    check_layers_stored(config, clean_state_dict(payload["model"]), source)
    model = MiniGPT(config)
    model.load_state_dict(clean_state_dict(payload["model"]))
    return model.to(device).eval(), tokenizer


def check_resumable(
    payload: dict[str, Any], path: str | os.PathLike[str], config: TrainConfig
) -> None:
    """A run resumes only from a checkpoint with its optimizer state, written by a version that
    knows its settings, with the tokenizer it was trained with. Checked before any data loads."""
    path = checkpoint_path(path)
    checkpoint_model_config(payload, path)
    saved_settings = checkpoint_train_config(payload, path)
    if not isinstance(payload.get("optimizer"), dict):
        raise ValueError(
            f"checkpoint {path} has no optimizer state, so it cannot be resumed (it can still "
            f"be sampled); start a new run instead"
        )
    saved_tokenizer = saved_settings.get("tokenizer")
    if saved_tokenizer is not None and saved_tokenizer != config.tokenizer:
        raise ValueError(
            f"cannot resume with tokenizer {config.tokenizer!r}: the checkpoint was trained with "
            f"{saved_tokenizer!r}, and a resumed run keeps its tokenizer; start a new run to "
            f"train with another"
        )


def check_same_model(
    payload: dict[str, Any], path: str | os.PathLike[str], current: MiniGPTConfig
) -> None:
    """A run resumes only into the model it saved: every MiniGPTConfig field must match."""
    saved = checkpoint_model_config(payload, path)
    for name, value in current.to_dict().items():
        if getattr(saved, name) != value:
            raise ValueError(
                f"cannot resume: the checkpoint's model has {name}={getattr(saved, name)!r} but "
                f"the config asks for {value!r}"
            )
