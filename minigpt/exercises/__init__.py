"""Exercises that check the reader's own code against the package's.

Each exercise asks for one object of the package, under its own name and signature (say
`LayerNorm`), and checks the reader's version by behaviour: outputs and gradients on random
inputs, the edge cases that wrong versions get wrong, and properties. Two ways to run one:

* `minigpt check layer_norm my_layer_norm.py` checks the file's `LayerNorm`;
* in a notebook, `check("layer_norm", LayerNorm)` checks an object defined there.

Either way the reader's code runs in a separate process and the package's values and the
comparisons stay in this one (see `core` and `process`). Both print a line per check (✓, or ✗
with a hint) and a summary; the heading names the seed of the run's inputs. `minigpt check --list`
lists the exercises; the chapters' modules below (`ch01_tokenization`, …) hold their checks.
"""

from __future__ import annotations

import difflib
import sys
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
from .answers import folded
from .core import Exercise, ExerciseError, Report, run
from .process import file_target, object_target, run_isolated

__all__ = ["EXERCISES", "Exercise", "ExerciseError", "Report", "check", "folded", "get", "run"]

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


def check(exercise_id: str, obj: Any, seed: int | None = None) -> Report:
    """Check `obj` (your version of the exercise's object), print the report and return it.

    Your code runs in a separate process: defined in a notebook, `obj` travels there as the
    source of the notebook's definitions and imports (globals it uses that are neither, such
    as tensors, are not there). `seed` repeats a run's inputs. Unknown exercises and objects
    of the wrong kind or signature raise ExerciseError.
    """
    report = run_isolated(get(exercise_id), object_target(obj), seed)
    print(report.text())
    return report


def command_line(
    exercise_id: str | None, file: str | None, list_only: bool, seed: int | None = None
) -> int:
    """`minigpt check`: 0 only when every check ran to its end and passed, 1 when one failed,
    2 for bad usage (including a file that cannot be imported)."""
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
        if seed is not None and not 0 <= seed < 2**40:
            raise ExerciseError(f"--seed must be between 0 and 2**40, not {seed}")
        report = run_isolated(exercise, file_target(file, exercise.name), seed)
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
