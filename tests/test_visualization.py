"""The guide's figures (minigpt.visualization): each renders to a valid, stable SVG."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from minigpt import visualization
from minigpt.visualization import FIGURES, figure, render_figure


@pytest.mark.parametrize("path", sorted(FIGURES))
def test_figure_renders_to_valid_svg(path):
    svg = render_figure(path)
    root = ET.fromstring(svg.encode("utf-8"))
    assert root.tag == "{http://www.w3.org/2000/svg}svg", f"{path} is not an SVG document"
    assert float(root.get("width", "0").removesuffix("pt")) > 0
    assert "<dc:date>" not in svg, "the SVG carries a timestamp, so rebuilds would differ"


def test_figures_are_registered_under_site_paths():
    assert FIGURES, "no figures registered"
    for path in FIGURES:
        assert path.startswith("figures/") and path.endswith(".svg")


def test_introduction_figure_is_deterministic():
    path = "figures/00-generation-loop.svg"
    assert render_figure(path) == render_figure(path)


def test_figure_paths_are_checked():
    with pytest.raises(ValueError):
        figure("images/x.svg")
    with pytest.raises(ValueError):
        figure("figures/00-generation-loop.svg")  # already registered


def test_figure_functions_must_return_a_figure_or_svg():
    @figure("figures/99-test-only.svg")
    def bad():
        return 42

    try:
        with pytest.raises(TypeError):
            render_figure("figures/99-test-only.svg")
    finally:
        del visualization.FIGURES["figures/99-test-only.svg"]
