"""The measured kernel choice for linear layers: both libraries give nn.Linear's numbers."""

import json

import pytest
import torch
from torch import nn

from minigpt import MiniGPT, MiniGPTConfig
from minigpt.training import linear_kernels
from minigpt.training.linear_kernels import ENV_VAR, PRODUCTS, Linear, chosen_kernels
from tests.helpers import assert_same_forward_and_grad

needs_onednn = pytest.mark.skipif(
    not linear_kernels.onednn_available(), reason="this PyTorch has no oneDNN linear operator"
)


@pytest.fixture(autouse=True)
def fresh_choices(private_cache):
    """No choices in memory, and a choices file of the test's own (an empty cache folder)."""
    linear_kernels.reset()
    yield
    linear_kernels.set_kernel_mode(None)  # back to the environment's setting, choices forgotten


def linear_pair(bias: bool, dtype=torch.float32) -> tuple[Linear, nn.Linear]:
    torch.manual_seed(0)
    ours, reference = Linear(24, 40, bias=bias).to(dtype), nn.Linear(24, 40, bias=bias).to(dtype)
    ours.load_state_dict(reference.state_dict())
    return ours, reference


def check_against_nn_linear(bias: bool, dtype=torch.float32) -> None:
    ours, reference = linear_pair(bias, dtype)
    x = torch.randn(3, 7, 24, dtype=dtype, requires_grad=True)
    pairs = [(ours.weight, reference.weight)] + ([(ours.bias, reference.bias)] if bias else [])
    assert_same_forward_and_grad(ours, reference, [x], pairs)


@pytest.mark.parametrize("mode", ["aten", "auto", pytest.param("onednn", marks=needs_onednn)])
@pytest.mark.parametrize("bias", [True, False])
def test_every_mode_equals_nn_linear_with_gradients(monkeypatch, mode, bias):
    linear_kernels.set_kernel_mode(mode)
    check_against_nn_linear(bias)
    if mode == "aten":
        assert chosen_kernels() == {}  # the public path, nothing measured
    else:
        (plan,) = chosen_kernels().values()
        assert set(plan) == {"forward", "grad_input", "grad_weight"}  # all three decided
        assert set(plan.values()) <= set(linear_kernels.KERNELS)
        if mode == "onednn":
            assert set(plan.values()) == {"onednn"}


@pytest.mark.parametrize("rows", [1, 8, 33])
@pytest.mark.parametrize("bias", [True, False])
def test_every_kernel_computes_the_same_products(rows, bias):
    torch.manual_seed(0)
    x, weight, grad = torch.randn(rows, 24), torch.randn(40, 24), torch.randn(rows, 40)
    shift = torch.randn(40) if bias else None
    expected = {
        "forward": torch.nn.functional.linear(x, weight, shift),
        "grad_input": grad @ weight,
        "grad_weight": grad.t() @ x,
    }
    operands = {"forward": (x, weight), "grad_input": (grad, weight), "grad_weight": (grad, x)}
    kernels = {"aten": PRODUCTS, "aten_wx": ["forward"]}
    if linear_kernels.onednn_available():
        kernels["onednn"] = PRODUCTS
    for name, products in kernels.items():
        for product in products:
            got = linear_kernels.KERNELS[name](product, *operands[product], shift)
            if product != "forward" and bias:
                continue  # the backward products take no bias
            torch.testing.assert_close(got, expected[product], msg=f"{name} {product}")
            assert got.is_contiguous()


@needs_onednn
def test_forced_onednn_runs_the_private_operator(monkeypatch):
    linear_kernels.set_kernel_mode("onednn")
    calls = []
    original = linear_kernels._onednn

    def counting(product, a, b, bias):
        calls.append(product)
        return original(product, a, b, bias)

    monkeypatch.setitem(linear_kernels.KERNELS, "onednn", counting)
    ours, _ = linear_pair(bias=True)
    ours(torch.randn(5, 24, requires_grad=True)).sum().backward()
    assert {"forward", "grad_input", "grad_weight"} <= set(calls)


@needs_onednn
def test_inference_measures_only_the_forward_product(monkeypatch):
    linear_kernels.set_kernel_mode("onednn")
    ours, reference = linear_pair(bias=True)
    x = torch.randn(2, 3, 24)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), reference(x))
    assert chosen_kernels() == {
        ((2, 3, 24), (40, 24), True, torch.get_num_threads(), "infer"): {"forward": "onednn"}
    }


def test_float64_and_non_contiguous_inputs_take_the_public_path(monkeypatch):
    linear_kernels.set_kernel_mode("onednn")
    check_against_nn_linear(bias=True, dtype=torch.float64)
    ours, reference = linear_pair(bias=True)
    x = torch.randn(24, 5).t()  # (5, 24), not contiguous
    torch.testing.assert_close(ours(x), reference(x))
    assert chosen_kernels() == {}


def test_missing_operator_is_never_chosen(monkeypatch):
    linear_kernels.set_kernel_mode("onednn")
    monkeypatch.setattr(linear_kernels, "onednn_available", lambda: False)
    check_against_nn_linear(bias=True)
    (plan,) = chosen_kernels().values()
    assert "onednn" not in plan.values()


@pytest.mark.parametrize("mode", ["auto", "onednn"])
def test_a_failing_operator_falls_back_and_is_not_chosen(monkeypatch, mode):
    linear_kernels.set_kernel_mode(mode)
    monkeypatch.setattr(linear_kernels, "onednn_available", lambda: True)

    def broken(product, a, b, bias):
        raise RuntimeError("could not create a primitive descriptor")

    monkeypatch.setitem(linear_kernels.KERNELS, "onednn", broken)
    check_against_nn_linear(bias=True)
    (plan,) = chosen_kernels().values()
    assert "onednn" not in plan.values()


def test_a_kernel_with_wrong_numbers_is_never_chosen(monkeypatch):
    linear_kernels.set_kernel_mode("onednn")  # even when forced
    monkeypatch.setattr(linear_kernels, "onednn_available", lambda: True)
    monkeypatch.setitem(
        linear_kernels.KERNELS,
        "onednn",
        lambda product, a, b, bias: linear_kernels._aten(product, a, b, bias) * 1.01,
    )
    check_against_nn_linear(bias=False)
    (plan,) = chosen_kernels().values()
    assert set(plan.values()) == {"aten"}  # forced oneDNN, but never wrong numbers


def test_auto_keeps_the_public_path_unless_another_is_clearly_faster(monkeypatch):
    linear_kernels.set_kernel_mode("auto")
    monkeypatch.setattr(linear_kernels, "_candidates", lambda product: ["aten", "onednn"])
    monkeypatch.setitem(linear_kernels.KERNELS, "onednn", linear_kernels._aten)  # right numbers
    # (aten, oneDNN) seconds for the forward product, then the two backward products.
    timings = iter([[1.05, 1.0], [2.0, 1.0], [2.0, 1.0]])
    monkeypatch.setattr(linear_kernels, "_best_seconds", lambda runs: next(timings))
    check_against_nn_linear(bias=True)
    (plan,) = chosen_kernels().values()
    # 5% faster is within the margin; twice as fast (the backward products) is not.
    assert plan == {"forward": "aten", "grad_input": "onednn", "grad_weight": "onednn"}


def forced_choice(monkeypatch, timings: list[list[float]]) -> None:
    """Candidates aten and oneDNN (giving aten's numbers), measured as `timings` say."""
    monkeypatch.setattr(linear_kernels, "_candidates", lambda product: ["aten", "onednn"])
    monkeypatch.setitem(linear_kernels.KERNELS, "onednn", linear_kernels._aten)
    measured = iter(timings)
    monkeypatch.setattr(linear_kernels, "_best_seconds", lambda runs: next(measured))


def test_a_later_process_takes_the_kernels_this_one_chose(monkeypatch, private_cache):
    linear_kernels.set_kernel_mode("auto")
    forced_choice(monkeypatch, [[2.0, 1.0], [1.0, 2.0], [2.0, 1.0]])
    check_against_nn_linear(bias=True)
    first = chosen_kernels()
    assert list(first.values()) == [
        {"forward": "onednn", "grad_input": "aten", "grad_weight": "onednn"}
    ]
    remembered = json.loads((private_cache / linear_kernels.CHOICES_FILE).read_text())
    assert sorted(remembered.values()) == ["aten", "onednn", "onednn"]

    linear_kernels.reset()  # what a new process starts with: nothing in memory
    forced_choice(monkeypatch, [])  # a measurement now would fail: next() of an empty iterator
    check_against_nn_linear(bias=True)
    assert chosen_kernels() == first


def test_a_remembered_kernel_that_no_longer_agrees_is_measured_again(monkeypatch, private_cache):
    linear_kernels.set_kernel_mode("auto")
    forced_choice(monkeypatch, [[2.0, 1.0], [2.0, 1.0], [2.0, 1.0]])
    check_against_nn_linear(bias=False)
    linear_kernels.reset()
    monkeypatch.setitem(  # after a library update, say, oneDNN's numbers are off
        linear_kernels.KERNELS,
        "onednn",
        lambda product, a, b, bias: linear_kernels._aten(product, a, b, bias) * 1.01,
    )
    check_against_nn_linear(bias=False)
    (plan,) = chosen_kernels().values()
    assert set(plan.values()) == {"aten"}
    remembered = json.loads((private_cache / linear_kernels.CHOICES_FILE).read_text())
    assert set(remembered.values()) == {"aten"}


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", '{"a": "no such kernel"}'])
def test_an_unreadable_choices_file_is_measured_over(monkeypatch, private_cache, content):
    (private_cache / linear_kernels.CHOICES_FILE).parent.mkdir(parents=True, exist_ok=True)
    (private_cache / linear_kernels.CHOICES_FILE).write_text(content)
    linear_kernels.set_kernel_mode("auto")
    forced_choice(monkeypatch, [[2.0, 1.0], [2.0, 1.0], [2.0, 1.0]])
    check_against_nn_linear(bias=False)
    remembered = json.loads((private_cache / linear_kernels.CHOICES_FILE).read_text())
    assert sorted(remembered.values()) == ["onednn"] * 3


def test_once_the_public_path_won_everywhere_it_is_plain_nn_linear(monkeypatch):
    linear_kernels.set_kernel_mode("auto")
    monkeypatch.setattr(linear_kernels, "_candidates", lambda product: ["aten"])
    ours, _ = linear_pair(bias=True)
    x = torch.randn(4, 24, requires_grad=True)
    assert type(ours(x).grad_fn).__name__ == "_LinearFunctionBackward"  # measuring
    ours(x).sum().backward()
    assert type(ours(x).grad_fn).__name__ == "AddmmBackward0"  # PyTorch's own autograd


def test_a_bad_setting_is_refused(monkeypatch):
    message = f"^{ENV_VAR} must be one of auto, aten, onednn, got 'mkl'$"
    with pytest.raises(ValueError, match=message):
        linear_kernels.set_kernel_mode("mkl")
    monkeypatch.setattr(linear_kernels, "_mode_setting", "mkl")  # as read from the environment
    with pytest.raises(ValueError, match=message):
        Linear(4, 4)(torch.randn(2, 4))


@pytest.mark.parametrize("mode", ["auto", pytest.param("onednn", marks=needs_onednn)])
def test_model_numbers_match_the_public_path(monkeypatch, mode):
    """A whole model's logits, loss and gradients agree with nn.Linear's within 1e-5."""
    config = MiniGPTConfig(vocab_size=50, block_size=16, embed_dim=32, num_heads=4, num_layers=2)
    torch.manual_seed(0)
    model = MiniGPT(config)
    ids, targets = torch.randint(0, 50, (2, 2, 12))

    def run():
        model.zero_grad()
        logits, loss = model(ids, targets)
        loss.backward()
        return [logits, loss] + [p.grad.clone() for p in model.parameters()]

    expected = run()  # the model as built: plain nn.Linear
    linear_kernels.set_kernel_mode(mode)
    with linear_kernels.measured_kernels(model):
        assert {type(m) for m in model.modules()} >= {Linear}
        measured = run()
    for got, want in zip(measured, expected, strict=True):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    assert Linear not in {type(m) for m in model.modules()}  # plain again after the block


def test_building_and_using_a_model_measures_and_writes_nothing(private_cache):
    """The kernels are the runner's business: a model on its own is plain PyTorch."""
    linear_kernels.set_kernel_mode("auto")
    config = MiniGPTConfig(vocab_size=50, block_size=16, embed_dim=32, num_heads=4, num_layers=2)
    model = MiniGPT(config)
    assert {type(m) for m in model.modules() if isinstance(m, nn.Linear)} == {nn.Linear}
    ids = torch.randint(0, 50, (2, 12))
    model(ids, ids)[1].backward()
    model.generate(ids[:, :4], 20, temperature=0)
    assert chosen_kernels() == {}
    assert not (private_cache / linear_kernels.CHOICES_FILE).exists()


@pytest.mark.parametrize("mode", ["auto", "aten"])
def test_training_applies_the_kernels_and_returns_a_plain_model(
    tmp_path, private_cache, corpus, mode
):
    """`train` measures the kernels for its own run (unless switched off with aten)."""
    from minigpt.training import train
    from tests.test_training import tiny_config

    linear_kernels.set_kernel_mode(mode)
    result = train(tiny_config(corpus, tmp_path / "run", max_iters=2, eval_interval=2))
    measured = chosen_kernels()
    if mode == "auto":
        assert any(use == "train" for (*_, use) in measured)
        assert (private_cache / linear_kernels.CHOICES_FILE).is_file()
    else:
        assert measured == {}
    assert {type(m) for m in result.model.modules() if isinstance(m, nn.Linear)} == {nn.Linear}
