"""MkDocs hook: a console block's copy button copies its commands, without the `$ ` prompts.

Pages show shell commands as ```` ```console ```` blocks, `$ ` prompt included, so a reader
tells the command from its output. Material's copy button copies the code's rendered text,
prompts and output too, and `$ minigpt check …` pasted into a shell fails. Material copies
the `data-copy` attribute instead when the code element has one: this hook sets it to the
prompted lines without their prompt (to the whole text when no line has a prompt).
"""

from __future__ import annotations

import html
import re

CONSOLE_CODE = re.compile(
    r'(<div class="language-console[^"]*">(?:(?!</div>).)*?<code)>(.*?)</code>', re.DOTALL
)
PROMPT = "$ "


def commands(code_html: str) -> str:
    """The text a reader should paste into a shell: the commands, prompts removed."""
    text = html.unescape(re.sub(r"<[^>]+>", "", code_html)).rstrip()
    prompted = [line[len(PROMPT) :] for line in text.split("\n") if line.startswith(PROMPT)]
    return "\n".join(prompted) if prompted else text


def on_page_content(content, page, config, files):
    def with_copy_text(match: re.Match) -> str:
        copy = html.escape(commands(match.group(2)), quote=True)
        return f'{match.group(1)} data-copy="{copy}">{match.group(2)}</code>'

    return CONSOLE_CODE.sub(with_copy_text, content)
