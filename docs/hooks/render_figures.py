"""MkDocs hook: add every figure registered in `docs/figures` (the `figures` package) to the site.

Each registered function runs twice per build, for the desktop column and for a phone's
(`narrow`); each SVG becomes a generated file, the desktop one at the registered path (e.g.
`figures/04-attention-weights.svg`), which pages link to as an ordinary image with a caption
as its title:

    ![Attention weights](figures/04-attention-weights.svg "What to look at, in one sentence.")

Because the files exist before the pages are rendered, `mkdocs build --strict` checks those
links like any other. A figure function that raises fails the build, naming the figure and the
traceback.

Variants: every figure also gets a dark-theme version (its ink recoloured by
`figures.style.dark_variant`), and each such link becomes a numbered figure of four images, of
which the page shows one: the desktop (`.minigpt-wide`) or, on screens up to
`figures.style.NARROW_MEDIA`, the phone variant (`.minigpt-narrow`), each in the reader's
colour scheme (docs/stylesheets/extra.css):

    <figure class="minigpt-figure" id="figure-4-2">
      figures/04-qkv.svg#only-light           figures/dark/04-qkv.svg#only-dark
      figures/narrow/04-qkv.svg               figures/narrow/dark/04-qkv.svg
      <figcaption>Figure 4.2 The caption.</figcaption>
    </figure>

Every image carries its SVG's natural size in CSS pixels, so the page does not jump while
figures load (the CSS still shrinks a wide figure to the column), and opens full size on a tap
(mkdocs-glightbox; each variant is its own gallery, so a tap shows what the screen shows).
Hidden images are lazy, so a browser fetches only the variant it shows. Figures are numbered
per page, with the chapter's number from the file name (`04-self-attention.md`: 4.1, 4.2, ...).

Figures are deterministic, so rendered SVGs are cached in `.cache/minigpt-figures/` under a key
made of the figure's path and variant and the contents of everything a figure can read: the
`minigpt` package, the figure code in `docs/figures/`, `minigpt/runs/` and the versions of
matplotlib, NumPy and PyTorch. A rebuild (e.g. under `mkdocs serve`) re-renders only when one
of those changed. MINIGPT_FIGURE_CACHE=0 disables it.
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
NARROW_DIR = "figures/narrow/"
# A figure link on a line of its own, with an optional caption (its title) and attributes.
IMAGE_LINK = re.compile(
    r"^!\[(?P<alt>[^\]]*)\]\((?P<prefix>(?:\.\./)*)(?P<path>figures/[^)\s#/]+\.svg)"
    r'(?:\s+"(?P<caption>[^"]*)")?\)(?:\{(?P<attrs>[^}]*)\})?[ \t]*$',
    re.MULTILINE,
)
CHAPTER = re.compile(r"^(?P<number>\d\d)-")
SVG_SIZE = re.compile(r'<svg[^>]*?\swidth="(?P<w>[\d.]+)pt"\s+height="(?P<h>[\d.]+)pt"')

# Natural size in CSS pixels of each figure of the current build, desktop and narrow variant.
_sizes: dict[str, dict[bool, tuple[int, int]]] = {}


def dark_path(path: str) -> str:
    """Where the dark-theme variant of `figures/NAME.svg` lives: `figures/dark/NAME.svg`."""
    return DARK_DIR + path[len("figures/") :]


def narrow_path(path: str, dark: bool = False) -> str:
    """Where the phone variant of `figures/NAME.svg` lives: `figures/narrow/NAME.svg`, and
    its dark-theme version `figures/narrow/dark/NAME.svg`."""
    return NARROW_DIR + ("dark/" if dark else "") + path[len("figures/") :]


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
            *(root / "minigpt" / "runs").rglob("*"),
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
        _sizes[path] = {}
        for narrow in (False, True):
            key = f"{fingerprint}:{path}:{'narrow' if narrow else 'wide'}"
            cached = cache_dir / (hashlib.sha256(key.encode()).hexdigest() + ".svg")
            if use_cache and cached.is_file():
                svg = cached.read_text(encoding="utf-8")
            else:
                try:
                    svg = figures.render_figure(path, narrow)
                except Exception as error:  # noqa: BLE001
                    variant = "narrow variant" if narrow else "figure"
                    raise PluginError(
                        f"{variant} {path} failed:\n{traceback.format_exc()}"
                    ) from error
                rendered += 1
                if use_cache:
                    cache_dir.mkdir(parents=True, exist_ok=True)
                    cached.write_text(svg, encoding="utf-8")
            light, dark = (
                (narrow_path(path), narrow_path(path, True))
                if narrow
                else (
                    path,
                    dark_path(path),
                )
            )
            files.append(File.generated(config, light, content=svg))
            files.append(File.generated(config, dark, content=figures.dark_variant(svg)))
            try:
                _sizes[path][narrow] = natural_size(svg)
            except ValueError as error:
                raise PluginError(f"figure {light}: {error}") from error
    log.info(
        "%d figures, 2 variants each (%d rendered, %d from the cache) in %.1f s",
        len(figures.FIGURES),
        rendered,
        2 * len(figures.FIGURES) - rendered,
        time.perf_counter() - start,
    )
    return files


def figure_html(
    alt: str, prefix: str, path: str, caption: str, number: str, attrs: str = ""
) -> str:
    """The Markdown (with HTML) of one numbered figure: its four images and its caption."""
    images = []
    for narrow in (True, False):  # phone variants first: a phone (light theme) shows the first
        width, height = _sizes[path][narrow]
        size = f'width="{width}" height="{height}" loading="lazy"'
        for dark in (False, True):
            if narrow:
                src = narrow_path(path, dark)
                theme = "dark" if dark else "light"
                extra = f'.minigpt-narrow .minigpt-{theme} data-gallery="narrow-{theme}"'
            else:
                src = f"{dark_path(path)}#only-dark" if dark else f"{path}#only-light"
                extra = ".minigpt-wide"
            images.append(f"![{alt}]({prefix}{src}){{ {size} {extra} {attrs} }}".replace("  ", " "))
    anchor = "figure-" + number.replace(".", "-")
    return (
        f'<figure class="minigpt-figure" id="{anchor}" markdown="1">\n\n'
        + "".join(images)
        + f'\n\n<figcaption markdown="span"><span class="minigpt-figure__number">'
        f"Figure {number}</span> {caption}</figcaption>\n\n</figure>"
    )


def on_page_markdown(markdown, page, config, files):
    chapter = CHAPTER.match(page.file.src_uri)
    count = 0

    def numbered(match: re.Match) -> str:
        nonlocal count
        path = match["path"]
        if path not in _sizes:  # not a generated figure: leave it to the link checks
            return match[0]
        if not match["caption"]:
            raise PluginError(
                f"{page.file.src_uri}: the figure {path} has no caption; write one sentence "
                f'saying what to look at as the link\'s title: ![alt]({path} "Caption.")'
            )
        count += 1
        number = f"{int(chapter['number'])}.{count}" if chapter else str(count)
        return figure_html(
            match["alt"], match["prefix"], path, match["caption"], number, match["attrs"] or ""
        )

    return IMAGE_LINK.sub(numbered, markdown)
