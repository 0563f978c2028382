"""What an exercise is, how its checks run, and the report they print.

An `Exercise` names one object of the package (its reference) and holds checks: functions
that receive the reader's object, compare its behaviour with the reference's, and raise
`Mismatch(hint)` when it differs. The hint says what the likely mistake is. Running the checks
never lets the reader's exception escape: it is shown in one line under the check it broke.
"""

from __future__ import annotations

import inspect
import os
import signal
import textwrap
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

# Set to "reference" by the site build (docs/hooks/notebooks.py): an unfilled worksheet stub is
# then checked through the package's own object, so the page shows what a finished one prints.
STUBS_ENV = "MINIGPT_EXERCISE_STUBS"
TIME_LIMIT_S = 5.0  # per check; every check runs on tiny inputs in milliseconds
WIDTH = 76  # fits a terminal and a notebook output column


class ExerciseError(ValueError):
    """Bad usage: an unknown exercise, an unimportable file, a missing object, a wrong signature."""


class Mismatch(Exception):
    """A check found a difference; the message is the hint shown under the check."""


class TimeLimitExceeded(BaseException):
    """Raised inside the reader's code when a check runs too long (BaseException: `except
    Exception` in their code cannot swallow it)."""


@dataclass
class Check:
    description: str
    run: Callable[[Any], None]
    essential: bool  # when it fails, the later checks cannot run (e.g. parameters not copied)


@dataclass
class Exercise:
    """One object to write: its id, chapter, the package's version and the checks."""

    id: str
    chapter: int
    reference: Any
    task: str  # one line, for `minigpt check --list`
    keyword_only: tuple[str, ...] = ()  # optional parameters the checks pass (default: all)
    checks: list[Check] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.reference.__name__

    @property
    def kind(self) -> str:
        return "class" if inspect.isclass(self.reference) else "function"

    def check(self, description: str, essential: bool = False):
        """Decorator: register a check, run in the order registered."""

        def register(run: Callable[[Any], None]) -> Callable[[Any], None]:
            self.checks.append(Check(description, run, essential))
            return run

        return register


@dataclass
class Outcome:
    check: Check
    passed: bool
    message: str = ""  # the hint, or the reader's exception in one line
    not_written: bool = False  # the reader's code raised NotImplementedError
    timed_out: bool = False


@dataclass
class Report:
    """The result of checking one object; `bool(report)` is True when every check passed."""

    exercise: Exercise
    outcomes: list[Outcome]
    not_run: int  # checks skipped after an essential failure or a stub
    stub: bool  # the object is an unfilled stub (its first check raised NotImplementedError)
    stand_in: bool  # a stub was replaced by the package's object (site builds only)
    source: str | None = None

    @property
    def passed(self) -> bool:
        return not self.stub and not self.not_run and all(o.passed for o in self.outcomes)

    def __bool__(self) -> bool:
        return self.passed

    def _ipython_display_(self) -> None:
        """`check()` has printed the report already: a notebook shows nothing more."""

    def lines(self) -> list[str]:
        """The checks' lines and the summary, without the heading."""
        out: list[str] = []
        previous = None
        for outcome in self.outcomes:
            mark = "✓" if outcome.passed else "✗"
            out.extend(
                textwrap.wrap(
                    outcome.check.description,
                    WIDTH,
                    initial_indent=f"  {mark} ",
                    subsequent_indent="    ",
                )
            )
            if outcome.message == previous:
                out.append("      (same as above)")
            elif outcome.message:
                out.extend(_wrap(outcome.message, indent=6))
            previous = outcome.message or previous
        total = len(self.exercise.checks)
        passed = sum(o.passed for o in self.outcomes)
        if self.stub:
            out.append(f"  … {self.not_run} more checks not run.")
            out.extend(
                _wrap(
                    f"{self.exercise.name} is still the stub: replace each `raise "
                    "NotImplementedError` with your code, then check again.",
                    indent=0,
                )
            )
        elif self.not_run:
            out.append(f"  … {self.not_run} more checks not run: they need the one above.")
            out.append(f"{passed} of {total} checks passed.")
        elif self.passed:
            out.append(f"All {total} checks passed.")
        else:
            out.append(f"{passed} of {total} checks passed.")
        return out

    def text(self) -> str:
        e = self.exercise
        where = f" from {self.source}" if self.source else ""
        head = [f"{e.id} (chapter {e.chapter}): {e.kind} {e.name}{where}"]
        if self.stand_in:
            head += _wrap(
                f"{e.name} here is the worksheet's stub, so this build checked the package's "
                f"{e.reference.__module__}.{e.name} in its place: a finished {e.name} prints "
                "this report.",
                indent=0,
            )
        return "\n".join(head + self.lines())


def _wrap(text: str, indent: int) -> list[str]:
    return textwrap.wrap(
        text, WIDTH, initial_indent=" " * indent, subsequent_indent=" " * indent
    ) or [""]


def signature_text(name: str, obj: Any) -> str:
    """`name(a, b, c=1)`: the parameters without annotations."""
    params = [p.replace(annotation=inspect.Parameter.empty) for p in _parameters(obj)]
    return f"{name}({', '.join(str(p) for p in params)})"


def _parameters(obj: Any) -> list[inspect.Parameter]:
    try:
        return list(inspect.signature(obj).parameters.values())
    except (TypeError, ValueError):
        return []


def validate(exercise: Exercise, candidate: Any) -> None:
    """Raise ExerciseError unless `candidate` is the right kind of object with the package's
    signature: the same required parameters (passed by position) and the optional ones the
    checks pass by keyword, with the package's defaults."""
    name, ref = exercise.name, exercise.reference
    if exercise.kind == "class":
        if not inspect.isclass(candidate):
            raise ExerciseError(f"{name} must be a class; got {_describe(candidate)}")
        base = next((b for b in (torch.nn.Module,) if issubclass(ref, b)), None)
        if base is not None and not issubclass(candidate, base):
            raise ExerciseError(f"{name} must subclass nn.Module: class {name}(nn.Module)")
    elif inspect.isclass(candidate) or not callable(candidate):
        raise ExerciseError(f"{name} must be a function; got {_describe(candidate)}")
    wanted = signature_text(name, ref)
    got = signature_text(name, candidate)
    ref_params = _parameters(ref)
    required = [p for p in ref_params if p.default is inspect.Parameter.empty]
    optional = {
        p.name: p.default
        for p in ref_params
        if p.default is not inspect.Parameter.empty
        and (not exercise.keyword_only or p.name in exercise.keyword_only)
    }
    try:
        inspect.signature(candidate).bind(*[None] * len(required), **optional)
    except TypeError as err:
        raise ExerciseError(f"{got} does not match the package's {wanted}: {err}") from None
    except ValueError:
        return  # a builtin without a signature: the checks will tell
    params = {p.name: p for p in _parameters(candidate)}
    for pname, default in optional.items():
        given = params.get(pname)
        if given is not None and given.default != default:
            raise ExerciseError(
                f"{got} does not match the package's {wanted}: {pname} defaults to "
                f"{given.default!r}, not {default!r}"
            )


def _describe(obj: Any) -> str:
    if inspect.isclass(obj):
        return f"the class {obj.__name__}"
    return f"{type(obj).__name__} {obj!r}"[:80]


def run(exercise: Exercise, candidate: Any, source: str | None = None) -> Report:
    """Validate `candidate`, run every check on it and return the report (nothing printed)."""
    validate(exercise, candidate)
    report = _run_checks(exercise, candidate, source)
    if report.stub and os.environ.get(STUBS_ENV) == "reference":
        report = _run_checks(exercise, exercise.reference, source)
        report.stand_in = True
    return report


def _run_checks(exercise: Exercise, candidate: Any, source: str | None) -> Report:
    files = _source_files(candidate)
    outcomes: list[Outcome] = []
    stub = False
    with _isolated():
        for index, check in enumerate(exercise.checks):
            outcome = _run_one(check, candidate, files)
            outcomes.append(outcome)
            if outcome.passed:
                continue
            stub = index == 0 and outcome.not_written
            if stub or check.essential or outcome.timed_out:
                break
    not_run = len(exercise.checks) - len(outcomes)
    return Report(exercise, outcomes, not_run, stub, stand_in=False, source=source)


def _run_one(check: Check, candidate: Any, files: set[str]) -> Outcome:
    try:
        with _time_limit(TIME_LIMIT_S):
            check.run(candidate)
    except Mismatch as mismatch:
        message = str(mismatch)
        if mismatch.__cause__ is not None:  # raised for an exception of the reader's code
            message += f"; your code raised {describe_error(mismatch.__cause__, files)}"
        return Outcome(check, False, message)
    except TimeLimitExceeded:
        message = (
            f"took longer than {TIME_LIMIT_S:.0f} s on a tiny input: is there a loop that "
            "never ends (an index that does not advance)?"
        )
        return Outcome(check, False, message, timed_out=True)
    except NotImplementedError as err:
        message = f"not written yet: {describe_error(err, files)}"
        return Outcome(check, False, message, not_written=True)
    except Exception as err:  # noqa: BLE001 - the reader's code may raise anything
        return Outcome(check, False, f"your code raised {describe_error(err, files)}")
    return Outcome(check, True)


def describe_error(err: BaseException, files: set[str]) -> str:
    """`TypeError: message (in forward, line 12 of my_file.py)`, in one line."""
    message = " ".join(str(err).split())
    if len(message) > 200:
        message = message[:197] + "..."
    text = f"{type(err).__name__}: {message}" if message else type(err).__name__
    frames = [f for f in traceback.extract_tb(err.__traceback__) if f.filename in files]
    if frames:
        frame = frames[-1]
        place = Path(frame.filename).name
        if "ipykernel_" in frame.filename or frame.filename.startswith("<"):
            place = "its cell"
        text += f" (in {frame.name}, line {frame.lineno} of {place})"
    return text


def _source_files(obj: Any) -> set[str]:
    """The files the reader's code lives in, to point at the line that raised."""
    functions = []
    if inspect.isclass(obj):
        for value in vars(obj).values():
            value = getattr(value, "__func__", value)  # classmethod, staticmethod
            value = getattr(value, "fget", value)  # property
            functions.append(value)
    else:
        functions.append(obj)
    files = {f.__code__.co_filename for f in functions if hasattr(f, "__code__")}
    module = inspect.getmodule(obj)
    module_file = getattr(module, "__file__", None)
    if module_file and getattr(module, "__name__", "") != "__main__":
        files.add(module_file)
    return files


@contextmanager
def _isolated() -> Iterator[None]:
    """Checks leave the caller's random state, default dtype, grad mode and threads as they were.

    They run on one thread: their tensors are tiny, and a thread pool would only add waiting.
    """
    dtype, threads = torch.get_default_dtype(), torch.get_num_threads()
    torch.set_num_threads(1)
    with torch.random.fork_rng(devices=[]), torch.enable_grad():
        try:
            yield
        finally:
            torch.set_default_dtype(dtype)
            torch.set_num_threads(threads)


@contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    """Interrupt a check after `seconds` (main thread of a POSIX process; elsewhere no limit)."""
    usable = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if not usable:
        yield
        return

    def interrupt(signum, frame):
        raise TimeLimitExceeded

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
