"""The MiniGPT configuration: every size the guide talks about, in one validated object."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

POSITIONAL_KINDS = ("learned", "sinusoidal")
SIZE_FIELDS = (
    "vocab_size",
    "block_size",
    "embed_dim",
    "num_heads",
    "hidden_dim",
    "num_layers",
    "vocab_multiple",
)
SWITCH_FIELDS = ("bias", "tie_weights", "residual", "fused_attention")
MAX_SIZE = 2**31 - 1  # sizes beyond this overflow the 32-bit indices of many kernels


# --8<-- [start:config]
@dataclass
class MiniGPTConfig:
    """Hyperparameters of a MiniGPT model, named as in the guide.

    The defaults are GPT-2 small (124M parameters). `hidden_dim=None` means the usual
    4 × `embed_dim` feed-forward expansion.
    """

    vocab_size: int = 50257  # how many different token ids exist
    block_size: int = 1024  # the longest context the model can look at
    embed_dim: int = 768  # the width of every token vector
    num_heads: int = 12  # attention heads per block (embed_dim must divide evenly)
    hidden_dim: int | None = None  # feed-forward width; None → 4 × embed_dim
    num_layers: int = 12  # how many transformer blocks are stacked
    dropout: float = 0.0  # dropout probability during training
    bias: bool = True  # biases in Linear and LayerNorm layers, as GPT-2 has
    tie_weights: bool = True  # share the token embedding with the output layer
    positional: str = "learned"  # "learned" (GPT-2) or "sinusoidal" (original Transformer)
    residual: bool = True  # residual connections; False only for the chapter 7 experiment
    fused_attention: bool = True  # PyTorch's fused attention kernel vs. the explicit steps
    layer_norm_eps: float = 1e-5
    vocab_multiple: int = 1  # pad the embedding/output tables to a multiple (64 suits GPUs)
    # --8<-- [end:config]

    def __post_init__(self) -> None:
        if self.hidden_dim is None:
            self.hidden_dim = 4 * self.embed_dim
        for name in SIZE_FIELDS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
            if value <= 0:
                raise ValueError(f"{name} must be positive, got {value}")
            if value > MAX_SIZE:
                raise ValueError(f"{name} must be at most {MAX_SIZE}, got {value}")
        for name in SWITCH_FIELDS:
            value = getattr(self, name)
            if not isinstance(value, bool):
                raise TypeError(
                    f"{name} must be True or False, got {type(value).__name__} {value!r}"
                )
        for name in ("dropout", "layer_norm_eps"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")
            if not math.isfinite(value):
                raise ValueError(f"{name} must be a finite number, got {value}")
        if self.embed_dim % self.num_heads != 0:
            raise ValueError(
                f"embed_dim ({self.embed_dim}) must be divisible by num_heads ({self.num_heads}); "
                f"each head gets embed_dim / num_heads dimensions"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.positional not in POSITIONAL_KINDS:
            raise ValueError(
                f"positional must be one of {', '.join(POSITIONAL_KINDS)}, got {self.positional!r}"
            )
        if self.layer_norm_eps <= 0:
            raise ValueError(f"layer_norm_eps must be positive, got {self.layer_norm_eps}")

    def num_parameters(self) -> int:
        """How many parameters a MiniGPT of this shape has (a tied output layer counts once),
        computed from the sizes alone, so a size can be judged before any memory is used."""
        c, h, t = self.embed_dim, self.hidden_dim, self.block_size
        bias = int(self.bias)
        block = (
            2 * (c + bias * c)  # two LayerNorms
            + 3 * c * c
            + bias * 3 * c  # queries, keys and values
            + c * c
            + bias * c  # the attention's output projection
            + c * h
            + bias * h
            + h * c
            + bias * c  # the feed-forward network
        )
        tables = self.padded_vocab_size * c * (1 if self.tie_weights else 2)
        positions = t * c if self.positional == "learned" else 0
        return tables + positions + self.num_layers * block + c + bias * c  # + final LayerNorm

    @property
    def padded_vocab_size(self) -> int:
        """Rows of the embedding and output tables: vocab_size rounded up to vocab_multiple.

        Matrix multiplications run fastest on GPUs when sizes are multiples of 64; GPT-2's
        50257 becomes 50304. The extra ids are never valid input and never sampled.
        """
        return -(-self.vocab_size // self.vocab_multiple) * self.vocab_multiple

    @property
    def head_dim(self) -> int:
        """Dimensions per attention head."""
        return self.embed_dim // self.num_heads

    def to_dict(self) -> dict[str, Any]:
        """A plain dict, safe to store in a checkpoint or a JSON file."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> MiniGPTConfig:
        """Rebuild a config, refusing unknown keys so typos do not pass silently."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(
                f"unknown MiniGPTConfig field(s): {', '.join(unknown)}; "
                f"valid fields are {', '.join(sorted(known))}"
            )
        return cls(**values)
