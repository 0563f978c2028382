"""Stopping a run cleanly: Ctrl-C, `kill`, `timeout`, `docker stop` and a closed terminal.

SIGINT (Ctrl-C), SIGTERM (what `kill`, `timeout`, `docker stop` and systemd send) and SIGHUP
(a closed terminal) are all handled alike. Inside the training loop the first one finishes
the current step, then the run saves and stops, so the checkpoint is exact; a second one stops
at once. Outside the loop each raises `Interrupted` (a KeyboardInterrupt), so `finally`
blocks still clean up.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any

STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)


class Interrupted(KeyboardInterrupt):
    """A stop signal arrived; `signum` says which (the exit status is 128 + signum)."""

    def __init__(self, signum: int = signal.SIGINT) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _handlers_allowed() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def signals_as_interrupts() -> Iterator[None]:
    """Within the block, SIGTERM and SIGHUP raise `Interrupted` as Ctrl-C does."""
    if not _handlers_allowed():
        yield
        return

    def handle(signum: int, frame: Any) -> None:
        raise Interrupted(signum)

    previous = {s: signal.signal(s, handle) for s in STOP_SIGNALS}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


class DeferredInterrupt:
    """Turn the first stop signal into a request to stop after the current step.

    Use as a context manager around the loop and check `requested` between steps; `stop()`
    then raises `Interrupted`. Only active in the main thread of a single-process run (signals
    reach only the main thread; under torchrun the launcher handles them).
    """

    def __init__(self, active: bool) -> None:
        self.active = active and _handlers_allowed()
        self.requested: int | None = None  # the signal received, if any
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> DeferredInterrupt:
        if self.active:
            self._previous = {s: signal.signal(s, self._handle) for s in STOP_SIGNALS}
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested is not None:
            raise Interrupted(signum)
        self.requested = signum
        name = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
        again = "Ctrl-C" if signum == signal.SIGINT else "it"
        with contextlib.suppress(OSError):  # the terminal may be gone (SIGHUP)
            print(f"\n{name}: stopping after this step ({again} again to stop now)", flush=True)

    def stop(self) -> None:
        raise Interrupted(self.requested or signal.SIGINT)

    def __exit__(self, *exc: object) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, handler)
