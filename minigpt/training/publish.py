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
`minigpt.load_model` and `minigpt sample --checkpoint` accept such a folder. A published folder
may come from anyone, so its files are read only when they are regular files inside it, and
everything they say is checked (sizes against free memory first) before it is used.

Publishing builds the new folder beside the old one and swaps it in whole (see `publish_run`).
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import math
import os
import re
import shutil
import signal
import threading
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import torch
from safetensors import SafetensorError

from ..attention_maps import export_attention_maps
from ..config import MiniGPTConfig
from ..files import file_sha256, open_regular, process_alive, read_bounded
from ..model import MiniGPT
from ..tokenization import Tokenizer, tokenizer_from_dict
from .checkpoint import (
    check_layers_stored,
    check_model_fits,
    check_tokenizer_fits,
    checkpoint_path,
    load_checkpoint,
)
from .device import resolve_device
from .interrupts import STOP_SIGNALS
from .run_dir import METRICS_NAME, RUN_NAME

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no folder lock
    fcntl = None

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
    return path / WEIGHTS_NAME if path.is_dir() else path


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
    except (ValueError, KeyError, TypeError, IndexError, RecursionError):
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
        check_layers_stored(config, header, str(weights))
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
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
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
    except (TypeError, ValueError, RecursionError):
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

    The run's checkpoint must be the one its `run.json` summarises (the same step). An earlier
    publication in `to` is replaced only with `overwrite`; other files there are kept. The new
    folder is built beside `to` and swapped in with two renames, so whatever stops a publish
    (Ctrl-C, SIGTERM, a full disk, SIGKILL) leaves the old folder whole or the new one.
    """
    from .checkpoint import load_model

    if not str(to).strip():
        raise ValueError(
            "the folder to publish into is empty (--to ''); name the folder, such as runs/NAME"
        )
    shown = Path(to).expanduser()  # as given: samples.txt names the weights this way
    run, to = Path(run).expanduser(), Path(os.path.abspath(shown))
    summary_path, metrics_path = run / RUN_NAME, run / METRICS_NAME
    for needed in (checkpoint_path(run), summary_path, metrics_path):
        if not needed.is_file():
            raise FileNotFoundError(
                f"cannot publish {run}: {needed.name} not found (publish a finished run folder)"
            )
    if to == Path(os.path.abspath(run)):
        raise ValueError(f"cannot publish {run} into its own folder: choose another --to")
    if to.is_symlink():
        raise ValueError(f"{to} is a symbolic link: publish into the folder it points to")
    with open_regular(summary_path) as f:
        text = read_bounded(f, MAX_SUMMARY_BYTES, str(summary_path))
    try:
        summary = json.loads(text)
        if not isinstance(summary, dict):
            raise TypeError
    except (ValueError, TypeError, RecursionError):
        raise ValueError(f"cannot publish {run}: its {RUN_NAME} is not a JSON object") from None
    payload = load_checkpoint(run)
    if payload["step"] != summary.get("steps"):
        raise ValueError(
            f"the checkpoint in {run} is from step {payload['step']} but its {RUN_NAME} "
            f"summarises step {summary.get('steps')}: publish a finished run"
        )
    model, tokenizer = load_model(run)
    for text in (samples.prompt, attention_text):  # an unknown character fails before writing
        tokenizer.encode(text)
    with destination_lock(to):
        if (to / RUN_NAME).is_file() and not overwrite:
            raise FileExistsError(
                f"{to} already holds a run ({RUN_NAME}); pass --overwrite (overwrite=True) to "
                "replace it"
            )
        stage = _sibling(to, "publish", os.getpid())
        try:
            stage.mkdir()
            summary["weights"] = save_weights(
                model, tokenizer, stage / WEIGHTS_NAME, payload["step"]
            )
            with open_regular(metrics_path) as log, open(stage / METRICS_NAME, "wb") as copy:
                shutil.copyfileobj(log, copy)
            (stage / RUN_NAME).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
            source = {
                "preset": to.name,
                "steps": payload["step"],
                "batch_size": summary["config"]["batch_size"],
                "val_loss": round(summary["final_val_loss"], 3),
            }
            export_attention_maps(model, tokenizer, attention_text, stage / ATTENTION_NAME, source)
            _write_samples(stage, shown / WEIGHTS_NAME, samples)
            _keep_other_files(to, stage)
            _swap(stage, to)
        except (OSError, SafetensorError) as err:
            raise _publish_error(err, to) from None
        finally:
            shutil.rmtree(stage, ignore_errors=True)
    return summary


PUBLISHED_NAMES = (WEIGHTS_NAME, RUN_NAME, METRICS_NAME, ATTENTION_NAME, SAMPLES_NAME)


def _sibling(to: Path, kind: str, pid: int) -> Path:
    """`.NAME.publish-PID` (the new folder being built) or `.NAME.replaced-PID` (the old one,
    set aside for a moment), beside `to`."""
    return to.with_name(f".{to.name}.{kind}-{pid}")


@contextlib.contextmanager
def destination_lock(to: Path) -> Iterator[None]:
    """Hold an OS lock on folder `to` (created if need be) while publishing into it: a second
    `minigpt publish` into it is refused. Tidy what a killed publish left: a folder it was
    building, or the old folder it had set aside (put back if `to` is missing)."""
    to = Path(os.path.abspath(to))
    to.parent.mkdir(parents=True, exist_ok=True)
    _tidy_killed_publishes(to)
    created = not to.exists()
    to.mkdir(exist_ok=True)
    handle = _lock_folder(to)
    for staging in to.glob(".publish-*"):  # where earlier versions built a publication
        shutil.rmtree(staging, ignore_errors=True)
    try:
        yield
    finally:
        if handle is not None:
            os.close(handle)
        if created:
            with contextlib.suppress(OSError):
                to.rmdir()  # a folder this publish made and left empty


def _lock_folder(to: Path) -> int | None:
    if fcntl is None:  # Windows: no lock
        return None
    handle = os.open(to, os.O_RDONLY)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        if os.path.samestat(os.fstat(handle), os.stat(to)):
            return handle
    except OSError:
        pass
    os.close(handle)  # busy, or swapped by a publish that has just finished: it is busy too
    raise ValueError(
        f"{to} is being published into by another minigpt publish; wait for it to finish"
    )


def _tidy_killed_publishes(to: Path) -> None:
    pattern = re.compile(rf"^\.{re.escape(to.name)}\.(publish|replaced)-(\d+)$")
    for path in to.parent.iterdir():
        match = pattern.match(path.name)
        if match is None or process_alive(int(match[2])):
            continue
        if match[1] == "replaced" and not to.exists():
            os.rename(path, to)  # killed between the two renames: the old folder goes back
        else:
            shutil.rmtree(path, ignore_errors=True)


def _keep_other_files(to: Path, stage: Path) -> None:
    """Carry the files of `to` that are not the run's (a README, say) into the new folder."""
    for path in to.iterdir():
        if path.name in PUBLISHED_NAMES:
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.copytree(path, stage / path.name, symlinks=True)
        else:
            shutil.copy2(path, stage / path.name, follow_symlinks=False)


def _swap(stage: Path, to: Path) -> None:
    """Put the new folder in place of the old one. A stop signal waits until both renames are
    done and the old folder is gone; a SIGKILL between the renames is undone by the next
    publish (`_tidy_killed_publishes`)."""
    aside = _sibling(to, "replaced", os.getpid())
    with _signals_deferred():
        os.rename(to, aside)
        try:
            os.rename(stage, to)
        except BaseException:
            os.rename(aside, to)
            raise
        shutil.rmtree(aside, ignore_errors=True)


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """Within the block a stop signal is only noted; it is raised again as the block ends.
    (Python runs signal handlers in the main thread, so this holds whatever other threads,
    PyTorch's among them, the signal was delivered to.)"""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = {
        s: signal.signal(s, lambda signum, _: received.append(signum)) for s in STOP_SIGNALS
    }
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        if received:
            signal.raise_signal(received[0])


def _publish_error(err: Exception, to: Path) -> OSError:
    """One line for a publish that failed while writing; `to` is as it was."""
    text = str(err).strip()
    if getattr(err, "errno", None) == errno.ENOSPC or "No space left on device" in text:
        reason = f"the disk is full ({shutil.disk_usage(to.parent).free / 1e6:,.0f} MB free)"
    else:
        reason = text.splitlines()[0] if text else type(err).__name__
    return OSError(f"cannot publish into {to}: {reason}; {to} is unchanged")


def _write_samples(folder: Path, shown: Path, settings: SampleSettings) -> None:
    """Write `folder/samples.txt`: what `minigpt sample --checkpoint <folder> ... --out` writes,
    naming the weights `shown` (where they are about to be)."""
    from ..samples import SampleOptions, write_samples

    options = SampleOptions(
        settings.prompt,
        settings.num_samples,
        settings.max_new_tokens,
        settings.temperature,
        seed=settings.seed,
    )
    model, tokenizer = load_published_model(folder)
    _, step = model_source(folder)
    write_samples(model, tokenizer, options, io.StringIO(), shown, step, folder / SAMPLES_NAME)
