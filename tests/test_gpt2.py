"""Chapter 10: MiniGPT loads GPT-2 weights and matches Hugging Face transformers exactly."""

import json

import pytest
import torch

from minigpt import MiniGPT
from minigpt import gpt2 as gpt2_module

transformers = pytest.importorskip("transformers")

VOCAB, BLOCK = 101, 32
ATOL = 1e-5  # float32


@pytest.fixture(scope="module")
def hf_model():
    torch.manual_seed(0)
    config = transformers.GPT2Config(
        n_layer=2,
        n_head=4,
        n_embd=64,
        n_positions=BLOCK,
        vocab_size=VOCAB,
        bos_token_id=0,
        eos_token_id=0,
    )
    config._attn_implementation = "sdpa"
    return transformers.GPT2LMHeadModel(config).eval()


@pytest.fixture(scope="module")
def ours(hf_model):
    return MiniGPT.from_gpt2(hf_model.state_dict(), num_heads=4).eval()


@pytest.mark.parametrize("seq_len", [1, 7, BLOCK])
def test_logits_equal_transformers(hf_model, ours, seq_len):
    torch.manual_seed(seq_len)
    ids = torch.randint(0, VOCAB, (4, seq_len))
    with torch.no_grad():
        expected = hf_model(ids).logits
        actual, _ = ours(ids)
    torch.testing.assert_close(actual, expected, atol=ATOL, rtol=0)


def test_right_padding_to_block_size_changes_nothing_before_it(hf_model, ours):
    torch.manual_seed(1)
    ids = torch.randint(0, VOCAB, (3, 20))
    padded = torch.cat([ids, torch.zeros(3, BLOCK - 20, dtype=torch.long)], dim=1)
    mask = torch.cat([torch.ones(3, 20), torch.zeros(3, BLOCK - 20)], dim=1).long()
    with torch.no_grad():
        expected = hf_model(padded, attention_mask=mask).logits[:, :20]
        actual = ours(padded)[0][:, :20]
    torch.testing.assert_close(actual, expected, atol=ATOL, rtol=0)
    torch.testing.assert_close(actual, ours(ids)[0], atol=ATOL, rtol=0)


def test_loss_equals_transformers(hf_model, ours):
    ids = torch.randint(0, VOCAB, (2, 16))
    with torch.no_grad():
        expected = hf_model(ids, labels=ids).loss  # HF shifts the labels itself
        _, loss = ours(ids[:, :-1], targets=ids[:, 1:])
    torch.testing.assert_close(loss, expected, atol=ATOL, rtol=0)


@pytest.mark.parametrize("use_cache", [True, False])
def test_greedy_continuations_identical(hf_model, ours, use_cache):
    prompt = torch.tensor([[5, 17, 42, 8], [1, 2, 3, 4]])
    expected = hf_model.generate(
        prompt,
        attention_mask=torch.ones_like(prompt),
        max_new_tokens=20,
        do_sample=False,
        pad_token_id=0,
    )
    actual = ours.generate(prompt, max_new_tokens=20, temperature=0, use_cache=use_cache)
    assert torch.equal(actual, expected)


def test_export_round_trips_into_transformers(hf_model, ours):
    exported = ours.to_gpt2_state_dict()
    fresh = transformers.GPT2LMHeadModel(hf_model.config).eval()
    missing, unexpected = fresh.load_state_dict(exported, strict=False)
    assert unexpected == [] and all(
        k.endswith((".attn.bias", ".attn.masked_bias")) for k in missing
    )
    ids = torch.randint(0, VOCAB, (2, 9))
    with torch.no_grad():
        torch.testing.assert_close(fresh(ids).logits, ours(ids)[0], atol=ATOL, rtol=0)
    original = hf_model.state_dict()
    for name, tensor in exported.items():
        assert torch.equal(tensor, original[name]), name


@pytest.mark.parametrize("kind", ["safetensors", "bin", "folder"])
def test_loads_from_files_and_folders(hf_model, tmp_path, kind):
    if kind == "folder":
        hf_model.save_pretrained(tmp_path)  # model.safetensors + config.json (n_head inside)
        model = MiniGPT.from_gpt2(tmp_path)
    elif kind == "safetensors":
        from safetensors.torch import save_file

        state = {
            k: v.contiguous() for k, v in hf_model.state_dict().items() if k != "lm_head.weight"
        }  # tied: safetensors stores it once
        save_file(state, tmp_path / "model.safetensors")
        model = MiniGPT.from_gpt2(tmp_path / "model.safetensors", num_heads=4)
    else:
        torch.save(hf_model.state_dict(), tmp_path / "pytorch_model.bin")
        model = MiniGPT.from_gpt2(str(tmp_path / "pytorch_model.bin"), num_heads=4)
    assert model.config.num_heads == 4 and model.config.num_layers == 2
    ids = torch.randint(0, VOCAB, (1, 8))
    with torch.no_grad():
        torch.testing.assert_close(model.eval()(ids)[0], hf_model(ids).logits, atol=ATOL, rtol=0)


def test_overrides_reach_the_config(hf_model):
    model = MiniGPT.from_gpt2(hf_model.state_dict(), num_heads=4, dropout=0.1)
    assert model.config.dropout == 0.1


def test_gpt2_small_head_count_is_inferred():
    state = {
        "wte.weight": torch.zeros(10, 768),
        "wpe.weight": torch.zeros(4, 768),
        "h.0.mlp.c_fc.weight": torch.zeros(768, 3072),
    }
    assert gpt2_module.config_from_gpt2(state).num_heads == 12


def test_unknown_width_needs_num_heads(hf_model):
    with pytest.raises(
        ValueError,
        match="cannot infer num_heads for embed_dim 64 from weights "
        r"alone; pass num_heads=\.\.\.",
    ):
        MiniGPT.from_gpt2(hf_model.state_dict())


@pytest.mark.parametrize(
    "name", ["transformer.h.1.mlp.c_fc.bias", "transformer.h.0.mlp.c_fc.weight"]
)
def test_missing_weight_is_named(hf_model, name):
    state = dict(hf_model.state_dict())
    del state[name]
    with pytest.raises(ValueError, match=f"missing weight '{name}'"):
        MiniGPT.from_gpt2(state, num_heads=4)


def test_mismatched_weight_is_named(hf_model):
    state = dict(hf_model.state_dict())
    state["transformer.h.0.attn.c_proj.weight"] = torch.zeros(64, 32)
    with pytest.raises(
        ValueError,
        match=r"weight 'blocks.0.attention.output.weight' has shape "
        r"\(32, 64\), the model expects \(64, 64\)",
    ):
        MiniGPT.from_gpt2(state, num_heads=4)


def test_unexpected_weight_is_named(hf_model):
    state = dict(hf_model.state_dict()) | {"transformer.h.1.attn.rotary.weight": torch.ones(8)}
    with pytest.raises(
        ValueError,
        match="unexpected weight 'transformer.h.1.attn.rotary.weight' "
        r"in the GPT-2 checkpoint \(the model has 2 layers\)",
    ):
        MiniGPT.from_gpt2(state, num_heads=4)


def test_not_a_gpt2_checkpoint():
    with pytest.raises(
        ValueError, match="not a GPT-2 checkpoint: missing weight 'transformer.wte.weight'"
    ):
        MiniGPT.from_gpt2({"weight": torch.zeros(3)})


def test_other_activation_is_refused(hf_model, tmp_path):
    hf_model.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps(config | {"activation_function": "relu"}))
    with pytest.raises(ValueError, match="activation_function='relu'"):
        MiniGPT.from_gpt2(tmp_path)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        MiniGPT.from_gpt2(tmp_path / "nope.safetensors")
    with pytest.raises(FileNotFoundError, match="no model.safetensors or pytorch_model.bin"):
        MiniGPT.from_gpt2(tmp_path)


def test_model_name_offline_gives_a_clear_error(monkeypatch):
    import huggingface_hub

    def offline(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", offline)
    with pytest.raises(
        RuntimeError,
        match="could not download 'gpt2' from the Hugging Face Hub "
        r"\(network is unreachable\)\. Download",
    ):
        MiniGPT.from_gpt2("gpt2")
