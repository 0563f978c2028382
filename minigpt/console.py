"""What the command line prints: output that outlives its reader, and one-line warnings."""

from __future__ import annotations

import contextlib
import errno
import io
import os
import sys
import typing
import warnings
from typing import Any


class ReaderSafeOutput(io.TextIOBase):
    """Standard output that outlives its reader: once the reader is gone (`minigpt … | head`
    closed the pipe, or the terminal was closed), what is printed is dropped instead of
    raising, so a run still finishes and saves, and nothing prints a broken-pipe error.

    Output that cannot be written for another reason (standard output closed with `>&-`, or
    a full disk, as `>/dev/full` is) is dropped too, so the work still completes, but `lost`
    then says why: the command reports it and fails instead of exiting 0 with nothing shown."""

    def __init__(self, stream: typing.TextIO | None) -> None:
        self.stream = stream
        self.reader_gone = stream is None
        self.lost: str | None = "standard output is closed" if stream is None else None

    def write(self, text: str) -> int:
        if not self.reader_gone:
            try:
                self.stream.write(text)
            except OSError as err:
                self._drop(err)
        return len(text)

    def flush(self) -> None:
        if not self.reader_gone:
            try:
                self.stream.flush()
            except OSError as err:
                self._drop(err)

    def _drop(self, err: OSError) -> None:
        self.reader_gone = True
        if not isinstance(err, BrokenPipeError):
            self.lost = _reason(err)
        with contextlib.suppress(OSError, ValueError):  # later flushes, at exit too, go nowhere
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self.stream.fileno())
            os.close(devnull)

    def close(self) -> None:
        self.flush()

    def isatty(self) -> bool:
        return not self.reader_gone and self.stream.isatty()


def _reason(err: OSError) -> str:
    if err.errno == errno.EBADF:
        return "standard output is closed"
    return err.strerror or str(err) or type(err).__name__


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
