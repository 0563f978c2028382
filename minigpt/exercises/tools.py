"""What the chapters' checks share: compare with the reference, copy parameters, name mistakes.

Every helper raises `Mismatch(hint)` when the reader's result differs. `variants` map a hint to
the result a known mistake produces: when the reader's result equals one of them, the check
names that mistake instead of only saying that the numbers differ.

A value from the reader's code reaches a comparison only through `observe` (or `attempt`, for
a call that may raise): the helpers that take the reader's objects (`copy_parameters`,
`expect_same_gradients`, `expect_raises`, …) observe what they inspect; a check observes the
results it passes to `expect_close` and `expect_equal` itself. Inputs come from `randn`,
`randint` and `rng`, the run's seeded generators.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor, nn

from .core import (
    Diverged,
    Mismatch,
    Opaque,
    ProcessEnded,
    TimeLimitExceeded,
    attempt,
    observe,
    randint,
    randn,
    rng,
    sync,
)

__all__ = ["attempt", "observe", "randint", "randn", "rng"]  # re-exported for the checks
PASS_THROUGH = (Mismatch, NotImplementedError, TimeLimitExceeded, ProcessEnded, Diverged)

DTYPES = (torch.float32, torch.float64)
TOLERANCE = {torch.float32: (1e-4, 1e-5), torch.float64: (1e-7, 1e-9)}  # (rtol, atol)


def fail(hint: str) -> None:
    raise Mismatch(hint)


def short(value: Any, limit: int = 60) -> str:
    """A value as it reads in a hint: tensors as nested lists, rounded; other objects by type."""
    if isinstance(value, Tensor):
        if value.dtype.is_floating_point:
            value = value.detach().double().round(decimals=3)
        text = str(value.tolist())
    elif isinstance(value, (list, str, int, float, bool, bytes, type(None))):
        text = repr(value)
    elif isinstance(value, Opaque):
        text = f"a {value.type_name}"
    else:
        text = f"a {type(value).__name__}"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def is_close(actual: Tensor, expected: Tensor) -> bool:
    if not isinstance(actual, Tensor) or actual.shape != expected.shape:
        return False
    rtol, atol = TOLERANCE.get(expected.dtype, (0.0, 0.0))
    actual = actual.detach().to(expected.dtype)
    return bool(torch.allclose(actual, expected.detach(), rtol=rtol, atol=atol, equal_nan=True))


def expect_tensor(value: Any, what: str, shape: tuple[int, ...] | None = None) -> Tensor:
    if not isinstance(value, Tensor):
        fail(f"{what} is {short(value)}, not a torch.Tensor")
    if shape is not None and tuple(value.shape) != tuple(shape):
        fail(f"{what} has shape {tuple(value.shape)}; expected {tuple(shape)}")
    return value


def expect_close(
    actual: Any,
    expected: Tensor,
    what: str,
    hint: str = "",
    variants: dict[str, Tensor] | None = None,
) -> None:
    """`actual` equals `expected` within the dtype's tolerance, else the most specific hint."""
    expect_tensor(actual, what)
    if actual.shape != expected.shape:
        for variant_hint, wrong in (variants or {}).items():
            if is_close(actual, wrong):
                fail(variant_hint)
        fail(f"{what}: shape {tuple(actual.shape)}, where the package's is {tuple(expected.shape)}")
    if actual.dtype != expected.dtype:
        fail(f"{what}: {actual.dtype}, where the package's is {expected.dtype}" + _then(hint))
    if is_close(actual, expected):
        return
    for variant_hint, wrong in (variants or {}).items():
        if is_close(actual, wrong):
            fail(variant_hint)
    finite = torch.isfinite(actual)
    if not bool(finite.all()) and bool(torch.isfinite(expected).all()):
        fail(f"{what}: NaN or inf, where the package's is finite" + _then(hint))
    difference = (actual.detach().double() - expected.detach().double()).abs().max().item()
    fail(f"{what}: up to {difference:.2g} away from the package's" + _then(hint))


def _then(hint: str) -> str:
    return f": {hint}" if hint else ""


def expect_equal(actual: Any, expected: Any, what: str, hint: str = "") -> None:
    """Exact equality of plain values (lists, ints, strings, bool tensors)."""
    same = (
        isinstance(actual, Tensor)
        and isinstance(expected, Tensor)
        and actual.shape == expected.shape
        and actual.dtype == expected.dtype
        and bool(torch.equal(actual, expected))
    )
    if not same and not isinstance(expected, Tensor):
        same = type(actual) is type(expected) and actual == expected
    if not same:
        fail(f"{what} gave {short(actual, 80)}; expected {short(expected, 80)}" + _then(hint))


def expect_raises(call: Callable[[], Any], error: type[Exception], what: str, hint: str) -> None:
    """`call()` (into the reader's code) raises `error`, with `hint` when it does not."""
    value, err = attempt(call)
    if isinstance(err, NotImplementedError):
        raise err
    if err is None:
        returned = f"returned {short(value)}" if value is not None else "raised no error"
        fail(f"{what} {returned} instead of raising {error.__name__}: {hint}")
    if not isinstance(err, error):
        raise Mismatch(f"{what} raised {type(err).__name__}, not {error.__name__}: {hint}") from err


def expect_some_error(call: Callable[[], Any], what: str, hint: str) -> None:
    """`call()` raises, whatever the exception: for inputs where any clear error will do."""
    value, err = attempt(call)
    if isinstance(err, NotImplementedError):
        raise err
    if err is None:
        fail(f"{what} returned {short(value)} instead of raising an error: {hint}")


@contextmanager
def hint_if_raises(hint: str) -> Iterator[None]:
    """Turn an exception from the reader's code in the block into this hint (the exception is
    shown too); both sides meet at the block's end, so an error raised in it shows there."""
    try:
        yield
        sync()
    except PASS_THROUGH:
        raise
    except Exception as err:  # noqa: BLE001
        raise Mismatch(hint) from err


def parameter_summary(module: Any) -> dict[str, tuple[int, ...]] | None:
    """The reader's module's parameters by name and shape (None when it is no nn.Module)."""
    if not isinstance(module, nn.Module):
        return None
    return {n: tuple(p.shape) for n, p in module.named_parameters()}


def copy_parameters(reference: nn.Module, module: Any, name: str, hint: str = "") -> None:
    """Load the reference's parameters into the reader's module by the package's names."""
    found = observe(parameter_summary(module))
    if found is None:
        fail(f"{name}(...) built something that is not an nn.Module")
    expected = {n: tuple(p.shape) for n, p in reference.named_parameters()}
    if expected.keys() != found.keys():
        missing = [n for n in expected if n not in found]
        extra = [n for n in found if n not in expected]
        parts = []
        if missing:
            parts.append(f"it lacks {', '.join(missing)}")
        if extra:
            parts.append(f"it has {', '.join(extra)} (not in the package's {name})")
        fail(
            f"the checks copy the package's parameters into yours by name, but {'; '.join(parts)}"
            + _then(hint)
        )
    for pname, shape in expected.items():
        if found[pname] != shape:
            fail(f"{pname} has shape {found[pname]}; the package's has {shape}" + _then(hint))
    with hint_if_raises(f"copying the package's parameters into your {name} failed"):
        parameters = dict(module.named_parameters())
        with torch.no_grad():
            for pname, value in reference.named_parameters():
                parameters[pname].copy_(value)


def parameter_shapes(shapes: dict[str, tuple[int, ...]]) -> str:
    return ", ".join(f"{n} {shape}" for n, shape in shapes.items()) or "none"


def build_pair(
    yours: type[nn.Module],
    reference: type[nn.Module],
    *args: Any,
    dtype: torch.dtype = torch.float32,
    jitter: float = 0.0,
    hint: str = "",
    **kwargs: Any,
) -> tuple[nn.Module, nn.Module]:
    """The reader's module and the package's, both in eval mode, with the same parameters.

    `jitter` adds noise to the reference's parameters first, so that parameters that start at
    1 and 0 (LayerNorm's) take part in the comparison too.
    """
    name = reference.__name__
    torch.manual_seed(0)
    ref = reference(*args, **kwargs).to(dtype).eval()
    if jitter:
        with torch.no_grad():
            for p in ref.parameters():
                p.add_(randn(*p.shape, dtype=p.dtype) * jitter)
    with hint_if_raises(f"{name}(...) failed to build"):
        mine = yours(*args, **kwargs)
    if observe(parameter_summary(mine)) is None:
        fail(f"{name}(...) built something that is not an nn.Module")
    with hint_if_raises(f"{name}(...).to({dtype}) failed"):
        mine = mine.to(dtype).eval()
    copy_parameters(ref, mine, name, hint)
    return mine, ref


def expect_same_gradients(
    mine: nn.Module, ref: nn.Module, hint: str = "", inputs: tuple[Tensor, Tensor] | None = None
) -> None:
    """After backward() on both, every parameter (and the input, if given) has the same grad."""
    grads = observe({n: p.grad for n, p in mine.named_parameters()})
    for pname, p in ref.named_parameters():
        grad = grads.get(pname)
        if grad is None:
            fail(f"{pname} got no gradient: is it used in forward (and not detached)?")
        expect_close(grad, p.grad, f"the gradient of {pname}", hint)
    if inputs is not None:
        mine_input, ref_input = inputs
        grad = observe(mine_input.grad)
        if grad is None:
            fail("the input got no gradient: is the output detached from it?")
        expect_close(grad, ref_input.grad, "the gradient of the input", hint)


def leaf(x: Tensor) -> Tensor:
    return x.detach().clone().requires_grad_()


def expect_same_backward(
    mine: nn.Module, ref: nn.Module, x: Tensor, forward: Callable[[nn.Module, Tensor], Tensor]
) -> None:
    """Backward through both from the same input and the same random upstream gradient (the
    output has the input's shape): the input and every parameter get the same gradient.
    `forward` calls the reader's module (its result unobserved), turning errors into hints."""
    inputs = leaf(x), leaf(x)
    upstream = randn(*x.shape, dtype=x.dtype)
    with hint_if_raises("backward() through your module failed"):
        (forward(mine, inputs[0]) * upstream).sum().backward()
    (ref(inputs[1]) * upstream).sum().backward()
    expect_same_gradients(mine, ref, inputs=inputs)
