"""Shared pytest fixtures and the guide's code-block machinery."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
DOCS_DIR = REPO_ROOT / "docs"
# The guide's figure code (docs/figures) is imported as `figures`, as the site build does.
if str(DOCS_DIR) not in sys.path:
    sys.path.insert(0, str(DOCS_DIR))

# The shared folder sits beside the checkout (../shared), in CI and on developer machines:
# GPT-2's BPE file for tiktoken, and Tiny Shakespeare.
SHARED = REPO_ROOT.parent / "shared"
if "TIKTOKEN_CACHE_DIR" not in os.environ and (SHARED / "tiktoken-cache").is_dir():
    os.environ["TIKTOKEN_CACHE_DIR"] = str(SHARED / "tiktoken-cache")
os.environ.setdefault("MPLBACKEND", "Agg")

SHAKESPEARE_PATH = Path(
    os.environ.get("MINIGPT_TINYSHAKESPEARE", SHARED / "data" / "tinyshakespeare" / "input.txt")
)
if SHAKESPEARE_PATH.is_file():  # chapter 11's code blocks read it, as the site build does
    os.environ.setdefault("MINIGPT_TINYSHAKESPEARE", str(SHAKESPEARE_PATH))


@pytest.fixture(scope="session")
def shakespeare_text() -> str:
    """The Tiny Shakespeare corpus (MINIGPT_TINYSHAKESPEARE, else ../shared); skips when absent."""
    if not SHAKESPEARE_PATH.is_file():
        pytest.skip(
            f"Tiny Shakespeare not found at {SHAKESPEARE_PATH} "
            "(set MINIGPT_TINYSHAKESPEARE to a local copy)"
        )
    return SHAKESPEARE_PATH.read_text(encoding="utf-8")


# --- Tiny training runs (tests/test_data.py, test_training.py, test_cli.py) -----------------

TINY_TEXT = (
    "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n\n"
)


@pytest.fixture
def one_thread():
    """Tiny models run fastest on one thread, and leave the other cores to other tests."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def private_cache(tmp_path, monkeypatch) -> Path:
    """Encoded corpora go to a folder of this test's own."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("MINIGPT_CACHE_DIR", str(folder))
    return folder


@pytest.fixture
def corpus(tmp_path) -> Path:
    """A small UTF-8 text file, enough for a char tokenizer and a few tiny batches."""
    path = tmp_path / "corpus.txt"
    path.write_text(TINY_TEXT * 30, encoding="utf-8")
    return path


# --- The guide: Markdown code blocks, the site build, the browser (see docs/hooks/) ----------
#
# pytest runs every Python block of docs/*.md through pytest-markdown-docs
# (`--markdown-docs --markdown-docs-syntax=superfences`). The parser below makes those tests
# run exactly what the site shows:
#   * `--8<--` snippet lines are expanded by pymdownx.snippets itself, with mkdocs.yml's options;
#   * blocks inside admonitions (!!! / ???) and content tabs (===) are found too;
#   * `{.python .run}` blocks share one namespace per page, as in the build
#     (docs/hooks/exec_blocks.py): the MiniGPTPageRunner below runs each block in the namespace
#     left by the page's earlier `.run` blocks (running those first when needed, e.g. with -k),
#     and carries the random generators' state from block to block as the build does.

# Not test modules: MkDocs hooks, and notebooks (executed by tests/test_notebooks.py).
NOT_COLLECTED = (
    "docs/hooks/*.py",
    "docs/figures/*.py",
    "docs/notebooks/*.py",
    "docs/notebooks/*.ipynb",
)


def _load_mdtools():
    spec = importlib.util.spec_from_file_location(
        "minigpt_docs_mdtools", DOCS_DIR / "hooks" / "mdtools.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


mdtools = _load_mdtools()


def _docs_markdown_it():
    from markdown_it import MarkdownIt

    expand = mdtools.snippet_expander_from_mkdocs_yml(REPO_ROOT / "mkdocs.yml")

    def minigpt_docs_rule(state) -> None:
        runs = []
        for token in state.tokens:
            if token.type != "fence":
                continue
            lines = token.content.split("\n")
            if lines and lines[-1] == "":
                lines.pop()
            if any(mdtools.SNIPPET_LINE.match(line) for line in lines):
                token.content = "\n".join(expand(lines)) + "\n"
            if mdtools.is_run_info(token.info):
                runs.append(token)
        if _PAGE_RUNNER is not None:
            for token in runs:
                token.info = token.info.strip()[:-1] + f" runner:{_PAGE_RUNNER}}}"
            return
        # Fallback without custom runners: pytest-markdown-docs chains a `continuation` block
        # to the block collected just before it, so put the `.run` blocks last, in page order,
        # each continuing the one before (each test then reruns the earlier blocks).
        state.tokens = [t for t in state.tokens if t not in runs] + runs
        for token in runs[1:]:
            token.info = token.info.strip()[:-1] + " continuation}"

    class DocsMarkdownIt(MarkdownIt):
        def parse(self, src, env=None):
            return super().parse(mdtools.flatten_containers(src), env)

    parser = DocsMarkdownIt("commonmark")
    parser.core.ruler.push("minigpt_docs", minigpt_docs_rule)
    return parser


def _page_run_blocks(path: Path) -> list[tuple[int, str]]:
    """The `.run` blocks of a Markdown page: (test start line, code padded to its position)."""
    parser = _docs_markdown_it()
    blocks = []
    for token in parser.parse(path.read_text(encoding="utf-8")):
        if token.type == "fence" and token.map and mdtools.is_run_info(token.info):
            start_line = token.map[0] + 1
            blocks.append((start_line, "\n" * start_line + token.content))
    return blocks


def _random_states():
    import numpy as np
    import torch

    return random.getstate(), np.random.get_state(), torch.get_rng_state()


def _set_random_states(states) -> None:
    import numpy as np
    import torch

    random.setstate(states[0])
    np.random.set_state(states[1])
    torch.set_rng_state(states[2])


try:
    from pytest_markdown_docs._runners import DefaultRunner, register_runner
except ImportError:  # an older pytest-markdown-docs: fall back to `continuation` chains
    _PAGE_RUNNER = None
else:
    _PAGE_RUNNER = "MiniGPTPageRunner"

    @register_runner()
    class MiniGPTPageRunner(DefaultRunner):
        """Runs a page's `.run` blocks in one namespace, as docs/hooks/exec_blocks.py does."""

        pages: dict[Path, dict] = {}

        def runtest(self, test, args, *, asyncio_runner=None):
            import types

            path = Path(test.source_path)
            blocks = _page_run_blocks(path)
            lines = [line for line, _ in blocks]
            index = lines.index(test.start_line)
            page = self.pages.get(path)
            if page is None or page["blocks"] != blocks[:index] or page["done"] != lines[:index]:
                module = types.ModuleType(f"_docs_test_page_{abs(hash(str(path)))}")
                module.__dict__.update(args)
                _set_random_states(_SEEDED_STATES)
                page = {
                    "module": module,
                    "blocks": blocks[:index],
                    "done": [],
                    "random": _random_states(),
                }
                self.pages[path] = page
                for line, code in blocks[:index]:
                    try:
                        self._run(page, line, code, str(path))
                    except Exception as error:
                        raise RuntimeError(
                            f"the earlier .run block at {path.name}:{line} failed: {error!r}"
                        ) from error
            self._run(page, test.start_line, test.source, str(path))
            page["blocks"] = blocks[: index + 1]

        @staticmethod
        def _run(page, line, code, filename) -> None:
            module = page["module"]
            sys.modules[module.__name__] = module
            _set_random_states(page["random"])
            # pytest-markdown-docs turns pytest's capturing off around blocks; keep what a
            # block prints out of the log unless the block fails.
            printed = io.StringIO()
            try:
                with contextlib.redirect_stdout(printed):
                    exec(compile(code, filename, "exec", dont_inherit=True), module.__dict__)  # noqa: S102
            except Exception:
                sys.stderr.write(printed.getvalue())
                raise
            finally:
                page["random"] = _random_states()
                sys.modules.pop(module.__name__, None)
            page["done"].append(line)


def _seed_all() -> None:
    """Seed random, NumPy and PyTorch with 0, as the site build does before each page."""
    import numpy as np
    import torch

    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)


def _seeded_states():
    _seed_all()
    return _random_states()


class _GuidePlugin:
    """Registered globally (not as a directory-scoped conftest) so it also applies to docs/."""

    @pytest.hookimpl
    def pytest_ignore_collect(self, collection_path, config):
        relative = collection_path.resolve()
        try:
            relative = relative.relative_to(REPO_ROOT)
        except ValueError:
            return None
        if any(relative.match(pattern) for pattern in NOT_COLLECTED):
            return True
        return None

    @pytest.hookimpl
    def pytest_markdown_docs_markdown_it(self):
        return _docs_markdown_it()


def pytest_configure(config):
    if not config.pluginmanager.has_plugin("minigpt-guide"):
        config.pluginmanager.register(_GuidePlugin(), "minigpt-guide")


@pytest.fixture(autouse=True)
def _seed_markdown_blocks(request, monkeypatch):
    """Code blocks of the guide start as in the site build: same seeds, repository root as cwd."""
    if request.node.get_closest_marker("markdown-docs") is not None:
        monkeypatch.chdir(REPO_ROOT)
        _seed_all()


_SEEDED_STATES = _seeded_states() if _PAGE_RUNNER is not None else None


# --- The notebooks, executed once per session -------------------------------------------------
#
# tests/test_notebooks.py reports on each notebook; the site build below renders these executed
# copies instead of running every notebook a second time (docs/hooks/notebooks.py).

NOTEBOOK_SOURCES = sorted((DOCS_DIR / "notebooks").glob("*.py"))


class ExecutedNotebook:
    def __init__(self, source: Path, notebook, seconds: float, error: str | None) -> None:
        self.source = source
        self.notebook = notebook  # nbformat NotebookNode with outputs (None if unreadable)
        self.seconds = seconds
        self.error = error  # the execution error, if any


def execute_notebook(source: Path, timeout: int = 120) -> ExecutedNotebook:
    """Run a jupytext notebook top to bottom in a fresh python3 kernel, from its folder."""
    import time

    import jupytext
    import nbclient

    start = time.perf_counter()
    try:
        notebook = jupytext.read(source)
    except Exception as error:  # noqa: BLE001
        return ExecutedNotebook(source, None, 0.0, f"cannot read: {error}")
    client = nbclient.NotebookClient(
        notebook,
        kernel_name="python3",
        timeout=timeout,
        allow_errors=False,
        resources={"metadata": {"path": str(source.parent)}},
    )
    try:
        client.execute()
        error = None
    except Exception as exc:  # noqa: BLE001 - CellExecutionError, timeouts, dead kernels
        error = f"{type(exc).__name__}: {exc}"
    return ExecutedNotebook(source, notebook, time.perf_counter() - start, error)


@pytest.fixture(scope="session")
def executed_notebooks(tmp_path_factory) -> dict[str, ExecutedNotebook]:
    """Every docs/notebooks/*.py executed (two kernels at a time), keyed by file name.

    Successful runs are also saved as `.folder`/NAME.ipynb, tagged with their source's SHA-256.
    """
    import hashlib
    from concurrent.futures import ThreadPoolExecutor

    pytest.importorskip("jupytext")
    pytest.importorskip("nbclient")
    import nbformat

    folder = tmp_path_factory.mktemp("executed-notebooks")
    saved_env = {key: os.environ.get(key) for key in ("MPLBACKEND", "PYTHONPATH")}
    # The kernels inherit this environment: they must find the package without an install and
    # keep matplotlib's inline backend (MPLBACKEND=Agg would hide every plot).
    os.environ.pop("MPLBACKEND", None)
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(REPO_ROOT), *filter(None, (saved_env["PYTHONPATH"] or "").split(os.pathsep))]
    )
    try:
        with ThreadPoolExecutor(max_workers=max(1, min(2, os.cpu_count() or 1))) as pool:
            results = list(pool.map(execute_notebook, NOTEBOOK_SOURCES))
    finally:
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    for result in results:
        if result.error is None and result.notebook is not None:
            result.notebook.metadata["minigpt_source_sha256"] = hashlib.sha256(
                result.source.read_bytes()
            ).hexdigest()
            nbformat.write(result.notebook, folder / f"{result.source.stem}.ipynb")
    executed = {result.source.name: result for result in results}
    return _NotebookResults(executed, folder)


class _NotebookResults(dict):
    def __init__(self, results: dict, folder: Path) -> None:
        super().__init__(results)
        self.folder = folder


# --- The built site, shared by tests/test_site.py and tests/test_browser.py ------------------


class BuiltSite:
    def __init__(self, site_dir: Path, log: str, seconds: float, port: int) -> None:
        self.dir = site_dir
        self.log = log
        self.seconds = seconds
        self.port = port  # site_url is http://127.0.0.1:<port>/: serve it there (instant nav)

    def pages(self) -> list[Path]:
        """Every HTML page of the guide (the 404 page excluded)."""
        return sorted(p for p in self.dir.rglob("*.html") if p.name != "404.html")


def _vendor_libraries_available() -> bool:
    """npm can install the site's browser libraries, or they are installed already."""
    import hashlib

    if shutil.which("npm") or os.environ.get("MINIGPT_VENDOR_DIR"):
        return True
    lock = (DOCS_DIR / "vendor" / "package-lock.json").read_bytes()
    installed = REPO_ROOT / ".cache" / "vendor" / hashlib.sha256(lock).hexdigest()[:16]
    return (installed / ".installed").is_file()


# The site's builder: ProperDocs, which the docs extra installs (MkDocs' maintained fork); MkDocs
# itself where only it is installed (the same site, with Material's end-of-life banner).
SITE_BUILDER = "properdocs" if importlib.util.find_spec("properdocs") else "mkdocs"


@pytest.fixture(scope="session")
def built_site(tmp_path_factory, request) -> BuiltSite:
    """`properdocs build --strict` of the guide, once per session; the build must succeed.

    Notebooks come pre-executed from the `executed_notebooks` fixture when possible; the build
    executes (and fails on) any that are not.
    """
    import time

    if importlib.util.find_spec(SITE_BUILDER) is None:
        pytest.skip("properdocs is not installed (pip install -e '.[docs]')")
    if not _vendor_libraries_available():
        pytest.skip(
            "npm is not installed: the site build needs it to install the MathJax and mermaid "
            "it serves (docs/hooks/vendor.py; apt-get install nodejs npm)"
        )
    import socket

    site_dir = tmp_path_factory.mktemp("site")
    # Material's instant navigation only works when the site is served at its site_url, so
    # build for a free local port, which test_browser.py then serves the site on.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "NO_MKDOCS_2_WARNING": "1",
        "MINIGPT_DOCS_EXECUTE": "true",
        "SITE_URL": f"http://127.0.0.1:{port}/",
    }
    env.pop("MINIGPT_COLAB_REPO", None)
    env.pop("MPLBACKEND", None)  # the notebooks' kernels need their inline backend for plots
    if NOTEBOOK_SOURCES and importlib.util.find_spec("nbclient") is not None:
        executed = request.getfixturevalue("executed_notebooks")
        env["MINIGPT_EXECUTED_NOTEBOOKS"] = str(executed.folder)
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", SITE_BUILDER, "build", "--strict", "--site-dir", str(site_dir)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    seconds = time.perf_counter() - start
    log = result.stdout + result.stderr
    if result.returncode != 0:
        pytest.fail(
            f"{SITE_BUILDER} build --strict failed (exit {result.returncode}):\n{log}",
            pytrace=False,
        )
    return BuiltSite(site_dir, log, seconds, port)
