"""The MiniGPT configuration: every size the guide talks about, in one validated object."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

POSITIONAL_KINDS = ("learned", "sinusoidal")


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
        for name in (
            "vocab_size",
            "block_size",
            "embed_dim",
            "num_heads",
            "hidden_dim",
            "num_layers",
            "vocab_multiple",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
            if value <= 0:
                raise ValueError(f"{name} must be positive, got {value}")
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
