"""MkDocs hook: make the build see the package and its offline data, whatever the working setup.

* The repository root goes first on `sys.path` (for the other hooks) and on `PYTHONPATH` (for the
  Jupyter kernels that execute the notebooks), so `import minigpt` works without installing it.
  `docs/` goes on `sys.path` too, for the guide's figure code (`import figures`).
* `TIKTOKEN_CACHE_DIR` defaults to `../shared/tiktoken-cache` beside the repository when that
  folder exists, so GPT-2's tokenizer loads offline; `MINIGPT_TINYSHAKESPEARE` likewise to
  `../shared/data/tinyshakespeare/input.txt` (chapter 11 reads the training split's size).
* The notebooks' Jupyter kernels talk to the build over local IPC sockets, not unencrypted TCP
  (each kernel would warn about that): `hooks/jupyter/jupyter_nbconvert_config.json` says so,
  and goes on JUPYTER_CONFIG_PATH, where mkdocs-jupyter reads nbconvert's configuration.
* Both data files are then loaded once, before anything else is built: when one cannot be had
  (offline, nothing cached), the build stops with the package's one-line advice, not with a
  traceback from the middle of a figure.
Before each build (`properdocs serve` rebuilds in the same process) the `minigpt` and `figures`
modules are dropped from `sys.modules`, so figures and `.run` blocks always use the code as it
is now.

MPLBACKEND is deliberately left alone: the notebooks' kernels need their inline backend
(the `figures` package selects Agg for itself).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from mkdocs.exceptions import PluginError

RELOADED = ("minigpt", "figures")  # packages read afresh at every build
JUPYTER_CONFIG = Path(__file__).resolve().parent / "jupyter"  # kernels over IPC (POSIX only)


def on_config(config):
    root = Path(config.config_file_path).resolve().parent
    for path in (str(root / "docs"), str(root)):
        if path not in sys.path:
            sys.path.insert(0, path)
    _prepend("PYTHONPATH", str(root))
    if os.name == "posix":
        _prepend("JUPYTER_CONFIG_PATH", str(JUPYTER_CONFIG))
    cache = root.parent / "shared" / "tiktoken-cache"
    if "TIKTOKEN_CACHE_DIR" not in os.environ and cache.is_dir():
        os.environ["TIKTOKEN_CACHE_DIR"] = str(cache)
    corpus = root.parent / "shared" / "data" / "tinyshakespeare" / "input.txt"
    if "MINIGPT_TINYSHAKESPEARE" not in os.environ and corpus.is_file():
        os.environ["MINIGPT_TINYSHAKESPEARE"] = str(corpus)
    check_offline_data()
    return config


def _prepend(variable: str, path: str) -> None:
    paths = [p for p in os.environ.get(variable, "").split(os.pathsep) if p]
    if path not in paths:
        os.environ[variable] = os.pathsep.join([path, *paths])


def check_offline_data() -> None:
    """Load GPT-2's BPE file and Tiny Shakespeare (each page and figure needs them), turning a
    missing one into a one-line build error."""
    from minigpt.corpus import resolve_corpus
    from minigpt.tokenization import load_gpt2_encoding

    try:
        load_gpt2_encoding()
        resolve_corpus("tinyshakespeare")
    except (OSError, RuntimeError, ValueError) as err:
        raise PluginError(" ".join(str(err).split())) from None


def on_pre_build(config):
    for name in list(sys.modules):
        if name.split(".")[0] in RELOADED:
            del sys.modules[name]
