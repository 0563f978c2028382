"""Publishing a run: its final weights and the files the guide reads, in one folder.

`publish_run(run, to)` (the `minigpt publish` command) turns a finished run folder (`ckpt.pt`,
`metrics.jsonl`, `run.json`) into a folder such as `minigpt/runs/<preset>/`, every file of which
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

import hashlib
import io
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..attention_maps import export_attention_maps
from ..config import MiniGPTConfig
from ..model import MiniGPT
from ..tokenization import Tokenizer, tokenizer_from_dict
from .checkpoint import checkpoint_path, load_checkpoint
from .device import resolve_device
from .run_dir import METRICS_NAME, RUN_NAME

WEIGHTS_NAME = "model.safetensors"
ATTENTION_NAME = "attention.json"
SAMPLES_NAME = "samples.txt"
PUBLISHED_FORMAT = "minigpt-published-v1"
ATTENTION_TEXT = "Every moment is a beginning"  # the guide's running example
TIED_WEIGHT = "output.weight"  # the same tensor as token_embedding.weight when tied


@dataclass(frozen=True)
class SampleSettings:
    """The `minigpt sample` options that write a published run's `samples.txt`."""

    prompt: str = "ROMEO:"
    num_samples: int = 3
    max_new_tokens: int = 400
    temperature: float = 0.8
    seed: int = 1


def is_published_run(path: str | os.PathLike[str]) -> bool:
    """True for a published run folder (it holds `model.safetensors` and no `ckpt.pt`) or the
    weights file itself."""
    path = Path(path).expanduser()
    if path.is_dir():
        return (path / WEIGHTS_NAME).is_file() and not checkpoint_path(path).is_file()
    return path.suffix == ".safetensors"


def _folder(path: str | os.PathLike[str]) -> Path:
    path = Path(path).expanduser()
    return path.parent if path.suffix == ".safetensors" else path


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


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


def verified_weights(path: str | os.PathLike[str]) -> tuple[Path, dict[str, Any]]:
    """The weights file of a published run and its `weights` entry, once the SHA-256 matches."""
    folder = _folder(path)
    weights, summary_path = folder / WEIGHTS_NAME, folder / RUN_NAME
    if not weights.is_file():
        raise FileNotFoundError(f"published run {folder} has no {WEIGHTS_NAME}")
    if not summary_path.is_file():
        raise FileNotFoundError(
            f"{weights} has no {RUN_NAME} beside it to verify it against; publish the run "
            "with minigpt publish"
        )
    try:
        entry = json.loads(summary_path.read_text(encoding="utf-8"))["weights"]
        expected = entry["sha256"]
    except (ValueError, KeyError, TypeError):
        raise ValueError(
            f"{summary_path} records no weights SHA-256: publish the run with minigpt publish"
        ) from None
    actual = file_sha256(weights)
    if actual != expected:
        hint = ""
        if weights.read_bytes()[:40].startswith(b"version https://git-lfs"):
            hint = " (it is a Git LFS pointer: run git lfs pull)"
        raise ValueError(
            f"{weights} does not match its {RUN_NAME}: SHA-256 {actual[:12]}…, expected "
            f"{expected[:12]}…; the file is damaged or was replaced{hint}"
        )
    return weights, entry


def load_published_model(
    path: str | os.PathLike[str], device: str | torch.device = "cpu"
) -> tuple[MiniGPT, Tokenizer]:
    """The model (in eval mode) and tokenizer of a published run folder, SHA-256 verified."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file, safe_open

    weights, _ = verified_weights(path)
    try:
        with safe_open(str(weights), framework="pt") as f:
            metadata = f.metadata() or {}
        state = load_file(str(weights))
    except (SafetensorError, OSError) as err:
        raise ValueError(f"{weights} is not a readable safetensors file ({err})") from None
    if metadata.get("format") != PUBLISHED_FORMAT:
        raise ValueError(f"{weights} is not a published MiniGPT model (no {PUBLISHED_FORMAT!r})")
    config = MiniGPTConfig.from_dict(json.loads(metadata["model_config"]))
    if config.tie_weights and "token_embedding.weight" in state:
        state[TIED_WEIGHT] = state["token_embedding.weight"]
    model = MiniGPT(config)
    model.load_state_dict(state)
    device = resolve_device(device) if isinstance(device, str) else device
    return model.to(device).eval(), tokenizer_from_dict(json.loads(metadata["tokenizer"]))


def model_source(path: str | os.PathLike[str]) -> tuple[Path, int]:
    """The file a model is read from (checkpoint or published weights) and its step."""
    if is_published_run(path):
        weights, entry = verified_weights(path)
        return weights, int(entry["step"])
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
