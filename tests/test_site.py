"""The built site: `properdocs build --strict` succeeds and its HTML is sound.

The build (a session fixture in conftest.py, shared with test_browser.py) executes every
chapter's `.run` blocks, generates the figures and executes the notebooks, so a failure in any
of them fails here first.
"""

from __future__ import annotations

import importlib.util
import os
import posixpath
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from .conftest import DOCS_DIR, NOTEBOOK_SOURCES, REPO_ROOT, SITE_BUILDER, mdtools

CHAPTERS = sorted(p.stem for p in DOCS_DIR.glob("[0-9][0-9]-*.md"))
STUB_MARKER = "<!-- minigpt:stub"
MATH_PAGES = ("index", "04-self-attention", "08-layer-normalization")
# A URL of a script or stylesheet written inside a page's inline code (nbconvert's loaders).
INLINE_ASSET_URL = re.compile(r"""https?://[^\s"'`)]+\.(?:m?js|css)\b""")


class _Page(HTMLParser):
    """Links, images, scripts and code blocks of one HTML page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.images: list[str] = []
        self.assets: list[str] = []  # scripts and stylesheets
        self.ids: set[str] = set()
        self.codes: list[str] = []  # text of every <code> element
        self.inline_scripts: list[str] = []
        self.inline_styles: list[str] = []
        self.div_classes: list[str] = []
        self._code_depth = 0
        self._code_text: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])
        elif tag == "img" and attrs.get("src") is not None:
            self.images.append(attrs["src"])
        elif tag == "script" and attrs.get("src"):
            self.assets.append(attrs["src"])
        elif tag == "link" and attrs.get("href") and "stylesheet" in (attrs.get("rel") or ""):
            self.assets.append(attrs["href"])
        elif tag == "div" and attrs.get("class"):
            self.div_classes.append(attrs["class"])
        if tag == "code":
            self._code_depth += 1
        self._inline = tag if tag in ("script", "style") and not attrs.get("src") else None

    def handle_endtag(self, tag):
        if tag == "code" and self._code_depth:
            self._code_depth -= 1
            if not self._code_depth:
                self.codes.append("".join(self._code_text))
                self._code_text = []

    def handle_data(self, data):
        if self._code_depth:
            self._code_text.append(data)
        if getattr(self, "_inline", None) == "script":
            self.inline_scripts.append(data)
        elif getattr(self, "_inline", None) == "style":
            self.inline_styles.append(data)


def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def _page_html(site, name: str) -> Path:
    return site.dir / ("index.html" if name == "index" else f"{name}/index.html")


def _is_stub(name: str) -> bool:
    return STUB_MARKER in (DOCS_DIR / f"{name}.md").read_text(encoding="utf-8")


def _resolve(site_dir: Path, page: Path, url: str) -> Path | None:
    """The file in the site a relative URL points to, or None for external/anchor-only URLs."""
    parts = urlsplit(url)
    if parts.scheme or parts.netloc or url.startswith(("#", "data:", "mailto:")):
        return None
    base = posixpath.dirname(page.relative_to(site_dir).as_posix())
    path = unquote(parts.path)
    if not path:  # "?query" only: the page itself
        return page
    target = site_dir / posixpath.normpath(posixpath.join(base, path))
    if path.endswith("/") or target.is_dir():
        target = target / "index.html"
    return target


def test_build_succeeds(built_site):
    assert built_site.pages(), "the build produced no HTML pages"
    print(f"{SITE_BUILDER} build --strict took {built_site.seconds:.1f} s")


def test_every_nav_page_is_built(built_site):
    for name in ["index", *CHAPTERS]:
        assert _page_html(built_site, name).is_file(), f"{name}.md was not built"


def test_no_unexpanded_snippets(built_site):
    bad = [p for p in built_site.pages() if re.search(r"--8(&lt;|<)--", p.read_text())]
    assert not bad, f"unexpanded --8<-- snippet lines in {bad}"


def test_internal_links_and_images_resolve(built_site):
    broken = []
    for page in built_site.pages():
        parsed = _parse(page)
        for url in [*parsed.links, *parsed.images, *parsed.assets]:
            target = _resolve(built_site.dir, page, url)
            if target is not None and not target.is_file():
                broken.append(f"{page.relative_to(built_site.dir)}: {url}")
    assert not broken, "links to files that are not in the site:\n" + "\n".join(broken)


def test_pages_load_nothing_from_another_origin(built_site):
    """Scripts, stylesheets and images all come from the site (test_browser.py checks the
    requests a browser actually makes)."""
    external = []
    for page in built_site.pages():
        parsed = _parse(page)
        urls = [*parsed.assets, *parsed.images]
        urls += [u for text in parsed.inline_scripts for u in INLINE_ASSET_URL.findall(text)]
        external += [f"{page.relative_to(built_site.dir)}: {url}" for url in urls if "://" in url]
    assert not external, "pages load assets from another origin:\n" + "\n".join(external)


def test_notebook_pages_share_one_stylesheet(built_site):
    pages = sorted((built_site.dir / "notebooks").glob("*/index.html"))
    if not pages:
        pytest.skip("no notebooks in docs/notebooks yet")
    for page in pages:
        parsed = _parse(page)
        inline = sum(len(style) for style in parsed.inline_styles)
        assert inline < 20_000, f"{page.parent.name}: {inline:,} characters of inline CSS"
        sheets = [a for a in parsed.assets if "assets/stylesheets/notebook-" in a]
        assert len(sheets) == 1, f"{page.parent.name}: no shared notebook stylesheet"
        assert _resolve(built_site.dir, page, sheets[0]).stat().st_size > 100_000


def test_generated_figures_are_valid_svg(built_site):
    from figures import FIGURES

    assert FIGURES, "docs/figures registers no figures"
    for path in FIGURES:
        for svg in (built_site.dir / path, built_site.dir / "figures" / "dark" / path[8:]):
            assert svg.is_file(), f"{svg} was not generated"
            root = ET.fromstring(svg.read_bytes())
            assert root.tag.endswith("svg"), f"{svg} is not an SVG document"


@pytest.mark.parametrize("name", CHAPTERS)
def test_chapter_shows_a_generated_figure(built_site, name):
    if _is_stub(name):
        pytest.skip(f"docs/{name}.md is still a stub")
    images = _parse(_page_html(built_site, name)).images
    light = [src for src in images if re.search(r"figures/[^/]+\.svg#only-light$", src)]
    dark = [src for src in images if re.search(r"figures/dark/[^/]+\.svg#only-dark$", src)]
    assert len(light) == len(dark), f"{name}: a figure lacks its light or dark variant"
    assert light, (
        f"{name}: no generated figure (![...](figures/NN-name.svg), registered in "
        "docs/figures/chNN_*.py)"
    )


@pytest.mark.parametrize("name", MATH_PAGES)
def test_math_is_marked_for_mathjax(built_site, name):
    if name != "index" and _is_stub(name):
        pytest.skip(f"docs/{name}.md is still a stub")
    html = _page_html(built_site, name).read_text(encoding="utf-8")
    assert 'class="arithmatex"' in html, f"{name}: no \\( ... \\) or \\[ ... \\] math on the page"


def _markdown_pages():
    return sorted(p for p in DOCS_DIR.glob("*.md"))


@pytest.mark.parametrize("source", _markdown_pages(), ids=lambda p: p.stem)
def test_every_python_block_renders_as_highlighted_code(built_site, source):
    """Guards against fence headers Material cannot parse (```python notest renders as text)."""
    name = source.stem
    parsed = _parse(_page_html(built_site, name))
    leaked = [c for c in parsed.codes if re.search(r"\bnotest\b|\bcontinuation\b|\{\.python", c)]
    assert not leaked, f"{name}: fence options leaked into the page text: {leaked}"
    fences = list(mdtools.iter_fences(source.read_text(encoding="utf-8")))
    python = [f for f in fences if f.language in ("python", "py", "python3")]
    runs = [f for f in python if "run" in f.classes[1:]]
    rendered = [c for c in parsed.div_classes if re.search(r"\blanguage-(python|py)\b", c)]
    assert len(rendered) >= len(python), (
        f"{name}: {len(python)} Python blocks in the Markdown but only {len(rendered)} "
        "highlighted on the page"
    )
    rendered_runs = [c for c in rendered if re.search(r"\brun\b", c)]
    assert len(rendered_runs) == len(runs), f"{name}: .run blocks lost their class"


def test_run_blocks_show_their_output(built_site):
    html = _page_html(built_site, "index").read_text(encoding="utf-8")
    outputs = re.findall(r'<div class="language-text output highlight">(.*?)</div>', html, re.S)
    assert len(outputs) >= 3, "the introduction's .run blocks printed nothing on the page"
    text = re.sub(r"<[^>]+>", "", outputs[0])
    from minigpt.tokenization import GPT2Tokenizer

    ids = GPT2Tokenizer().encode("Every moment is a beginning")
    assert str(ids) in text, "the printed token ids are not the tokenizer's"


def test_markdown_run_blocks_become_part_of_the_page(built_site):
    """Chapter 10's size table is printed as Markdown by a `.run .markdown` block."""
    from minigpt import MiniGPTConfig

    html = _page_html(built_site, "10-minigpt").read_text(encoding="utf-8")
    tables = re.findall(r"<table>(.*?)</table>", html, re.S)
    table = next((t for t in tables if "hidden_dim" in t), None)
    assert table is not None, "chapter 10 has no table of MiniGPTConfig's fields"
    assert f">{MiniGPTConfig().hidden_dim:,}<" in table
    assert "feed-forward width" in table, "the descriptions are not MiniGPTConfig's comments"


def test_downloadable_notebooks_install_the_package_and_link_to_the_site(built_site):
    """The .ipynb offered on each notebook page runs outside a clone of the repository."""
    import json

    config = mdtools.load_mkdocs_yaml(REPO_ROOT / "mkdocs.yml")
    site_url = f"http://127.0.0.1:{built_site.port}/"
    notebooks = sorted((built_site.dir / "notebooks").glob("*.ipynb"))
    if not NOTEBOOK_SOURCES:
        pytest.skip("no notebooks in docs/notebooks yet")
    assert len(notebooks) == len(NOTEBOOK_SOURCES)
    for path in notebooks:
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        install = "".join(cells[0]["source"])
        assert cells[0]["cell_type"] == "code" and 'find_spec("minigpt") is None' in install
        assert f"git+{config['repo_url'].rstrip('/')}.git" in install, install
        markdown = "".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
        relative = re.findall(r"\]\((?!https?://)[^)]*\.(?:md|py)\b[^)]*\)", markdown)
        assert not relative, f"{path.name}: links to files, not pages: {relative}"
        assert site_url in markdown, f"{path.name}: no link to the guide's pages"


def test_install_cell_installs_only_when_the_package_is_missing(monkeypatch):
    import types

    hook = _load_hook("notebooks")
    monkeypatch.setenv("GITHUB_SHA", "0123abc")
    source = hook.install_cell_source(types.SimpleNamespace(repo_url="https://github.com/o/r/"))
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda *args, **kwargs: calls.append(args[0]))
    exec(compile(source, "install cell", "exec"), {})  # minigpt is importable here
    assert calls == []
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    exec(compile(source, "install cell", "exec"), {})
    assert calls and calls[0][-1] == "minigpt @ git+https://github.com/o/r.git@0123abc"


def _nav_notebooks() -> list[str]:
    config = mdtools.load_mkdocs_yaml(REPO_ROOT / "mkdocs.yml")
    found = []

    def walk(items):
        for item in items:
            if isinstance(item, str) and item.startswith("notebooks/"):
                found.append(item)
            elif isinstance(item, dict):
                for value in item.values():
                    walk(value if isinstance(value, list) else [value])

    walk(config["nav"])
    return found


def test_nav_lists_exactly_the_notebooks():
    sources = {f"notebooks/{p.name}" for p in NOTEBOOK_SOURCES}
    if not sources:
        pytest.skip("no notebooks in docs/notebooks yet")
    listed = set(_nav_notebooks())
    assert sources == listed, (
        f"mkdocs.yml nav and docs/notebooks disagree: not written {sorted(listed - sources)}, "
        f"not in nav {sorted(sources - listed)}"
    )


def test_notebooks_ran_without_errors(built_site):
    pages = sorted((built_site.dir / "notebooks").glob("*/index.html"))
    if not NOTEBOOK_SOURCES:
        pytest.skip("no notebooks in docs/notebooks yet")
    assert len(pages) == len(NOTEBOOK_SOURCES), "not every notebook was rendered"
    problems = []
    for page in pages:
        html = page.read_text(encoding="utf-8")
        if "jp-CodeCell" not in html:
            problems.append(f"{page}: no code cells rendered")
        stderr_blocks = re.findall(
            r'<div[^>]*data-mime-type="application/vnd\.jupyter\.(?:stderr|error)"[^>]*>(.*?)</div>',
            html,
            re.S,
        )
        for block in stderr_blocks:
            text = re.sub(r"<[^>]+>", "", block)
            if re.search(r"Traceback|Error|Warning", text):
                problems.append(f"{page.parent.name}: {text.strip()[:300]}")
        if re.search(r'"ename"|Traceback \(most recent call last\)', html):
            problems.append(f"{page.parent.name}: an exception is shown on the page")
        if 'class="minigpt-notebook-links"' not in html:
            problems.append(f"{page.parent.name}: no download/Colab buttons")
    assert not problems, "\n".join(problems)


def _load_hook(name: str):
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"{name}_hook", DOCS_DIR / "hooks" / f"{name}.py")
    hook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hook)
    return hook


def test_the_repository_url_is_written_in_one_place(monkeypatch):
    """pyproject.toml's [project.urls] Repository; mkdocs.yml's default and the README agree."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib

    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    url = pyproject["project"]["urls"]["Repository"]
    assert url.startswith("https://") and not url.endswith((".git", "/"))
    monkeypatch.delenv("MINIGPT_REPO_URL", raising=False)
    assert mdtools.load_mkdocs_yaml(REPO_ROOT / "mkdocs.yml")["repo_url"] == url
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    assert f"git clone {url}.git" in readme
    assert f'"minigpt @ git+{url}.git"' in readme  # the library-only install
    assert set(re.findall(r"https://github\.com/[\w-]+/[\w-]+", readme)) == {url}


def test_the_build_finds_its_offline_data_beside_the_clone(tmp_path, monkeypatch):
    """Like the tests, the build defaults to ../shared/ when TIKTOKEN_CACHE_DIR and
    MINIGPT_TINYSHAKESPEARE are not set (as the README says)."""
    import types

    cache, corpus = os.environ.get("TIKTOKEN_CACHE_DIR"), os.environ.get("MINIGPT_TINYSHAKESPEARE")
    if not (cache and corpus):
        pytest.skip("needs GPT-2's BPE file and Tiny Shakespeare offline (see the README)")
    shared = tmp_path / "shared"
    (shared / "data" / "tinyshakespeare").mkdir(parents=True)
    (shared / "tiktoken-cache").symlink_to(Path(cache).resolve(), target_is_directory=True)
    (shared / "data" / "tinyshakespeare" / "input.txt").symlink_to(Path(corpus).resolve())
    (tmp_path / "clone").mkdir()
    unset = ("TIKTOKEN_CACHE_DIR", "MINIGPT_TINYSHAKESPEARE")
    monkeypatch.setattr(os, "environ", {k: v for k, v in os.environ.items() if k not in unset})
    monkeypatch.setattr(sys, "path", list(sys.path))
    config = types.SimpleNamespace(config_file_path=str(tmp_path / "clone" / "mkdocs.yml"))
    _load_hook("environment").on_config(config)
    assert os.environ["TIKTOKEN_CACHE_DIR"] == str(shared / "tiktoken-cache")
    assert os.environ["MINIGPT_TINYSHAKESPEARE"] == str(shared / "data/tinyshakespeare/input.txt")


def test_a_build_without_its_data_stops_with_one_line(tmp_path):
    """The package's one-line advice, alone: no traceback around it."""
    if importlib.util.find_spec(SITE_BUILDER) is None:
        pytest.skip("properdocs is not installed (pip install -e '.[docs]')")
    missing = tmp_path / "no-such-file.txt"
    env = {**os.environ, "MINIGPT_TINYSHAKESPEARE": str(missing), "NO_MKDOCS_2_WARNING": "1"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            SITE_BUILDER,
            "build",
            "--strict",
            "--site-dir",
            str(tmp_path / "s"),
        ],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert lines == [
        f"ERROR   -  MINIGPT_TINYSHAKESPEARE is set to '{missing}', which is not a file",
        "Aborted with a BuildError!",
    ]
    assert "Traceback" not in result.stdout


def test_the_build_log_holds_only_what_a_reader_needs(built_site):
    """No notes about torchvision (the ONNX export) or unencrypted kernels, and no warnings."""
    lines = [line for line in built_site.log.splitlines() if line.strip()]
    assert [line for line in lines if not line.startswith("INFO    -  ")] == []


def test_notebook_kernels_talk_over_ipc_without_a_warning(tmp_path, monkeypatch, capfd):
    if os.name != "posix":
        pytest.skip("IPC sockets are POSIX only; elsewhere the kernels keep TCP")
    pytest.importorskip("mkdocs_jupyter")
    from mkdocs_jupyter.nbconvert2 import nb2html

    monkeypatch.setenv("JUPYTER_CONFIG_PATH", str(_load_hook("environment").JUPYTER_CONFIG))
    notebook = tmp_path / "notebook.py"
    notebook.write_text("# %%\nprint(6 * 7)\n", encoding="utf-8")
    html = nb2html(str(notebook), execute=True, kernel_name="python3")
    assert "42" in html
    assert "without encryption" not in capfd.readouterr().err
