"""`minigpt tokenize TEXT`: how a tokenizer splits text, as a table of tokens and ids."""

from __future__ import annotations

import argparse

from .options import FORMATTER

EXAMPLES = """\
examples:
  minigpt tokenize "unbelievable!"
  minigpt tokenize "To be" --tokenizer char --data tinyshakespeare
"""


def add_command(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "tokenize",
        help="show how a tokenizer splits text",
        formatter_class=FORMATTER,
        description="Print the tokens of TEXT and their ids as a table.",
        epilog=EXAMPLES,
    )
    parser.add_argument("text", metavar="TEXT")
    parser.add_argument(
        "--tokenizer", default="gpt2", help='"gpt2" (default), "char", or a saved BPE file'
    )
    parser.add_argument(
        "--data",
        default=None,
        metavar="NAME_OR_PATH",
        help="corpus whose characters make the char vocabulary (default: the text itself)",
    )
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from ..corpus import resolve_corpus
    from ..data import build_tokenizer
    from ..tokenization import get_tokenizer

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
