"""The guide's published runs, shipped inside the package (a few MB each).

Each folder here is what `minigpt publish` wrote for one finished run: `model.safetensors`,
`run.json`, `metrics.jsonl`, `attention.json` and `samples.txt`. Because they ship with the
package, a run's name works wherever `minigpt` is installed:

    minigpt.load_model("shakespeare-char-cpu")
    minigpt sample --checkpoint shakespeare-char-cpu
"""

from __future__ import annotations

import os
from pathlib import Path

RUNS_DIR = Path(__file__).resolve().parent


def published_runs() -> list[str]:
    """The names of the runs shipped with the package."""
    # A name starting with "." is a publish in progress (its staging folder), not a run.
    return sorted(
        p.name
        for p in RUNS_DIR.iterdir()
        if not p.name.startswith(".") and (p / "model.safetensors").is_file()
    )


def find_run(path: str | os.PathLike[str]) -> str | os.PathLike[str]:
    """`path` itself, unless nothing is there and it names a run shipped with the package:
    then that run's folder. A file or folder of that name in the working directory wins."""
    name = os.fspath(path)
    if Path(name).expanduser().exists() or name not in published_runs():
        return path
    return RUNS_DIR / name
