"""The `minigpt` command line: tokenize text, train a model, sample, check an exercise.

One module per command (`tokenize`, `train`, `sample`, `check`, `publish`), each with its
`add_command` (its flags and help) and `handle` (what it does); `options` holds what they
share. Errors the user can fix (bad arguments, a missing or corrupt checkpoint, an empty
corpus, a prompt the tokenizer cannot encode) print one line on stderr and exit with status 2.
Set MINIGPT_DEBUG=1 to see the full traceback instead.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import typing
from collections.abc import Iterator

if typing.TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence

# Everything else is imported inside the functions: `run` handles Ctrl-C before PyTorch (about
# a second of imports) starts loading.

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
  minigpt publish --run out/shakespeare-char-cpu --to minigpt/runs/shakespeare-char-cpu
"""


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__
    from . import check, publish, sample, tokenize, train
    from .options import FORMATTER, OneLineErrorParser

    parser = OneLineErrorParser(
        prog="minigpt",
        description="MiniGPT: a GPT built one component at a time in PyTorch.",
        epilog=EXAMPLES,
        formatter_class=FORMATTER,
    )
    parser.add_argument("--version", action="version", version=f"minigpt {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in (tokenize, train, sample, check, publish):
        command.add_command(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 2 usage or input error, or output
    that could not be written; 128 + the signal's number when stopped by Ctrl-C, SIGTERM or
    SIGHUP)."""
    import os

    from ..console import ReaderSafeOutput, one_line_warnings

    with _stop_signals_noted() as stopped:  # while PyTorch and the commands load
        from ..training.interrupts import Interrupted, signals_as_interrupts

        parser = build_parser()
        try:
            args = parser.parse_args(argv)
        except SystemExit as exit_:  # --help, --version, or a usage error
            args, code = None, exit_.code if isinstance(exit_.code, int) else 0
    if stopped:
        print("minigpt: interrupted", file=sys.stderr)
        return 128 + stopped[0]
    if args is None:
        return code
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    stdout = sys.stdout
    sys.stdout = output = ReaderSafeOutput(stdout)
    try:
        with signals_as_interrupts(), one_line_warnings(f"minigpt {args.command}"):
            code = args.handler(args)
            output.flush()
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
    if output.lost is not None and code == 0:
        print(
            f"minigpt {args.command}: error: cannot write to standard output ({output.lost})",
            file=sys.stderr,
        )
        return 2
    return code


STOP_SIGNAL_NAMES = ("SIGINT", "SIGTERM", "SIGHUP")  # interrupts.STOP_SIGNALS, unimported


@contextlib.contextmanager
def _stop_signals_noted() -> Iterator[list[int]]:
    """Within the block a stop signal is only noted in the list yielded. While modules load, a
    KeyboardInterrupt could land inside importlib's own callbacks, which print it as
    "Exception ignored" and carry on; noting the signal and acting on it after is reliable."""
    stopped: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield stopped
        return
    signals = [getattr(signal, name) for name in STOP_SIGNAL_NAMES if hasattr(signal, name)]
    previous = {s: signal.signal(s, lambda signum, _: stopped.append(signum)) for s in signals}
    try:
        yield stopped
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def run() -> typing.NoReturn:
    """The `minigpt` program: `main`, then exit. Ctrl-C while the modules load is one line, as
    later; once the command has finished (a stopped run is saved by then), a further Ctrl-C or
    SIGTERM cannot interrupt the interpreter's exit."""
    try:
        code = main()
    except KeyboardInterrupt:  # before the command began: while PyTorch was loading, say
        print("minigpt: interrupted", file=sys.stderr)
        code = 128 + signal.SIGINT
    for name in STOP_SIGNAL_NAMES:
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_IGN)
    sys.exit(code)
