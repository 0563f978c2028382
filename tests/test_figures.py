"""The guide's figures (docs/figures): each renders to a valid, stable SVG and shows what the
package computes. One section per chapter module of docs/figures."""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET

import figures
import pytest
import regex
import torch
from figures import (
    ch01_tokenization,
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

# --- the registry -----------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(FIGURES))
def test_figure_renders_to_valid_svg_with_legible_text(path):
    svg = render_figure(path)
    root = ET.fromstring(svg.encode("utf-8"))
    assert root.tag == "{http://www.w3.org/2000/svg}svg", f"{path} is not an SVG document"
    width_pt = float(root.get("width", "0").removesuffix("pt"))
    assert width_pt > 0
    assert "<dc:date>" not in svg, "the SVG carries a timestamp, so rebuilds would differ"
    # The site shows a figure at its natural size (72 pt = 96 CSS px), shrunk to the content
    # column when wider: its smallest text must still be 11 CSS px there.
    scaled = regex.search(r'<(?:g|text|tspan)\b[^>]*transform="[^"]*scale\(', svg)
    assert scaled is None, "a scaled group would change the text sizes measured below"
    sizes = [float(size) for size in regex.findall(r"font(?:-size)?:\s*([\d.]+)px", svg)]
    assert sizes, f"{path} has no text"
    natural_px = width_pt * 4 / 3
    shown = min(sizes) * 4 / 3 * min(1.0, style.COLUMN_PX / natural_px)
    assert shown >= style.MIN_TEXT_PX, (
        f"{path}: its smallest text ({min(sizes)} pt) is {shown:.1f} px on a desktop screen "
        f"(figure {natural_px:.0f} px wide, column {style.COLUMN_PX} px); keep figures at most "
        f"{style.FIGURE_MAX_WIDTH:.1f} in wide and text at {style.MIN_FONT_SIZE} pt or more"
    )


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


def test_figure_functions_must_return_a_figure_or_svg():
    @figure("figures/99-test-only.svg")
    def bad():
        return 42

    try:
        with pytest.raises(TypeError):
            render_figure("figures/99-test-only.svg")
    finally:
        del FIGURES["figures/99-test-only.svg"]


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
    assert "no training run committed" in svg


def test_loss_curve_shows_the_cpu_run_and_picks_up_a_gpu_run(runs_dir):
    write_run(runs_dir / "shakespeare-char-cpu")
    svg = render_figure("figures/11-loss-curve.svg")
    assert "shakespeare-char-cpu (CPU)" in svg
    assert "(GPU)" not in svg
    write_run(runs_dir / "shakespeare-char", steps=(0, 250, 500))
    svg = render_figure("figures/11-loss-curve.svg")
    assert "shakespeare-char (GPU)" in svg and "shakespeare-char-cpu (CPU)" in svg


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
