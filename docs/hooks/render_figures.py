"""MkDocs hook: add every figure registered in `docs/figures` (the `figures` package) to the site.

Each registered function runs once per build; its SVG becomes a generated file at the
registered path (e.g. `figures/04-attention-weights.svg`), which pages link to as an ordinary
image: `![Attention weights](figures/04-attention-weights.svg)`. Because the files exist before
the pages are rendered, `mkdocs build --strict` checks those links like any other.
A figure function that raises fails the build, naming the figure and the traceback.

Light and dark: every figure also gets a dark-theme variant under `figures/dark/` (its ink
recoloured by `figures.style.dark_variant`), and each image link of a page becomes two images
that Material shows one at a time, following the reader's colour scheme:

    ![alt](figures/04-qkv.svg#only-light){ width="W" height="H" loading="lazy" }
    ![alt](figures/dark/04-qkv.svg#only-dark){ width="W" height="H" loading="lazy" }

with the SVG's natural size in CSS pixels, so the page does not jump while figures load (the
CSS still shrinks a wide figure to the column; mkdocs-glightbox opens it full size on a tap).

Figures are deterministic, so rendered SVGs are cached in `.cache/minigpt-figures/` under a key
made of the figure's path and the contents of everything a figure can read: the `minigpt`
package, the figure code in `docs/figures/`, `docs/runs/` and the versions of matplotlib, NumPy
and PyTorch. A rebuild (e.g. under
`mkdocs serve`) re-renders only when one of those changed. MINIGPT_FIGURE_CACHE=0 disables it.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
import traceback
from importlib import metadata
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.plugins import get_plugin_logger
from mkdocs.structure.files import File

log = get_plugin_logger("figures")

DARK_DIR = "figures/dark/"
IMAGE_LINK = re.compile(
    r"!\[(?P<alt>[^\]]*)\]\((?P<prefix>(?:\.\./)*)(?P<path>figures/[^)\s#/]+\.svg)\)"
    r"(?:\{(?P<attrs>[^}]*)\})?"
)
SVG_SIZE = re.compile(r'<svg[^>]*?\swidth="(?P<w>[\d.]+)pt"\s+height="(?P<h>[\d.]+)pt"')

# Natural size in CSS pixels of each figure of the current build, read from its SVG.
_sizes: dict[str, tuple[int, int]] = {}


def dark_path(path: str) -> str:
    """Where the dark-theme variant of `figures/NAME.svg` lives: `figures/dark/NAME.svg`."""
    return DARK_DIR + path[len("figures/") :]


def natural_size(svg: str) -> tuple[int, int]:
    """Width and height in CSS pixels of a matplotlib SVG (sized in points, 72 per inch)."""
    match = SVG_SIZE.search(svg)
    if match is None:
        raise ValueError("the SVG has no width and height in points")
    return round(float(match["w"]) * 4 / 3), round(float(match["h"]) * 4 / 3)


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
    _sizes.clear()
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
        files.append(File.generated(config, dark_path(path), content=figures.dark_variant(svg)))
        try:
            _sizes[path] = natural_size(svg)
        except ValueError as error:
            raise PluginError(f"figure {path}: {error}") from error
    log.info(
        "%d figures (%d rendered, %d from the cache) in %.1f s",
        len(figures.FIGURES),
        rendered,
        len(figures.FIGURES) - rendered,
        time.perf_counter() - start,
    )
    return files


def on_page_markdown(markdown, page, config, files):
    def themed(match: re.Match) -> str:
        path = match["path"]
        if path not in _sizes:  # not a generated figure: leave it to the link checks
            return match[0]
        width, height = _sizes[path]
        attrs = f'width="{width}" height="{height}" loading="lazy" {match["attrs"] or ""}'.strip()
        prefix, alt = match["prefix"], match["alt"]
        return (
            f"![{alt}]({prefix}{path}#only-light){{ {attrs} }}"
            f"![{alt}]({prefix}{dark_path(path)}#only-dark){{ {attrs} }}"
        )

    return IMAGE_LINK.sub(themed, markdown)
