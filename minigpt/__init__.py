"""MiniGPT: a GPT-2-style language model built one component at a time in PyTorch."""

from .config import MiniGPTConfig
from .model import MiniGPT
from .training.checkpoint import load_model

__version__ = "0.1.0"
__all__ = ["MiniGPT", "MiniGPTConfig", "__version__", "load_model"]
