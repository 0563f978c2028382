"""`minigpt sample`: stream text from a checkpoint or a published run, and optionally save it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .options import FORMATTER, add_threads_flag, parse_as, set_threads

EXAMPLES = """\
examples:
  minigpt sample --checkpoint out/shakespeare-char-cpu
  minigpt sample --checkpoint out/run/ckpt.pt --prompt "JULIET:" --temperature 0.8 --top-k 40
  minigpt sample --checkpoint out/run --seed 1 --num-samples 3 --out samples.txt
  minigpt sample --checkpoint docs/runs/shakespeare-char-cpu --temperature 0
"""


def add_command(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "sample",
        help="generate text from a checkpoint",
        formatter_class=FORMATTER,
        epilog=EXAMPLES,
        description="Stream text from a trained model as it is generated.",
    )
    parser.add_argument(
        "--checkpoint",
        required=True,
        metavar="PATH",
        help="a ckpt.pt file, the run folder holding it, or a published run folder",
    )
    parser.add_argument("--prompt", default="", help="text to continue (default: start fresh)")
    parser.add_argument("--max-new-tokens", type=parse_as(int, low=0), default=500, metavar="N")
    parser.add_argument(
        "--temperature",
        type=parse_as(float),
        default=0.8,
        metavar="T",
        help="0 is greedy; below 1 sharper, above 1 flatter (default: 0.8)",
    )
    parser.add_argument(
        "--top-k",
        type=parse_as(int, low=1),
        default=None,
        metavar="K",
        help="sample only among the K most likely tokens",
    )
    parser.add_argument(
        "--top-p",
        type=parse_as(float),
        default=None,
        metavar="P",
        help="sample only among the most likely tokens whose probabilities add up to P",
    )
    parser.add_argument(
        "--seed",
        type=parse_as(int),
        default=None,
        metavar="S",
        help="make the output reproducible (sample i uses S + i)",
    )
    parser.add_argument(
        "--no-cache",
        dest="use_cache",
        action="store_false",
        help="recompute every position at each step (no KV cache)",
    )
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, mps (default: auto)")
    parser.add_argument("--num-samples", type=parse_as(int, low=1), default=1, metavar="N")
    add_threads_flag(parser, "sample")
    parser.add_argument(
        "--out",
        default=None,
        metavar="FILE",
        help="also write the samples, with their settings, to FILE",
    )
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from ..samples import SampleOptions, write_samples
    from ..training import load_model
    from ..training.publish import model_source

    options = SampleOptions(
        args.prompt,
        args.num_samples,
        args.max_new_tokens,
        args.temperature,
        args.top_k,
        args.top_p,
        args.seed,
        args.use_cache,
    )
    options.check()
    set_threads(args)
    model, tokenizer = load_model(args.checkpoint, args.device)
    if args.prompt:
        tokenizer.encode(args.prompt)  # a character the tokenizer lacks fails before printing
    source, step = model_source(args.checkpoint)
    out = Path(args.out) if args.out is not None else None
    write_samples(model, tokenizer, options, sys.stdout, source, step, out)
    return 0
