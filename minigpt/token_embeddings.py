"""Chapter 2 — token embeddings: a learnable table with one vector per token id."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F


def check_token_ids(
    ids: Tensor, vocab_size: int, what: str = "token", allow_ignored: bool = False
) -> None:
    """Raise a clear error for ids that are not integers or fall outside the vocabulary.

    `what` names the ids in the message ("token", "target"); `allow_ignored` also accepts -1,
    the target that the loss skips. The range check needs the values on the host, so on an
    accelerator it is skipped; there an out-of-range id still fails inside the kernel.
    """
    if not isinstance(ids, Tensor):
        raise TypeError(f"{what} ids must be a torch.Tensor, got {type(ids).__name__}")
    if ids.dtype.is_floating_point or ids.dtype.is_complex or ids.dtype == torch.bool:
        raise TypeError(f"{what} ids must be an integer tensor (torch.long), got {ids.dtype}")
    if ids.numel() == 0 or ids.device.type != "cpu" or torch.compiler.is_compiling():
        return
    low = -1 if allow_ignored else 0
    bad = (ids < low) | (ids >= vocab_size)
    if bad.any():
        where = tuple(int(i) for i in bad.nonzero()[0])
        allowed = f"[0, {vocab_size})" + (" or -1 (ignored by the loss)" if allow_ignored else "")
        raise ValueError(
            f"{what} id {int(ids[where])} at index {where} is outside {allowed}; "
            f"the vocabulary has {vocab_size} tokens"
        )


# --8<-- [start:token_embedding]
class TokenEmbedding(nn.Module):
    """Turns token ids into vectors by looking up rows of a learnable matrix.

    Row `i` of `weight` is the vector for token id `i`. The values start random and are
    learned during training, so that tokens used alike end up with similar vectors.
    """

    def __init__(self, vocab_size: int, embed_dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(vocab_size, embed_dim) * 0.02)
        self.check_ids = True  # MiniGPT checks its input itself and turns this off

    def forward(self, ids: Tensor) -> Tensor:
        if self.check_ids:
            check_token_ids(ids, self.weight.shape[0])
        # weight[ids], one row per id, through the kernel made for lookups: its backward adds
        # each upstream gradient into its token's row in a fixed order (see chapter 2).
        return F.embedding(ids, self.weight)  # (..., embed_dim)
        # --8<-- [end:token_embedding]


# --8<-- [start:one_hot]
def one_hot_embedding(ids: Tensor, weight: Tensor) -> Tensor:
    """The same lookup written as a matrix product: one-hot(ids) @ weight.

    A one-hot row has a single 1 at the token's id, so multiplying it by the matrix
    selects exactly that row. The lookup above gives the same result without building
    the (mostly zero) one-hot matrix.
    """
    one_hot = F.one_hot(ids, num_classes=weight.shape[0]).to(weight.dtype)
    return one_hot @ weight
    # --8<-- [end:one_hot]
