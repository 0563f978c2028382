"""Where a run computes: the device, the precision, and a record of the hardware it ran on."""

from __future__ import annotations

import contextlib
import os
import platform
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..config import MiniGPTConfig

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def resolve_device(name: str = "auto") -> torch.device:
    """ "auto" picks CUDA, then Apple's MPS, then the CPU; other names are checked."""
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


def available_memory(device: torch.device) -> int | None:
    """Bytes of memory free for a new model on `device` (None where it cannot be told)."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    if device.type != "cpu":
        return None
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    with contextlib.suppress(AttributeError, ValueError, OSError):
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return None


def check_memory(needed: int, device: torch.device, what: str) -> None:
    """Refuse, before allocating anything, what cannot fit in the memory `device` has free."""
    free = available_memory(device)
    if free is not None and needed > free:
        raise ValueError(
            f"{what} needs about {_gigabytes(needed)} of memory, but only {_gigabytes(free)} "
            f"is free on {device}; choose smaller sizes (--num-layers, --embed-dim, "
            f"--batch-size, --block-size)"
        )


def training_memory(model: MiniGPTConfig, batch_size: int) -> int:
    """Bytes a training run needs, roughly: float32 weights, gradients and AdamW's two moments
    (16 bytes a parameter), plus the activations one micro-batch keeps for the backward pass.

    The activation term counts about 10 vectors of embed_dim and 2 of hidden_dim per token and
    layer (3 T×T attention tables per head on the explicit path) and 3 rows of logits per
    token: an estimate that only has to tell a model that fits from one that cannot.
    """
    per_layer = 10 * model.embed_dim + 2 * model.hidden_dim
    if not model.fused_attention:
        per_layer += 3 * model.num_heads * model.block_size
    tokens = batch_size * model.block_size
    activations = 4 * tokens * (model.num_layers * per_layer + 3 * model.padded_vocab_size)
    return 16 * model.num_parameters() + activations


def _gigabytes(count: int) -> str:
    return f"{count / 1e9:,.1f} GB" if count >= 1e8 else f"{count / 1e6:,.0f} MB"


def hardware_info(device: torch.device | None = None) -> dict[str, Any]:
    """The machine a run used: CPU model and cores, GPU model and count."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    info: dict[str, Any] = {
        "cpu": cpu,
        "cpu_cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
    }
    if hasattr(os, "sched_getaffinity"):
        info["cpu_cores_available"] = len(os.sched_getaffinity(0))
    if torch.cuda.is_available():
        cuda = device if device is not None and device.type == "cuda" else None
        info["gpu"] = torch.cuda.get_device_name(cuda)
        info["gpu_count"] = torch.cuda.device_count()
    return info


def software_info() -> dict[str, Any]:
    """Versions of Python, PyTorch, NumPy and MiniGPT."""
    from .. import __version__

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "minigpt": __version__,
        "cuda": torch.version.cuda,
        "platform": platform.platform(),
    }
