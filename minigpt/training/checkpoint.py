"""Checkpoints: save a run atomically, load it safely, and restore every random state.

A checkpoint (`ckpt.pt`) holds the weights, the optimizer, the step, the settings, the
tokenizer and every random generator's state, so `--resume` continues exactly where the run
stopped. It is read with `torch.load(weights_only=True)`: tensors and plain containers only,
never arbitrary pickled objects.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from ..config import MiniGPTConfig
from ..data import BatchSampler
from ..model import MiniGPT
from ..tokenization import Tokenizer, tokenizer_from_dict
from .device import resolve_device

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


def load_checkpoint(
    path: str | os.PathLike[str], map_location: str | torch.device = "cpu", mmap: bool = False
) -> dict[str, Any]:
    """Read a checkpoint safely (`weights_only=True`: tensors and plain containers only).

    `mmap=True` maps the tensors instead of reading them: cheap when only the settings matter.
    """
    path = checkpoint_path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} not found")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
    except Exception as err:  # zip, unpickling and EOF errors all mean the same thing here
        raise ValueError(
            f"checkpoint {path} is corrupt or not a MiniGPT checkpoint ({type(err).__name__})"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a MiniGPT checkpoint")
    for key in ("model_config", "model", "tokenizer", "step"):
        if key not in payload:
            raise ValueError(f"checkpoint {path} is incomplete: it has no {key!r} entry")
    return payload


def load_model(
    path: str | os.PathLike[str], device: str | torch.device = "cpu"
) -> tuple[MiniGPT, Tokenizer]:
    """The trained model (in eval mode) and its tokenizer, from a checkpoint file, a run
    folder, or a published run folder such as `docs/runs/<preset>/` (see `publish`)."""
    from .publish import is_published_run, load_published_model  # publish imports this module

    if is_published_run(path):
        return load_published_model(path, device)
    device = resolve_device(device) if isinstance(device, str) else device
    payload = load_checkpoint(path)
    model = MiniGPT(MiniGPTConfig.from_dict(payload["model_config"]))
    model.load_state_dict(clean_state_dict(payload["model"]))
    return model.to(device).eval(), tokenizer_from_dict(payload["tokenizer"])


def check_same_model(saved: dict[str, Any], current: MiniGPTConfig) -> None:
    """A run resumes only into the model it saved: every MiniGPTConfig field must match."""
    for name, value in current.to_dict().items():
        if saved.get(name) != value:
            raise ValueError(
                f"cannot resume: the checkpoint's model has {name}={saved.get(name)!r} but "
                f"the config asks for {value!r}"
            )
