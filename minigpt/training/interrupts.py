"""Stopping a run cleanly: the first Ctrl-C finishes the current step, then the run saves.

Stopping between steps makes the checkpoint exact; a second Ctrl-C interrupts at once.
"""

from __future__ import annotations

import signal
import threading
from typing import Any


class DeferredInterrupt:
    """Turn the first Ctrl-C into a request to stop after the current step.

    Use as a context manager around the loop and check `requested` between steps. Only
    active in the main thread of a single-process run (signals reach only the main thread).
    """

    def __init__(self, active: bool) -> None:
        self.active = active and threading.current_thread() is threading.main_thread()
        self.requested = False
        self._previous: Any = None

    def __enter__(self) -> DeferredInterrupt:
        if self.active:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print("\nstopping after this step (Ctrl-C again to stop now)", flush=True)

    def __exit__(self, *exc: object) -> None:
        if self.active:
            signal.signal(signal.SIGINT, self._previous)
