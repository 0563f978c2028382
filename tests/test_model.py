"""Chapter 10: the MiniGPT model, its config, its errors and its generation."""

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from minigpt import MiniGPT, MiniGPTConfig


def tiny_config(**overrides) -> MiniGPTConfig:
    values = dict(vocab_size=64, block_size=16, embed_dim=32, num_heads=4, num_layers=2)
    return MiniGPTConfig(**(values | overrides))


@pytest.fixture
def model() -> MiniGPT:
    torch.manual_seed(0)
    return MiniGPT(tiny_config()).eval()


def test_logits_shape_and_loss_is_next_token_cross_entropy(model):
    ids = torch.randint(0, 64, (3, 10))
    targets = torch.randint(0, 64, (3, 10))
    logits, loss = model(ids, targets)
    assert logits.shape == (3, 10, 64)
    expected = F.cross_entropy(logits.reshape(-1, 64), targets.reshape(-1))
    torch.testing.assert_close(loss, expected)
    assert model(ids)[1] is None


def test_initial_loss_is_near_uniform_guess(model):
    ids, targets = torch.randint(0, 64, (2, 8, 16))
    _, loss = model(ids, targets)
    assert loss.item() == pytest.approx(torch.log(torch.tensor(64.0)).item(), abs=0.2)


def test_weight_tying_and_parameter_count():
    config = tiny_config()
    tied, untied = MiniGPT(config), MiniGPT(tiny_config(tie_weights=False))
    assert tied.output.weight is tied.token_embedding.weight
    embed, hidden, vocab, block, layers = 32, 128, 64, 16, 2
    per_block = (
        2 * 2 * embed  # two LayerNorms
        + embed * 3 * embed
        + 3 * embed
        + embed * embed
        + embed  # attention
        + embed * hidden
        + hidden
        + hidden * embed
        + embed
    )  # feed-forward
    expected = vocab * embed + block * embed + layers * per_block + 2 * embed
    assert tied.num_parameters() == expected
    assert untied.num_parameters() == expected + vocab * embed
    assert tied.num_parameters(exclude_embeddings=True) == expected - block * embed
    assert untied.num_parameters(exclude_embeddings=True) == expected - block * embed


def test_gpt2_small_has_124m_parameters():
    with torch.device("meta"):
        model = MiniGPT(MiniGPTConfig())
    assert model.num_parameters() == 124_439_808


def test_gpt2_style_initialisation():
    torch.manual_seed(0)
    model = MiniGPT(tiny_config(num_layers=8, embed_dim=64, vocab_size=512))
    assert model.token_embedding.weight.std().item() == pytest.approx(0.02, rel=0.1)
    projection = model.blocks[0].attention.output.weight
    assert projection.std().item() == pytest.approx(0.02 / 4, rel=0.1)  # 1/sqrt(2 * 8)
    assert torch.equal(model.blocks[0].attention.qkv.bias, torch.zeros(192))
    assert torch.equal(model.final_norm.weight, torch.ones(64))


def test_sinusoidal_variant_has_no_position_parameters():
    model = MiniGPT(tiny_config(positional="sinusoidal"))
    assert not any("position" in name for name, _ in model.named_parameters())
    assert model(torch.randint(0, 64, (1, 16)))[0].shape == (1, 16, 64)


def test_explicit_and_fused_attention_models_agree(model):
    explicit = MiniGPT(tiny_config(fused_attention=False)).eval()
    explicit.load_state_dict(model.state_dict())
    ids = torch.randint(0, 64, (2, 16))
    torch.testing.assert_close(explicit(ids)[0], model(ids)[0], atol=1e-5, rtol=1e-5)


def test_a_model_is_plain_pytorch_and_writes_nothing(private_cache):
    """Building, training and generating with a model touches no file: no kernel choices or
    other state are cached behind the reader's back, and every linear layer is nn.Linear."""
    model = MiniGPT(tiny_config())
    assert {type(m) for m in model.modules() if isinstance(m, nn.Linear)} == {nn.Linear}
    ids = torch.randint(0, 64, (2, 12))
    model(ids, ids)[1].backward()
    model.generate(ids[:, :4], 20, temperature=0)
    assert not private_cache.exists()


def test_fused_kernels_match_the_model_written_with_the_taught_steps(monkeypatch):
    """Logits, loss and every gradient agree within 1e-5 with a MiniGPT whose LayerNorms run
    chapter 8's explicit steps, whose embeddings index their tables (chapter 2), whose
    attention is chapter 4's explicit function."""
    from minigpt.layer_norm import LayerNorm, layer_norm
    from minigpt.positional_embeddings import LearnedPositionalEmbedding
    from minigpt.token_embeddings import TokenEmbedding

    torch.manual_seed(0)
    fast = MiniGPT(tiny_config(vocab_multiple=48))  # padded: 64 → 96 rows
    ids, targets = torch.randint(0, 64, (2, 3, 16))

    def loss_and_gradients(model):
        model.zero_grad()
        logits, loss = model(ids, targets)
        loss.backward()
        return [logits, loss] + [p.grad for p in model.parameters()]

    expected = loss_and_gradients(fast)
    taught = MiniGPT(tiny_config(vocab_multiple=48, fused_attention=False))
    taught.load_state_dict(fast.state_dict())
    monkeypatch.setattr(LayerNorm, "forward", lambda m, x: layer_norm(x, m.weight, m.bias, m.eps))
    monkeypatch.setattr(TokenEmbedding, "forward", lambda m, ids: m.weight[ids])
    monkeypatch.setattr(LearnedPositionalEmbedding, "forward", lambda m, pos: m.weight[pos])
    got = loss_and_gradients(taught)
    for ours, reference in zip(expected, got, strict=True):
        torch.testing.assert_close(ours, reference, atol=1e-5, rtol=1e-5)


def test_no_future_leakage_through_the_whole_model(model):
    ids = torch.randint(0, 64, (1, 16))
    logits = model(ids)[0]
    for t in range(15):
        changed = ids.clone()
        changed[0, t + 1 :] = (changed[0, t + 1 :] + 1) % 64
        torch.testing.assert_close(model(changed)[0][:, : t + 1], logits[:, : t + 1])


def test_attention_maps_shape_and_causality(model):
    maps = model.attention_maps(torch.randint(0, 64, (2, 7)))
    assert maps.shape == (2, 2, 4, 7, 7)
    assert torch.equal(maps.triu(1), torch.zeros_like(maps))
    assert all(block.attention.attention_weights is None for block in model.blocks)


# --- generation -----------------------------------------------------------------------


def test_greedy_generation_with_cache_equals_full_recomputation(model):
    prompt = torch.randint(0, 64, (3, 5))
    cached = model.generate(prompt, max_new_tokens=11, temperature=0, use_cache=True)
    full = model.generate(prompt, max_new_tokens=11, temperature=0, use_cache=False)
    assert cached.shape == (3, 16)
    assert torch.equal(cached, full)
    assert torch.equal(cached[:, :5], prompt)


@pytest.mark.parametrize("use_cache", [True, False])
def test_generation_equals_the_plain_loop_far_past_block_size(model, use_cache):
    """The in-place window of recent tokens changes nothing: greedy tokens equal those of the
    textbook loop (crop to block_size, run, take the argmax, torch.cat) over 5 block sizes."""
    prompt = torch.randint(0, 64, (2, 5))
    expected = prompt
    with torch.no_grad():
        for _ in range(75):
            logits = model.eval()(expected[:, -16:])[0]
            expected = torch.cat([expected, logits[:, -1].argmax(-1, keepdim=True)], dim=1)
    got = model.generate(prompt, max_new_tokens=75, temperature=0, use_cache=use_cache)
    assert torch.equal(got, expected)


def test_cached_logits_equal_full_logits(model):
    ids = torch.randint(0, 64, (2, 12))
    caches = model.new_kv_caches(batch_size=2)
    first, _ = model(ids[:, :7], kv_caches=caches)
    rest = [model(ids[:, t : t + 1], kv_caches=caches)[0] for t in range(7, 12)]
    full = model(ids)[0]
    torch.testing.assert_close(torch.cat([first, *rest], dim=1), full, atol=1e-5, rtol=1e-5)


def test_generation_past_block_size_keeps_the_last_block(model):
    """The documented rule: the model sees the last block_size tokens; never a crash."""
    prompt = torch.randint(0, 64, (1, 30))  # longer than block_size = 16
    cached = model.generate(prompt, max_new_tokens=20, temperature=0, use_cache=True)
    full = model.generate(prompt, max_new_tokens=20, temperature=0, use_cache=False)
    assert cached.shape == (1, 50) and torch.equal(cached, full)
    context = cached[:, :30]
    expected_first = model(context[:, -16:])[0][:, -1].argmax(-1)
    assert cached[0, 30] == expected_first


def test_seeded_sampling_is_reproducible(model):
    prompt = torch.zeros(1, 1, dtype=torch.long)
    runs = [
        model.generate(
            prompt, 12, temperature=1.0, top_k=10, generator=torch.Generator().manual_seed(7)
        )
        for _ in range(2)
    ]
    assert torch.equal(*runs)


def test_generation_stops_at_end_of_text(model):
    prompt = torch.randint(0, 64, (1, 4))
    greedy = model.generate(prompt, 10, temperature=0)
    eot = int(greedy[0, 6])  # make the third generated token the end-of-text token
    out = model.generate(prompt, 10, temperature=0, eot_token=eot)
    first_eot = (out[0, 4:] == eot).nonzero()[0].item()
    assert out.shape[1] == 4 + first_eot + 1
    assert out[0, -1] == eot


def test_generate_checks_its_prompt(model):
    with pytest.raises(ValueError, match=r"got shape \(3,\); add a batch dimension"):
        model.generate(torch.tensor([1, 2, 3]), 2)
    with pytest.raises(TypeError, match="token ids must be an integer tensor"):
        model.generate(torch.zeros(1, 3), 2)
    with pytest.raises(ValueError, match=r"token id 99 at index \(0, 1\) is outside \[0, 64\)"):
        model.generate(torch.tensor([[1, 99]]), 2)


def test_generate_restores_training_mode(model):
    model.train()
    model.generate(torch.zeros(1, 1, dtype=torch.long), 2)
    assert model.training


# --- bad input ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "error", "message"),
    [
        (
            {"embed_dim": 30, "num_heads": 4},
            ValueError,
            r"embed_dim \(30\) must be divisible by num_heads \(4\)",
        ),
        ({"num_layers": 0}, ValueError, "num_layers must be positive, got 0"),
        ({"vocab_size": -5}, ValueError, "vocab_size must be positive, got -5"),
        ({"block_size": 8.0}, TypeError, "block_size must be an int, got float 8.0"),
        ({"hidden_dim": 0}, ValueError, "hidden_dim must be positive, got 0"),
        ({"dropout": 1.0}, ValueError, r"dropout must be in \[0, 1\), got 1.0"),
        (
            {"num_layers": 10**20},
            ValueError,
            "num_layers must be at most 2147483647, got 100000000000000000000",
        ),
        ({"bias": "no"}, TypeError, "bias must be True or False, got str 'no'"),
        ({"tie_weights": 0}, TypeError, "tie_weights must be True or False, got int 0"),
        ({"residual": None}, TypeError, "residual must be True or False, got NoneType None"),
        ({"layer_norm_eps": float("nan")}, ValueError, "layer_norm_eps must be a finite number"),
        ({"dropout": float("nan")}, ValueError, "dropout must be a finite number, got nan"),
        ({"dropout": "0.1"}, TypeError, "dropout must be a number, got str '0.1'"),
        (
            {"positional": "rotary"},
            ValueError,
            "positional must be one of learned, sinusoidal, got 'rotary'",
        ),
    ],
)
def test_bad_config_values(overrides, error, message):
    with pytest.raises(error, match=message):
        tiny_config(**overrides)


def test_unknown_config_field():
    with pytest.raises(ValueError, match="unknown MiniGPTConfig field.*: n_embd"):
        MiniGPTConfig.from_dict({"n_embd": 768})


def test_config_round_trips_through_a_dict():
    config = tiny_config(dropout=0.1)
    assert MiniGPTConfig.from_dict(config.to_dict()) == config
    assert config.hidden_dim == 128 and config.head_dim == 8


def test_sequence_longer_than_block_size(model):
    with pytest.raises(
        ValueError,
        match="sequence length 17 exceeds block_size 16; crop the input to its last 16 tokens",
    ):
        model(torch.zeros(1, 17, dtype=torch.long))


def test_token_ids_outside_vocabulary(model):
    with pytest.raises(ValueError, match=r"token id 64 at index \(0, 1\) is outside \[0, 64\)"):
        model(torch.tensor([[1, 64]]))


@pytest.mark.parametrize(
    ("ids", "error", "message"),
    [
        (torch.zeros(1, 4), TypeError, "token ids must be an integer tensor .*got torch.float32"),
        (
            torch.zeros(4, dtype=torch.long),
            ValueError,
            r"token ids must have shape \(batch, seq_len\), got shape \(4,\); "
            r"add a batch dimension",
        ),
        (torch.zeros(1, 2, 3, dtype=torch.long), ValueError, r"got shape \(1, 2, 3\)$"),
        (torch.zeros(1, 0, dtype=torch.long), ValueError, "token ids are empty"),
    ],
)
def test_wrong_input_dtype_or_shape(model, ids, error, message):
    with pytest.raises(error, match=message):
        model(ids)


def test_targets_must_match_ids(model):
    with pytest.raises(ValueError, match=r"targets shape \(1, 3\) must match token ids shape"):
        model(torch.zeros(1, 4, dtype=torch.long), torch.zeros(1, 3, dtype=torch.long))


def test_targets_are_checked_like_ids(model):
    ids = torch.zeros(1, 4, dtype=torch.long)
    message = r"target id 64 at index \(0, 2\) is outside \[0, 64\) or -1 \(ignored by the loss\)"
    with pytest.raises(ValueError, match=message):
        model(ids, torch.tensor([[1, 2, 64, 3]]))
    with pytest.raises(ValueError, match=r"target id -2 at index \(0, 0\)"):
        model(ids, torch.tensor([[-2, 2, 1, 3]]))
    with pytest.raises(TypeError, match="target ids must be an integer tensor"):
        model(ids, torch.zeros(1, 4))
    logits, loss = model(ids, torch.tensor([[-1, -1, 5, 6]]))  # -1: positions the loss skips
    expected = torch.nn.functional.cross_entropy(logits[0, 2:], torch.tensor([5, 6]))
    torch.testing.assert_close(loss, expected)


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"bias": False, "tie_weights": False},
        {"positional": "sinusoidal", "hidden_dim": 50, "vocab_multiple": 64},
    ],
)
def test_the_parameter_count_is_known_from_the_config(overrides):
    config = tiny_config(**overrides)
    assert config.num_parameters() == MiniGPT(config).num_parameters()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"temperature": -1.0}, "temperature must be >= 0"),
        ({"top_k": 0}, "top_k must be a positive integer or None, got 0"),
        ({"top_p": 1.5}, r"top_p must be in \(0, 1\] or None, got 1.5"),
        ({"max_new_tokens": -1}, "max_new_tokens must be a whole number >= 0, got -1"),
    ],
)
def test_bad_generation_options(model, options, message):
    arguments = {"max_new_tokens": 3} | options
    with pytest.raises(ValueError, match=message):
        model.generate(torch.zeros(1, 1, dtype=torch.long), **arguments)


def test_state_dict_errors_name_the_first_bad_key(model):
    state = model.state_dict()
    missing = {k: v for k, v in state.items() if k != "blocks.1.norm2.bias"}
    with pytest.raises(
        ValueError,
        match="state dict is missing weight 'blocks.1.norm2.bias' "
        r"\(shape \(32,\)\)",
    ):
        model.load_state_dict(missing)
    wrong = dict(state) | {"blocks.0.attention.qkv.weight": torch.zeros(96, 16)}
    with pytest.raises(
        ValueError,
        match=r"weight 'blocks.0.attention.qkv.weight' has shape "
        r"\(96, 16\), the model expects \(96, 32\)",
    ):
        model.load_state_dict(wrong)
    extra = dict(state) | {"_orig_mod.output.weight": torch.zeros(1)}
    with pytest.raises(ValueError, match="unexpected weight '_orig_mod.output.weight'"):
        model.load_state_dict(extra)


def test_vocabulary_padding_to_a_multiple():
    torch.manual_seed(0)
    assert MiniGPTConfig(vocab_multiple=64).padded_vocab_size == 50304
    model = MiniGPT(tiny_config(vocab_size=50, vocab_multiple=64)).eval()
    assert model.token_embedding.weight.shape == (64, 32)
    assert model.output.weight.shape == (64, 32)
    ids = torch.randint(0, 50, (2, 8))
    logits, loss = model(ids, ids)
    assert logits.shape == (2, 8, 50) and loss is not None
    with torch.no_grad():  # make a padding id the most likely token everywhere
        model.output.weight[60] = 100 * model.final_norm(model.token_embedding(ids)).mean((0, 1))
    out = model.generate(ids, 10, temperature=0)
    assert out.max() < 50
    with pytest.raises(ValueError, match=r"token id 55 at index \(0, 0\) is outside \[0, 50\)"):
        model(torch.tensor([[55]]))
