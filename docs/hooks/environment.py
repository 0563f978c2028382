"""MkDocs hook: make the build see the package and its offline data, whatever the working setup.

* The repository root goes first on `sys.path` (for the other hooks) and on `PYTHONPATH` (for the
  Jupyter kernels that execute the notebooks), so `import minigpt` works without installing it.
  `docs/` goes on `sys.path` too, for the guide's figure code (`import figures`).
* `TIKTOKEN_CACHE_DIR` defaults to `../shared/tiktoken-cache` beside the repository when that
  folder exists, so GPT-2's tokenizer loads offline; `MINIGPT_TINYSHAKESPEARE` likewise to
  `../shared/data/tinyshakespeare/input.txt` (chapter 11 reads the training split's size).
Before each build (`mkdocs serve` rebuilds in the same process) the `minigpt` and `figures`
modules are dropped from `sys.modules`, so figures and `.run` blocks always use the code as it
is now.

MPLBACKEND is deliberately left alone: the notebooks' kernels need their inline backend
(the `figures` package selects Agg for itself).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

RELOADED = ("minigpt", "figures")  # packages read afresh at every build


def on_config(config):
    root = Path(config.config_file_path).resolve().parent
    for path in (str(root / "docs"), str(root)):
        if path not in sys.path:
            sys.path.insert(0, path)
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if str(root) not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([str(root), *paths])
    cache = root.parent / "shared" / "tiktoken-cache"
    if "TIKTOKEN_CACHE_DIR" not in os.environ and cache.is_dir():
        os.environ["TIKTOKEN_CACHE_DIR"] = str(cache)
    corpus = root.parent / "shared" / "data" / "tinyshakespeare" / "input.txt"
    if "MINIGPT_TINYSHAKESPEARE" not in os.environ and corpus.is_file():
        os.environ["MINIGPT_TINYSHAKESPEARE"] = str(corpus)
    return config


def on_pre_build(config):
    for name in list(sys.modules):
        if name.split(".")[0] in RELOADED:
            del sys.modules[name]
