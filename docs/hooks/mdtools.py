"""Helpers shared by the MkDocs hooks and by tests/conftest.py (not a hook itself).

* `load_mkdocs_yaml`: read mkdocs.yml without MkDocs, tolerating its YAML tags.
* `snippet_expander`: expand `--8<--` lines exactly as pymdownx.snippets does on the site.
* `iter_fences`: find the fenced code blocks of a Markdown page, also inside admonitions and tabs.
* `is_run_info`: whether a fence header is a `{.python .run}` block, executed at build time.
* `bad_fence_info`: spot fence headers that Material cannot render (```python notest).
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
MKDOCS_YML = REPO_ROOT / "mkdocs.yml"


# --- mkdocs.yml -----------------------------------------------------------------------------


class _TolerantLoader(yaml.SafeLoader):
    """A safe loader that understands !relative and !ENV and keeps other tags as plain strings."""


def _construct_any(loader: _TolerantLoader, tag_suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return f"<{tag_suffix}{loader.construct_scalar(node)}>"
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_mapping(node)


def load_mkdocs_yaml(path: Path = MKDOCS_YML) -> dict[str, Any]:
    """mkdocs.yml as a dict; `!relative $config_dir` / `$docs_dir` become absolute paths."""
    config_dir = path.resolve().parent

    class Loader(_TolerantLoader):
        pass

    def relative(loader: Loader, node: yaml.Node) -> str:
        value = loader.construct_scalar(node) or "$docs_dir"
        if value.startswith("$config_dir"):
            return str(config_dir / value[len("$config_dir") :].lstrip("/"))
        if value.startswith("$docs_dir"):
            return str(config_dir / "docs" / value[len("$docs_dir") :].lstrip("/"))
        return str(config_dir / value)

    def env(loader: Loader, node: yaml.Node) -> Any:
        names = (
            [loader.construct_scalar(node)]
            if isinstance(node, yaml.ScalarNode)
            else loader.construct_sequence(node)
        )
        *variables, default = names if len(names) > 1 else [*names, None]
        for variable in variables:
            if variable in os.environ:
                return yaml.safe_load(os.environ[variable])
        return default

    Loader.add_constructor("!relative", relative)
    Loader.add_constructor("!ENV", env)
    Loader.add_multi_constructor("", _construct_any)
    return yaml.load(path.read_text(encoding="utf-8"), Loader=Loader)  # noqa: S506


def markdown_extension_options(config: dict[str, Any], name: str) -> dict[str, Any] | None:
    """The options of one entry of `markdown_extensions` ({} if listed bare, None if absent)."""
    for entry in config.get("markdown_extensions") or []:
        if entry == name:
            return {}
        if isinstance(entry, dict) and name in entry:
            return dict(entry[name] or {})
    return None


# --- snippets -------------------------------------------------------------------------------

SNIPPET_LINE = re.compile(r"^[ \t]*-{1,}8<-{1,}(?:[ \t]|$)")


def snippet_expander(options: dict[str, Any]) -> Callable[[list[str]], list[str]]:
    """A function that expands `--8<--` lines in a list of lines, using pymdownx's own code."""
    import markdown

    md = markdown.Markdown(
        extensions=["pymdownx.snippets"], extension_configs={"pymdownx.snippets": options}
    )
    preprocessor = md.preprocessors["snippet"]

    def expand(lines: list[str]) -> list[str]:
        if not any(SNIPPET_LINE.match(line) for line in lines):
            return lines
        return preprocessor.run(list(lines))

    return expand


def snippet_expander_from_mkdocs_yml(path: Path = MKDOCS_YML) -> Callable[[list[str]], list[str]]:
    options = markdown_extension_options(load_mkdocs_yaml(path), "pymdownx.snippets")
    if options is None:
        return lambda lines: lines
    return snippet_expander(options)


# --- fences ---------------------------------------------------------------------------------

_OPEN = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>.*?)[ \t]*$")


@dataclass
class Fence:
    """One fenced code block: lines are 0-based indices into the page's lines."""

    start: int  # the opening ``` line
    end: int  # the closing ``` line (or the last line, if never closed)
    indent: str  # the indentation of the opening line, removed from the body
    fence: str  # the backticks or tildes that open it
    info: str  # everything after the fence on the opening line
    body: list[str]  # the code, without the indentation

    @property
    def attrs(self) -> list[str]:
        """The tokens between braces of a `{.python .run}` header ([] without braces)."""
        info = self.info.strip()
        if not (info.startswith("{") and info.endswith("}")):
            return []
        try:
            return shlex.split(info[1:-1])
        except ValueError:
            return info[1:-1].split()

    @property
    def classes(self) -> list[str]:
        return [token[1:] for token in self.attrs if token.startswith(".")]

    @property
    def language(self) -> str:
        if self.info.strip().startswith("{"):
            classes = self.classes
            return classes[0] if classes else ""
        return self.info.split()[0] if self.info.split() else ""


def is_run_info(info: str) -> bool:
    """Whether a fence header marks a block the build executes: ```{.python .run ...}."""
    fence = Fence(0, 0, "", "```", info, [])
    return fence.language in ("python", "py", "python3") and "run" in fence.classes[1:]


def iter_fences(text: str) -> Iterator[Fence]:
    """Fenced code blocks in order, at any indentation (admonitions, tabs, lists)."""
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        match = _OPEN.match(lines[i])
        if not match or (match["fence"][0] == "`" and "`" in match["info"]):
            i += 1
            continue
        indent, fence = match["indent"], match["fence"]
        close = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
        end = i + 1
        while end < len(lines) and not close.match(lines[end]):
            end += 1
        body = [_dedent(line, len(indent)) for line in lines[i + 1 : end]]
        yield Fence(i, min(end, len(lines) - 1), indent, fence, match["info"], body)
        i = end + 1


def _dedent(line: str, width: int) -> str:
    strip = 0
    while strip < width and strip < len(line) and line[strip] in " \t":
        strip += 1
    return line[strip:]


_BARE_WORD = re.compile(r"^[A-Za-z_][\w-]*$")


def bad_fence_info(info: str) -> str | None:
    """Why a fence header breaks on the site, or None if it is fine.

    Superfences accepts `python`, `python title="x"` and `{.python notest}`, but a bare word
    after the language (```python notest) makes it give up on the block silently.
    """
    info = info.strip()
    if not info or info.startswith("{"):
        return None
    words = info.split()
    bare = [w for w in words[1:] if _BARE_WORD.match(w)]
    if bare:
        classes = " ".join(f".{w}" if w in ("run",) else w for w in bare)
        return (
            f"fence header ```{info} is not rendered by Material: write "
            f"```{{.{words[0]} {classes}}} instead"
        )
    return None


# --- containers (for pytest's CommonMark parser) -------------------------------------------

_CONTAINER = re.compile(r"^(?P<indent>[ \t]*)(?:!!!|\?\?\?\+?|===\+?)[ \t]")


def flatten_containers(text: str) -> str:
    """Remove admonition/details/tab headers and dedent their bodies, keeping every line number.

    CommonMark sees an indented body as an indented code block, so fences inside `!!! note` or
    `=== "Tab"` would be invisible to pytest-markdown-docs; after this they are ordinary fences.
    """
    out: list[str] = []
    stack: list[int] = []  # body indentation of each open container
    fence: tuple[str, int] | None = None  # (fence chars, length) while inside a code fence
    for line in text.split("\n"):
        stripped = line.lstrip(" \t")
        width = len(line) - len(stripped)
        if fence is None:
            if stripped:
                while stack and width < stack[-1]:
                    stack.pop()
            match = _CONTAINER.match(line)
            if match and stripped:
                stack.append(width + 4)
                out.append("")
                continue
            opened = _OPEN.match(line)
            if opened and stripped:
                fence = (opened["fence"][0], len(opened["fence"]))
        elif re.match(rf"^[ \t]*{re.escape(fence[0])}{{{fence[1]},}}[ \t]*$", line):
            fence = None
        out.append(_dedent(line, 4 * len(stack)))
    return "\n".join(out)
