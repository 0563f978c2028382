"""Chapter 2: the embedding lookup is a one-hot matrix product, and equals nn.Embedding."""

import pytest
import torch
from torch import nn

from minigpt.token_embeddings import TokenEmbedding, one_hot_embedding
from tests.helpers import TOLERANCES


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_lookup_equals_one_hot_times_weight(dtype):
    torch.manual_seed(0)
    embedding = TokenEmbedding(vocab_size=50, embed_dim=8).to(dtype)
    ids = torch.randint(0, 50, (3, 7))
    lookup = embedding(ids)
    assert lookup.shape == (3, 7, 8)
    expected = one_hot_embedding(ids, embedding.weight)
    torch.testing.assert_close(lookup, expected, **TOLERANCES[dtype])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_equals_nn_embedding_forward_and_gradient(dtype):
    torch.manual_seed(0)
    ours = TokenEmbedding(vocab_size=20, embed_dim=6).to(dtype)
    reference = nn.Embedding(20, 6).to(dtype)
    reference.weight.data.copy_(ours.weight.data)
    ids = torch.tensor([[1, 5, 5, 19], [0, 2, 3, 1]])
    out, ref = ours(ids), reference(ids)
    torch.testing.assert_close(out, ref, **TOLERANCES[dtype])
    upstream = torch.randn_like(out)
    out.backward(upstream)
    ref.backward(upstream)
    torch.testing.assert_close(ours.weight.grad, reference.weight.grad, **TOLERANCES[dtype])
    # Rows of tokens that never appeared get no gradient; a repeated token gets two.
    assert ours.weight.grad[4].abs().sum() == 0


def test_each_row_is_one_token_vector():
    embedding = TokenEmbedding(vocab_size=10, embed_dim=4)
    assert torch.equal(embedding(torch.tensor([7]))[0], embedding.weight[7])


def test_ids_outside_vocabulary_are_rejected():
    embedding = TokenEmbedding(vocab_size=10, embed_dim=4)
    with pytest.raises(ValueError, match=r"token id 10 at index \(0, 2\) is outside \[0, 10\)"):
        embedding(torch.tensor([[1, 2, 10]]))
    with pytest.raises(ValueError, match=r"token id -1 at index \(1,\) is outside \[0, 10\)"):
        embedding(torch.tensor([3, -1]))


def test_float_ids_are_rejected():
    embedding = TokenEmbedding(vocab_size=10, embed_dim=4)
    with pytest.raises(TypeError, match="token ids must be an integer tensor .*got torch.float32"):
        embedding(torch.tensor([1.0, 2.0]))
    with pytest.raises(TypeError, match="token ids must be a torch.Tensor, got list"):
        embedding([1, 2])
