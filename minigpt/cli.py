"""The `minigpt` command line: tokenize text, train a model, sample, check an exercise.

Errors the user can fix (bad arguments, a missing or corrupt checkpoint, an empty corpus, a
prompt the tokenizer cannot encode) print one line on stderr and exit with status 2. Set
MINIGPT_DEBUG=1 to see the full traceback instead.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import os
import random
import re
import signal
import sys
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import __version__
from .console import ReaderSafeOutput, one_line_warnings

EXAMPLES = """\
examples:
  minigpt tokenize "Hello, world!"                      # GPT-2 tokens and ids
  minigpt tokenize "To be" --tokenizer char --data tinyshakespeare
  minigpt train --preset shakespeare-char-cpu             # a few minutes on a CPU
  minigpt train --preset shakespeare-char --device cuda   # nanoGPT's GPU baseline
  minigpt train --config run.toml --max-iters 500         # preset < TOML < flags
  minigpt train --resume --out-dir out/shakespeare-char-cpu
  torchrun --nproc_per_node=4 -m minigpt.cli train --preset shakespeare-char
  minigpt sample --checkpoint out/shakespeare-char-cpu --prompt "ROMEO:" --seed 1
  minigpt check layer_norm my_layer_norm.py               # your LayerNorm vs the package's
  minigpt publish --run out/shakespeare-char-cpu --to docs/runs/shakespeare-char-cpu
"""

TRAIN_EXAMPLES = """\
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

SAMPLE_EXAMPLES = """\
examples:
  minigpt sample --checkpoint out/shakespeare-char-cpu
  minigpt sample --checkpoint out/run/ckpt.pt --prompt "JULIET:" --temperature 0.8 --top-k 40
  minigpt sample --checkpoint out/run --seed 1 --num-samples 3 --out samples.txt
  minigpt sample --checkpoint docs/runs/shakespeare-char-cpu --temperature 0
"""


METAVARS = {
    "data": "NAME_OR_PATH",
    "tokenizer": "NAME_OR_PATH",
    "out_dir": "DIR",
    "device": "DEVICE",
    "dtype": "DTYPE",
    "positional": "KIND",
}


# PyTorch CPU threads per command when --threads is not given (None: PyTorch's default, one
# per core), chosen from benchmarks/cli_threads.py (results in benchmarks/results/).
DEFAULT_THREADS: dict[str, int | None] = {"train": None, "sample": None}


def _add_threads_flag(parser: argparse.ArgumentParser, command: str) -> None:
    default = DEFAULT_THREADS[command]
    parser.add_argument(
        "--threads",
        type=_parse_as(int, low=1),
        default=default,
        metavar="N",
        help="CPU threads for PyTorch (default: "
        + ("one per core" if default is None else str(default))
        + "; on a machine other programs keep busy, 1 is often fastest)",
    )


def _set_threads(args: argparse.Namespace) -> None:
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line: no usage dump."""

    def error(self, message: str) -> typing.NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _parse_as(kind: type, optional: bool = False, low: int | None = None) -> Any:
    """An argparse type that explains a bad value in words ("expected a whole number"), never
    with a Python type name; `optional` also accepts "none", `low` is the smallest int."""

    def parse(text: str) -> Any:
        if optional and text.lower() in ("none", "null"):
            return None
        try:
            value = kind(text)
        except ValueError:
            expected = {int: "a whole number", float: "a number"}.get(kind, kind.__name__)
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if low is not None and value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
        return value

    return parse


def _field_comments() -> dict[str, str]:
    """TrainConfig's field comments, which double as the flags' help."""
    from .training import TrainConfig

    try:
        source = inspect.getsource(TrainConfig)
    except (OSError, TypeError):
        return {}
    pattern = re.compile(r"^[ \t]+(\w+): [^=\n]+=[^#\n]*#[ \t]*(.+)$", re.MULTILINE)
    return {name: comment.strip() for name, comment in pattern.findall(source)}


def _add_config_flags(parser: argparse.ArgumentParser) -> None:
    from .training import TrainConfig

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
                type=_parse_as(kind, optional) if kind is not str else None,
                default=argparse.SUPPRESS,
                metavar=metavar,
                help=help_text,
            )


def build_parser() -> argparse.ArgumentParser:
    from .training import PRESETS

    formatter = argparse.RawDescriptionHelpFormatter
    parser = _Parser(
        prog="minigpt",
        description="MiniGPT: a GPT built one component at a time in PyTorch.",
        epilog=EXAMPLES,
        formatter_class=formatter,
    )
    parser.add_argument("--version", action="version", version=f"minigpt {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    tokenize = commands.add_parser(
        "tokenize",
        help="show how a tokenizer splits text",
        formatter_class=formatter,
        description="Print the tokens of TEXT and their ids as a table.",
        epilog='examples:\n  minigpt tokenize "unbelievable!"\n'
        '  minigpt tokenize "To be" --tokenizer char --data tinyshakespeare\n',
    )
    tokenize.add_argument("text", metavar="TEXT")
    tokenize.add_argument(
        "--tokenizer", default="gpt2", help='"gpt2" (default), "char", or a saved BPE file'
    )
    tokenize.add_argument(
        "--data",
        default=None,
        metavar="NAME_OR_PATH",
        help="corpus whose characters make the char vocabulary (default: the text itself)",
    )
    tokenize.set_defaults(handler=_tokenize)

    train = commands.add_parser(
        "train",
        help="train a model",
        formatter_class=formatter,
        epilog=TRAIN_EXAMPLES,
        description="Train a MiniGPT; writes ckpt.pt, metrics.jsonl and run.json to --out-dir.",
    )
    train.add_argument(
        "--preset", choices=sorted(PRESETS), default=None, help="start from a named configuration"
    )
    train.add_argument(
        "--config",
        dest="config_file",
        metavar="FILE",
        default=None,
        help="a TOML file of settings (overrides the preset)",
    )
    _add_config_flags(train)
    _add_threads_flag(train, "train")
    train.set_defaults(handler=_train)

    sample = commands.add_parser(
        "sample",
        help="generate text from a checkpoint",
        formatter_class=formatter,
        epilog=SAMPLE_EXAMPLES,
        description="Stream text from a trained model as it is generated.",
    )
    sample.add_argument(
        "--checkpoint",
        required=True,
        metavar="PATH",
        help="a ckpt.pt file, the run folder holding it, or a published run folder",
    )
    sample.add_argument("--prompt", default="", help="text to continue (default: start fresh)")
    sample.add_argument("--max-new-tokens", type=_parse_as(int, low=0), default=500, metavar="N")
    sample.add_argument(
        "--temperature",
        type=_parse_as(float),
        default=0.8,
        metavar="T",
        help="0 is greedy; below 1 sharper, above 1 flatter (default: 0.8)",
    )
    sample.add_argument(
        "--top-k",
        type=_parse_as(int, low=1),
        default=None,
        metavar="K",
        help="sample only among the K most likely tokens",
    )
    sample.add_argument(
        "--top-p",
        type=_parse_as(float),
        default=None,
        metavar="P",
        help="sample only among the most likely tokens whose probabilities add up to P",
    )
    sample.add_argument(
        "--seed",
        type=_parse_as(int),
        default=None,
        metavar="S",
        help="make the output reproducible (sample i uses S + i)",
    )
    sample.add_argument(
        "--no-cache",
        dest="use_cache",
        action="store_false",
        help="recompute every position at each step (no KV cache)",
    )
    sample.add_argument("--device", default="auto", help="auto, cpu, cuda, mps (default: auto)")
    sample.add_argument("--num-samples", type=_parse_as(int, low=1), default=1, metavar="N")
    _add_threads_flag(sample, "sample")
    sample.add_argument(
        "--out",
        default=None,
        metavar="FILE",
        help="also write the samples, with their settings, to FILE",
    )
    sample.set_defaults(handler=_sample)

    check = commands.add_parser(
        "check",
        help="check your own version of a component against the package's",
        formatter_class=formatter,
        description="Import FILE.py, take the object the exercise names (say LayerNorm for "
        "layer_norm) and check it against the package's: one line per check, with a hint for "
        "each failure. Exit status: 0 all passed, 1 a check failed, 2 bad usage.",
        epilog="examples:\n  minigpt check --list\n  minigpt check layer_norm my_layer_norm.py\n",
    )
    check.add_argument("exercise", nargs="?", metavar="EXERCISE", help="e.g. layer_norm")
    check.add_argument("file", nargs="?", metavar="FILE.py", help="the file with your code")
    check.add_argument("--list", action="store_true", help="list the exercises and exit")
    check.set_defaults(handler=_check)

    publish = commands.add_parser(
        "publish",
        help="publish a finished run's weights and files into a folder",
        formatter_class=formatter,
        description="Write model.safetensors (SHA-256 in run.json), run.json, metrics.jsonl, "
        "attention.json and samples.txt of one finished run into a folder such as "
        "docs/runs/NAME.",
        epilog="example:\n  minigpt publish --run out/shakespeare-char-cpu "
        "--to docs/runs/shakespeare-char-cpu --overwrite\n",
    )
    publish.add_argument("--run", required=True, metavar="DIR", help="the finished run folder")
    publish.add_argument("--to", required=True, metavar="DIR", help="the folder to publish into")
    publish.add_argument(
        "--overwrite", action="store_true", help="replace a run published there before"
    )
    publish.add_argument("--prompt", default="ROMEO:", help="samples.txt's prompt (ROMEO:)")
    publish.add_argument("--max-new-tokens", type=_parse_as(int, low=0), default=400, metavar="N")
    publish.set_defaults(handler=_publish)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 2 usage or input error, 128 + the
    signal's number when stopped by Ctrl-C, SIGTERM or SIGHUP)."""
    from .training.interrupts import Interrupted, signals_as_interrupts

    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else 0
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    stdout = sys.stdout
    sys.stdout = output = ReaderSafeOutput(stdout)
    try:
        with signals_as_interrupts(), one_line_warnings(f"minigpt {args.command}"):
            return args.handler(args)
    except KeyboardInterrupt as err:
        print(f"minigpt {args.command}: interrupted", file=sys.stderr)
        return 128 + (err.signum if isinstance(err, Interrupted) else signal.SIGINT)
    except (ValueError, OSError, RuntimeError, MemoryError) as err:
        if os.environ.get("MINIGPT_DEBUG"):
            raise
        message = " ".join(str(err).split()) or type(err).__name__
        print(f"minigpt {args.command}: error: {message}", file=sys.stderr)
        return 2
    finally:
        sys.stdout = stdout
        output.close()


def _tokenize(args: argparse.Namespace) -> int:
    from .corpus import resolve_corpus
    from .data import build_tokenizer
    from .tokenization import get_tokenizer

    if args.tokenizer == "char":
        if args.data is not None:
            tokenizer = build_tokenizer("char", resolve_corpus(args.data))
        else:
            tokenizer = get_tokenizer("char", text=args.text or " ")
    else:
        tokenizer = get_tokenizer(args.tokenizer)
    ids = tokenizer.encode(args.text)
    # Bytes of a partial character are shown as \\xNN by tokens(); keep one backslash.
    pieces = [repr(token).replace("\\\\x", "\\x") for token in tokenizer.tokens(args.text)]
    rows = [("#", "id", "token")] + [
        (str(i), str(t), p) for i, (t, p) in enumerate(zip(ids, pieces, strict=True))
    ]
    widths = [max(len(row[c]) for row in rows) for c in range(2)]
    for index, token_id, piece in rows:
        print(f"{index:>{widths[0]}}  {token_id:>{widths[1]}}  {piece}")
    print(
        f"{len(ids)} tokens for {len(args.text)} characters "
        f"({tokenizer.name} tokenizer, vocabulary of {tokenizer.vocab_size:,})"
    )
    return 0


def _train(args: argparse.Namespace) -> int:
    from .training import CHECKPOINT_NAME, load_checkpoint, make_config, train
    from .training.checkpoint import checkpoint_train_config

    _set_threads(args)
    overrides = {f.name: getattr(args, f.name) for f in _config_fields() if hasattr(args, f.name)}
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


def _config_fields() -> tuple[dataclasses.Field, ...]:
    from .training import TrainConfig

    return dataclasses.fields(TrainConfig)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def _sample(args: argparse.Namespace) -> int:
    from .generation import stream_text
    from .sampling import check_sampling_options, check_seed
    from .training import load_model
    from .training.publish import model_source

    check_sampling_options(args.temperature, args.top_k, args.top_p)
    if args.seed is not None:
        check_seed(args.seed)
        check_seed(args.seed + args.num_samples - 1)  # sample i uses seed + i
    _set_threads(args)
    model, tokenizer = load_model(args.checkpoint, args.device)
    if args.prompt:
        tokenizer.encode(args.prompt)  # a character the tokenizer lacks fails before printing
    source, step = model_source(args.checkpoint)
    samples = []
    for i in range(args.num_samples):
        seed = args.seed + i if args.seed is not None else random.randrange(2**31)
        if args.num_samples > 1:
            if i:
                print()
            print(f"--- sample {i + 1} (seed {seed}) ---", flush=True)
        print(args.prompt, end="", flush=True)
        pieces = [args.prompt]
        for piece in stream_text(
            model,
            tokenizer,
            args.prompt,
            args.max_new_tokens,
            args.temperature,
            args.top_k,
            args.top_p,
            seed,
            args.use_cache,
        ):
            print(piece, end="", flush=True)
            pieces.append(piece)
            if getattr(sys.stdout, "reader_gone", False) and args.out is None:
                return 0  # nobody reads any more (`| head`), and nothing is saved: stop
        print(flush=True)
        samples.append((seed, "".join(pieces)))
    if args.out is not None:
        header = (
            f"# MiniGPT samples from {source} (step {step})\n"
            f"# temperature={args.temperature} top_k={args.top_k} top_p={args.top_p} "
            f"max_new_tokens={args.max_new_tokens} use_cache={args.use_cache} "
            f"prompt={args.prompt!r}\n"
        )
        body = "".join(
            f"\n=== sample {i + 1} · seed {seed} · temperature {args.temperature} · "
            f"prompt {args.prompt!r} ===\n{text}\n"
            for i, (seed, text) in enumerate(samples)
        )
        out = Path(args.out).expanduser()
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(header + body, encoding="utf-8")
    return 0


def _publish(args: argparse.Namespace) -> int:
    from .training.publish import SampleSettings, publish_run

    samples = SampleSettings(prompt=args.prompt, max_new_tokens=args.max_new_tokens)
    summary = publish_run(args.run, args.to, samples, overwrite=args.overwrite)
    weights = summary["weights"]
    print(
        f"published step {weights['step']} of {args.run} to {args.to}: {weights['file']} "
        f"({weights['bytes'] / 1e6:.1f} MB, sha256 {weights['sha256'][:12]}…)"
    )
    return 0


def _check(args: argparse.Namespace) -> int:
    from .exercises import command_line

    return command_line(args.exercise, args.file, args.list)


def run() -> typing.NoReturn:
    """The `minigpt` program: `main`, then exit. Once the command has finished (a stopped run
    is saved by then), a further Ctrl-C or SIGTERM cannot interrupt the interpreter's exit."""
    from .training.interrupts import STOP_SIGNALS

    code = main()
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
    sys.exit(code)


if __name__ == "__main__":
    run()
