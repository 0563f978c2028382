"""The registry of wrong versions: `@mistake(exercise_id, hint)` on a function or class."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass
class Mistake:
    exercise: str
    obj: Any
    hint: str  # a fragment of the hint the checks must give for this mistake
    absent: str = ""  # a fragment of a hint meant for another mistake, which must not show

    @property
    def name(self) -> str:
        return f"{self.exercise}-{self.obj.__name__}"


MISTAKES: list[Mistake] = []


def mistake(exercise: str, hint: str, absent: str = "") -> Callable[[Any], Any]:
    def register(obj: Any) -> Any:
        MISTAKES.append(Mistake(exercise, obj, hint, absent))
        return obj

    return register
