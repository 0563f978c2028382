"""MkDocs hook: pages name the guide's repository as mkdocs.yml's `repo_url` says.

`repo_url` defaults to a value in mkdocs.yml and is overridden by MINIGPT_REPO_URL (the Pages
workflow passes the repository it builds), so the clone commands on the pages always match
the header's repository link. Write `{{ repo_url }}` in a page, code blocks included:

    git clone {{ repo_url }}.git
"""

from __future__ import annotations

from mkdocs.exceptions import PluginError

PLACEHOLDER = "{{ repo_url }}"


def on_page_markdown(markdown, page, config, files):
    if PLACEHOLDER not in markdown:
        return markdown
    if not config.repo_url:
        raise PluginError(f"docs/{page.file.src_uri} uses {PLACEHOLDER} but repo_url is not set")
    return markdown.replace(PLACEHOLDER, config.repo_url.rstrip("/"))
