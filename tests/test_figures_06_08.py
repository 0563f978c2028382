"""Chapters 6 to 8: the figures render, and the data behind them says what the pages claim."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
import torch

from minigpt.feed_forward import FeedForward
from minigpt.layer_norm import LayerNorm
from minigpt.residual import gradient_norms_by_depth
from minigpt.visualization import FIGURES, render_figure

PATHS = [
    "figures/06-gelu-vs-relu.svg",
    "figures/07-gradient-norms.svg",
    "figures/08-activation-scale.svg",
    "figures/08-layer-norm-histograms.svg",
]


@pytest.mark.parametrize("path", PATHS)
def test_figure_is_registered_and_renders(path):
    assert path in FIGURES
    svg = render_figure(path)
    assert ET.fromstring(svg.encode("utf-8")).tag == "{http://www.w3.org/2000/svg}svg"


def test_gradient_figure_is_deterministic():
    assert render_figure(PATHS[1]) == render_figure(PATHS[1])


def test_feed_forward_uses_the_tanh_gelu_shown_in_the_figure():
    x = torch.linspace(-4, 4, 101)
    torch.testing.assert_close(FeedForward(1).activation(x),
                               torch.nn.functional.gelu(x, approximate="tanh"))


def test_chapter_7_claims_hold_for_the_plotted_configuration():
    plain = gradient_norms_by_depth(num_layers=24, embed_dim=64, seed=0, residual=False)
    skip = gradient_norms_by_depth(num_layers=24, embed_dim=64, seed=0, residual=True)
    normed = gradient_norms_by_depth(num_layers=24, embed_dim=64, seed=0, residual=False,
                                     layer_norm=True)
    assert plain[0] / plain[-1] < 1e-10  # vanishes
    assert 0.5 < skip[0] / skip[-1] < 2  # flat
    assert 0.1 < normed[0] / normed[-1] < 10  # LayerNorm alone also keeps the norm


def test_layer_norm_removes_offset_and_scale_of_every_vector():
    torch.manual_seed(0)
    x = torch.tensor([-6.0, 0.0, 7.0]).unsqueeze(1) + torch.tensor([0.5, 1.0, 3.0]).unsqueeze(
        1) * torch.randn(3, 768)
    with torch.no_grad():
        y = LayerNorm(768)(x)
    torch.testing.assert_close(y.mean(-1), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(y.std(-1, unbiased=False), torch.ones(3), atol=1e-3, rtol=0)
