"""Exercises that check the reader's own code against the package's.

Each exercise asks for one object of the package, under its own name and signature (say
`LayerNorm`), and checks the reader's version by behaviour: outputs and gradients on random
inputs, the edge cases that wrong versions get wrong, and properties. Two ways to run one:

* `minigpt check layer_norm my_layer_norm.py` imports the file and checks its `LayerNorm`;
* in a notebook, `check("layer_norm", LayerNorm)` checks an object defined there.

Both print a line per check (✓, or ✗ with a hint) and a summary. `minigpt check --list`
lists the exercises; the chapters' modules below (`ch01_tokenization`, …) hold their checks.
"""

from __future__ import annotations

import difflib
import importlib.util
import re
import sys
from pathlib import Path
from typing import Any

from . import (
    ch01_tokenization,
    ch02_token_embeddings,
    ch03_positional_embeddings,
    ch04_self_attention,
    ch05_masked_multi_head_attention,
    ch06_feed_forward,
    ch07_residual,
    ch08_layer_norm,
    ch09_transformer_block,
    ch10_minigpt,
)
from .core import Exercise, ExerciseError, Report, describe_error, run

__all__ = ["EXERCISES", "Exercise", "ExerciseError", "Report", "check", "get", "load_object"]

CHAPTERS = (
    ch01_tokenization,
    ch02_token_embeddings,
    ch03_positional_embeddings,
    ch04_self_attention,
    ch05_masked_multi_head_attention,
    ch06_feed_forward,
    ch07_residual,
    ch08_layer_norm,
    ch09_transformer_block,
    ch10_minigpt,
)
EXERCISES: dict[str, Exercise] = {
    exercise.id: exercise for module in CHAPTERS for exercise in module.EXERCISES
}


def get(exercise_id: str) -> Exercise:
    """The exercise with this id; an ExerciseError suggests the closest ids otherwise."""
    try:
        return EXERCISES[exercise_id]
    except (KeyError, TypeError):
        close = difflib.get_close_matches(str(exercise_id), EXERCISES, n=1)
        guess = f"did you mean {close[0]!r}? " if close else ""
        raise ExerciseError(
            f"unknown exercise {exercise_id!r}: {guess}`minigpt check --list` shows all "
            f"{len(EXERCISES)}"
        ) from None


def check(exercise_id: str, obj: Any) -> Report:
    """Check `obj` (your version of the exercise's object), print the report and return it.

    Unknown exercises and objects of the wrong kind or signature raise ExerciseError.
    """
    report = run(get(exercise_id), obj)
    print(report.text())
    return report


def load_object(path: str | Path, exercise: Exercise) -> Any:
    """Import the Python file at `path` and return the object the exercise names."""
    path = Path(path)
    if not path.is_file():
        raise ExerciseError(f"{path}: no such file")
    if path.suffix != ".py":
        hint = " (in a notebook, call check() in a cell instead)" if path.suffix == ".ipynb" else ""
        raise ExerciseError(f"{path} is not a Python file (.py){hint}")
    module_name = "_minigpt_check_" + re.sub(r"\W", "_", path.stem)
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses and pickling look a module up by name
    folder = str(path.resolve().parent)
    sys.path.insert(0, folder)  # the file may import its neighbours
    try:
        spec.loader.exec_module(module)
    except SyntaxError as err:
        message = f"cannot import {path}: SyntaxError: {err.msg} (line {err.lineno})"
        raise ExerciseError(message) from None
    except (Exception, SystemExit) as err:  # noqa: BLE001 - whatever the file raises
        raise ExerciseError(f"cannot import {path}: {describe_error(err, {str(path)})}") from None
    finally:
        sys.path.remove(folder)
    if not hasattr(module, exercise.name):
        raise ExerciseError(
            f"{path} defines no {exercise.name}: the {exercise.id} exercise checks a "
            f"{exercise.kind} named {exercise.name}"
        )
    return getattr(module, exercise.name)


def command_line(exercise_id: str | None, file: str | None, list_only: bool) -> int:
    """`minigpt check`: 0 when every check passes, 1 when one fails, 2 for bad usage."""
    if list_only:
        print(exercise_list())
        return 0
    try:
        if exercise_id is None:
            raise ExerciseError("name an exercise and your file: minigpt check EXERCISE FILE.py")
        exercise = get(exercise_id)
        if file is None:
            raise ExerciseError(
                f"name the file with your {exercise.name}: minigpt check {exercise.id} FILE.py"
            )
        report = run(exercise, load_object(file, exercise), source=file)
    except ExerciseError as err:
        print(f"minigpt check: error: {err}", file=sys.stderr)
        return 2
    print(report.text())
    return 0 if report.passed else 1


def exercise_list() -> str:
    width = max(len(e.id) for e in EXERCISES.values())
    lines = ["chapter  " + "exercise".ljust(width) + "  task"]
    for e in EXERCISES.values():
        lines.append(f"{e.chapter:>7}  {e.id.ljust(width)}  {e.name}: {e.task}")
    lines.append("")
    lines.append("Check your file with: minigpt check EXERCISE FILE.py")
    return "\n".join(lines)
