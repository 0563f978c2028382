"""Wrong versions of the exercises' objects, written the way learners get them wrong.

Each is registered with the exercise it answers and a fragment of the hint the checks must give
for that mistake; tests/test_exercises.py runs every one. One module per chapter.
"""

from . import ch01, ch02, ch03, ch04, ch05, ch06, ch07, ch08, ch09, ch10
from .registry import MISTAKES, Mistake

__all__ = ["MISTAKES", "Mistake"]
_CHAPTERS = (ch01, ch02, ch03, ch04, ch05, ch06, ch07, ch08, ch09, ch10)
