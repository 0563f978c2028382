"""The reader's side of a check runs in a child process; this process only reads its transcript.

The child imports the reader's code, runs every check on it (`core.record`) and sends each
event as bytes that `torch.load(weights_only=True)` reads: plain numbers, strings and tensors,
never objects. This process enforces the time limits and kills the child when it overruns,
when it is done, or when the reader presses Ctrl-C: a loop that catches every exception, a
cancelled timer, a thread that never ends or an `os._exit(0)` can only fail the check.

The child is a fork of this process, which has imported torch and the package already, so a
check starts in milliseconds. In a notebook kernel, whose other threads a fork leaves behind,
the child only runs the checks and writes to its pipe, and its time limit bounds it all the
same.

A target names where the reader's object is: a file (`minigpt check`), an importable module,
or the source text of a notebook's definitions (`check()` in a notebook).
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import linecache
import multiprocessing
import re
import signal
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from . import core
from .core import ExerciseError, Transcript

BOOT_LIMIT_S = 60.0  # from the fork to the child's first word
IMPORT_LIMIT_S = 20.0  # the reader's file, imported in the child


@dataclass(frozen=True)
class Target:
    """Where the child finds the reader's object: kind "file" (a path), "module" (an
    importable module's name) or "source" (pieces of a notebook's code); `name` is the
    object's name."""

    kind: str
    location: str
    name: str
    label: str  # how the report and errors name it
    pieces: tuple[tuple[str, str, int], ...] = ()  # kind "source": (text, file, first line)


def file_target(path: str | Path, name: str) -> Target:
    path = Path(path)
    if not path.is_file():
        raise ExerciseError(f"{path}: no such file")
    if path.suffix != ".py":
        hint = " (in a notebook, call check() in a cell instead)" if path.suffix == ".ipynb" else ""
        raise ExerciseError(f"{path} is not a Python file (.py){hint}")
    return Target("file", str(path), name, str(path))


def object_target(obj: Any) -> Target:
    """A target for an object of this process: by module when it was imported from a file,
    else (a notebook's cell) by the source of the notebook's definitions."""
    name = getattr(obj, "__name__", None)
    if not isinstance(name, str) or not (inspect.isclass(obj) or callable(obj)):
        raise ExerciseError(f"check() needs a function or class, not {type(obj).__name__}")
    module_name = getattr(obj, "__module__", None) or "__main__"
    module = sys.modules.get(module_name)
    if module_name != "__main__":
        if module is not None and getattr(module, name, None) is obj and _importable(module_name):
            return Target("module", module_name, name, f"{module_name}.{name}")
        path = getattr(module, "__file__", None) or _code_file(obj)
        if path and path.endswith(".py") and Path(path).is_file():
            return Target("file", path, name, path)
    namespace = vars(module) if module is not None else getattr(obj, "__globals__", {})
    pieces = notebook_source(obj, namespace)
    return Target("source", "", name, f"{name} (defined here)", pieces)


def _importable(module_name: str) -> bool:
    try:
        return importlib.util.find_spec(module_name) is not None
    except (ImportError, ValueError):
        return False


def _code_file(obj: Any) -> str | None:
    code = getattr(obj, "__code__", None) or _first_method_code(obj)
    return code.co_filename if code is not None else None


def _first_method_code(cls: Any) -> Any:
    for value in vars(cls).values() if inspect.isclass(cls) else ():
        code = getattr(getattr(value, "__func__", value), "__code__", None)
        if code is not None:
            return code
    return None


Piece = tuple[str, str, int]  # source text, the file it came from, its first line there


def notebook_source(obj: Any, namespace: dict[str, Any]) -> tuple[Piece, ...]:
    """What rebuilds `obj` in the child from a notebook's namespace: its imports (modules and
    the objects taken from them), simple constants, the notebook's other functions and
    classes, and `obj`'s own definition last, each piece with its cell and line."""
    lines = ["import importlib"]
    definitions = []
    for key, value in list(namespace.items()):
        if key.startswith("_") or key in ("In", "Out", "exit", "quit", "get_ipython"):
            continue
        if inspect.ismodule(value):
            lines.append(f"{key} = importlib.import_module({value.__name__!r})")
        elif inspect.isclass(value) or inspect.isfunction(value):
            module = getattr(value, "__module__", None)
            if module == "__main__":
                if value is not obj:
                    definitions.append(value)
            elif module and "<" not in value.__qualname__ and module in sys.modules:
                lines.append(f"{key} = importlib.import_module({module!r}).{value.__qualname__}")
        elif type(value) in (int, float, str, bool) and key.isidentifier():
            lines.append(f"{key} = {value!r}")
    pieces = [("\n".join(lines) + "\n", "<notebook imports>", 1)]
    pieces += [piece for value in definitions if (piece := definition_source(value))]
    own = definition_source(obj)
    if own is None:
        raise ExerciseError(
            f"check() cannot find the source of {obj.__name__}: define it in a notebook cell "
            "(or a .py file) and run that cell again"
        )
    return (*pieces, own)


def definition_source(obj: Any) -> Piece | None:
    """The source of a function or class defined in a notebook cell (or any file)."""
    code = getattr(obj, "__code__", None) if inspect.isfunction(obj) else _first_method_code(obj)
    if code is None:
        return None
    source = "".join(linecache.getlines(code.co_filename))
    try:
        tree = ast.parse(source)
    except SyntaxError:  # code kept in a file that is not Python (a guide page's block)
        return _block_source(obj, code)
    kinds = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    for node in ast.walk(tree):
        if (
            isinstance(node, kinds)
            and node.name == obj.__name__
            and node.lineno <= code.co_firstlineno <= node.end_lineno
        ):
            start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            text = "\n".join(source.splitlines()[start - 1 : node.end_lineno]) + "\n"
            return text, code.co_filename, start
    return None


def _block_source(obj: Any, code: Any) -> Piece | None:
    """The definition found by its indentation, from its first line (a class: the nearest
    `class Name` line above its first method), for code inside a Markdown file."""
    lines = linecache.getlines(code.co_filename)
    start = code.co_firstlineno - 1
    if inspect.isclass(obj):
        pattern = re.compile(rf"^\s*class {re.escape(obj.__name__)}\b")
        start = next((n for n in range(start, -1, -1) if pattern.match(lines[n])), None)
        if start is None:
            return None
    block = inspect.getblock(lines[start:])
    return textwrap.dedent("".join(block)), "<a guide page's block>", 1


def load_target(target: Target) -> Any:
    """The reader's object (in the child): import the file, module or source it names."""
    if target.kind == "module":
        module = importlib.import_module(target.location)
    else:
        module_name = "_minigpt_check_" + re.sub(r"\W", "_", Path(target.name).stem)
        spec = importlib.util.spec_from_loader(module_name, loader=None)
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module  # dataclasses and pickling look a module up by name
        if target.kind == "file":
            path = Path(target.location)
            module.__file__ = str(path)
            sys.path.insert(0, str(path.resolve().parent))  # the file may import its neighbours
            pieces: tuple[Piece, ...] = ((path.read_text(encoding="utf-8"), str(path), 1),)
        else:
            pieces = target.pieces
        for text, filename, first_line in pieces:
            tree = ast.parse(text, filename)
            ast.increment_lineno(tree, first_line - 1)  # errors name the cell's own lines
            linecache.cache.setdefault(
                filename,
                (len(text), None, ["\n"] * (first_line - 1) + text.splitlines(True), filename),
            )
            exec(compile(tree, filename, "exec"), module.__dict__)  # noqa: S102 - their own code
    if not hasattr(module, target.name):
        raise LookupError(target.name)
    return getattr(module, target.name)


def child_main(exercise_id: str, target: Target, seed: int, connection: Any) -> None:
    """The child: import, validate, run every check, send each event. Ctrl-C is the parent's
    to handle; a KeyboardInterrupt raised by the reader's code is only their exception."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    torch.set_num_threads(1)  # the checks' tensors are tiny; and no thread pool after a fork
    send = connection.send_bytes

    def emit(event: tuple) -> None:
        send(core.encode(event))

    from . import EXERCISES

    exercise = EXERCISES[exercise_id]
    emit(("ready",))
    try:
        candidate = load_target(target)
    except SyntaxError as err:
        emit(("usage", f"cannot import {target.label}: SyntaxError: {err.msg} (line {err.lineno})"))
        return
    except LookupError:
        emit(
            (
                "usage",
                f"{target.label} defines no {target.name}: the {exercise.id} exercise checks "
                f"a {exercise.kind} named {exercise.name}",
            )
        )
        return
    except BaseException as err:  # noqa: BLE001 - whatever the file raises, SystemExit too
        files = {target.location, *(piece[1] for piece in target.pieces)}
        emit(("usage", f"cannot import {target.label}: {core.describe_error(err, files)}"))
        return
    try:
        core.validate(exercise, candidate)
    except ExerciseError as err:
        emit(("usage", str(err)))
        return
    emit(("imported",))
    core.record(exercise, candidate, seed, emit)
    emit(("finished",))


FORK = multiprocessing.get_context("fork")


def run_isolated(exercise: core.Exercise, target: Target, seed: int | None = None) -> core.Report:
    """Check the reader's object named by `target`: their side in a child, judged here."""
    seed = core.new_seed() if seed is None else seed
    receive, send = FORK.Pipe(duplex=False)
    child = FORK.Process(target=child_main, args=(exercise.id, target, seed, send), daemon=True)
    child.start()
    send.close()
    try:
        transcript = _read(receive, child, target)
    finally:
        child.kill()
        child.join(5)
        receive.close()
    return core.replay(exercise, transcript, seed, target.label)


def _read(receive: Any, child: Any, target: Target) -> Transcript:
    """The child's events, stage by stage, each under its time limit."""
    checks: list[list[tuple]] = []
    stage, limit = "boot", BOOT_LIMIT_S
    deadline = time.monotonic() + limit
    while True:
        remaining = deadline - time.monotonic()
        try:
            ready = remaining > 0 and receive.poll(remaining)
            data = receive.recv_bytes(core.MAX_EVENT_BYTES) if ready else None
            data = data if data != b"" else b"garbled"  # an empty message is no event
        except EOFError:  # the child's end of the pipe closed: it has ended
            data = b""
        except OSError:  # a message longer than any event
            data = b"garbled"
        if data is None or data == b"":
            child.join(1)
            why = _why_stopped(data is None, child.exitcode)
            if stage in ("boot", "import"):
                if stage == "boot" and data is None:
                    raise ExerciseError("the checker's process did not start in time; try again")
                raise ExerciseError(f"cannot import {target.label}: {why}")
            return Transcript(checks, "time" if data is None else why)
        event = core.decode(data)
        kind = event[0]
        if stage == "boot" and kind == "ready":
            stage, deadline = "import", time.monotonic() + IMPORT_LIMIT_S
        elif stage == "import" and kind == "usage" and len(event) == 2:
            raise ExerciseError(" ".join(str(event[1]).split())[:600])
        elif stage == "import" and kind == "imported":
            stage, deadline = "between", time.monotonic() + core.TIME_LIMIT_S
        elif stage == "between" and kind == "start":
            checks.append([])
            stage, deadline = "check", time.monotonic() + core.TIME_LIMIT_S
        elif stage == "between" and kind == "finished":
            return Transcript(checks, "finished")
        elif stage == "check" and kind in ("value", "raised", "sync"):
            checks[-1].append(event)
        elif stage == "check" and kind == "end":
            checks[-1].append(event)
            stage, deadline = "between", time.monotonic() + core.TIME_LIMIT_S
        else:  # out of order or garbled: nothing after this can be believed
            if stage in ("boot", "import"):
                raise ExerciseError(
                    f"cannot import {target.label}: it wrote something unreadable to the pipe "
                    "the checks report through"
                )
            return Transcript(checks, "the process running your code sent something unreadable")


def _why_stopped(timed_out: bool, exitcode: int | None) -> str:
    if timed_out:
        return f"it did not finish within {IMPORT_LIMIT_S:g} s (a loop that never ends at import?)"
    if exitcode is not None and exitcode < 0:
        return f"the process running your code was killed by signal {-exitcode}"
    return (
        f"your code ended the process running it (exit status {exitcode}): remove calls to "
        "sys.exit() or os._exit()"
    )
