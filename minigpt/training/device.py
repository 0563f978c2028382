"""Where a run computes: the device, the precision, and a record of the hardware it ran on."""

from __future__ import annotations

import contextlib
import os
import platform
from pathlib import Path
from typing import Any

import numpy as np
import torch

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
