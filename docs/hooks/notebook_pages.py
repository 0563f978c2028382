"""MkDocs hook: notebook pages that load nothing from another origin and share one stylesheet.

nbconvert, through mkdocs-jupyter, puts into every notebook page the same ~590 KB of inline
CSS (JupyterLab's styles, the light theme, the code highlighting) and a script that would
import mermaid from cdnjs.cloudflare.com for notebook diagrams. mkdocs-jupyter has no option
to leave them out, so this hook rewrites each notebook page's content:

* the inline `<style>` blocks become one stylesheet, `assets/stylesheets/notebook-<hash>.css`,
  written once and linked from the `<head>` of every notebook page (browsers cache it, and
  Material's instant navigation adds and removes it with the page);
* the mermaid loader and its styles are dropped. A notebook with a mermaid diagram fails the
  build instead: the site serves its libraries itself and has no notebook renderer for it.

Pages are recognised by nbconvert's `<div class="jupyter-wrapper">`, so the hook does not
depend on how the notebooks are listed.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.utils import get_relative_url

WRAPPER = '<div class="jupyter-wrapper">'
STYLE = re.compile(r"<style[^>]*>(?P<css>.*?)</style>\s*", re.S)
MERMAID_LOADER = re.compile(
    r'<script type="module">(?:(?!</script>).)*?jp-Mermaid.*?</script>\s*'
    r"(?:<style>(?:(?!</style>).)*?jp-Mermaid.*?</style>\s*)?"
    r"(?:<!-- End of mermaid configuration -->)?",
    re.S,
)

_stylesheets: dict[str, str] = {}  # site path -> CSS, for this build
_page_stylesheet: dict[str, str] = {}  # page URL -> the site path of its notebook stylesheet


def on_pre_build(config):
    _stylesheets.clear()
    _page_stylesheet.clear()


def on_page_content(html, page, config, files):
    cut = html.find(WRAPPER)
    if cut == -1:
        return html
    head, body = html[:cut], html[cut:]
    if "jp-Mermaid" in body:
        raise PluginError(
            f"docs/{page.file.src_uri}: a mermaid diagram in a notebook cannot be rendered "
            "offline; draw it in a chapter page (```mermaid) instead"
        )
    head = MERMAID_LOADER.sub("", head)
    css = "\n".join(match["css"].strip() for match in STYLE.finditer(head))
    head = STYLE.sub("", head)
    if not css:
        return head + body
    path = f"assets/stylesheets/notebook-{hashlib.sha256(css.encode()).hexdigest()[:12]}.css"
    _stylesheets[path] = css
    _page_stylesheet[page.url] = path
    return head + body


def on_post_page(output, page, config):
    path = _page_stylesheet.get(page.url)
    if path is None:
        return output
    link = f'<link rel="stylesheet" href="{get_relative_url(path, page.url)}">\n  '
    return output.replace("</head>", link + "</head>", 1)


def on_post_build(config):
    site = Path(config.site_dir)
    for path, css in _stylesheets.items():
        target = site / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(css, encoding="utf-8")
