"""What every command shares: one-line usage errors, values explained in words, --threads."""

from __future__ import annotations

import argparse
import os
import typing
from typing import Any

# PyTorch CPU threads per command when --threads is not given (None: PyTorch's default, one
# per core), chosen from benchmarks/cli_threads.py (results in benchmarks/results/).
DEFAULT_THREADS: dict[str, int | None] = {"train": None, "sample": None}

# Every command's help keeps its examples' line breaks.
FORMATTER = argparse.RawDescriptionHelpFormatter


class OneLineErrorParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line: no usage dump."""

    def error(self, message: str) -> typing.NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def parse_as(
    kind: type, optional: bool = False, low: int | None = None, high: tuple[int, str] | None = None
) -> Any:
    """An argparse type that explains a bad value in words ("expected a whole number"), never
    with a Python type name; `optional` also accepts "none", `low` is the smallest int, `high`
    the largest and what it is."""

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
        if high is not None and value > high[0]:
            raise argparse.ArgumentTypeError(f"must be at most {high[0]} ({high[1]}), got {value}")
        return value

    return parse


def add_threads_flag(parser: argparse.ArgumentParser, command: str) -> None:
    default = DEFAULT_THREADS[command]
    parser.add_argument(
        "--threads",
        type=parse_as(int, low=1, high=(os.cpu_count() or 1, "this machine's CPU cores")),
        default=default,
        metavar="N",
        help="CPU threads for PyTorch (default: "
        + ("one per core" if default is None else str(default))
        + "; on a machine other programs keep busy, 1 is often fastest)",
    )


def set_threads(args: argparse.Namespace) -> None:
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
