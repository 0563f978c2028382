"""Chapter 3: sinusoidal_table and LearnedPositionalEmbedding, wrong."""

import torch
from torch import nn

from minigpt.positional_embeddings import LearnedPositionalEmbedding

from .registry import mistake


def _table(num_positions, embed_dim, dtype=torch.float64, swap=False, exponent_of_pair=False):
    if embed_dim % 2:
        raise ValueError("embed_dim must be even")
    position = torch.arange(num_positions, dtype=dtype).unsqueeze(1)
    two_i = torch.arange(0, embed_dim, 2, dtype=dtype)
    exponent = (two_i / 2 if exponent_of_pair else two_i) / embed_dim
    angle = position / torch.pow(10000.0, exponent)
    table = torch.empty(num_positions, embed_dim, dtype=dtype)
    table[:, 0::2] = torch.cos(angle) if swap else torch.sin(angle)
    table[:, 1::2] = torch.sin(angle) if swap else torch.cos(angle)
    return table.to(torch.get_default_dtype())


@mistake("sinusoidal_table", "sin and cos are swapped")
def cos_first(num_positions, embed_dim):
    return _table(num_positions, embed_dim, swap=True)


@mistake("sinusoidal_table", "i the pair's index")
def exponent_of_the_pair_index(num_positions, embed_dim):
    return _table(num_positions, embed_dim, exponent_of_pair=True)


@mistake("sinusoidal_table", "compute the angles in float64")
def in_float32(num_positions, embed_dim):
    return _table(num_positions, embed_dim, dtype=torch.float32)


@mistake("sinusoidal_table", "every column got its own frequency")
def a_frequency_per_column(num_positions, embed_dim):
    if embed_dim % 2:
        raise ValueError("embed_dim must be even")
    position = torch.arange(num_positions, dtype=torch.float64).unsqueeze(1)
    column = torch.arange(embed_dim, dtype=torch.float64)
    angle = position / 10000 ** (column / embed_dim)
    table = torch.empty(num_positions, embed_dim, dtype=torch.float64)
    table[:, 0::2] = torch.sin(angle[:, 0::2])
    table[:, 1::2] = torch.cos(angle[:, 1::2])
    return table.to(torch.get_default_dtype())


@mistake("sinusoidal_table", "an odd width would leave a sine without its cosine")
def accepts_odd_widths(num_positions, embed_dim):
    position = torch.arange(num_positions, dtype=torch.float64).unsqueeze(1)
    angle = position / torch.pow(10000.0, torch.arange(0, embed_dim, 2) / embed_dim)
    table = torch.zeros(num_positions, embed_dim, dtype=torch.float64)
    table[:, 0::2] = torch.sin(angle)
    table[:, 1::2] = torch.cos(angle)[:, : embed_dim // 2]
    return table.to(torch.get_default_dtype())


@mistake("learned_positional_embedding", "look up the positions given")
class FirstRows(LearnedPositionalEmbedding):
    def forward(self, positions):
        return self.weight[: len(positions)]


@mistake("learned_positional_embedding", "keep the table in self.weight")
class WrapsNNEmbedding(nn.Module):
    def __init__(self, block_size, embed_dim):
        super().__init__()
        self.table = nn.Embedding(block_size, embed_dim)

    def forward(self, positions):
        return self.table(positions)
