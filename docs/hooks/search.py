"""MkDocs hook: the search finds the chapters' explanations first, and no worksheet code.

Material's search indexes every page section by section. The notebook pages are worksheets:
their code cells (stubs that raise NotImplementedError, check calls, the copy button's
"Copied!") said nothing a reader searches for, yet filled the index, and nbconvert's nested
markup put them all into the notebook's first section, so a query such as "LayerNorm" found a
worksheet's title section before the chapter that explains it. This hook

* keeps a notebook's code cells (input, output and the copy button's text) out of the index,
  marking their `<pre>` blocks and the button's notice with Material's `data-search-exclude`
  (its search plugin removes the mark from the page). Material's parser tells elements apart
  by tag name only, so the mark goes on elements that hold no element of their own kind: a
  mark on the cell's `<div>` would end at the first nested `</div>`;
* ranks notebook sections below the chapters' (`search.boost`, as a page's front matter
  would set it), so a chapter section comes first and the worksheet still turns up.
"""

from __future__ import annotations

import re

NOTEBOOK = '<div class="jupyter-wrapper">'  # nbconvert's wrapper, as in notebook_pages.py
CELL = re.compile(r'(?=<div class="jp-Cell )')  # where each cell's markup starts
CODE_CELL = '<div class="jp-Cell jp-CodeCell'
UNINDEXED = re.compile(r'<(pre|span class="notice")(?=[\s>])')  # code and output; "Copied!"
EXCLUDE = r'<\1 data-search-exclude="code"'
NOTEBOOK_BOOST = 0.2


def on_page_content(html, page, config, files):
    if NOTEBOOK not in html:
        return html
    page.meta["search"] = {**(page.meta.get("search") or {}), "boost": NOTEBOOK_BOOST}
    cells = CELL.split(html)
    return "".join(
        UNINDEXED.sub(EXCLUDE, cell) if cell.startswith(CODE_CELL) else cell for cell in cells
    )
