"""Chapter 5 — what trained heads attend to: a model's attention weights on one text, as JSON.

`export_attention_maps` records every layer and head of a model on a text (chapter 5's
trained-head figures and the guide's published runs use it), `load_attention_maps` reads the
file back, and `head_statistics` summarises where each head puts its weight.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from .model import MiniGPT
from .tokenization import Tokenizer


def export_attention_maps(
    model: MiniGPT,
    tokenizer: Tokenizer,
    text: str,
    path: str | Path,
    source: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write the attention weights of every layer and head of `model` on `text` to JSON.

    The file holds the text, its tokens, the model's configuration, and
    `attention[layer][head][query][key]` rounded to 3 decimals (rows sum to 1 up to that
    rounding); `source` is optional metadata such as the checkpoint's step and loss. Returns
    what it wrote.
    """
    device = next(model.parameters()).device
    ids = torch.tensor([tokenizer.encode(text)], device=device)
    maps = model.attention_maps(ids)[:, 0]  # (layers, heads, T, T): the one sequence
    data = {
        "text": text,
        "tokens": tokenizer.tokens(text),
        "num_layers": maps.shape[0],
        "num_heads": maps.shape[1],
        "model_config": model.config.to_dict(),
        "source": source or {},
        "attention": maps.double().cpu().round(decimals=3).tolist(),
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    path.write_text(text + "\n", encoding="utf-8")
    return data


def load_attention_maps(path: str | Path) -> dict[str, Any]:
    """Read a file written by `export_attention_maps`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found: create it from a trained checkpoint with "
            "minigpt.attention_maps.export_attention_maps (see chapter 5 of the guide)"
        )
    return json.loads(path.read_text(encoding="utf-8"))


def head_statistics(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Where each head of an exported attention map puts its weight, on average.

    For every layer and head: `previous` (weight on the token just before), `self` (on
    itself), `first` (on the first token), and `spaces` (on space tokens), each averaged over
    the query positions from the second token on (the first can only look at itself).
    """
    weights = torch.tensor(data["attention"])  # (layers, heads, T, T)
    is_space = torch.tensor([token.strip() == "" for token in data["tokens"]])
    positions = torch.arange(1, weights.shape[-1])
    rows = []
    for layer in range(weights.shape[0]):
        for head in range(weights.shape[1]):
            w = weights[layer, head, 1:]  # queries 1 … T−1
            rows.append(
                {
                    "layer": layer,
                    "head": head,
                    "previous": w[positions - 1, positions - 1].mean().item(),
                    "self": w[positions - 1, positions].mean().item(),
                    "first": w[:, 0].mean().item(),
                    "spaces": w[:, is_space].sum(dim=-1).mean().item(),
                }
            )
    return rows
