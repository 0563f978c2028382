"""A predict exercise's answer, folded: the reader decides first, then opens it."""

from __future__ import annotations

import html


def folded(text: str, summary: str = "The answer (decide first, then open)") -> None:
    """Show `text` folded under `summary` in a notebook (an HTML <details> element, which the
    guide's worksheet pages keep folded too); elsewhere print it under the summary."""
    try:
        from IPython import get_ipython
        from IPython.display import HTML, display
    except ImportError:
        get_ipython = None
    if get_ipython is not None and get_ipython() is not None:
        body = f"<pre>{html.escape(text)}</pre>"
        display(HTML(f"<details><summary>{html.escape(summary)}</summary>{body}</details>"))
    else:
        print(f"{summary}:\n{text}")
