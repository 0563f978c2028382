"""Turning a model's tokens into text: streamed piece by piece, never half a character."""

from __future__ import annotations

import torch
from torch import nn

from minigpt.generation import stream_text
from minigpt.tokenization import get_tokenizer


class _ScriptedModel(nn.Module):
    """Stands in for a model: `stream` yields fixed token ids."""

    def __init__(self, ids):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))
        self.ids = ids

    def stream(self, ids, max_new_tokens, *args):
        for token in self.ids[:max_new_tokens]:
            yield torch.tensor([[token]])


def test_stream_text_never_splits_a_utf8_character():
    tokenizer = get_tokenizer("gpt2")
    ids = tokenizer.encode("Hi 😀 there 🐍!")
    assert any("\ufffd" in tokenizer.decode([i]) for i in ids)  # some tokens are partial
    pieces = list(stream_text(_ScriptedModel(ids), tokenizer, max_new_tokens=100))
    assert "".join(pieces) == "Hi 😀 there 🐍!"
    assert not any("\ufffd" in piece for piece in pieces)
    eot = tokenizer.eot_token
    stopped = list(stream_text(_ScriptedModel([*ids[:2], eot, *ids[2:]]), tokenizer))
    assert "".join(stopped) == tokenizer.decode(ids[:2])
