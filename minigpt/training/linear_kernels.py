"""A measured choice of matrix-multiply kernel for the linear layers of a CPU training run.

PyTorch computes `nn.Linear` on a CPU with its BLAS (MKL in the official x86 builds). How fast
that is depends on the CPU and the shape: oneDNN, the other matrix library inside PyTorch, is
faster on some CPUs (MKL's code for AMD processors does not use AVX-512, for one). The trainer
applies `measured_kernels` to its plain model, as `torch.compile` is applied: inside it, every
`nn.Linear` runs as `Linear`, which, on a CPU in float32, times the ways of computing each
product the first time it meets a shape and keeps the fastest, separately for the forward
product and the two products of the backward pass: the way cuDNN's benchmark mode picks
convolution algorithms on a GPU. The ways are

* `aten`: `F.linear`, PyTorch's public path (and `mm` for the backward products);
* `aten_wx`: the same BLAS computing (W·xᵀ)ᵀ instead of x·Wᵀ (forward products);
* `onednn`: oneDNN through a private operator, `torch.ops.mkldnn._linear_pointwise`, used only
  where PyTorch has it and where it runs.

A way other than `aten` is kept only when its result matches `aten`'s and it is measured at
least 10% faster, by more than the Python around it costs. Everywhere else (GPUs, other
dtypes, inside `torch.compile`, which makes its own kernel choices) `Linear` is exactly
`nn.Linear`. Every call of a shape uses the kernel chosen at its first use, and the choices are
remembered on disk (`linear-kernels.json` in the cache folder, `MINIGPT_CACHE_DIR`, by default
`~/.cache/minigpt`), per PyTorch version, CPU, thread count and shape, as PyTorch's TunableOp
keeps its results in a file: a later run on the same machine takes the same kernels, so a
seeded run repeats bitwise and `--resume` continues exactly. Delete the file to measure again.
Generation does not use them: on GPT-2 small, greedy at one thread, they gained under 5%
(23.0 against 23.1-24.0 tokens/s), within a shared machine's noise.

`MINIGPT_LINEAR_KERNEL` (read at import; `set_kernel_mode` changes it later) chooses: `auto`
(the default) measures; `aten` always takes the public path (bitwise reproducible across
processes, as cuDNN's benchmark mode off); `onednn` takes oneDNN wherever it runs and agrees.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ..corpus import cache_dir
from ..files import write_text_atomic

ENV_VAR = "MINIGPT_LINEAR_KERNEL"
MODES = ("auto", "aten", "onednn")
MARGIN = 1.1  # another kernel is chosen only when at least 10% faster than the public path
# ... and when it saves more than the Python around it costs (the public path calls F.linear
# directly): tiny products, such as a small model's during generation, stay on F.linear.
OVERHEAD_SECONDS = 20e-6
PRODUCTS = ("forward", "grad_input", "grad_weight")


def _check_mode(value: str) -> str:
    mode = value.strip().lower() or "auto"
    if mode not in MODES:
        raise ValueError(f"{ENV_VAR} must be one of {', '.join(MODES)}, got {value!r}")
    return mode


_mode_setting = os.environ.get(ENV_VAR, "auto")  # checked at first use, not at import


def kernel_mode() -> str:
    """The kernel setting in force: auto, aten or onednn (`MINIGPT_LINEAR_KERNEL`)."""
    return _check_mode(_mode_setting)


def set_kernel_mode(mode: str | None) -> None:
    """Change the setting in this process (None: back to `MINIGPT_LINEAR_KERNEL`'s)."""
    global _mode_setting
    _mode_setting = _check_mode(os.environ.get(ENV_VAR, "auto") if mode is None else mode)
    reset()


def onednn_available() -> bool:
    """Whether this PyTorch has oneDNN's linear operator and may use it."""
    return (
        torch.backends.mkldnn.is_available()
        and torch.backends.mkldnn.enabled
        and hasattr(torch.ops.mkldnn, "_linear_pointwise")
    )


# -- the kernels ---------------------------------------------------------------------------
# forward:     a = input (M, K), b = weight (N, K)  →  a @ b.T + bias      (M, N)
# grad_input:  a = grad (M, N),  b = weight (N, K)  →  a @ b               (M, K)
# grad_weight: a = grad (M, N),  b = input (M, K)   →  a.T @ b             (N, K)


def _aten(product: str, a: Tensor, b: Tensor, bias: Tensor | None) -> Tensor:
    if product == "forward":
        return F.linear(a, b, bias)
    if product == "grad_input":
        return a.mm(b)
    return a.t().mm(b)


def _aten_wx(product: str, a: Tensor, b: Tensor, bias: Tensor | None) -> Tensor:
    out = b.mm(a.t()) if bias is None else torch.addmm(bias.unsqueeze(1), b, a.t())
    return out.t().contiguous()


def _onednn(product: str, a: Tensor, b: Tensor, bias: Tensor | None) -> Tensor:
    linear = torch.ops.mkldnn._linear_pointwise  # computes input @ weight.T + bias
    if product == "forward":
        return linear(a, b, bias, "none", [], "")
    if product == "grad_input":
        return linear(a, b.t(), None, "none", [], "")
    return linear(a.t(), b.t(), None, "none", [], "")


KERNELS = {"aten": _aten, "aten_wx": _aten_wx, "onednn": _onednn}


# -- measuring -----------------------------------------------------------------------------


def _best_seconds(runs: list, repeats: int = 5) -> list[float]:
    """The best of `repeats` timings of each run, taking turns so that load hits all alike."""
    best = [float("inf")] * len(runs)
    for _ in range(repeats):
        for i, run in enumerate(runs):
            start = time.perf_counter()
            run()
            best[i] = min(best[i], time.perf_counter() - start)
    return best


def _agrees(result: Tensor, expected: Tensor) -> bool:
    scale = max(float(expected.abs().max()) if expected.numel() else 0.0, 1.0)
    return result.shape == expected.shape and torch.allclose(
        result, expected, rtol=1e-4, atol=1e-5 * scale
    )


def _choose(product: str, names: list[str], a: Tensor, b: Tensor, bias: Tensor | None) -> str:
    """Run every candidate on these very tensors; keep the fastest that agrees with aten."""
    expected = _aten(product, a, b, bias)
    working = ["aten"]
    for name in names[1:]:
        try:
            if _agrees(KERNELS[name](product, a, b, bias), expected):  # also a warm-up
                working.append(name)
        except RuntimeError:  # e.g. oneDNN has no kernel for this CPU
            pass
    if kernel_mode() == "onednn":
        return "onednn" if "onednn" in working else "aten"
    if len(working) == 1:
        return "aten"
    seconds = _best_seconds([lambda n=n: KERNELS[n](product, a, b, bias) for n in working])
    fastest = min(range(len(working)), key=seconds.__getitem__)
    faster = seconds[fastest] * MARGIN + OVERHEAD_SECONDS < seconds[0]
    return working[fastest] if faster else "aten"


# -- remembering the choices ---------------------------------------------------------------

CHOICES_FILE = "linear-kernels.json"


def _choices_path() -> Path:
    return cache_dir() / CHOICES_FILE


def _machine() -> str:
    """What a choice depends on besides the shape: PyTorch's build and the CPU."""
    name = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    return f"torch {torch.__version__} · {name}"


def _remembered() -> dict[str, str]:
    """The choices this machine made before (none when the file is missing or unreadable)."""
    with contextlib.suppress(OSError, ValueError):
        choices = json.loads(_choices_path().read_text(encoding="utf-8"))
        if isinstance(choices, dict):
            return {k: v for k, v in choices.items() if v in KERNELS}
    return {}


def _remember(label: str, name: str) -> None:
    """Add one choice to the file; where the cache cannot be written, it is measured again."""
    choices = _remembered()
    choices[label] = name
    with contextlib.suppress(OSError):
        _choices_path().parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(_choices_path(), json.dumps(choices, indent=1, sort_keys=True) + "\n")


def _measured_or_remembered(
    product: str, plan: _Plan, a: Tensor, b: Tensor, bias: Tensor | None
) -> str:
    names = _candidates(product)
    if kernel_mode() != "auto":
        return _choose(product, names, a, b, bias)
    label = f"{_machine()} · {plan.label} · {product}"
    name = _remembered().get(label)
    if name in names:
        try:  # still runs and agrees here (a kernel can disappear with a library update)
            if name == "aten" or _agrees(
                KERNELS[name](product, a, b, bias), _aten(product, a, b, bias)
            ):
                return name
        except RuntimeError:
            pass
    name = _choose(product, names, a, b, bias)
    _remember(label, name)
    return name


def _candidates(product: str) -> list[str]:
    names = ["aten"]
    if product == "forward":
        names.append("aten_wx")
    if onednn_available():
        names.append("onednn")
    return names


@dataclass
class _Plan:
    """The kernels chosen for one shape and use (None: not needed yet)."""

    label: str  # shapes, bias, threads and use, as the choices file names them
    forward: str | None = None
    grad_input: str | None = None
    grad_weight: str | None = None
    public: bool = False  # F.linear for every product: nothing else eligible, or nothing won

    def settle(self, training: bool) -> None:
        """Once every product this use needs is measured and `aten` won, go public."""
        needed = PRODUCTS if training else PRODUCTS[:1]
        self.public = all(getattr(self, product) == "aten" for product in needed)


# (input shape, weight shape, bias, threads, use, eligible) → the kernels chosen for it
_plans: dict[tuple, _Plan] = {}


def _product(plan: _Plan, product: str, a: Tensor, b: Tensor, bias: Tensor | None) -> Tensor:
    name = getattr(plan, product)
    if name is None:
        name = _measured_or_remembered(product, plan, a, b, bias)
        setattr(plan, product, name)
    return KERNELS[name](product, a, b, bias)


def chosen_kernels() -> dict[tuple, dict[str, str]]:
    """What was measured: (input shape, weight shape, bias, threads, use) → product → kernel."""
    chosen = {}
    for key, plan in _plans.items():
        names = {p: getattr(plan, p) for p in PRODUCTS if getattr(plan, p) is not None}
        if names:
            chosen[(tuple(key[0]), tuple(key[1]), *key[2:5])] = names
    return chosen


def reset() -> None:
    """Forget every choice in memory (at next use they come from the file, or are measured)."""
    _plans.clear()


# -- the layer -----------------------------------------------------------------------------


class _LinearFunction(torch.autograd.Function):
    """x @ weight.T + bias, each product of the backward pass by its own chosen kernel."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor | None, plan: _Plan) -> Tensor:
        ctx.save_for_backward(x, weight)
        ctx.plan, ctx.has_bias = plan, bias is not None
        flat = x.reshape(-1, x.shape[-1])
        return _product(plan, "forward", flat, weight, bias).view(*x.shape[:-1], weight.shape[0])

    @staticmethod
    def backward(ctx, grad: Tensor):
        x, weight = ctx.saved_tensors
        grad = grad.reshape(-1, grad.shape[-1]).contiguous()
        grad_x = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            grad_x = _product(ctx.plan, "grad_input", grad, weight, None).view(x.shape)
        if ctx.needs_input_grad[1]:
            flat = x.reshape(-1, x.shape[-1])
            grad_weight = _product(ctx.plan, "grad_weight", grad, flat, None)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_bias = grad.sum(0)
        ctx.plan.settle(training=True)
        return grad_x, grad_weight, grad_bias, None


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """`F.linear(x, weight, bias)`, by the kernel measured fastest for the shape."""
    if not x.is_cpu or x.dtype != torch.float32 or torch.compiler.is_compiling():
        return F.linear(x, weight, bias)
    needs_grad = torch.is_grad_enabled() and (
        x.requires_grad or weight.requires_grad or (bias is not None and bias.requires_grad)
    )
    use = "train" if needs_grad else "infer"
    key = (
        x.shape,
        weight.shape,
        bias is not None,
        torch.get_num_threads(),
        use,
        x.is_contiguous() and weight.is_contiguous() and weight.dtype == torch.float32,
    )
    plan = _plans.get(key)
    if plan is None:
        eligible = key[5] and x.dim() >= 2 and kernel_mode() != "aten"
        label = f"{tuple(x.shape)} x {tuple(weight.shape)} · bias {bias is not None} · "
        label += f"{key[3]} threads · {use}"
        plan = _Plan(label=label, public=not eligible)
        _plans[key] = plan
    if plan.public:  # the common case once measured: PyTorch's own path and autograd
        return F.linear(x, weight, bias)
    if needs_grad:
        return _LinearFunction.apply(x, weight, bias, plan)
    flat = x.reshape(-1, x.shape[-1])
    out = _product(plan, "forward", flat, weight, bias)
    plan.settle(training=False)
    return out.view(*x.shape[:-1], weight.shape[0])


class Linear(nn.Linear):
    """`nn.Linear` whose products run on the kernel measured fastest for their shape."""

    def forward(self, x: Tensor) -> Tensor:
        return linear(x, self.weight, self.bias)


@contextlib.contextmanager
def measured_kernels(model: nn.Module) -> Iterator[nn.Module]:
    """Run every `nn.Linear` of a CPU model on the measured kernels inside the block.

    Applied to a model from outside, as `torch.compile` is: the model's code stays plain
    PyTorch, and only a process that trains opts in. The layers keep their parameters and
    state-dict names, and are plain `nn.Linear` again after the block. Nothing changes on
    other devices or with `MINIGPT_LINEAR_KERNEL=aten`.
    """
    swapped = []
    if kernel_mode() != "aten":
        for module in model.modules():
            if type(module) is nn.Linear and module.weight.is_cpu:
                module.__class__ = Linear
                swapped.append(module)
    try:
        yield model
    finally:
        for module in swapped:
            module.__class__ = nn.Linear
