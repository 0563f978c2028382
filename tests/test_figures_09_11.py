"""Chapters 9 to 11: the figures that read committed training runs tolerate missing files."""

from __future__ import annotations

import json

import pytest

from minigpt import visualization as vis


def write_run(folder, steps=(0, 10, 20), vocab_size=65):
    folder.mkdir(parents=True)
    records = []
    for step in steps:
        records.append({"kind": "train", "step": step, "time": step / 10, "lr": 1e-3,
                        "train_loss": 4.0 - step / 10, "val_loss": None,
                        "tokens_per_sec": 1000.0})
        records.append({"kind": "eval", "step": step, "time": step / 10, "lr": 1e-3,
                        "train_loss": 4.0 - step / 10, "val_loss": 4.1 - step / 10,
                        "tokens_per_sec": None})
    lines = "".join(json.dumps(r) + "\n" for r in records)
    (folder / "metrics.jsonl").write_text(lines + "\n", encoding="utf-8")  # a trailing blank line
    (folder / "run.json").write_text(json.dumps({"model_config": {"vocab_size": vocab_size}}),
                                     encoding="utf-8")


@pytest.fixture
def runs_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(vis, "RUNS_DIR", tmp_path)
    return tmp_path


def test_read_metrics_skips_blank_lines(runs_dir):
    write_run(runs_dir / "shakespeare-char-cpu")
    records = vis.read_metrics(runs_dir / "shakespeare-char-cpu" / "metrics.jsonl")
    assert len(records) == 6
    assert {r["kind"] for r in records} == {"train", "eval"}


def test_loss_curve_without_any_run_says_so(runs_dir):
    svg = vis.render_figure("figures/11-loss-curve.svg")
    assert "no training run committed" in svg


def test_loss_curve_shows_the_cpu_run_and_picks_up_a_gpu_run(runs_dir):
    write_run(runs_dir / "shakespeare-char-cpu")
    svg = vis.render_figure("figures/11-loss-curve.svg")
    assert "shakespeare-char-cpu (CPU)" in svg
    assert "(GPU)" not in svg
    write_run(runs_dir / "shakespeare-char", steps=(0, 250, 500))
    svg = vis.render_figure("figures/11-loss-curve.svg")
    assert "shakespeare-char (GPU)" in svg and "shakespeare-char-cpu (CPU)" in svg


def test_size_table_models_use_the_committed_character_vocabulary(runs_dir):
    assert "shakespeare-char" not in vis._guide_models()
    write_run(runs_dir / "shakespeare-char-cpu", vocab_size=65)
    models = vis._guide_models()
    assert models["shakespeare-char"].vocab_size == 65
    assert models["shakespeare-char-cpu"].vocab_size == 65
    assert models["GPT-2 small"].embed_dim == 768


def test_tiny_trained_model_learns_its_paragraph():
    import math

    import torch

    model, tokenizer = vis._tiny_trained_char_model(steps=60)
    ids = torch.tensor([tokenizer.encode(vis.TINY_TEXT[:33])])
    _, loss = model(ids[:, :-1], ids[:, 1:])
    assert loss.item() < 0.7 * math.log(tokenizer.vocab_size)
