"""Chapter 3: learned and sinusoidal positional embeddings."""

import math

import pytest
import torch

from minigpt.positional_embeddings import (
    LearnedPositionalEmbedding,
    SinusoidalPositionalEmbedding,
    sinusoidal_table,
)
from minigpt.token_embeddings import TokenEmbedding


def test_sinusoidal_values_match_the_closed_form():
    table = sinusoidal_table(num_positions=50, embed_dim=16).double()
    for pos in (0, 1, 7, 49):
        for i in range(8):
            angle = pos / 10000 ** (2 * i / 16)
            assert table[pos, 2 * i].item() == pytest.approx(math.sin(angle), abs=1e-6)
            assert table[pos, 2 * i + 1].item() == pytest.approx(math.cos(angle), abs=1e-6)


def test_sinusoidal_rows_are_distinct_and_bounded():
    table = sinusoidal_table(128, 32)
    assert table.abs().max() <= 1.0
    assert torch.unique(table, dim=0).shape[0] == 128
    # Position 0 is sin(0)=0 in even dimensions and cos(0)=1 in odd ones.
    assert torch.equal(table[0, 0::2], torch.zeros(16))
    assert torch.equal(table[0, 1::2], torch.ones(16))


def test_sinusoidal_needs_even_width():
    with pytest.raises(ValueError, match="sinusoidal positions need an even embed_dim, got 7"):
        sinusoidal_table(4, 7)


def test_sinusoidal_has_no_parameters():
    assert list(SinusoidalPositionalEmbedding(16, 8).parameters()) == []


@pytest.mark.parametrize("kind", [LearnedPositionalEmbedding, SinusoidalPositionalEmbedding])
def test_positions_add_to_token_embeddings(kind):
    torch.manual_seed(0)
    tokens = TokenEmbedding(vocab_size=30, embed_dim=8)
    positions = kind(block_size=16, embed_dim=8)
    ids = torch.tensor([[4, 9, 4]])  # the same token at positions 0 and 2
    x = tokens(ids) + positions(torch.arange(3))
    assert x.shape == (1, 3, 8)
    # Same token, different positions → different vectors; the difference is positional.
    assert not torch.allclose(x[0, 0], x[0, 2])
    offset = positions(torch.tensor(2)) - positions(torch.tensor(0))
    torch.testing.assert_close(x[0, 2] - x[0, 0], offset)


def test_learned_positions_get_gradients():
    positions = LearnedPositionalEmbedding(block_size=8, embed_dim=4)
    positions(torch.arange(3)).sum().backward()
    assert positions.weight.grad[:3].abs().sum() > 0
    assert positions.weight.grad[3:].abs().sum() == 0
