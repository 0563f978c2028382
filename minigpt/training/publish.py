"""Publishing a run: its final weights and the files the guide reads, in one folder.

`publish_run(run, to)` (the `minigpt publish` command) turns a finished run folder (`ckpt.pt`,
`metrics.jsonl`, `run.json`) into a folder such as `docs/runs/<preset>/`, every file of which
describes that one run:

* `model.safetensors`: the final weights in float32 (a tied output layer is stored once), with
  the model's configuration, its tokenizer and the step in the file's metadata;
* `run.json` and `metrics.jsonl`: the run's own summary and log; `run.json` gains a `weights`
  entry with the file's name, size and SHA-256;
* `attention.json`: every head's attention weights on the guide's running example (chapter 5);
* `samples.txt`: what `minigpt sample --checkpoint <folder> ... --out samples.txt` writes.

`load_published_model(folder)` reads the weights back once their SHA-256 matches `run.json`;
`minigpt.load_model` and `minigpt sample --checkpoint` accept such a folder.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import re
import shutil
import tempfile
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import torch

from ..attention_maps import export_attention_maps
from ..config import MiniGPTConfig
from ..files import file_sha256, open_regular, read_bounded
from ..model import MiniGPT
from ..tokenization import Tokenizer, tokenizer_from_dict
from .checkpoint import (
    check_model_fits,
    check_tokenizer_fits,
    checkpoint_path,
    load_checkpoint,
)
from .device import resolve_device
from .run_dir import METRICS_NAME, RUN_NAME

WEIGHTS_NAME = "model.safetensors"
ATTENTION_NAME = "attention.json"
SAMPLES_NAME = "samples.txt"
PUBLISHED_FORMAT = "minigpt-published-v1"
ATTENTION_TEXT = "Every moment is a beginning"  # the guide's running example
TIED_WEIGHT = "output.weight"  # the same tensor as token_embedding.weight when tied
T = TypeVar("T")


@dataclass(frozen=True)
class SampleSettings:
    """The `minigpt sample` options that write a published run's `samples.txt`."""

    prompt: str = "ROMEO:"
    num_samples: int = 3
    max_new_tokens: int = 400
    temperature: float = 0.8
    seed: int = 1


def is_published_run(path: str | os.PathLike[str]) -> bool:
    """True for a published run folder (it holds `model.safetensors` and no `ckpt.pt`) or a
    weights file itself."""
    path = Path(path).expanduser()
    if path.is_dir():
        return os.path.lexists(path / WEIGHTS_NAME) and not checkpoint_path(path).is_file()
    return path.suffix == ".safetensors"


def _weights_path(path: str | os.PathLike[str]) -> Path:
    """The weights file named, or a folder's `model.safetensors`."""
    path = Path(path).expanduser()
    return path if path.suffix == ".safetensors" else path / WEIGHTS_NAME


def save_weights(model: MiniGPT, tokenizer: Tokenizer, path: Path, step: int) -> dict[str, Any]:
    """Write `model.safetensors`; returns its `weights` entry for `run.json`."""
    from safetensors.torch import save_file

    state = {
        name: tensor.detach().to("cpu", torch.float32).contiguous()
        for name, tensor in model.state_dict().items()
        if not (model.config.tie_weights and name == TIED_WEIGHT)
    }
    metadata = {
        "format": PUBLISHED_FORMAT,
        "model_config": json.dumps(model.config.to_dict()),
        "tokenizer": json.dumps(tokenizer.to_dict(), ensure_ascii=False),
        "step": str(step),
    }
    save_file(state, str(path), metadata=metadata)
    path.chmod(0o644)  # readable like the other published files (a temporary file is not)
    return {
        "file": path.name,
        "format": PUBLISHED_FORMAT,
        "dtype": "float32",
        "step": step,
        "bytes": path.stat().st_size,
        "sha256": file_sha256(path),
    }


# A published folder may come from anyone: nothing in it is read beyond these sizes.
MAX_SUMMARY_BYTES = 2**24  # run.json (a few KB)
MAX_HEADER_BYTES = 2**24  # the weights' header: the metadata holds the tokenizer (GPT-2's: 1 MB)


def _weights_entry(summary_path: Path) -> dict[str, Any]:
    """`run.json`'s `weights` entry, its fields checked."""
    with open_regular(summary_path) as f:
        text = read_bounded(f, MAX_SUMMARY_BYTES, str(summary_path))
    try:
        entry = json.loads(text)["weights"]
        if not isinstance(entry, dict):
            raise TypeError
    except (ValueError, KeyError, TypeError, IndexError):
        raise ValueError(
            f"{summary_path} records no weights SHA-256: publish the run with minigpt publish"
        ) from None
    sha256 = entry.get("sha256")
    if not (isinstance(sha256, str) and re.fullmatch(r"[0-9a-f]{64}", sha256)):
        raise ValueError(
            f"{summary_path} is invalid: weights.sha256 is {str(sha256)[:70]!r}, not 64 "
            f"hexadecimal digits; publish the run with minigpt publish"
        )
    for name in ("step", "bytes"):
        value = entry.get(name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(
                f"{summary_path} is invalid: weights.{name} is {str(value)[:40]!r}, not a whole "
                f"number >= 0; publish the run with minigpt publish"
            )
    return entry


@contextlib.contextmanager
def _verified(path: str | os.PathLike[str]) -> Iterator[tuple[BinaryIO, Path, dict[str, Any]]]:
    """The open weights file of a published run, its path and its `weights` entry, once its
    size and SHA-256 match `run.json`. Both files must be regular files inside the folder."""
    weights = _weights_path(path)
    summary_path = weights.parent / RUN_NAME
    if not os.path.lexists(weights):
        raise FileNotFoundError(f"published run {weights.parent} has no {weights.name}")
    if not os.path.lexists(summary_path):
        raise FileNotFoundError(
            f"{weights} has no {RUN_NAME} beside it to verify it against; publish the run "
            "with minigpt publish"
        )
    entry = _weights_entry(summary_path)
    with open_regular(weights) as f:
        size = os.fstat(f.fileno()).st_size
        if size != entry["bytes"]:
            _refuse_mismatch(f, weights, f"{size:,} bytes, expected {entry['bytes']:,}")
        actual = file_sha256(f)
        if actual != entry["sha256"]:
            _refuse_mismatch(
                f, weights, f"SHA-256 {actual[:12]}…, expected {entry['sha256'][:12]}…"
            )
        yield f, weights, entry


def _refuse_mismatch(f: BinaryIO, weights: Path, difference: str) -> typing.NoReturn:
    f.seek(0)
    hint = ""
    if f.read(40).startswith(b"version https://git-lfs"):  # only what the hint needs
        hint = " (it is a Git LFS pointer: run git lfs pull)"
    raise ValueError(
        f"{weights} does not match its {RUN_NAME}: {difference}; the file is damaged or was "
        f"replaced{hint}"
    )


def verified_weights(path: str | os.PathLike[str]) -> tuple[Path, dict[str, Any]]:
    """The weights file of a published run and its `weights` entry, once the SHA-256 matches."""
    with _verified(path) as (_, weights, entry):
        return weights, entry


def load_published_model(
    path: str | os.PathLike[str], device: str | torch.device = "cpu"
) -> tuple[MiniGPT, Tokenizer]:
    """The model (in eval mode) and tokenizer of a published run folder (or of the weights file
    named), SHA-256 verified. Everything the file says is checked before it is used: the
    metadata's fields, the model's size against free memory, the tokenizer against the model,
    and every tensor's name, shape and dtype (float32 only) before the weights are read."""
    from safetensors import SafetensorError
    from safetensors.torch import load as load_safetensors

    device = resolve_device(device) if isinstance(device, str) else device
    with _verified(path) as (f, weights, entry):
        header, data_start = _read_header(f, weights)
        metadata = header.pop("__metadata__", None)
        if not isinstance(metadata, dict) or metadata.get("format") != PUBLISHED_FORMAT:
            raise ValueError(
                f"{weights} is not a published MiniGPT model (no {PUBLISHED_FORMAT!r})"
            )
        config = _metadata_field(metadata, "model_config", weights, MiniGPTConfig.from_dict)
        check_model_fits(config, device, str(weights))
        tokenizer = _metadata_field(metadata, "tokenizer", weights, tokenizer_from_dict)
        check_tokenizer_fits(tokenizer, config, str(weights))
        if metadata.get("step") != str(entry["step"]):
            raise ValueError(
                f"{weights} is invalid: its metadata's step is {str(metadata.get('step'))[:40]!r}"
                f" but its {RUN_NAME} says {entry['step']}"
            )
        model = MiniGPT(config)
        _check_tensors(header, model, weights, entry["bytes"] - data_start)
        f.seek(0)
        try:
            state = load_safetensors(f.read())
        except SafetensorError as err:
            raise ValueError(f"{weights} is not a readable safetensors file ({err})") from None
    if config.tie_weights:
        state[TIED_WEIGHT] = state["token_embedding.weight"]
    model.load_state_dict(state)
    return model.to(device).eval(), tokenizer


def _read_header(f: BinaryIO, weights: Path) -> tuple[dict[str, Any], int]:
    """The safetensors header (the tensors' entries and `__metadata__`) and where data starts."""
    f.seek(0)
    start = f.read(8)
    length = int.from_bytes(start, "little") if len(start) == 8 else -1
    if not 0 < length <= MAX_HEADER_BYTES:
        raise ValueError(
            f"{weights} is not a readable safetensors file (header of {length:,} bytes)"
        )
    try:
        header = json.loads(f.read(length).decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        header = None
    if not isinstance(header, dict):
        raise ValueError(f"{weights} is not a readable safetensors file (its header is not JSON)")
    return header, 8 + length


def _metadata_field(
    metadata: dict[str, Any], name: str, weights: Path, build: Callable[[Any], T]
) -> T:
    """One JSON field of the weights' metadata, built into its object; any fault is one line."""
    if name not in metadata:
        raise ValueError(f"{weights} is invalid: its metadata has no {name!r}")
    try:
        value = json.loads(metadata[name])
    except (TypeError, ValueError):
        raise ValueError(f"{weights} is invalid: its metadata's {name} is not valid JSON") from None
    if not isinstance(value, dict):
        raise ValueError(
            f"{weights} is invalid: its metadata's {name} is a {type(value).__name__}, not a "
            f"JSON object"
        )
    try:
        return build(value)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{weights} is invalid: its metadata's {name}: {err}") from None


def _check_tensors(header: dict[str, Any], model: MiniGPT, weights: Path, data_bytes: int) -> None:
    """Every tensor the model needs, in float32 and its shape, and nothing more: checked from the
    header, before the data (whose size then follows from the model's) is read."""
    expected = {
        name: list(tensor.shape)
        for name, tensor in model.state_dict().items()
        if not (model.config.tie_weights and name == TIED_WEIGHT)
    }
    odd = sorted(expected.keys() ^ header.keys())
    if odd:
        kind = "lacks" if odd[0] in expected else "has an unexpected"
        raise ValueError(f"{weights} does not fit its model_config: it {kind} weight {odd[0]!r}")
    end = 0
    for name, info in header.items():
        dtype = info.get("dtype") if isinstance(info, dict) else None
        if dtype != "F32":
            raise ValueError(
                f"{weights} is invalid: weight {name!r} is {str(dtype)[:20]}, not float32 (a "
                f"published run stores float32; MiniGPT converts nothing silently)"
            )
        if info.get("shape") != expected[name]:
            raise ValueError(
                f"{weights} does not fit its model_config: weight {name!r} has shape "
                f"{str(info.get('shape'))[:40]}, the model expects {expected[name]}"
            )
        offsets = info.get("data_offsets")
        if isinstance(offsets, list) and len(offsets) == 2 and isinstance(offsets[1], int):
            end = max(end, offsets[1])
    if end != data_bytes or end != 4 * sum(math.prod(shape) for shape in expected.values()):
        raise ValueError(f"{weights} is not a readable safetensors file (its data is misplaced)")


def model_source(path: str | os.PathLike[str]) -> tuple[Path, int]:
    """The file a model is read from (checkpoint or published weights) and its step."""
    if is_published_run(path):
        weights, entry = verified_weights(path)
        return weights, entry["step"]
    return checkpoint_path(path), load_checkpoint(path, mmap=True)["step"]


def publish_run(
    run: str | os.PathLike[str],
    to: str | os.PathLike[str],
    samples: SampleSettings = SampleSettings(),
    attention_text: str = ATTENTION_TEXT,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Publish the finished run in folder `run` into folder `to`; returns the new `run.json`.

    The run's checkpoint must be the one its `run.json` summarises (the same step). Files of
    an earlier publication in `to` are replaced only with `overwrite`; other files are kept.
    """
    from .checkpoint import load_model

    run, to = Path(run).expanduser(), Path(to).expanduser()
    summary_path, metrics_path = run / RUN_NAME, run / METRICS_NAME
    for needed in (checkpoint_path(run), summary_path, metrics_path):
        if not needed.is_file():
            raise FileNotFoundError(
                f"cannot publish {run}: {needed.name} not found (publish a finished run folder)"
            )
    if (to / RUN_NAME).is_file() and not overwrite:
        raise FileExistsError(
            f"{to} already holds a run ({RUN_NAME}); pass --overwrite (overwrite=True) to "
            "replace it"
        )
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    payload = load_checkpoint(run)
    if payload["step"] != summary.get("steps"):
        raise ValueError(
            f"the checkpoint in {run} is from step {payload['step']} but its {RUN_NAME} "
            f"summarises step {summary.get('steps')}: publish a finished run"
        )
    model, tokenizer = load_model(run)
    for text in (samples.prompt, attention_text):  # an unknown character fails before writing
        tokenizer.encode(text)
    to.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=to, prefix=".publish-") as staging:
        stage = Path(staging)
        summary["weights"] = save_weights(model, tokenizer, stage / WEIGHTS_NAME, payload["step"])
        shutil.copyfile(metrics_path, stage / METRICS_NAME)
        (stage / RUN_NAME).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        source = {
            "preset": to.name,
            "steps": payload["step"],
            "batch_size": summary["config"]["batch_size"],
            "val_loss": round(summary["final_val_loss"], 3),
        }
        export_attention_maps(model, tokenizer, attention_text, stage / ATTENTION_NAME, source)
        for name in (WEIGHTS_NAME, METRICS_NAME, ATTENTION_NAME, RUN_NAME):
            os.replace(stage / name, to / name)
        _write_samples(to, stage / SAMPLES_NAME, samples)
        os.replace(stage / SAMPLES_NAME, to / SAMPLES_NAME)
    return summary


def _write_samples(folder: Path, out: Path, settings: SampleSettings) -> None:
    """Write into `out` what `minigpt sample --checkpoint <folder> ... --out` writes."""
    from ..samples import SampleOptions, write_samples

    options = SampleOptions(
        settings.prompt,
        settings.num_samples,
        settings.max_new_tokens,
        settings.temperature,
        seed=settings.seed,
    )
    model, tokenizer = load_published_model(folder)
    source, step = model_source(folder)
    write_samples(model, tokenizer, options, io.StringIO(), source, step, out)
