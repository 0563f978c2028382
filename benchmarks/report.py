"""What every benchmark does with its result: print it as JSON and keep a copy on disk."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def emit(result: dict[str, Any], out: Path | None) -> None:
    """Print `result` as indented JSON and, given a path, also write it there."""
    text = json.dumps(result, indent=2)
    print(text)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n", encoding="utf-8")


def load_average() -> list[float]:
    """The machine's 1, 5 and 15-minute load averages: how busy it was while measuring."""
    return [round(load, 2) for load in os.getloadavg()]
