"""MkDocs hook: run the page's `{.python .run}` code blocks at build time and show what they print.

THE CONVENTION (for chapter writers)
====================================

A Python block whose header is ```` ```{.python .run} ```` is executed when the site is built,
and everything it prints appears right below it, in an "Output" block:

    ```{.python .run}
    from minigpt.tokenization import GPT2Tokenizer

    tokenizer = GPT2Tokenizer()
    print(tokenizer.encode("Every moment is a beginning"))
    ```

* All `.run` blocks of one page run in order in ONE shared namespace (like notebook cells): a
  later block can use names defined by an earlier one. Pages do not share anything.
* Only `print` output is shown (stdout). No output, no Output block. Values are never typed
  into the page by hand: print them from a `.run` block.
* Snippet lines work inside `.run` blocks: `--8<-- "minigpt/self_attention.py:scores"` is
  expanded before running, exactly as the site shows it (a snippet has no imports of its own:
  put the imports it needs in the same block, above the snippet line).
* At the start of each page `random`, NumPy and PyTorch are seeded with 0. Seed explicitly
  anyway (`torch.manual_seed(0)`) where randomness matters, so readers can reproduce it.
* An exception fails the build (`mkdocs build --strict`), naming the page, the block and the
  traceback. pytest runs the same blocks (`pytest --markdown-docs`, one test per block) the
  same way: one namespace per page, same seeds, same working directory, so a test sees exactly
  what the build saw (tests/conftest.py, MiniGPTPageRunner).
* Keep them fast: well under a second or two each, CPU only, tiny tensors: every site build
  and every test run executes them.
* They run with the repository root as the working directory (in the build and in pytest), so
  `Path("docs/...")` works.
* Other attributes combine as usual: ```` ```{.python .run title="attention.py"} ````.
* With the class `.markdown` (```` ```{.python .run .markdown} ````) what the block prints is
  Markdown, inserted into the page as it is (a table generated from the code, say) instead of
  an Output block.
* Plain ```` ```python ```` blocks are shown but not run at build time (pytest still runs
  each one on its own), and ```` ```{.python notest} ```` is neither run nor tested.

This hook also fails the build on a fence header that Material would silently mangle, such as
```` ```python notest ```` or ```` ```python run ```` (bare words after the language).

The output block is ```` ```{.text .output} ```` inserted after the code block, styled by
docs/stylesheets/extra.css (the "Output" label).
"""

from __future__ import annotations

import contextlib
import io
import linecache
import os
import random
import re
import sys
import traceback
import types
from pathlib import Path

from mkdocs.exceptions import PluginError

sys.path.insert(0, str(Path(__file__).resolve().parent))
import mdtools  # noqa: E402

OUTPUT_CLASS = "output"
MARKDOWN_CLASS = "markdown"  # a .run block whose output is Markdown for the page

_expanders: dict[int, object] = {}


def _expander(config):
    key = id(config)
    if key not in _expanders:
        options = config.mdx_configs.get("pymdownx.snippets")
        _expanders.clear()
        _expanders[key] = (
            mdtools.snippet_expander(options) if options is not None else (lambda lines: lines)
        )
    return _expanders[key]


def seed_everything(seed: int = 0) -> None:
    random.seed(seed)
    with contextlib.suppress(ImportError):
        import numpy as np

        np.random.seed(seed)
    with contextlib.suppress(ImportError):
        import torch

        torch.manual_seed(seed)


def run_blocks(
    markdown: str, page_name: str, expand=lambda lines: lines, cwd: Path | None = None
) -> tuple[str, list[tuple[mdtools.Fence, str]]]:
    """Execute the `.run` blocks of a page; return the page with Output blocks, and the outputs."""
    fences = list(mdtools.iter_fences(markdown))
    for fence in fences:
        problem = mdtools.bad_fence_info(fence.info)
        if problem:
            raise PluginError(f"{page_name}, line {fence.start + 1}: {problem}")
    runs = [fence for fence in fences if mdtools.is_run_info(fence.info)]
    if not runs:
        return markdown, []

    module = types.ModuleType(f"_docs_page_{abs(hash(page_name))}")
    module.__file__ = page_name
    sys.modules[module.__name__] = module
    results: list[tuple[mdtools.Fence, str]] = []
    previous_cwd = Path.cwd()
    try:
        if cwd is not None:
            os.chdir(cwd)
        seed_everything()
        for number, fence in enumerate(runs, start=1):
            source = "\n".join(expand(fence.body))
            # Pad so that tracebacks give the line numbers of the Markdown file.
            code = "\n" * (fence.start + 1) + source + "\n"
            label = f"{page_name} [run block {number}]"
            # Kept where tracebacks and inspect.getsource look (check() sends a block's source).
            linecache.cache[label] = (len(code), None, code.splitlines(True), label)
            stdout = io.StringIO()
            try:
                compiled = compile(code, label, "exec")
                with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(io.StringIO()):
                    exec(compiled, module.__dict__)  # noqa: S102 - this is the point of the hook
            except BaseException as error:  # noqa: BLE001 - report anything, SystemExit included
                frames = traceback.extract_tb(error.__traceback__)[1:]  # drop this hook's frame
                details = "".join(
                    traceback.format_list(frames)
                    + traceback.format_exception_only(type(error), error)
                )
                printed = stdout.getvalue()
                if printed:
                    details += f"--- printed before the error ---\n{printed}"
                raise PluginError(
                    f"{page_name}: run block {number} (line {fence.start + 1}) raised "
                    f"{type(error).__name__}:\n{details}"
                ) from None
            results.append((fence, stdout.getvalue()))
    finally:
        sys.modules.pop(module.__name__, None)
        os.chdir(previous_cwd)

    lines = markdown.split("\n")
    for fence, output in reversed(results):
        if not output.strip():
            continue
        body = output.rstrip("\n").split("\n")
        if MARKDOWN_CLASS in fence.classes[1:]:
            block = ["", *[f"{fence.indent}{line}" if line else "" for line in body], ""]
            lines[fence.end + 1 : fence.end + 1] = block
            continue
        longest = max((len(run) for line in body for run in re.findall(r"`+", line)), default=0)
        ticks = "`" * max(3, longest + 1)
        block = [
            "",
            f"{fence.indent}{ticks}{{.text .{OUTPUT_CLASS}}}",
            *[f"{fence.indent}{line}" if line else "" for line in body],
            f"{fence.indent}{ticks}",
            "",
        ]
        lines[fence.end + 1 : fence.end + 1] = block
    return "\n".join(lines), results


def on_page_markdown(markdown, page, config, files):
    name = f"docs/{page.file.src_uri}"
    root = Path(config.config_file_path).resolve().parent
    new_markdown, _ = run_blocks(markdown, name, _expander(config), cwd=root)
    return new_markdown
