"""Properties of `sample_next_token`: greedy, temperature, top-k, top-p, seeds, bad options."""

from __future__ import annotations

import math

import pytest
import torch

from minigpt.sampling import check_sampling_options, sample_next_token

# Probabilities 0.5, 0.25, 0.15, 0.07, 0.03 (already sorted, most likely first).
PROBS = torch.tensor([[0.5, 0.25, 0.15, 0.07, 0.03]])
LOGITS = PROBS.log()


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models run fastest on one thread, and leave the other cores to other tests."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def empirical(logits: torch.Tensor, n: int = 4000, **options) -> torch.Tensor:
    """Frequencies of each token over n draws (one row repeated n times, one call)."""
    generator = torch.Generator().manual_seed(0)
    draws = sample_next_token(logits.expand(n, -1), generator=generator, **options)
    return torch.bincount(draws.flatten(), minlength=logits.shape[-1]).float() / n


def test_temperature_zero_is_greedy():
    logits = torch.randn(6, 50, generator=torch.Generator().manual_seed(1))
    ids = sample_next_token(logits, temperature=0)
    assert ids.shape == (6, 1) and ids.dtype == torch.long
    assert torch.equal(ids, logits.argmax(dim=-1, keepdim=True))


def test_top_k_of_one_is_greedy():
    logits = torch.randn(6, 50, generator=torch.Generator().manual_seed(2))
    for seed in range(5):
        generator = torch.Generator().manual_seed(seed)
        ids = sample_next_token(logits, temperature=1.5, top_k=1, generator=generator)
        assert torch.equal(ids, logits.argmax(dim=-1, keepdim=True))


def test_top_k_restricts_the_support_to_the_k_most_likely():
    frequencies = empirical(LOGITS, top_k=2)
    assert frequencies[2:].sum() == 0
    assert frequencies[0] == pytest.approx(0.5 / 0.75, abs=0.03)  # renormalised over two
    assert sample_next_token(LOGITS, top_k=100).shape == (1, 1)  # k above the vocabulary is ok


def test_top_p_keeps_the_smallest_nucleus():
    # Cumulative: 0.5, 0.75, 0.90, 0.97, 1.0. p = 0.7 needs the first two tokens (0.5 < 0.7),
    # p = 0.8 needs three (0.75 < 0.8), and so on.
    for top_p, kept in ((0.3, 1), (0.7, 2), (0.8, 3), (0.95, 4), (1.0, 5)):
        frequencies = empirical(LOGITS, top_p=top_p)
        assert (frequencies > 0).sum() == kept, top_p
        expected = PROBS[0, :kept] / PROBS[0, :kept].sum()
        torch.testing.assert_close(frequencies[:kept], expected, atol=0.03, rtol=0)


def test_top_p_works_on_unsorted_rows_independently():
    logits = torch.stack([LOGITS[0].flip(0), LOGITS[0]])  # most likely token last, then first
    generator = torch.Generator().manual_seed(0)
    ids = sample_next_token(logits, top_p=0.3, generator=generator)
    assert ids.flatten().tolist() == [4, 0]


def test_temperature_reshapes_the_distribution():
    sharp = empirical(LOGITS, temperature=0.5)
    expected = torch.softmax(LOGITS[0] / 0.5, dim=-1)  # p^2, renormalised
    torch.testing.assert_close(sharp, expected, atol=0.03, rtol=0)
    flat = empirical(LOGITS, temperature=100.0)
    assert flat.min() > 0.15  # nearly uniform over five tokens


def test_a_seeded_generator_reproduces_the_samples():
    logits = torch.randn(3, 100, generator=torch.Generator().manual_seed(3))

    def draw(seed):
        generator = torch.Generator().manual_seed(seed)
        return torch.cat([sample_next_token(logits, 0.9, 20, 0.9, generator) for _ in range(10)])

    assert torch.equal(draw(7), draw(7))
    assert not torch.equal(draw(7), draw(8))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"temperature": -0.1}, "temperature must be >= 0 (0 means greedy), got -0.1"),
        ({"top_k": 0}, "top_k must be a positive integer or None, got 0"),
        ({"top_k": 2.5}, "top_k must be a positive integer or None, got 2.5"),
        ({"top_k": True}, "top_k must be a positive integer or None, got True"),
        ({"top_p": 0.0}, "top_p must be in (0, 1] or None, got 0.0"),
        ({"top_p": 1.5}, "top_p must be in (0, 1] or None, got 1.5"),
        ({"top_p": True}, "top_p must be in (0, 1] or None, got True"),
        ({"top_p": "0.5"}, "top_p must be in (0, 1] or None, got '0.5'"),
        ({"temperature": "0.5"}, "temperature must be a number, got '0.5'"),
    ],
)
def test_bad_options_raise_with_exact_messages(options, message):
    settings = {"temperature": 1.0, "top_k": None, "top_p": None, **options}
    with pytest.raises(ValueError) as info:
        check_sampling_options(**settings)
    assert str(info.value) == message


def test_probabilities_are_not_changed_without_filters():
    frequencies = empirical(LOGITS, n=20000)
    torch.testing.assert_close(frequencies, PROBS[0], atol=0.015, rtol=0)
    assert math.isclose(float(frequencies.sum()), 1.0, rel_tol=1e-6)


@pytest.mark.parametrize("temperature", [1e-45, 1e-300, 5e-324, 1e-38])
def test_tiny_temperatures_are_greedy(temperature):
    """Dividing by a temperature this small overflows float32 (1e-300 even rounds to 0): the
    limit of ever sharper distributions, greedy decoding, is what they give."""
    logits = torch.tensor([[3.0, 9.5, -2.0, 9.25], [100.0, -100.0, 0.0, 99.0]])
    for seed in range(3):
        generator = torch.Generator().manual_seed(seed)
        chosen = sample_next_token(logits, temperature, top_p=0.9, generator=generator)
        assert chosen.flatten().tolist() == [1, 0]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"seed": -1}, "seed must be a whole number in [0, 4294967295], got -1"),
        ({"seed": 2**32}, "seed must be a whole number in [0, 4294967295], got 4294967296"),
        ({"seed": "1"}, "seed must be a whole number in [0, 4294967295], got '1'"),
        ({"max_new_tokens": True}, "max_new_tokens must be a whole number >= 0, got True"),
        ({"max_new_tokens": "5"}, "max_new_tokens must be a whole number >= 0, got '5'"),
        ({"max_new_tokens": -1}, "max_new_tokens must be a whole number >= 0, got -1"),
        ({"top_p": True}, "top_p must be in (0, 1] or None, got True"),
        ({"temperature": "hot"}, "temperature must be a number, got 'hot'"),
        ({"prompt": None}, "prompt must be a str ('' starts afresh), got None"),
        ({"prompt": 42}, "prompt must be a str ('' starts afresh), got 42"),
    ],
)
def test_bad_generation_arguments_are_value_errors(options, message):
    from minigpt import MiniGPT, MiniGPTConfig
    from minigpt.generation import generate_text
    from minigpt.tokenization import CharTokenizer

    tokenizer = CharTokenizer(list("ab\n"))
    model = MiniGPT(
        MiniGPTConfig(vocab_size=3, block_size=4, embed_dim=8, num_heads=2, num_layers=1)
    )
    settings = {"prompt": "ab", "max_new_tokens": 2, **options}
    with pytest.raises(ValueError) as info:
        generate_text(model, tokenizer, **settings)
    assert str(info.value) == message
