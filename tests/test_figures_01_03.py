"""Chapters 1 to 3: the figures show what the package computes, and render reproducibly."""

from __future__ import annotations

import pytest
import regex

from minigpt import visualization as vis
from minigpt.tokenization import BPETokenizer, GPT2Tokenizer

TEXT = "Every moment is a beginning"
PATHS = [
    "figures/01-tokens.svg",
    "figures/01-bpe-merges.svg",
    "figures/02-one-hot-lookup.svg",
    "figures/02-embedding-rows.svg",
    "figures/03-position-tables.svg",
    "figures/03-sinusoids.svg",
]


@pytest.fixture(scope="module")
def gpt2() -> GPT2Tokenizer:
    return GPT2Tokenizer()


@pytest.mark.parametrize("path", PATHS)
def test_figure_is_registered_and_deterministic(path):
    assert path in vis.FIGURES
    assert vis.render_figure(path) == vis.render_figure(path)


def test_token_figure_shows_gpt2_ids(gpt2):
    svg = vis.render_figure("figures/01-tokens.svg")
    for token_id in gpt2.encode(TEXT):
        assert f">{token_id}<" in svg


def test_merge_steps_end_in_gpt2_tokens(gpt2):
    bpe = BPETokenizer.from_tiktoken(gpt2.encoding)
    for chunk in regex.findall(bpe.pattern, TEXT):
        steps = vis._merge_steps(bpe, chunk)
        assert steps[0] == [bpe.byte_ids[b] for b in chunk.encode("utf-8")]
        assert steps[-1] == gpt2.encode(chunk)
        # every step applies exactly one merge (all occurrences of one pair)
        for before, after in zip(steps, steps[1:]):
            assert len(after) < len(before)
            assert len(set(after) - set(before)) == 1


def test_shown_marks_spaces_and_newlines():
    assert vis._shown(" a\n") == "\u2423a\u21b5"
