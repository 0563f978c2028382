"""`minigpt train`: every TrainConfig field is a flag; preset < TOML file < flags."""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import re
import signal
import sys
import typing
from pathlib import Path

from .options import FORMATTER, add_threads_flag, parse_as, set_threads

EXAMPLES = """\
Every TrainConfig field is a flag; settings combine as preset < --config TOML file < flags.
Booleans take --flag / --no-flag; optional numbers accept "none".

examples:
  minigpt train --preset shakespeare-char-cpu --out-dir runs/cpu
  minigpt train --preset shakespeare-gpt2 --batch-size 16 --grad-accum-steps 4
  minigpt train --data my_corpus.txt --tokenizer gpt2 --max-iters 1000
  minigpt train --resume --out-dir runs/cpu --max-iters 4000   # continue, then go further
  torchrun --standalone --nproc_per_node=8 -m minigpt.cli train --preset shakespeare-char

Ctrl-C, SIGTERM or SIGHUP stop a run after the current step and save it; --resume then
continues it exactly (bitwise on the same machine, thread count and software versions).

The TOML file holds field names at top level, e.g.
  batch_size = 16
  learning_rate = 3e-4
  data = "my_corpus.txt"
"""

METAVARS = {
    "data": "NAME_OR_PATH",
    "tokenizer": "NAME_OR_PATH",
    "out_dir": "DIR",
    "device": "DEVICE",
    "dtype": "DTYPE",
    "positional": "KIND",
}


def add_command(commands: argparse._SubParsersAction) -> None:
    from ..training import PRESETS

    parser = commands.add_parser(
        "train",
        help="train a model",
        formatter_class=FORMATTER,
        epilog=EXAMPLES,
        description="Train a MiniGPT; writes ckpt.pt, metrics.jsonl and run.json to --out-dir.",
    )
    parser.add_argument(
        "--preset", choices=sorted(PRESETS), default=None, help="start from a named configuration"
    )
    parser.add_argument(
        "--config",
        dest="config_file",
        metavar="FILE",
        default=None,
        help="a TOML file of settings (overrides the preset)",
    )
    _add_config_flags(parser)
    add_threads_flag(parser, "train")
    parser.set_defaults(handler=handle)


def _field_comments() -> dict[str, str]:
    """TrainConfig's field comments, which double as the flags' help."""
    from ..training import TrainConfig

    try:
        source = inspect.getsource(TrainConfig)
    except (OSError, TypeError):
        return {}
    pattern = re.compile(r"^[ \t]+(\w+): [^=\n]+=[^#\n]*#[ \t]*(.+)$", re.MULTILINE)
    return {name: comment.strip() for name, comment in pattern.findall(source)}


def _add_config_flags(parser: argparse.ArgumentParser) -> None:
    from ..training import TrainConfig

    hints = typing.get_type_hints(TrainConfig)
    comments = _field_comments()
    group = parser.add_argument_group("training settings (TrainConfig fields)")
    for f in dataclasses.fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        kinds = [
            t for t in (typing.get_args(hints[f.name]) or (hints[f.name],)) if t is not type(None)
        ]
        kind, optional = kinds[0], type(None) in typing.get_args(hints[f.name])
        comment = comments.get(f.name, "")
        help_text = f"{comment} (default: {f.default})" if comment else f"default: {f.default}"
        help_text = help_text.replace("%", "%%")
        if kind is bool:
            group.add_argument(
                flag,
                dest=f.name,
                action=argparse.BooleanOptionalAction,
                default=argparse.SUPPRESS,
                help=help_text,
            )
        else:
            metavar = METAVARS.get(f.name, kind.__name__.upper())
            group.add_argument(
                flag,
                dest=f.name,
                type=parse_as(kind, optional) if kind is not str else None,
                default=argparse.SUPPRESS,
                metavar=metavar,
                help=help_text,
            )


def handle(args: argparse.Namespace) -> int:
    from ..training import CHECKPOINT_NAME, TrainConfig, load_checkpoint, make_config, train
    from ..training.checkpoint import checkpoint_train_config

    set_threads(args)
    overrides = {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(TrainConfig)
        if hasattr(args, f.name)
    }
    config = make_config(args.preset, args.config_file, overrides)
    if config.resume:  # continue with the checkpoint's settings, changed only where asked
        path = Path(config.out_dir) / CHECKPOINT_NAME
        if not path.is_file():
            raise FileNotFoundError(f"nothing to resume: checkpoint {path} not found")
        saved = checkpoint_train_config(load_checkpoint(path, mmap=True), path)
        config = make_config(
            args.preset, args.config_file, overrides, base={**saved, "resume": True}
        )
    try:
        result = train(config)
    except KeyboardInterrupt as err:
        # No checkpoint yet when stopped before training began (e.g. while encoding the corpus).
        if config.checkpoints and (Path(config.out_dir) / CHECKPOINT_NAME).is_file():
            print(
                f"minigpt train: interrupted; continue with: minigpt train --resume "
                f"--out-dir {config.out_dir}",
                file=sys.stderr,
            )
        else:
            print("minigpt train: interrupted", file=sys.stderr)
        return 128 + getattr(err, "signum", signal.SIGINT)
    print(
        f"done: step {result.step}, train loss {_fmt(result.train_loss)}, val loss "
        f"{_fmt(result.val_loss)}, {result.wall_time_s:.1f} s, "
        f"{result.tokens_per_sec:,.0f} tokens/s; files in {result.out_dir}"
    )
    return 0


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"
