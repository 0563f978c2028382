"""Chapter 2: TokenEmbedding and one_hot_embedding, wrong."""

import torch
from torch import nn
from torch.nn import functional as F

from minigpt.token_embeddings import TokenEmbedding

from .registry import mistake


@mistake("token_embedding", "keep the table in self.weight")
class WrapsNNEmbedding(nn.Module):
    def __init__(self, vocab_size, embed_dim):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim)

    def forward(self, ids):
        return self.embedding(ids)


@mistake("token_embedding", "standard deviation is")
class UnscaledInit(TokenEmbedding):
    def __init__(self, vocab_size, embed_dim):
        super().__init__(vocab_size, embed_dim)
        self.weight = nn.Parameter(torch.randn(vocab_size, embed_dim))


@mistake("token_embedding", "weight[-1] would silently return the last row")
class NoRangeCheck(nn.Module):
    def __init__(self, vocab_size, embed_dim):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(vocab_size, embed_dim) * 0.02)

    def forward(self, ids):
        return self.weight[ids]


@mistake("one_hot_embedding", "num_classes=weight.shape[0]", absent="to weight.dtype")
def one_hot_without_num_classes(ids, weight):
    return F.one_hot(ids).to(weight.dtype) @ weight


@mistake("one_hot_embedding", "to weight.dtype", absent="num_classes")
def one_hot_in_float32(ids, weight):
    return F.one_hot(ids, weight.shape[0]).float() @ weight
