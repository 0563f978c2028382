"""Chapter 4: scaled_dot_product_attention and SelfAttention, wrong."""

import math

import torch
from torch.nn import functional as F

from minigpt.self_attention import SelfAttention

from .registry import mistake


def _attention(query, key, value, mask=None, dropout_p=0.0, scale=None, axis=-1, fill=None):
    """Attention with the knobs that the wrong versions below turn."""
    scores = query @ key.transpose(-2, -1)
    if scale is not None:
        scores = scores / scale(query.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf") if fill is None else fill)
    weights = torch.softmax(scores, dim=axis)
    if dropout_p > 0:
        weights = F.dropout(weights, p=dropout_p)
    return weights @ value, weights


@mistake("scaled_dot_product_attention", "not divided by √d_k")
def no_scaling(query, key, value, mask=None, dropout_p=0.0):
    return _attention(query, key, value, mask, dropout_p)


@mistake("scaled_dot_product_attention", "not by d_k")
def divided_by_d_k(query, key, value, mask=None, dropout_p=0.0):
    return _attention(query, key, value, mask, dropout_p, scale=lambda d: d)


@mistake("scaled_dot_product_attention", "softmax over the wrong axis")
def softmax_over_queries(query, key, value, mask=None, dropout_p=0.0):
    return _attention(query, key, value, mask, dropout_p, scale=math.sqrt, axis=-2)


@mistake("scaled_dot_product_attention", "blocked scores were set to 0")
def blocked_scores_zero(query, key, value, mask=None, dropout_p=0.0):
    return _attention(query, key, value, mask, dropout_p, scale=math.sqrt, fill=0.0)


@mistake("scaled_dot_product_attention", "masked after the softmax")
def masks_the_weights(query, key, value, mask=None, dropout_p=0.0):
    _, weights = _attention(query, key, value, None, 0.0, scale=math.sqrt)
    if mask is not None:
        weights = weights.masked_fill(~mask, 0.0)
    return weights @ value, weights


@mistake("scaled_dot_product_attention", "the mask is inverted")
def inverted_mask(query, key, value, mask=None, dropout_p=0.0):
    return _attention(query, key, value, None if mask is None else ~mask, dropout_p, math.sqrt)


@mistake("scaled_dot_product_attention", "return a pair")
def returns_the_context_only(query, key, value, mask=None, dropout_p=0.0):
    return _attention(query, key, value, mask, dropout_p, scale=math.sqrt)[0]


@mistake("scaled_dot_product_attention", "no weight became 0")
def ignores_dropout(query, key, value, mask=None, dropout_p=0.0):
    return _attention(query, key, value, mask, 0.0, scale=math.sqrt)


@mistake("self_attention", "queries and keys are swapped")
class KeysTimesQueries(SelfAttention):
    def forward(self, x, mask=None):
        return _attention(self.key(x), self.query(x), self.value(x), mask, scale=math.sqrt)


@mistake("self_attention", "it lacks query.bias")
class NoBiases(SelfAttention):
    def __init__(self, embed_dim, head_dim, bias=False):
        super().__init__(embed_dim, head_dim, bias=False)  # the bias argument is dropped


@mistake("self_attention", "divided by √embed_dim (√16)", absent="give it to")
class ScaledByTheEmbeddingWidth(SelfAttention):
    """Passes the mask on, but scales by √embed_dim instead of √head_dim."""

    def forward(self, x, mask=None):
        q, k, v = self.query(x), self.key(x), self.value(x)
        scores = q @ k.transpose(-2, -1) / math.sqrt(x.shape[-1])
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        weights = torch.softmax(scores, dim=-1)
        return weights @ v, weights


@mistake("padding_mask", "add the query dimension")
def padding_without_the_query_dimension(lengths, seq_len):
    if bool((lengths < 1).any()) or bool((lengths > seq_len).any()):
        raise ValueError("bad lengths")
    return torch.arange(seq_len) < lengths.unsqueeze(-1)


@mistake("padding_mask", "position lengths[b] is padding too")
def padding_one_too_long(lengths, seq_len):
    if bool((lengths < 1).any()) or bool((lengths > seq_len).any()):
        raise ValueError("bad lengths")
    return (torch.arange(seq_len) <= lengths.unsqueeze(-1)).unsqueeze(1)


@mistake("padding_mask", "check 1 <= lengths <= seq_len")
def padding_unchecked(lengths, seq_len):
    return (torch.arange(seq_len) < lengths.unsqueeze(-1)).unsqueeze(1)
