"""Chapter 5's attention-map export: the right form, the model's numbers, and the committed file."""

from __future__ import annotations

import json

import pytest
import torch

from minigpt import MiniGPT, MiniGPTConfig
from minigpt.attention_maps import export_attention_maps, head_statistics, load_attention_maps
from minigpt.runs import RUNS_DIR
from minigpt.tokenization import CharTokenizer

TEXT = "Every moment is a beginning"
COMMITTED = RUNS_DIR / "shakespeare-char-cpu" / "attention.json"


def tiny_char_model(num_layers: int = 2, num_heads: int = 2) -> tuple[MiniGPT, CharTokenizer]:
    tokenizer = CharTokenizer.from_text(TEXT)
    torch.manual_seed(0)
    config = MiniGPTConfig(
        vocab_size=tokenizer.vocab_size,
        block_size=32,
        embed_dim=12,
        num_heads=num_heads,
        num_layers=num_layers,
    )
    return MiniGPT(config), tokenizer


def test_export_attention_maps_writes_causal_probability_rows(tmp_path):
    model, tokenizer = tiny_char_model(num_layers=2, num_heads=2)
    path = tmp_path / "runs" / "attention.json"
    returned = export_attention_maps(model, tokenizer, TEXT, path, source={"step": 0})
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data == returned == load_attention_maps(path)
    T = len(TEXT)
    assert data["text"] == TEXT
    assert data["tokens"] == list(TEXT)
    assert (data["num_layers"], data["num_heads"]) == (2, 2)
    assert data["model_config"]["num_heads"] == 2
    assert data["source"] == {"step": 0}
    weights = torch.tensor(data["attention"], dtype=torch.float64)
    assert weights.shape == (2, 2, T, T)
    # Rounded to 3 decimals: each of the T entries is off by at most 0.0005.
    torch.testing.assert_close(
        weights.sum(dim=-1), torch.ones(2, 2, T, dtype=torch.float64), atol=T * 5e-4, rtol=0
    )
    assert torch.equal(weights.triu(1), torch.zeros_like(weights))  # nothing after the query
    assert torch.equal(weights, (weights * 1000).round() / 1000)
    # The same numbers the model gives, up to the rounding.
    expected = model.attention_maps(torch.tensor([tokenizer.encode(TEXT)]))[:, 0]
    torch.testing.assert_close(weights, expected.double(), atol=5e-4, rtol=0)


def test_loading_a_missing_file_says_how_to_make_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="export_attention_maps"):
        load_attention_maps(tmp_path / "attention.json")


def test_head_statistics_of_known_patterns():
    tokens = list("ab cd")
    T = len(tokens)
    previous = torch.zeros(T, T)
    previous[0, 0] = 1.0
    previous[torch.arange(1, T), torch.arange(T - 1)] = 1.0
    first = torch.zeros(T, T)
    first[:, 0] = 1.0
    data = {"tokens": tokens, "attention": torch.stack([previous, first])[None].tolist()}
    prev_row, first_row = head_statistics(data)
    assert (prev_row["previous"], prev_row["self"], prev_row["first"]) == (1.0, 0.0, 0.25)
    assert prev_row["spaces"] == pytest.approx(0.25)  # only "c" looks at the space before it
    assert (first_row["first"], first_row["previous"]) == (1.0, 0.25)


def test_committed_attention_maps_match_their_model():
    data = load_attention_maps(COMMITTED)
    weights = torch.tensor(data["attention"])
    T = len(data["tokens"])
    assert "".join(data["tokens"]) == data["text"] == TEXT
    assert weights.shape == (
        data["model_config"]["num_layers"],
        data["model_config"]["num_heads"],
        T,
        T,
    )
    torch.testing.assert_close(
        weights.sum(dim=-1), torch.ones(weights.shape[:-1]), atol=T * 5e-4, rtol=0
    )
