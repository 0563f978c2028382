"""The ONNX export: CachedForward against MiniGPT, and ONNX Runtime against PyTorch."""

from __future__ import annotations

import pytest
import torch

from minigpt import MiniGPT, MiniGPTConfig
from minigpt.onnx_export import INPUT_NAMES, OUTPUT_NAMES, CachedForward, empty_past, export_onnx

CONFIGS = {
    "gpt2-like": dict(),
    "sinusoidal-untied-no-bias": dict(positional="sinusoidal", tie_weights=False, bias=False),
    "no-residual": dict(residual=False),
}


def tiny_model(**overrides) -> MiniGPT:
    torch.manual_seed(0)
    config = dict(vocab_size=11, block_size=8, embed_dim=16, num_heads=2, num_layers=2)
    return MiniGPT(MiniGPTConfig(**{**config, **overrides})).eval()


@pytest.mark.parametrize("overrides", CONFIGS.values(), ids=CONFIGS.keys())
def test_cached_forward_is_the_models_forward(overrides):
    model = tiny_model(**overrides)
    graph = CachedForward(model)
    ids = torch.randint(11, (1, 8), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        logits, keys, values, attention = graph(ids, *empty_past(model))
        expected, _ = model(ids)
        torch.testing.assert_close(logits, expected, atol=1e-6, rtol=0)
        torch.testing.assert_close(attention, model.attention_maps(ids)[:, 0], atol=1e-6, rtol=0)
        assert keys.shape == values.shape == (2, 1, 2, 8, 8)  # (L, 1, H, T, D)
        # Five tokens, then the other three one at a time on the returned keys and values.
        step_logits, past_keys, past_values, _ = graph(ids[:, :5], *empty_past(model))
        for t in range(5, 8):
            step_logits, past_keys, past_values, step_attention = graph(
                ids[:, t : t + 1], past_keys, past_values
            )
            torch.testing.assert_close(step_logits[0, -1], expected[0, t], atol=1e-6, rtol=0)
            assert step_attention.shape == (2, 2, 1, t + 1)
        torch.testing.assert_close(past_keys, keys, atol=1e-6, rtol=0)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    pytest.importorskip("onnxscript", reason="export needs onnxscript (pip install -e .[test])")
    ort = pytest.importorskip("onnxruntime")
    model = tiny_model()
    path = export_onnx(model, tmp_path_factory.mktemp("onnx") / "tiny.onnx")
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return model, ort.InferenceSession(str(path), options)


def _run(session, ids, past_keys, past_values):
    feeds = {"ids": ids.numpy(), "past_keys": past_keys.numpy(), "past_values": past_values.numpy()}
    return [torch.from_numpy(array) for array in session.run(None, feeds)]


def test_the_graphs_inputs_and_outputs(exported):
    _, session = exported
    inputs = {i.name: i.shape for i in session.get_inputs()}
    outputs = {o.name: o.shape for o in session.get_outputs()}
    assert tuple(inputs) == INPUT_NAMES and tuple(outputs) == OUTPUT_NAMES
    assert inputs["ids"] == [1, "new_tokens"]
    assert inputs["past_keys"] == [2, 1, 2, "past_tokens", 8]
    assert outputs["logits"] == [1, "new_tokens", 11]
    assert outputs["attention"] == [2, 2, "new_tokens", "past_tokens + new_tokens"]


@pytest.mark.parametrize("length", [1, 3, 8])
def test_onnx_runtime_equals_pytorch_on_a_whole_context(exported, length):
    model, session = exported
    ids = torch.randint(11, (1, length), generator=torch.Generator().manual_seed(length))
    logits, keys, values, attention = _run(session, ids, *empty_past(model))
    with torch.no_grad():
        expected = model(ids)[0]
    torch.testing.assert_close(logits, expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(attention, model.attention_maps(ids)[:, 0], atol=1e-6, rtol=0)
    assert keys.shape == values.shape == (2, 1, 2, length, 8)


def test_onnx_runtime_equals_pytorch_step_by_step_with_the_cache(exported):
    model, session = exported
    ids = torch.randint(11, (1, 8), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = model(ids)[0][0]
    logits, past_keys, past_values, _ = _run(session, ids[:, :2], *empty_past(model))
    torch.testing.assert_close(logits[0], expected[:2], atol=1e-5, rtol=0)
    for t in range(2, 8):  # up to a full block_size of keys and values
        logits, past_keys, past_values, attention = _run(
            session, ids[:, t : t + 1], past_keys, past_values
        )
        torch.testing.assert_close(logits[0, 0], expected[t], atol=1e-5, rtol=0)
        assert attention.shape == (2, 2, 1, t + 1)
        torch.testing.assert_close(attention.sum(-1), torch.ones(2, 2, 1), atol=1e-6, rtol=0)


def test_export_refuses_a_block_too_small_to_trace(tmp_path):
    with pytest.raises(ValueError, match="export needs block_size >= 3, got 2"):
        export_onnx(tiny_model(block_size=2), tmp_path / "x.onnx")
