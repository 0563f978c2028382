"""What the command line prints: output that outlives its reader, and one-line warnings."""

from __future__ import annotations

import contextlib
import io
import os
import sys
import typing
import warnings
from typing import Any


class ReaderSafeOutput(io.TextIOBase):
    """Standard output that outlives its reader: once the reader is gone (`minigpt … | head`
    closed the pipe, or the terminal was closed), what is printed is dropped instead of
    raising, so a run still finishes and saves, and nothing prints a broken-pipe error."""

    def __init__(self, stream: typing.TextIO) -> None:
        self.stream = stream
        self.reader_gone = False

    def write(self, text: str) -> int:
        if not self.reader_gone:
            try:
                self.stream.write(text)
            except (BrokenPipeError, OSError):
                self._drop()
        return len(text)

    def flush(self) -> None:
        if not self.reader_gone:
            try:
                self.stream.flush()
            except (BrokenPipeError, OSError):
                self._drop()

    def _drop(self) -> None:
        self.reader_gone = True
        with contextlib.suppress(OSError, ValueError):  # later flushes, at exit too, go nowhere
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self.stream.fileno())
            os.close(devnull)

    def close(self) -> None:
        self.flush()

    def isatty(self) -> bool:
        return not self.reader_gone and self.stream.isatty()


@contextlib.contextmanager
def one_line_warnings(prefix: str) -> typing.Iterator[None]:
    """Warnings (a failed torch.compile, a re-encoded cache) as one line each on stderr."""

    def show(message: Any, category: type, *args: Any, **kwargs: Any) -> None:
        print(f"{prefix}: warning: {message}", file=sys.stderr)

    previous = warnings.showwarning
    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = previous
