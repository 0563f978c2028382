"""`minigpt check EXERCISE FILE.py`: a reader's own component against the package's."""

from __future__ import annotations

import argparse

from .options import FORMATTER


def add_command(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "check",
        help="check your own version of a component against the package's",
        formatter_class=FORMATTER,
        description="Import FILE.py, take the object the exercise names (say LayerNorm for "
        "layer_norm) and check it against the package's: one line per check, with a hint for "
        "each failure. FILE.py runs in a separate process, under a time limit. Exit status: 0 "
        "every check ran to its end and passed, 1 a check failed, 2 bad usage.",
        epilog="examples:\n  minigpt check --list\n  minigpt check layer_norm my_layer_norm.py\n",
    )
    parser.add_argument("exercise", nargs="?", metavar="EXERCISE", help="e.g. layer_norm")
    parser.add_argument("file", nargs="?", metavar="FILE.py", help="the file with your code")
    parser.add_argument("--list", action="store_true", help="list the exercises and exit")
    parser.add_argument(
        "--seed",
        type=int,
        metavar="N",
        help="draw the inputs with this seed, to repeat a run (default: new inputs each run; "
        "the report names its seed)",
    )
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from ..exercises import command_line

    return command_line(args.exercise, args.file, args.list, args.seed)
