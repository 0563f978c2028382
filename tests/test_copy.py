"""What a reader copies from the built site runs.

A reader presses a code block's copy button and pastes the text into a file or a shell. These
tests take, from the strictly built site (the `built_site` fixture), exactly the text each
copy button puts on the clipboard, by Material's rule: the `data-copy` attribute of the code
element or its closest ancestor when there is one, else the code element's rendered text with
annotations left out, trailing whitespace trimmed. Then:

* every exercise solution, saved under the file name its exercise's `minigpt check` command
  uses, passes that check (a solution is the block inside the exercise's folded "Solution"
  admonition titled with that file name);
* every block titled with a file name that defines a function or class is a whole file: its
  names are all defined or imported (ruff's F821/F822, as pyflakes). A step-by-step excerpt
  says so in its title ("excerpt") and is left out;
* nothing copied starts with a shell or Python prompt.

Cases are collected from the Markdown sources (so each fails on its own) and looked up in the
built HTML.
"""

from __future__ import annotations

import ast
import functools
import json
import os
import re
import subprocess
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from .conftest import DOCS_DIR, REPO_ROOT

CHAPTERS = sorted(path.stem for path in DOCS_DIR.glob("[0-9][0-9]-*.md"))
CHECK_COMMAND = re.compile(r"^\s*(?:\$ )?minigpt check (\w+) (\S+)\s*$", re.MULTILINE)
TITLE = re.compile(r'^\s*(`{3,}|~{3,})\{[^}\n]*\btitle="([^"]+)"[^}\n]*\}', re.MULTILINE)
PROMPT = re.compile(r"^(\$|>>>) ", re.MULTILINE)
ANNOTATION_MARKER = re.compile(r"#\s*\(\d+\)!?\s*$", re.MULTILINE)


@dataclass(frozen=True)
class CodeBlock:
    """One code element with a copy button, as the built page shows it."""

    title: str | None
    language: str
    text: str  # what the copy button puts on the clipboard
    section: str  # the id of the h2/h3 heading it sits under
    in_solution: bool  # inside a folded "Solution" admonition


def copy_text(code) -> str:
    """The clipboard text of Material's copy button for this `<code>` element."""
    node = code
    while node is not None:
        if node.attributes.get("data-copy") is not None:
            return node.attributes["data-copy"].rstrip()
        node = node.parent
    text = code.text(deep=True)
    if code.css(".md-annotation"):  # rendered annotations are hidden while copying
        raise AssertionError("annotations are not modelled by this test yet")
    return text.rstrip()


@functools.cache
def page_blocks(site_dir: Path, page: str) -> list[CodeBlock]:
    """Every `pre > code` of a page in document order, with its section and title."""
    from selectolax.lexbor import LexborHTMLParser

    tree = LexborHTMLParser((site_dir / page / "index.html").read_text(encoding="utf-8"))
    article = tree.css_first("article")
    blocks, section = [], ""
    for node in article.traverse():
        if node.tag in ("h2", "h3"):
            section = node.attributes.get("id") or ""
        elif node.tag == "code" and node.parent is not None and node.parent.tag == "pre":
            if "mermaid" in (node.parent.attributes.get("class") or ""):
                continue  # drawn as a diagram, without a copy button
            highlight = node.parent.parent
            classes = highlight.attributes.get("class") or ""
            title = next(
                (
                    child
                    for child in highlight.iter()
                    if child.tag == "span" and "filename" in (child.attributes.get("class") or "")
                ),
                None,
            )
            language = next(
                (c.removeprefix("language-") for c in classes.split() if c.startswith("language-")),
                "",
            )
            blocks.append(
                CodeBlock(
                    title=title.text(deep=True).strip() if title is not None else None,
                    language=language,
                    text=copy_text(node),
                    section=section,
                    in_solution=_in_solution(node),
                )
            )
    return blocks


def _in_solution(node) -> bool:
    while node is not None:
        if node.tag == "details":
            summary = node.css_first("summary")
            return summary is not None and summary.text(deep=True).strip() == "Solution"
        node = node.parent
    return False


# --- cases, from the Markdown sources ------------------------------------------------------


def _source(page: str) -> str:
    return (DOCS_DIR / f"{page}.md").read_text(encoding="utf-8")


def _check_cases():
    """The `minigpt check` commands of exercises whose solution is a file (a titled block).

    A "change and observe" exercise shows the command for the reader to see a check fail; its
    solution is an untitled demonstration, and it is no case here."""
    for page in CHAPTERS:
        n = 0
        for section in re.split(r"^#{2,3} ", _source(page), flags=re.MULTILINE):
            solution = section.split('??? success "Solution"', 1)[1:]
            file_solution = bool(solution) and TITLE.search(solution[0]) is not None
            for exercise, filename in CHECK_COMMAND.findall(section):
                if file_solution:
                    yield pytest.param(page, n, exercise, filename, id=f"{page}-{exercise}-{n}")
                n += 1


def _titled_cases():
    for page in CHAPTERS:
        for n, (_, title) in enumerate(TITLE.findall(_source(page))):
            yield pytest.param(page, n, title, id=f"{page}-{n}-{title}")


def _check_commands(blocks: list[CodeBlock]) -> list[tuple[str, str, str]]:
    """(exercise, file name, section) of every `minigpt check` command the page shows."""
    return [
        (exercise, filename, block.section)
        for block in blocks
        if block.language in ("console", "bash", "sh", "shell")
        for exercise, filename in CHECK_COMMAND.findall(block.text)
    ]


# --- the tests ---------------------------------------------------------------------------


def _solution(site_dir: Path, page: str, n: int, exercise: str, filename: str) -> CodeBlock:
    """The solution of the page's n-th `minigpt check` command, found as a reader would."""
    blocks = page_blocks(site_dir, page)
    commands = _check_commands(blocks)
    assert commands[n][:2] == (exercise, filename), f"{page}: the built page's commands differ"
    section = commands[n][2]
    solutions = [b for b in blocks if b.section == section and b.in_solution and b.title]
    named = [b for b in solutions if b.title == filename]
    assert named, (
        f"{page}#{section}: no solution titled {filename!r} (the file `minigpt check "
        f"{exercise} {filename}` reads); solution titles here: {[b.title for b in solutions]}"
    )
    return named[0]


def _run_check(folder: Path, exercise: str, filename: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "minigpt", "check", exercise, filename],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def check_runs(built_site, tmp_path_factory):
    """Every solution's `minigpt check`, started at once on a few cores; a case waits for its
    own. A case whose solution cannot be found gets the AssertionError instead."""
    runs: dict[tuple[str, int], Future | AssertionError] = {}
    with ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1))) as pool:
        for case in _check_cases():
            page, n, exercise, filename = case.values
            try:
                block = _solution(built_site.dir, page, n, exercise, filename)
            except AssertionError as err:
                runs[page, n] = err
                continue
            folder = tmp_path_factory.mktemp(f"{page}-{n}")
            (folder / filename).write_text(block.text + "\n", encoding="utf-8")
            runs[page, n] = pool.submit(_run_check, folder, exercise, filename)
        yield runs


@pytest.mark.parametrize(("page", "n", "exercise", "filename"), list(_check_cases()))
def test_solution_passes_its_check(check_runs, page, n, exercise, filename):
    run = check_runs[page, n]
    if isinstance(run, AssertionError):
        raise run
    result = run.result()
    assert result.returncode == 0, (
        f"{page}: the solution titled {filename} fails `minigpt check {exercise} {filename}` "
        f"(exit {result.returncode}):\n{result.stdout}{result.stderr}"
    )


@functools.cache
def _undefined_names(text: str) -> tuple[str, ...]:
    """ruff's F821/F822 findings (pyflakes' undefined names) for one file's text."""
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--isolated", "--select", "F821,F822"]
        + ["--output-format", "json", "--stdin-filename", "copied.py", "-"],
        input=text,
        capture_output=True,
        text=True,
    )
    if result.returncode not in (0, 1):
        raise AssertionError(f"ruff failed: {result.stderr}")
    findings = json.loads(result.stdout)
    return tuple(f"line {f['location']['row']}: {f['message']}" for f in findings)


@pytest.mark.parametrize(("page", "n", "title"), list(_titled_cases()))
def test_titled_definition_is_a_whole_file(built_site, page, n, title):
    titled = [b for b in page_blocks(built_site.dir, page) if b.title]
    assert [b.title for b in titled][n] == title, f"{page}: the built page's titles differ"
    block = titled[n]
    if "excerpt" in title or block.language not in ("python", "py"):
        return
    try:
        tree = ast.parse(block.text)
    except SyntaxError as err:
        pytest.fail(f"{page}: block {title!r} is not a whole Python file ({err}); say excerpt")
    defines = any(
        isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
        for node in tree.body
    )
    if not defines:
        return
    undefined = _undefined_names(block.text)
    assert not undefined, (
        f"{page}: block {title!r}, pasted alone into a file, uses names it never imports:\n"
        + "\n".join(undefined)
    )


@pytest.mark.parametrize("page", CHAPTERS)
def test_nothing_copied_starts_with_a_prompt(built_site, page):
    prompted = [
        f"{b.title or b.language or 'block'}: {PROMPT.search(b.text).group(0)!r}"
        f" in {b.text.splitlines()[0][:60]!r}"
        for b in page_blocks(built_site.dir, page)
        if PROMPT.search(b.text)
    ]
    assert not prompted, f"{page}: copy buttons that copy a prompt:\n" + "\n".join(prompted)
