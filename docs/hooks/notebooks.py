"""MkDocs hook: notebooks (docs/notebooks/*.py, jupytext percent format) on the site.

mkdocs-jupyter executes and renders each notebook. This hook adds what it lacks:

* Nav entries under "Notebooks" whose file does not exist (yet) are dropped, with a log line.
* Each notebook is also offered as a generated `.ipynb` (no outputs) next to its page, ready to
  run anywhere (see `downloadable`): its first cell installs `minigpt` when it is missing, and
  its links lead to the guide's pages on the site.
* Each notebook page gets a row of buttons: download .ipynb, download .py, Open in Colab.
* Links from a notebook to a page, written as in Jupyter relative to the notebook file
  (`[chapter 1](../01-tokenization.md#bpe)`), become links to that page on the site; a link to
  a page that does not exist fails the build.
* The MathJax 2 loader that nbconvert puts into every notebook page is removed: the site's own
  MathJax (docs/javascripts/mathjax.js) typesets notebook math too.
* In any page, a link written `[Open in Colab](colab:notebooks/01_tokenization.py)` becomes the
  Colab address of that notebook's `.ipynb`, when the GitHub repository is known
  (MINIGPT_COLAB_REPO="owner/repo", else GITHUB_REPOSITORY, which GitHub Actions sets). Without
  it there is no notebook for Colab to open, so the link is left out, with its lead-in
  (", or", " · " or the parentheses around it).
  Colab opens `https://colab.research.google.com/github/OWNER/REPO/blob/BRANCH/NAME.ipynb`; the
  Pages workflow publishes the generated .ipynb files to the branch MINIGPT_COLAB_BRANCH
  (default `colab-notebooks`).
* Notebooks are worksheets: an exercise is a stub that raises NotImplementedError, then a cell
  `check("layer_norm", LayerNorm)`. The build runs them as a reader would, so the page shows
  what a reader sees before writing their code: the stub's "not written yet" report, never a
  pass nobody earned.
* MINIGPT_EXECUTED_NOTEBOOKS=DIR (set by the test suite, which has just executed every notebook
  with nbclient): a notebook whose executed copy DIR/NAME.ipynb was made from the current
  source (its metadata records the source's SHA-256) is rendered from that copy instead of
  being executed a second time. Anything else is executed by mkdocs-jupyter as usual.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import posixpath
import re
import types
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.plugins import get_plugin_logger
from mkdocs.structure.files import File, InclusionLevel

log = get_plugin_logger("notebooks")

NOTEBOOK_DIR = "notebooks/"
SOURCE_HASH_KEY = "minigpt_source_sha256"  # metadata key of an executed copy
COLAB_LINK = re.compile(r"\]\(colab:(?P<path>[^)\s]+\.py)\)")
COLAB_MENTION = re.compile(  # an "Open in Colab" link with the words that lead to it
    r"(?:,?\s+or\s+|\s+·\s+|\s*(?P<paren>\())?"
    r"\[Open in Colab\]\(colab:(?P<path>[^)\s]+\.py)\)(?(paren)\))"
)
NOTEBOOK_LINK = re.compile(r"(?P<open>\]\()(?P<path>[^)\s:#]+\.(?:md|py))(?P<anchor>#[^)\s]*)?\)")
MD_LINK = re.compile(r'href="(?P<path>[^":?#]+\.md)(?P<anchor>#[^"]*)?"')
MATHJAX2 = re.compile(r"<!-- Load mathjax -->.*?<!-- End of mathjax configuration -->", re.S)


def colab_repo() -> str | None:
    return os.environ.get("MINIGPT_COLAB_REPO") or os.environ.get("GITHUB_REPOSITORY") or None


def colab_branch() -> str:
    return os.environ.get("MINIGPT_COLAB_BRANCH", "colab-notebooks")


def colab_url(notebook_src_uri: str) -> str | None:
    """Colab address of a notebook given as `notebooks/NAME.py`, or None if the repo is unknown."""
    repo = colab_repo()
    if not repo:
        return None
    name = posixpath.splitext(posixpath.basename(notebook_src_uri))[0]
    return f"https://colab.research.google.com/github/{repo}/blob/{colab_branch()}/{name}.ipynb"


def is_notebook(src_uri: str) -> bool:
    return src_uri.startswith(NOTEBOOK_DIR) and src_uri.endswith(".py") and src_uri.count("/") == 1


def _prune(items, docs_dir: Path, in_notebooks: bool):
    kept = []
    for item in items:
        if isinstance(item, str):
            if in_notebooks and is_notebook(item) and not (docs_dir / item).is_file():
                log.info("nav: %s is not written yet, left out", item)
                continue
            kept.append(item)
        elif isinstance(item, dict):
            new = {}
            for title, value in item.items():
                section = in_notebooks or title == "Notebooks"
                if isinstance(value, list):
                    value = _prune(value, docs_dir, section)
                    if not value:
                        continue
                elif isinstance(value, str) and section and is_notebook(value):
                    if not (docs_dir / value).is_file():
                        log.info("nav: %s is not written yet, left out", value)
                        continue
                new[title] = value
            if new:
                kept.append(new)
        else:
            kept.append(item)
    return kept


def on_config(config):
    if config.nav:
        config.nav = _prune(config.nav, Path(config.docs_dir), in_notebooks=False)
    return config


def on_files(files, config):
    import jupytext

    for file in list(files):
        if not is_notebook(file.src_uri) or file.abs_src_path is None:
            continue
        target = file.src_uri[:-3] + ".ipynb"
        existing = files.get_file_from_path(target)
        if existing is not None:
            files.remove(existing)
        notebook = downloadable(jupytext.read(file.abs_src_path), file, files, config)
        files.append(
            File.generated(
                config,
                target,
                content=jupytext.writes(notebook, fmt="ipynb"),
                inclusion=InclusionLevel.INCLUDED,
            )
        )
    return files


def install_cell_source(config) -> str:
    """The first cell of a downloaded notebook: install the package from the guide's repository
    (at the commit the site was built from, on GitHub Actions), unless it is importable."""
    repo = (config.repo_url or "").rstrip("/")
    ref = f"@{os.environ['GITHUB_SHA']}" if os.environ.get("GITHUB_SHA") else ""
    return (
        "# Installs the minigpt package when it is missing (on Colab, or in a fresh environment);\n"
        "# where it is installed already (e.g. `pip install -e .` in a clone), this does nothing.\n"
        "import importlib.util\n"
        "import subprocess\n"
        "import sys\n"
        "\n"
        'if importlib.util.find_spec("minigpt") is None:\n'
        f'    package = "minigpt @ git+{repo}.git{ref}"\n'
        '    subprocess.run([sys.executable, "-m", "pip", "install", "-q", package], check=True)'
    )


def downloadable(notebook, file: File, files, config):
    """A notebook as a reader downloads it: an install cell first, and links to the site.

    Links written relative to the notebook file (`../01-tokenization.md#bpe`) work in Jupyter
    inside a clone only; in the downloaded file they point to the same pages on the site.
    """
    from nbformat.v4 import new_code_cell

    notebook.metadata.setdefault(
        "kernelspec", {"name": "python3", "display_name": "Python 3", "language": "python"}
    )
    site = (config.site_url or "").rstrip("/") + "/"

    def to_site(match: re.Match) -> str:
        uri = posixpath.normpath(posixpath.join(posixpath.dirname(file.src_uri), match["path"]))
        target = files.get_file_from_path(uri)
        if target is None or not site.startswith("http"):
            return match[0]  # not a page of the site: the page build reports broken links
        return f"{match['open']}{site}{target.url}{match['anchor'] or ''})"

    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            cell.source = NOTEBOOK_LINK.sub(to_site, cell.source)
    install = new_code_cell(install_cell_source(config))
    install.metadata["tags"] = ["install"]
    notebook.cells.insert(0, install)
    return notebook


def source_sha256(path: str | os.PathLike) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _executed_copy(source: str) -> Path | None:
    folder = os.environ.get("MINIGPT_EXECUTED_NOTEBOOKS")
    if not folder:
        return None
    copy = Path(folder) / (Path(source).stem + ".ipynb")
    try:
        recorded = json.loads(copy.read_text(encoding="utf-8"))["metadata"].get(SOURCE_HASH_KEY)
    except (OSError, ValueError, KeyError):
        return None
    return copy if recorded == source_sha256(source) else None


_TRAILING_LIST_STYLE = re.compile(r"\s*<style>\s*\[.*\]\s*</style>\s*$", re.S)


def on_pre_page(page, config, files):
    """Render a notebook from its already executed copy, when the test suite provides one."""
    if not is_notebook(page.file.src_uri) or page.file.abs_src_path is None:
        return page
    executed = _executed_copy(page.file.abs_src_path)
    if executed is None:
        return page
    try:
        from mkdocs.structure.toc import get_toc
        from mkdocs_jupyter import convert
        from mkdocs_jupyter.plugin import _get_nb_toc_tokens
    except ImportError:  # another mkdocs-jupyter version: let it execute the notebook itself
        return page
    options = config.plugins["mkdocs-jupyter"].config
    source = page.file.abs_src_path

    def render(self, config, files):
        body = convert.nb2html(
            str(executed),
            execute=False,
            kernel_name=options["kernel_name"],
            theme=options["theme"],
            allow_errors=options["allow_errors"],
            show_input=options["show_input"],
            no_input=options["no_input"],
            no_prompt=options["no_prompt"],
            remove_tag_config=options["remove_tag_config"],
            highlight_extra_classes=options["highlight_extra_classes"],
            include_requirejs=options["include_requirejs"],
            custom_mathjax_url=options["custom_mathjax_url"],
        )
        # For .ipynb input mkdocs-jupyter appends its CSS list as text; the page has it already.
        self.content = _TRAILING_LIST_STYLE.sub("", body)
        toc_tokens, title = _get_nb_toc_tokens(source, options["toc_depth"])
        self.toc = get_toc(toc_tokens)
        if title is not None and not options["ignore_h1_titles"]:
            self.title = title

    log.info("rendering %s from its executed copy %s", page.file.src_uri, executed)
    page.render = types.MethodType(render, page)
    return page


def on_page_markdown(markdown, page, config, files):
    for match in COLAB_LINK.finditer(markdown):
        if files.get_file_from_path(match["path"]) is None:
            raise PluginError(
                f"docs/{page.file.src_uri}: colab:{match['path']} names no notebook in docs/ "
                "(write the path relative to docs/, e.g. colab:notebooks/01_tokenization.py)"
            )
    if colab_repo() is None:
        return COLAB_MENTION.sub("", markdown)
    return COLAB_LINK.sub(lambda match: f"]({colab_url(match['path'])})", markdown)


def on_page_content(content, page, config, files):
    if not is_notebook(page.file.src_uri):
        return content
    content = MATHJAX2.sub("", content)

    def link(match: re.Match) -> str:
        target_uri = posixpath.normpath(
            posixpath.join(posixpath.dirname(page.file.src_uri), match["path"])
        )
        target = files.get_file_from_path(target_uri)
        if target is None:
            raise PluginError(
                f"docs/{page.file.src_uri} links to {match['path']}, which is not a page "
                "(write links relative to the notebook file, e.g. ../01-tokenization.md)"
            )
        return f'href="{target.url_relative_to(page.file)}{match["anchor"] or ""}"'

    content = MD_LINK.sub(link, content)
    name = posixpath.basename(page.file.src_uri)[:-3]
    buttons = []
    ipynb = files.get_file_from_path(page.file.src_uri[:-3] + ".ipynb")
    if ipynb is not None:
        href = ipynb.url_relative_to(page.file)
        buttons.append(
            f'<a class="md-button" href="{html.escape(href)}" download>Download {name}.ipynb</a>'
        )
    if config.plugins["mkdocs-jupyter"].config.get("include_source"):
        # mkdocs-jupyter copies the source into the folder of the page's HTML file
        buttons.append(f'<a class="md-button" href="{name}.py" download>Download {name}.py</a>')
    url = colab_url(page.file.src_uri)
    if url:
        buttons.append(
            f'<a class="md-button md-button--primary" href="{html.escape(url)}">Open in Colab</a>'
        )
    bar = f'<p class="minigpt-notebook-links">{" ".join(buttons)}</p>'
    heading_end = content.find("</h1>")
    if heading_end != -1:  # right below the notebook's title
        cut = heading_end + len("</h1>")
        return content[:cut] + bar + content[cut:]
    return bar + content
