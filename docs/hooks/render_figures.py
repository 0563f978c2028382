"""MkDocs hook: add every figure registered in `docs/figures` (the `figures` package) to the site.

Each registered function runs once per build; its SVG becomes a generated file at the
registered path (e.g. `figures/04-attention-weights.svg`), which pages link to as an ordinary
image: `![Attention weights](figures/04-attention-weights.svg)`. Because the files exist before
the pages are rendered, `mkdocs build --strict` checks those links like any other.
A figure function that raises fails the build, naming the figure and the traceback.

Figures are deterministic, so rendered SVGs are cached in `.cache/minigpt-figures/` under a key
made of the figure's path and the contents of everything a figure can read: the `minigpt`
package, the figure code in `docs/figures/`, `docs/runs/` and the versions of matplotlib, NumPy
and PyTorch. A rebuild (e.g. under
`mkdocs serve`) re-renders only when one of those changed. MINIGPT_FIGURE_CACHE=0 disables it.
"""

from __future__ import annotations

import hashlib
import os
import time
import traceback
from importlib import metadata
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.plugins import get_plugin_logger
from mkdocs.structure.files import File

log = get_plugin_logger("figures")


def _fingerprint(root: Path) -> str:
    digest = hashlib.sha256()
    inputs = sorted(
        [
            *(root / "minigpt").rglob("*.py"),
            *(root / "docs" / "figures").rglob("*.py"),
            *(root / "docs" / "runs").rglob("*"),
        ],
        key=lambda p: p.as_posix(),
    )
    for path in inputs:
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(path.relative_to(root).as_posix().encode())
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    for package in ("matplotlib", "numpy", "torch"):
        try:
            digest.update(f"{package}=={metadata.version(package)}".encode())
        except metadata.PackageNotFoundError:
            pass
    return digest.hexdigest()


def on_files(files, config):
    try:
        import figures  # docs/figures, on sys.path (hooks/environment.py)
    except Exception as error:  # noqa: BLE001
        details = traceback.format_exc()
        raise PluginError(f"cannot import the figures (docs/figures):\n{details}") from error
    root = Path(config.config_file_path).resolve().parent
    use_cache = os.environ.get("MINIGPT_FIGURE_CACHE", "1") not in ("0", "false", "no")
    cache_dir = root / ".cache" / "minigpt-figures"
    fingerprint = _fingerprint(root) if use_cache else ""
    start = time.perf_counter()
    rendered = 0
    for path in sorted(figures.FIGURES):
        if files.get_file_from_path(path) is not None:
            raise PluginError(f"{path} is both a file in docs/ and a generated figure")
        cached = cache_dir / (hashlib.sha256(f"{fingerprint}:{path}".encode()).hexdigest() + ".svg")
        if use_cache and cached.is_file():
            svg = cached.read_text(encoding="utf-8")
        else:
            try:
                svg = figures.render_figure(path)
            except Exception as error:  # noqa: BLE001
                raise PluginError(f"figure {path} failed:\n{traceback.format_exc()}") from error
            rendered += 1
            if use_cache:
                cache_dir.mkdir(parents=True, exist_ok=True)
                cached.write_text(svg, encoding="utf-8")
        files.append(File.generated(config, path, content=svg))
    log.info(
        "%d figures (%d rendered, %d from the cache) in %.1f s",
        len(figures.FIGURES),
        rendered,
        len(figures.FIGURES) - rendered,
        time.perf_counter() - start,
    )
    return files
