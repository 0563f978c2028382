"""MiniGPT as an ONNX graph, for runtimes outside PyTorch (the guide's in-browser playground).

`export_onnx` writes one graph with PyTorch's own exporter (`torch.onnx.export`). The graph
takes the new token ids and the keys and values of the tokens before them, and returns the
logits, the keys and values including the new tokens, and every head's attention weights:

    inputs   ids             int64    (1, T)            T new tokens, 1 ≤ T
             past_keys       float32  (L, 1, H, P, D)   P earlier tokens, 0 ≤ P, P + T ≤ block_size
             past_values     float32  (L, 1, H, P, D)
    outputs  logits          float32  (1, T, vocab_size)
             present_keys    float32  (L, 1, H, P + T, D)
             present_values  float32  (L, 1, H, P + T, D)
             attention       float32  (L, H, T, P + T)   [layer][head][query][key]

With P = 0 it is `MiniGPT.forward` on a whole context; feeding `present_*` back as `past_*`
with one new token is a generation step with a key/value cache (chapter 10), so a runtime
needs this one graph for both. `MiniGPT.forward` itself is unchanged: `CachedForward` runs the
model's own layers, with chapter 4's explicit attention so the weights can be returned.
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import Tensor, nn

from .model import MiniGPT
from .residual import residual_add
from .self_attention import scaled_dot_product_attention

INPUT_NAMES = ("ids", "past_keys", "past_values")
OUTPUT_NAMES = ("logits", "present_keys", "present_values", "attention")
OPSET_VERSION = 18
# The exporter's operator registry logs "torchvision is not installed" once per torchvision
# operator it could translate; MiniGPT uses none of them.
REGISTRY_LOGGER = "torch.onnx._internal.exporter._registration"


class _NoTorchvisionNotes(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("torchvision is not installed")


@contextlib.contextmanager
def _without_torchvision_notes() -> Iterator[None]:
    registry_log, notes = logging.getLogger(REGISTRY_LOGGER), _NoTorchvisionNotes()
    registry_log.addFilter(notes)
    try:
        yield
    finally:
        registry_log.removeFilter(notes)


class CachedForward(nn.Module):
    """MiniGPT's forward pass with the key/value cache as tensors in and out (batch size 1)."""

    def __init__(self, model: MiniGPT) -> None:
        super().__init__()
        self.model = model
        self.eval()

    # --8<-- [start:forward]
    def forward(
        self, ids: Tensor, past_keys: Tensor, past_values: Tensor
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        model, config = self.model, self.model.config
        batch, seq_len = ids.shape
        past = past_keys.shape[3]
        positions = torch.arange(past, past + seq_len, device=ids.device)
        # The embedding lookups index the tables directly: TokenEmbedding's range check reads
        # the ids' values, which an exported graph cannot do.
        x = model.token_embedding.weight[ids] + model.position_embedding(positions)
        # Query i (position past + i) may look at keys 0 … past + i: chapter 5's causal mask.
        mask = torch.arange(past + seq_len, device=ids.device) <= positions.unsqueeze(1)
        keys, values, weights = [], [], []
        for layer, block in enumerate(model.blocks):
            attention = block.attention
            q, k, v = attention.qkv(block.norm1(x)).split(config.embed_dim, dim=2)
            q, k, v = (
                t.view(batch, seq_len, config.num_heads, config.head_dim).transpose(1, 2)
                for t in (q, k, v)
            )
            k = torch.cat([past_keys[layer], k], dim=2)
            v = torch.cat([past_values[layer], v], dim=2)
            context, layer_weights = scaled_dot_product_attention(q, k, v, mask)
            context = context.transpose(1, 2).reshape(batch, seq_len, config.embed_dim)
            x = residual_add(x, attention.output(context), block.residual)
            x = residual_add(x, block.feed_forward(block.norm2(x)), block.residual)
            keys.append(k)
            values.append(v)
            weights.append(layer_weights[0])
        logits = model.output(model.final_norm(x))[..., : config.vocab_size]
        return logits, torch.stack(keys), torch.stack(values), torch.stack(weights)
        # --8<-- [end:forward]


def empty_past(model: MiniGPT) -> tuple[Tensor, Tensor]:
    """The `past_keys` and `past_values` of no earlier tokens: (L, 1, H, 0, D) each."""
    c = model.config
    param = model.token_embedding.weight
    shape = (c.num_layers, 1, c.num_heads, 0, c.head_dim)
    return (
        torch.zeros(shape, dtype=param.dtype, device=param.device),
        torch.zeros(shape, dtype=param.dtype, device=param.device),
    )


def export_onnx(model: MiniGPT, path: str | os.PathLike[str]) -> Path:
    """Write `model` (float32, on the CPU) as the ONNX graph described above; returns the path.

    Needs the `onnx` and `onnxscript` packages (`pip install -e ".[docs]"`).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = model.float().cpu().eval()
    config = model.config
    if config.block_size < 3:
        raise ValueError(f"export needs block_size >= 3, got {config.block_size}")
    # Example sizes other than 0 and 1, which torch.export would take as constants.
    new, past = 2, config.block_size - 2
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(config.vocab_size, (1, new), generator=generator)
    shape = (config.num_layers, 1, config.num_heads, past, config.head_dim)
    past_keys = torch.randn(shape, generator=generator)
    past_values = torch.randn(shape, generator=generator)
    new_dim = torch.export.Dim("new_tokens", min=1, max=config.block_size)
    past_dim = torch.export.Dim("past_tokens", min=0, max=config.block_size - 1)
    with torch.no_grad(), warnings.catch_warnings(), _without_torchvision_notes():
        # Both past inputs share one dimension on purpose; the exporter remarks on it.
        warnings.filterwarnings("ignore", message="# The axis name")
        warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)`")
        program = torch.onnx.export(
            CachedForward(model),
            (ids, past_keys, past_values),
            input_names=list(INPUT_NAMES),
            output_names=list(OUTPUT_NAMES),
            dynamic_shapes=({1: new_dim}, {3: past_dim}, {3: past_dim}),
            opset_version=OPSET_VERSION,
            dynamo=True,
            external_data=False,
            verbose=False,
        )
    program.save(str(path))
    return path
