"""MiniGPT: a GPT-2-style language model built one component at a time in PyTorch."""

from __future__ import annotations

import importlib
import typing

if typing.TYPE_CHECKING:
    from .config import MiniGPTConfig
    from .model import MiniGPT
    from .training.checkpoint import load_model

__version__ = "0.1.0"
__all__ = ["MiniGPT", "MiniGPTConfig", "__version__", "load_model"]

# Imported on first use, so that `import minigpt.cli` (the `minigpt` command) loads PyTorch
# only after it can handle Ctrl-C.
_LAZY = {
    "MiniGPT": ".model",
    "MiniGPTConfig": ".config",
    "load_model": ".training.checkpoint",
}


def __getattr__(name: str) -> typing.Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'minigpt' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name], __name__), name)
    globals()[name] = value
    return value
