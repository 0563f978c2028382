"""`minigpt publish`: a finished run's weights and the files the guide reads, in one folder."""

from __future__ import annotations

import argparse

from .options import FORMATTER, parse_as


def add_command(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "publish",
        help="publish a finished run's weights and files into a folder",
        formatter_class=FORMATTER,
        description="Write model.safetensors (SHA-256 in run.json), run.json, metrics.jsonl, "
        "attention.json and samples.txt of one finished run into a folder such as "
        "docs/runs/NAME.",
        epilog="example:\n  minigpt publish --run out/shakespeare-char-cpu "
        "--to docs/runs/shakespeare-char-cpu --overwrite\n",
    )
    parser.add_argument("--run", required=True, metavar="DIR", help="the finished run folder")
    parser.add_argument("--to", required=True, metavar="DIR", help="the folder to publish into")
    parser.add_argument(
        "--overwrite", action="store_true", help="replace a run published there before"
    )
    parser.add_argument("--prompt", default="ROMEO:", help="samples.txt's prompt (ROMEO:)")
    parser.add_argument("--max-new-tokens", type=parse_as(int, low=0), default=400, metavar="N")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from ..training.publish import SampleSettings, publish_run

    samples = SampleSettings(prompt=args.prompt, max_new_tokens=args.max_new_tokens)
    summary = publish_run(args.run, args.to, samples, overwrite=args.overwrite)
    weights = summary["weights"]
    print(
        f"published step {weights['step']} of {args.run} to {args.to}: {weights['file']} "
        f"({weights['bytes'] / 1e6:.1f} MB, sha256 {weights['sha256'][:12]}…)"
    )
    return 0
