"""The guide's figures (docs/figures): each renders to a valid, stable SVG and shows what the
package computes. One section per chapter module of docs/figures."""

from __future__ import annotations

import functools
import importlib.util
import json
import math
import xml.etree.ElementTree as ET
from pathlib import Path
from types import SimpleNamespace

import figures
import matplotlib.pyplot as plt
import pytest
import regex
import torch
from figures import (
    ch01_tokenization,
    ch04_self_attention,
    ch05_masked_multi_head_attention,
    ch10_minigpt,
    ch11_train_and_sample,
    style,
)
from figures.registry import FIGURES, figure, render_figure

from minigpt import MiniGPT, MiniGPTConfig
from minigpt.attention_maps import export_attention_maps, head_statistics
from minigpt.bpe import BPETokenizer
from minigpt.feed_forward import FeedForward
from minigpt.layer_norm import LayerNorm
from minigpt.residual import gradient_norms_by_depth
from minigpt.tokenization import CharTokenizer, GPT2Tokenizer

TEXT = "Every moment is a beginning"
DOCS = Path(__file__).resolve().parents[1] / "docs"

# --- the registry -----------------------------------------------------------------------------


@functools.cache
def rendered(path: str, narrow: bool = False) -> str:
    """A figure's SVG, rendered once for the tests that only read it."""
    return render_figure(path, narrow)


def smallest_text_px(svg: str, column_px: float) -> tuple[float, float]:
    """The smallest text of a figure's SVG as a page shows it, in CSS px, and the figure's
    natural width: the site shows a figure at its natural size (72 pt = 96 CSS px), shrunk to
    the content column when wider; matplotlib writes text sizes in points (the SVG's units)."""
    root = ET.fromstring(svg.encode("utf-8"))
    assert root.tag == "{http://www.w3.org/2000/svg}svg", "not an SVG document"
    width_pt = float(root.get("width", "0").removesuffix("pt"))
    assert width_pt > 0
    scaled = regex.search(r'<(?:g|text|tspan)\b[^>]*transform="[^"]*scale\(', svg)
    assert scaled is None, "a scaled group would change the text sizes measured here"
    sizes = [float(size) for size in regex.findall(r"font(?:-size)?:\s*([\d.]+)px", svg)]
    assert sizes, "the figure has no text"
    natural_px = width_pt * 4 / 3
    return min(sizes) * 4 / 3 * min(1.0, column_px / natural_px), natural_px


@pytest.mark.parametrize("path", sorted(FIGURES))
def test_figure_renders_to_valid_svg_with_legible_text(path):
    svg = rendered(path)
    assert "<dc:date>" not in svg, "the SVG carries a timestamp, so rebuilds would differ"
    shown, natural_px = smallest_text_px(svg, style.COLUMN_PX)
    assert shown >= style.MIN_TEXT_PX, (
        f"{path}: its smallest text is {shown:.1f} px on a desktop screen "
        f"(figure {natural_px:.0f} px wide, column {style.COLUMN_PX} px); keep figures at most "
        f"{style.FIGURE_MAX_WIDTH:.1f} in wide and text at {style.MIN_FONT_SIZE} pt or more"
    )


@pytest.mark.parametrize("path", sorted(FIGURES))
def test_narrow_variant_is_legible_in_a_phone_column(path):
    """At 390 px a phone's column is 358 px: the narrow variant's smallest text is 9 px or
    more there, where the desktop figure's would be about 5 px."""
    narrow = rendered(path, narrow=True)
    assert "<dc:date>" not in narrow
    shown, natural_px = smallest_text_px(narrow, style.NARROW_COLUMN_PX)
    assert shown >= style.NARROW_MIN_TEXT_PX, (
        f"{path}, narrow: its smallest text is {shown:.1f} px on a 390 px phone (figure "
        f"{natural_px:.0f} px wide, column {style.NARROW_COLUMN_PX} px); keep narrow variants "
        f"at most {style.NARROW_MAX_WIDTH:.2f} in wide, text at {style.NARROW_MIN_FONT_SIZE} pt"
    )
    assert natural_px <= style.NARROW_COLUMN_PX * 1.05, (
        f"{path}, narrow: {natural_px:.0f} px wide, drawn for a wider column than a phone's"
    )
    wide_on_phone, _ = smallest_text_px(rendered(path), style.NARROW_COLUMN_PX)
    assert shown > wide_on_phone, f"{path}: the narrow variant is no more legible on a phone"


@pytest.mark.parametrize("path", ["figures/00-generation-loop.svg", "figures/04-qkv.svg"])
def test_dark_variant_swaps_the_ink_only(path):
    svg = render_figure(path)
    dark = figures.dark_variant(svg)
    assert style.NEUTRAL in svg and style.NEUTRAL not in dark
    assert dark.replace(style.NEUTRAL_DARK, style.NEUTRAL) == svg


def test_ink_contrasts_with_both_themes():
    slate = "#1e2029"  # Material's dark background, hsl(232, 15%, 14%)
    assert style.contrast(style.NEUTRAL, "#ffffff") >= 4.5
    assert style.contrast(style.NEUTRAL_DARK, slate) >= 4.5
    assert style.contrast("#ffffff", style.MUTED) >= 4.5
    for color in style.PALETTE:
        assert style.contrast(style.ink_on(color), color) >= 4.5


@pytest.mark.parametrize(
    "path",
    [
        "figures/00-generation-loop.svg",
        "figures/01-tokens.svg",
        "figures/01-bpe-merges.svg",
        "figures/02-one-hot-lookup.svg",
        "figures/02-embedding-rows.svg",
        "figures/03-position-tables.svg",
        "figures/03-sinusoids.svg",
        "figures/07-gradient-norms.svg",
    ],
)
def test_figure_is_deterministic(path):
    assert render_figure(path) == render_figure(path)


def test_every_chapter_module_registers_its_own_figures():
    assert figures.FIGURES is FIGURES and FIGURES, "no figures registered"
    for path, render in FIGURES.items():
        assert path.startswith("figures/") and path.endswith(".svg")
        chapter = path.removeprefix("figures/")[:2]
        module = next(
            m
            for m in vars(figures).values()
            if getattr(m, "__name__", "").startswith(f"figures.ch{chapter}_")
        )
        assert render.__name__ in vars(module), f"{path} is not drawn in {module.__name__}"


def test_figure_paths_are_checked():
    with pytest.raises(ValueError):
        figure("images/x.svg")
    with pytest.raises(ValueError):
        figure("figures/00-generation-loop.svg")  # already registered


def test_figure_functions_must_take_narrow():
    with pytest.raises(TypeError, match="must take one argument, narrow"):

        @figure("figures/99-test-only.svg")
        def no_narrow_variant():
            return 42

    assert "figures/99-test-only.svg" not in FIGURES


def test_figure_functions_must_return_a_figure_or_svg():
    @figure("figures/99-test-only.svg")
    def bad(narrow):
        return 42

    try:
        with pytest.raises(TypeError):
            render_figure("figures/99-test-only.svg")
    finally:
        del FIGURES["figures/99-test-only.svg"]


# --- the hook: four variants per figure, numbered captions -----------------------------------


def _load_hook():
    spec = importlib.util.spec_from_file_location(
        "render_figures_hook", DOCS / "hooks" / "render_figures.py"
    )
    hook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hook)
    return hook


def _page(src_uri):
    return SimpleNamespace(file=SimpleNamespace(src_uri=src_uri))


def test_figure_links_become_numbered_figures_of_four_variants(monkeypatch):
    hook = _load_hook()
    monkeypatch.setitem(hook._sizes, "figures/04-qkv.svg", {False: (722, 606), True: (352, 626)})
    monkeypatch.setitem(
        hook._sizes, "figures/04-context.svg", {False: (761, 492), True: (352, 702)}
    )
    markdown = (
        "Text.\n\n"
        '![Q, K and V](figures/04-qkv.svg "Each row is one token.")\n\n'
        "More text, ![inline](figures/04-qkv.svg) stays an image.\n\n"
        '![Context](figures/04-context.svg "Rows are averages.")\n'
    )
    html = hook.on_page_markdown(markdown, _page("04-self-attention.md"), None, None)
    assert html.count('<figure class="minigpt-figure"') == 2
    assert 'id="figure-4-1"' in html and 'id="figure-4-2"' in html
    assert "Figure 4.1</span> Each row is one token." in html
    assert "Figure 4.2</span> Rows are averages." in html
    first = html[html.index("figure-4-1") : html.index("figure-4-2")]
    for image in (
        '![Q, K and V](figures/04-qkv.svg#only-light){ width="722" height="606"',
        '![Q, K and V](figures/dark/04-qkv.svg#only-dark){ width="722" height="606"',
        '![Q, K and V](figures/narrow/04-qkv.svg){ width="352" height="626"',
        '![Q, K and V](figures/narrow/dark/04-qkv.svg){ width="352" height="626"',
    ):
        assert image in first
    assert 'data-gallery="narrow-light"' in first and 'data-gallery="narrow-dark"' in first
    assert "![inline](figures/04-qkv.svg) stays" in html  # not on a line of its own
    intro = hook.on_page_markdown(markdown, _page("index.md"), None, None)
    assert "Figure 1</span>" in intro and "Figure 2</span>" in intro


def test_a_figure_without_a_caption_fails_the_build(monkeypatch):
    from mkdocs.exceptions import PluginError

    hook = _load_hook()
    monkeypatch.setitem(hook._sizes, "figures/04-qkv.svg", {False: (722, 606), True: (352, 626)})
    with pytest.raises(PluginError, match="figures/04-qkv.svg has no caption"):
        hook.on_page_markdown("![Q](figures/04-qkv.svg)\n", _page("04-x.md"), None, None)


def test_every_figure_is_shown_once_with_a_one_sentence_caption():
    hook = _load_hook()
    shown = []
    for page in sorted(DOCS.glob("*.md")):
        for match in hook.IMAGE_LINK.finditer(page.read_text(encoding="utf-8")):
            caption = match["caption"] or ""
            assert caption.endswith(".") and caption.count(". ") == 0, (
                f"{page.name}: {match['path']} needs a caption of one sentence, got {caption!r}"
            )
            shown.append(match["path"])
    assert sorted(shown) == sorted(FIGURES)


def test_the_page_switches_to_the_narrow_variant_where_the_style_says():
    css = (DOCS / "stylesheets" / "extra.css").read_text(encoding="utf-8")
    assert f"@media screen and {style.NARROW_MEDIA}" in css
    assert ".minigpt-narrow" in css and ".minigpt-wide" in css


def test_shown_marks_spaces_and_newlines():
    assert style.shown(" a\n") == "\u2423a\u21b5"


# --- chapter 1 --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gpt2() -> GPT2Tokenizer:
    return GPT2Tokenizer()


def test_token_figure_shows_gpt2_ids(gpt2):
    svg = render_figure("figures/01-tokens.svg")
    for token_id in gpt2.encode(TEXT):
        assert f">{token_id}<" in svg


def test_merge_steps_end_in_gpt2_tokens(gpt2):
    bpe = BPETokenizer.from_tiktoken(gpt2.encoding)
    for chunk in regex.findall(bpe.pattern, TEXT):
        steps = ch01_tokenization._merge_steps(bpe, chunk)
        assert steps[0] == [bpe.byte_ids[b] for b in chunk.encode("utf-8")]
        assert steps[-1] == gpt2.encode(chunk)
        # every step applies exactly one merge (all occurrences of one pair)
        for before, after in zip(steps, steps[1:]):
            assert len(after) < len(before)
            assert len(set(after) - set(before)) == 1


# --- chapter 4 --------------------------------------------------------------------------------


@pytest.mark.parametrize("narrow", [False, True])
def test_qkv_figure_draws_tokens_as_rows_like_the_formulas(narrow):
    labels, x, attention = ch04_self_attention.example_self_attention()
    with figures.style.figure_style(narrow):
        fig = ch04_self_attention.attention_qkv(narrow)
    try:
        for ax, layer in zip(fig.axes, (attention.query, attention.key, attention.value)):
            assert [t.get_text() for t in ax.get_yticklabels()] == labels
            (image,) = ax.get_images()
            with torch.no_grad():
                expected = layer(x)[0]  # (tokens, head_dim): Q = x W_Q has a row per token
            torch.testing.assert_close(torch.tensor(image.get_array().data).float(), expected)
    finally:
        plt.close(fig)


# --- chapter 5 --------------------------------------------------------------------------------


@pytest.fixture
def runs_dir(tmp_path, monkeypatch):
    """Point the figures that read committed runs at an empty folder of this test's own."""
    monkeypatch.setattr(style, "RUNS_DIR", tmp_path)
    return tmp_path


@pytest.mark.parametrize("path", ["figures/05-trained-heads.svg", "figures/05-head-patterns.svg"])
def test_trained_head_figures_render_from_any_export(runs_dir, path):
    tokenizer = CharTokenizer.from_text(TEXT)
    torch.manual_seed(0)
    model = MiniGPT(
        MiniGPTConfig(
            vocab_size=tokenizer.vocab_size, block_size=32, embed_dim=12, num_heads=3, num_layers=2
        )
    )
    run = ch05_masked_multi_head_attention.ATTENTION_RUN
    exported = export_attention_maps(model, tokenizer, TEXT, runs_dir / run / "attention.json")
    svg = render_figure(path)
    assert svg.lstrip().startswith(("<?xml", "<svg"))
    if path.endswith("trained-heads.svg"):  # every layer in a row, every head in a column
        assert ">layer 1<" in svg and ">head 2<" in svg and ">layer 2<" not in svg
    else:  # the most typical head of each pattern by name, and the uniform reference
        stats = head_statistics(exported)
        for key in ("previous", "first", "spaces"):
            best = max(stats, key=lambda row: row[key])
            assert f"layer {best['layer']}, head {best['head']}" in svg
        assert "uniform reference" in svg


# --- chapters 6 to 8: the data behind the figures says what the pages claim -------------------


def test_feed_forward_uses_the_tanh_gelu_shown_in_the_figure():
    x = torch.linspace(-4, 4, 101)
    torch.testing.assert_close(
        FeedForward(1).activation(x), torch.nn.functional.gelu(x, approximate="tanh")
    )


def test_chapter_7_claims_hold_for_the_plotted_configuration():
    plain = gradient_norms_by_depth(num_layers=24, embed_dim=64, seed=0, residual=False)
    skip = gradient_norms_by_depth(num_layers=24, embed_dim=64, seed=0, residual=True)
    normed = gradient_norms_by_depth(
        num_layers=24, embed_dim=64, seed=0, residual=False, layer_norm=True
    )
    assert plain[0] / plain[-1] < 1e-10  # vanishes
    assert 0.5 < skip[0] / skip[-1] < 2  # flat
    assert 0.1 < normed[0] / normed[-1] < 10  # LayerNorm alone also keeps the norm


def test_layer_norm_removes_offset_and_scale_of_every_vector():
    torch.manual_seed(0)
    offsets = torch.tensor([-6.0, 0.0, 7.0]).unsqueeze(1)
    scales = torch.tensor([0.5, 1.0, 3.0]).unsqueeze(1)
    x = offsets + scales * torch.randn(3, 768)
    with torch.no_grad():
        y = LayerNorm(768)(x)
    torch.testing.assert_close(y.mean(-1), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(y.std(-1, unbiased=False), torch.ones(3), atol=1e-3, rtol=0)


# --- chapters 10 and 11: the figures that read committed runs tolerate missing files -----------


def write_run(folder, steps=(0, 10, 20), vocab_size=65):
    folder.mkdir(parents=True)
    records = []
    for step in steps:
        records.append(
            {
                "kind": "train",
                "step": step,
                "time": step / 10,
                "lr": 1e-3,
                "train_loss": 4.0 - step / 10,
                "val_loss": None,
                "tokens_per_sec": 1000.0,
            }
        )
        records.append(
            {
                "kind": "eval",
                "step": step,
                "time": step / 10,
                "lr": 1e-3,
                "train_loss": 4.0 - step / 10,
                "val_loss": 4.1 - step / 10,
                "tokens_per_sec": None,
            }
        )
    lines = "".join(json.dumps(r) + "\n" for r in records)
    (folder / "metrics.jsonl").write_text(lines + "\n", encoding="utf-8")  # a trailing blank line
    (folder / "run.json").write_text(
        json.dumps({"model_config": {"vocab_size": vocab_size}}), encoding="utf-8"
    )


def test_read_metrics_skips_blank_lines(runs_dir):
    write_run(runs_dir / "shakespeare-char-cpu")
    records = ch11_train_and_sample.read_metrics(runs_dir / "shakespeare-char-cpu/metrics.jsonl")
    assert len(records) == 6
    assert {r["kind"] for r in records} == {"train", "eval"}


def test_loss_curve_without_any_run_says_so(runs_dir):
    svg = render_figure("figures/11-loss-curve.svg")
    assert "no training run published in minigpt/runs/ yet" in svg


def test_loss_curve_shows_the_cpu_run_and_picks_up_a_gpu_run(runs_dir):
    write_run(runs_dir / "shakespeare-char-cpu")
    svg = render_figure("figures/11-loss-curve.svg")
    assert "shakespeare-char-cpu (CPU)" in svg
    assert "(GPU)" not in svg
    write_run(runs_dir / "shakespeare-char", steps=(0, 250, 500))
    svg = render_figure("figures/11-loss-curve.svg")
    assert "shakespeare-char (GPU)" in svg and "shakespeare-char-cpu (CPU)" in svg


@pytest.mark.parametrize("narrow", [False, True])
def test_loss_curve_marks_evaluations_as_points_and_keeps_its_labels_apart(runs_dir, narrow):
    write_run(runs_dir / "shakespeare-char-cpu")
    with figures.style.figure_style(narrow):
        fig = ch11_train_and_sample.loss_curves(narrow)
    try:
        fig.canvas.draw()
        loss_ax, lr_ax = fig.axes
        lines = {line.get_label(): line for line in loss_ax.get_lines()}
        validation = lines["shakespeare-char-cpu (CPU): validation"]
        assert validation.get_linestyle() == "None" and validation.get_marker() == "o"
        assert lines["shakespeare-char-cpu (CPU): training batches"].get_alpha() >= 0.8
        # ln V is labelled on its line; the legend sits outside both plots
        assert any("uniform guess" in t.get_text() for t in loss_ax.texts)
        assert loss_ax.get_legend() is None and len(fig.legends) == 1
        renderer = fig.canvas.get_renderer()
        legend_box = fig.legends[0].get_window_extent(renderer)
        for ax in (loss_ax, lr_ax):
            assert not legend_box.overlaps(ax.get_window_extent(renderer))
        # the learning rate in plain decimals: no "1e−3" offset beside the title
        assert lr_ax.yaxis.get_offset_text().get_text() == ""
    finally:
        plt.close(fig)


def test_size_table_models_use_the_committed_character_vocabulary(runs_dir):
    assert "shakespeare-char" not in ch10_minigpt._guide_models()
    write_run(runs_dir / "shakespeare-char-cpu", vocab_size=65)
    models = ch10_minigpt._guide_models()
    assert models["shakespeare-char"].vocab_size == 65
    assert models["shakespeare-char-cpu"].vocab_size == 65
    assert models["GPT-2 small"].embed_dim == 768


def test_tiny_trained_model_learns_its_paragraph():
    model, tokenizer = ch10_minigpt._tiny_trained_char_model(steps=60)
    ids = torch.tensor([tokenizer.encode(ch10_minigpt.TINY_TEXT[:33])])
    _, loss = model(ids[:, :-1], ids[:, 1:])
    assert loss.item() < 0.7 * math.log(tokenizer.vocab_size)
