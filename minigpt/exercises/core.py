"""What an exercise is, how its checks run on two sides, and the report they print.

An `Exercise` names one object of the package (its reference) and holds checks: functions that
receive the reader's object, compare its behaviour with the reference's, and raise
`Mismatch(hint)` when it differs. The hint says what the likely mistake is.

The reader's code cannot be trusted to grade itself (it may call `sys.exit(0)`, patch
`torch.allclose` or the package), so every check runs twice:

* on the **reader's side** (a child process, see `process.py`) with the reader's object: each
  value the check inspects goes through `observe()`, which records it, as plain data, in a
  transcript;
* on the **trusted side** (the process that prints the report), with the package's object in
  the reader's place: `observe()` returns the transcript's value instead of its own, and the
  comparisons, tolerances and hints all run here, where the reader's code never ran.

Inputs come from a generator seeded per run and per check (`randn`, `randint`, `rng`), so both
sides draw the same numbers however much of the global random state the reader's code uses,
and each run draws new ones. A check passes only when its transcript ran to the end.
"""

from __future__ import annotations

import builtins
import inspect
import io
import random
import textwrap
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

WIDTH = 76  # fits a terminal and a notebook output column
TIME_LIMIT_S = 10.0  # per check, on the reader's side; every check takes milliseconds
MAX_EVENT_BYTES = 64 * 2**20  # one observed value; the checks' tensors are far smaller


class ExerciseError(ValueError):
    """Bad usage: an unknown exercise, an unimportable file, a missing object, a wrong signature."""


class Mismatch(Exception):
    """A check found a difference; the message is the hint shown under the check."""


class TimeLimitExceeded(Exception):
    """The reader's side ran past its time limit (the trusted side stopped it)."""


class ProcessEnded(Exception):
    """The reader's side ended before its check did (sys.exit, os._exit, a crash)."""


class Diverged(Exception):
    """The two sides ran a check differently: the reader's process cannot be believed."""


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
    ended: bool = False  # the reader's process ended during this check


@dataclass
class Report:
    """The result of checking one object; `bool(report)` is True when every check passed."""

    exercise: Exercise
    outcomes: list[Outcome]
    not_run: int  # checks skipped after an essential failure, a stub or an ended process
    stub: bool  # the object is an unfilled stub (its first check raised NotImplementedError)
    seed: int
    source: str | None = None

    @property
    def passed(self) -> bool:
        return (
            not self.stub
            and not self.not_run
            and len(self.outcomes) == len(self.exercise.checks)
            and all(o.passed for o in self.outcomes)
        )

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
        ended = not self.outcomes or any(o.ended or o.timed_out for o in self.outcomes)
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
            why = "your code's process was stopped" if ended else "they need the one above"
            out.append(f"  … {self.not_run} more checks not run: {why}.")
            out.append(f"{passed} of {total} checks passed.")
        elif self.passed:
            out.append(f"All {total} checks passed.")
        else:
            out.append(f"{passed} of {total} checks passed.")
        return out

    def text(self) -> str:
        e = self.exercise
        where = f" from {self.source}" if self.source else ""
        head = f"{e.id} (chapter {e.chapter}): {e.kind} {e.name}{where} (seed {self.seed})"
        return "\n".join([head, *self.lines()])


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


# --- The reader's exceptions cross from their side as descriptions ---------------------------

ERROR_FIELDS = ("name", "base", "message", "where")


def error_record(err: BaseException, files: set[str]) -> dict[str, str]:
    """The exception as plain strings: its class, nearest builtin base, message and place."""
    base = next(
        (c for c in type(err).__mro__ if c.__module__ == "builtins" and c is not object),
        BaseException,
    )
    message = " ".join(str(err).split())
    if len(message) > 200:
        message = message[:197] + "..."
    frames = [f for f in traceback.extract_tb(err.__traceback__) if f.filename in files]
    where = ""
    if frames:
        frame = frames[-1]
        place = Path(frame.filename).name
        if "ipykernel_" in frame.filename or frame.filename.startswith("<"):
            place = "its cell"
        where = f"in {frame.name}, line {frame.lineno} of {place}"
    name = type(err).__name__[:80]
    return {"name": name, "base": base.__name__, "message": message, "where": where}


class ReaderException(Exception):
    """Stands, on the trusted side, for an exception the reader's code raised on theirs."""

    message = ""
    where = ""


def rebuild_error(record: Any) -> Exception:
    """An exception that `except ValueError:` and the like treat as the reader's was.

    A BaseException that is not an Exception (SystemExit, KeyboardInterrupt) becomes an
    ordinary one: on this side it is only something the reader's code did."""
    if not isinstance(record, dict) or not all(type(record.get(k)) is str for k in ERROR_FIELDS):
        return Diverged("unreadable error")
    record = {k: record[k][:300] for k in ERROR_FIELDS}
    base = getattr(builtins, record["base"], Exception)
    if not (isinstance(base, type) and issubclass(base, Exception)):
        base = Exception
    name = record["name"] if record["name"].isidentifier() else "Exception"
    try:
        err = type(name, (ReaderException, base), {})(record["message"])
    except TypeError:  # a builtin whose constructor wants more (UnicodeDecodeError)
        err = type(name, (ReaderException,), {})(record["message"])
    err.message, err.where = record["message"], record["where"]
    return err


def describe_error(err: BaseException, files: set[str] = frozenset()) -> str:
    """`TypeError: message (in forward, line 12 of my_file.py)`, in one line."""
    if isinstance(err, ReaderException):
        name, message, where = type(err).__name__, err.message, err.where
    else:
        record = error_record(err, set(files))
        name, message, where = record["name"], record["message"], record["where"]
    text = f"{name}: {message}" if message else name
    return f"{text} ({where})" if where else text


def source_files(obj: Any) -> set[str]:
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


# --- Observed values as data -----------------------------------------------------------------


@dataclass(frozen=True)
class Opaque:
    """An object of the reader's that is not plain data: only its type's name crosses."""

    type_name: str


PLAIN = (bool, int, float, str, bytes, type(None))


def to_plain(value: Any, depth: int = 0) -> Any:
    """`value` as data that `torch.load(weights_only=True)` reads back: numbers, strings,
    lists, tuples, dicts and plain tensors; anything else becomes a marker with its type."""
    kind = type(value)
    if kind in PLAIN:
        return value
    if depth > 8:
        return {"__opaque__": kind.__name__[:80]}
    if kind in (list, tuple):
        return kind(to_plain(v, depth + 1) for v in value)
    if kind is dict:
        pairs = [(to_plain(k, depth + 1), to_plain(v, depth + 1)) for k, v in value.items()]
        return {"__dict__": pairs}
    if isinstance(value, torch.Tensor):
        tensor = value.detach()
        if type(tensor) is not torch.Tensor:
            tensor = tensor.as_subclass(torch.Tensor)
        return tensor.to("cpu").clone()
    if isinstance(value, torch.dtype):
        return {"__dtype__": str(value).removeprefix("torch.")}
    if isinstance(value, torch.device):
        return {"__device__": str(value)}
    return {"__opaque__": kind.__name__[:80]}


def from_plain(value: Any, depth: int = 0) -> Any:
    """The inverse of `to_plain`, checking every type: whatever else arrives is Opaque."""
    kind = type(value)
    if kind in PLAIN:
        return value
    if kind is torch.Tensor:
        return value if value.layout == torch.strided and not value.is_quantized else Opaque("?")
    if depth > 10:
        return Opaque("?")
    if kind in (list, tuple):
        return kind(from_plain(v, depth + 1) for v in value)
    if kind is dict and len(value) == 1:
        ((key, inner),) = value.items()
        if key == "__dict__" and type(inner) is list:
            pairs = [from_plain(p, depth + 1) for p in inner]
            if all(type(p) is tuple and len(p) == 2 for p in pairs):
                try:
                    return dict(pairs)
                except TypeError:
                    return Opaque("dict")
        if key == "__dtype__" and type(inner) is str:
            dtype = getattr(torch, inner, None)
            return dtype if isinstance(dtype, torch.dtype) else Opaque("dtype")
        if key == "__device__" and type(inner) is str:
            try:
                return torch.device(inner)
            except (RuntimeError, ValueError):
                return Opaque("device")
        if key == "__opaque__" and type(inner) is str:
            return Opaque(inner[:80])
    return Opaque(kind.__name__)


def encode(event: tuple) -> bytes:
    buffer = io.BytesIO()
    torch.save(to_plain(event), buffer)
    return buffer.getvalue()


def decode(data: bytes) -> tuple:
    """One event from the reader's side; only plain data can come out (weights_only)."""
    try:
        event = from_plain(torch.load(io.BytesIO(data), weights_only=True))
    except Exception:  # noqa: BLE001 - whatever the bytes are, they are not an event
        return ("garbled",)
    if type(event) is not tuple or not event or type(event[0]) is not str:
        return ("garbled",)
    return event


# --- The two sides ---------------------------------------------------------------------------


class _Side:
    """How `observe` behaves: on the reader's side it records, on the trusted side it replays.

    With no run in progress (a check function called by hand) values pass through."""

    def observe(self, value: Any) -> Any:
        return value

    def attempt(self, call: Callable[[], Any]) -> tuple[Any, Exception | None]:
        try:
            return call(), None
        except Exception as err:  # noqa: BLE001 - the reader's code may raise anything
            return None, err

    def sync(self) -> None:
        pass


class _ReaderSide(_Side):
    def __init__(self, emit: Callable[[tuple], None], files: set[str]) -> None:
        self.emit, self.files = emit, files

    def observe(self, value: Any) -> Any:
        self.emit(("value", value))
        return value

    def attempt(self, call: Callable[[], Any]) -> tuple[Any, Exception | None]:
        try:
            value = call()
        except Exception as err:  # noqa: BLE001
            self.emit(("raised", error_record(err, self.files)))
            return None, err
        self.emit(("value", value))
        return value, None

    def sync(self) -> None:
        self.emit(("sync",))


class _TrustedSide(_Side):
    """Replays one check's transcript: the events the reader's side recorded, then ("end",
    None or how it failed there), or nothing more if its process stopped (`stopped`: why)."""

    def __init__(self, events: list[tuple], stopped: str) -> None:
        self.events, self.position, self.stopped = events, 0, stopped

    def _stop(self) -> Exception:
        return TimeLimitExceeded() if self.stopped == "time" else ProcessEnded(self.stopped)

    def _next(self, expected: str) -> tuple:
        if self.position >= len(self.events):
            raise self._stop()
        event = self.events[self.position]
        if event[0] == "end":
            self._raise_end(event)
        self.position += 1
        if event[0] == "raised" and len(event) == 2 and expected in ("value", "sync"):
            raise rebuild_error(event[1])
        if expected == "attempt" and event[0] in ("value", "raised") and len(event) == 2:
            return event
        if event[0] != expected or len(event) != (2 if expected == "value" else 1):
            raise Diverged(f"expected {expected}, got {event[0]}")
        return event

    def _raise_end(self, event: tuple) -> None:
        end = event[1] if len(event) == 2 else None
        if end is None:
            raise Diverged("the check ended sooner on the reader's side")
        if isinstance(end, dict) and type(end.get("mismatch")) is str:
            raise Mismatch(end["mismatch"][:500])
        raise rebuild_error(end)

    def observe(self, value: Any) -> Any:
        return self._next("value")[1]

    def attempt(self, call: Callable[[], Any]) -> tuple[Any, Exception | None]:
        event = self._next("attempt")
        if event[0] == "raised":
            return None, rebuild_error(event[1])
        return event[1], None

    def sync(self) -> None:
        self._next("sync")

    def finish(self) -> None:
        """The check ran to its end here: so must it have there, with nothing left over."""
        if self.position >= len(self.events):
            raise self._stop()
        event = self.events[self.position]
        if event[0] != "end":
            raise Diverged("the reader's side observed more")
        if len(event) != 2 or event[1] is not None:
            self._raise_end(event)


_side: _Side = _Side()
_generator = torch.Generator().manual_seed(0)
_random = random.Random(0)


def observe(value: Any) -> Any:
    """The value the reader's code produced: recorded on their side, replayed on the trusted one.

    Every value a check inspects that came from the reader's object passes through here before
    it is compared or tested; what is derived from it is then computed on the trusted side."""
    return _side.observe(value)


def attempt(call: Callable[[], Any]) -> tuple[Any, Exception | None]:
    """Run a call into the reader's code that may raise: (its value, None) or (None, error)."""
    return _side.attempt(call)


def sync() -> None:
    """Both sides reached this point: an error the reader's code raised before it shows here."""
    _side.sync()


def randn(*shape: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Normal noise from this check's generator: the same on both sides, new each run."""
    return torch.randn(shape, generator=_generator, dtype=dtype)


def randint(low: int, high: int, shape: tuple[int, ...]) -> torch.Tensor:
    return torch.randint(low, high, shape, generator=_generator)


def rng() -> random.Random:
    """This check's Python random numbers (random lists of ids, texts)."""
    return _random


@contextmanager
def _check_state(seed: int, index: int) -> Iterator[None]:
    """One check's surroundings: its own seeds, one thread, grad on; the caller's random state,
    default dtype, grad mode and threads restored after."""
    global _generator, _random
    check_seed = seed * 256 + index
    dtype, threads = torch.get_default_dtype(), torch.get_num_threads()
    torch.set_num_threads(1)
    with torch.random.fork_rng(devices=[]), torch.enable_grad():
        torch.manual_seed(check_seed)
        _generator = torch.Generator().manual_seed(check_seed)
        _random = random.Random(check_seed)
        try:
            yield
        finally:
            torch.set_default_dtype(dtype)
            torch.set_num_threads(threads)


@contextmanager
def _on(side: _Side) -> Iterator[None]:
    global _side
    previous, _side = _side, side
    try:
        yield
    finally:
        _side = previous


def record(exercise: Exercise, candidate: Any, seed: int, emit: Callable[[tuple], None]) -> None:
    """The reader's side: run every check on `candidate`, emitting what each observed and how it
    ended. Nothing is judged here; whatever the reader's code raises (SystemExit and
    KeyboardInterrupt included) ends only the check it happened in."""
    files = source_files(candidate)
    side = _ReaderSide(emit, files)
    for index, check in enumerate(exercise.checks):
        emit(("start", index))
        end: dict | None = None
        try:
            with _on(side), _check_state(seed, index):
                check.run(candidate)
        except Mismatch as mismatch:
            cause = mismatch.__cause__
            end = error_record(cause, files) if cause else {"mismatch": str(mismatch)}
        except BaseException as err:  # noqa: BLE001 - the reader's code may raise anything
            end = error_record(err, files)
        emit(("end", end))


@dataclass
class Transcript:
    """What the reader's side sent: each started check's events, and how the run stopped."""

    checks: list[list[tuple]]
    stopped: str  # "finished", "time", or a sentence saying why the process ended


def replay(exercise: Exercise, transcript: Transcript, seed: int, source: str | None) -> Report:
    """The trusted side: run every check with the package's object, judging the reader's
    observed values; a check passes only when its transcript ran to its end."""
    outcomes: list[Outcome] = []
    stub = False
    for index, check in enumerate(exercise.checks[: len(transcript.checks)]):
        last = index == len(transcript.checks) - 1
        stopped = transcript.stopped if last else "the process running your code lost track"
        if stopped == "finished":
            stopped = "the process running your code stopped early"
        side = _TrustedSide(transcript.checks[index], stopped)
        outcome = _run_one(check, exercise.reference, side, seed, index)
        outcomes.append(outcome)
        if outcome.passed:
            continue
        stub = index == 0 and outcome.not_written
        if stub or check.essential or outcome.timed_out or outcome.ended:
            break
    not_run = len(exercise.checks) - len(outcomes)
    return Report(exercise, outcomes, not_run, stub, seed, source)


def _run_one(check: Check, reference: Any, side: _TrustedSide, seed: int, index: int) -> Outcome:
    try:
        with _on(side), _check_state(seed, index):
            check.run(reference)
            side.finish()
    except Mismatch as mismatch:
        message = str(mismatch)
        if mismatch.__cause__ is not None:  # raised for an exception of the reader's code
            message += f"; your code raised {describe_error(mismatch.__cause__)}"
        return Outcome(check, False, message)
    except TimeLimitExceeded:
        message = (
            f"took longer than {TIME_LIMIT_S:g} s on a tiny input: is there a loop that "
            "never ends (an index that does not advance)?"
        )
        return Outcome(check, False, message, timed_out=True)
    except ProcessEnded as ended:
        return Outcome(check, False, str(ended), ended=True)
    except Diverged:
        message = (
            "this check ran differently in the process running your code (does your file "
            "change torch or minigpt?), so it cannot pass"
        )
        return Outcome(check, False, message)
    except NotImplementedError as err:
        return Outcome(check, False, f"not written yet: {describe_error(err)}", not_written=True)
    except ReaderException as err:
        return Outcome(check, False, f"your code raised {describe_error(err)}")
    return Outcome(check, True)


def run(
    exercise: Exercise, candidate: Any, seed: int | None = None, source: str | None = None
) -> Report:
    """Check `candidate` with both sides in this process: for testing the checks on code that
    is trusted. `minigpt check` and `check()` run the reader's side in a child process."""
    validate(exercise, candidate)
    seed = new_seed() if seed is None else seed
    checks: list[list[tuple]] = []

    def emit(event: tuple) -> None:
        decoded = decode(encode(event))  # the same round trip as from a child process
        if decoded[0] == "start":
            checks.append([])
        else:
            checks[-1].append(decoded)

    record(exercise, candidate, seed, emit)
    return replay(exercise, Transcript(checks, "finished"), seed, source)


def new_seed() -> int:
    """A fresh seed for a run's inputs (printed in the report; `--seed` repeats it)."""
    return random.SystemRandom().randrange(1, 10**6)
