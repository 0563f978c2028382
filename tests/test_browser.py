"""Every page of the built site in headless Chromium, offline.

For each page: no JavaScript errors or failed requests, every Mermaid diagram rendered to SVG,
every formula typeset by MathJax, every image loaded. The site normally loads MathJax and
Mermaid from unpkg.com; here those requests are answered from the same npm packages, installed
once into a cache folder outside the repository (MINIGPT_TEST_CACHE, default
~/.cache/minigpt-test). Any other request that leaves 127.0.0.1 is blocked and fails the page.

A full-page screenshot of every page is saved under the session's temporary folder (or
MINIGPT_SCREENSHOT_DIR): `screens/<page>.png`, plus `screens/index-dark.png` in the dark theme.

Skipped, with the reason, when Chromium, Playwright's Python package or npm is missing.
"""

from __future__ import annotations

import functools
import http.server
import mimetypes
import os
import re
import shutil
import subprocess
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from .conftest import DOCS_DIR, REPO_ROOT

CDN = "https://unpkg.com/"
# The npm packages behind the CDN URLs: Material loads mermaid@11; mkdocs.yml pins MathJax.
NPM_PACKAGES = {"mermaid": "11", "mathjax": None}
CACHE_DIR = Path(os.environ.get("MINIGPT_TEST_CACHE", Path.home() / ".cache" / "minigpt-test"))
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
PAGE_TIMEOUT_MS = 20_000


def _page_paths() -> list[str]:
    """URL paths of every page, in reading order."""
    paths = [""]
    paths += [f"{p.stem}/" for p in sorted(DOCS_DIR.glob("[0-9][0-9]-*.md"))]
    paths += [f"notebooks/{p.stem}/" for p in sorted((DOCS_DIR / "notebooks").glob("*.py"))]
    return paths


def _mathjax_version() -> str:
    text = (REPO_ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    match = re.search(r"unpkg\.com/mathjax@([\w.\-]+)/", text)
    assert match, "mkdocs.yml no longer loads MathJax from unpkg.com: update test_browser.py"
    return match[1]


@pytest.fixture(scope="session")
def chromium() -> str:
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("Chromium is not installed (apt-get install chromium)")


@pytest.fixture(scope="session")
def npm_modules() -> Path:
    """node_modules holding mermaid and MathJax, installed on first use."""
    specs = {**NPM_PACKAGES, "mathjax": _mathjax_version()}
    prefix = CACHE_DIR / "npm"
    modules = prefix / "node_modules"
    wanted = [f"{name}@{version}" for name, version in specs.items()]
    stamp = prefix / "installed.txt"
    if (
        stamp.is_file()
        and stamp.read_text() == " ".join(wanted)
        and all((modules / name / "package.json").is_file() for name in specs)
    ):
        return modules
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed: it provides offline copies of MathJax and Mermaid")
    prefix.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [npm, "install", "--no-audit", "--no-fund", "--no-save", "--prefix", str(prefix), *wanted],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if result.returncode != 0:
        pytest.skip(f"npm could not install {wanted}:\n{result.stderr[-2000:]}")
    stamp.write_text(" ".join(wanted))
    return modules


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="session")
def site_url(built_site):
    """The built site served on 127.0.0.1 for the session, at its site_url when possible."""
    handler = functools.partial(_QuietHandler, directory=str(built_site.dir))
    try:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", built_site.port), handler)
    except OSError:  # the port was taken since the build: serve elsewhere (no instant nav)
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def screenshot_dir(tmp_path_factory) -> Path:
    chosen = os.environ.get("MINIGPT_SCREENSHOT_DIR")
    path = Path(chosen) if chosen else tmp_path_factory.mktemp("browser") / "screens"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def browser(chromium):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("Playwright's Python package is not installed (pip install playwright)")
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=chromium,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
            ],
        )
        yield instance
        instance.close()


def _serve_from_npm(route, modules: Path, problems: list[str]) -> None:
    """Answer https://unpkg.com/<package>@<version>/<path> from node_modules/<package>/<path>."""
    url = route.request.url
    parts = urlsplit(url)
    match = re.match(r"^/(?P<package>(?:@[^/]+/)?[^/@]+)(?:@[^/]+)?/(?P<path>.*)$", parts.path)
    file = modules / match["package"] / match["path"] if match else None
    if file is None or not file.is_file():
        problems.append(f"not available offline: {url}")
        route.fulfill(status=404, body="")
        return
    content_type = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
    if file.suffix in (".js", ".mjs"):
        content_type = "application/javascript"
    route.fulfill(
        status=200,
        body=file.read_bytes(),
        headers={"content-type": content_type, "access-control-allow-origin": "*"},
    )


def _open(browser, site_url: str, modules: Path, color_scheme: str = "light"):
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, color_scheme=color_scheme
    )
    problems: list[str] = []
    local = urlsplit(site_url).netloc

    def route(route):
        parts = urlsplit(route.request.url)
        if parts.netloc == local or parts.scheme in ("data", "blob"):
            route.continue_()
        elif route.request.url.startswith(CDN):
            _serve_from_npm(route, modules, problems)
        else:
            problems.append(f"request outside the site: {route.request.url}")
            route.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.on("console", lambda m: m.type == "error" and problems.append(f"console: {m.text}"))
    page.on("pageerror", lambda e: problems.append(f"JavaScript error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"failed: {r.url} {r.failure}"))
    page.on("response", lambda r: r.status >= 400 and problems.append(f"HTTP {r.status}: {r.url}"))
    return context, page, problems


CHECKS_JS = r"""() => {
  // Material replaces each <pre class="mermaid"> by a <div class="mermaid"> holding the SVG in
  // a closed shadow root, only once Mermaid has rendered it.
  const mermaid = [...document.querySelectorAll('.mermaid')];
  const arithmatex = [...document.querySelectorAll('.arithmatex')];
  const images = [...document.images];
  return {
    mermaid: mermaid.length,
    mermaidRendered: mermaid.filter(el =>
        el.tagName === 'DIV' && el.getBoundingClientRect().height > 20).length,
    arithmatex: arithmatex.length,
    typeset: arithmatex.filter(el => el.querySelector('mjx-container')).length,
    mathErrors: document.querySelectorAll('mjx-merror').length,
    rawNavMath: [...document.querySelectorAll('.md-nav__link')]
        .map(a => a.textContent.trim())
        .filter(text => text.includes('\\(') || text.includes('\\[')),
    // Notebook Markdown writes math as $...$ or $$...$$: none may be left as text.
    rawNotebookMath: [...document.querySelectorAll('.jp-RenderedMarkdown')].flatMap(cell => {
      const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
      const left = [];
      for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        if (node.parentElement.closest('code, pre, mjx-container')) continue;
        const match = node.textContent.match(/\$[^$\s][^$]*\$/);
        if (match) left.push(match[0].slice(0, 80));
      }
      return left;
    }),
    brokenImages: images.filter(img => !(img.complete && img.naturalWidth > 0))
                        .map(img => img.getAttribute('src').slice(0, 120)),
  };
}"""

WAIT_JS = """() => {
  const mermaidDone = document.querySelectorAll('pre.mermaid').length === 0;
  const math = [...document.querySelectorAll('.arithmatex')];
  const mathDone = math.every(el => el.querySelector('mjx-container'));
  const images = [...document.images].every(img => img.complete);
  return mermaidDone && mathDone && images;
}"""


MATHJAX_DONE_JS = """async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await MathJax.startup.promise;
  }
}"""


def _check_page(browser, site_url, modules, screenshot_dir, path, color_scheme="light"):
    context, page, problems = _open(browser, site_url, modules, color_scheme)
    try:
        page.goto(site_url + path, wait_until="load")
        try:
            page.wait_for_function(WAIT_JS, timeout=PAGE_TIMEOUT_MS)
            page.evaluate(MATHJAX_DONE_JS)
        except Exception:  # noqa: BLE001 - reported through the checks below
            pass
        page.wait_for_timeout(300)  # let late console errors arrive
        state = page.evaluate(CHECKS_JS)
        name = path.strip("/").replace("/", "--") or "index"
        suffix = "" if color_scheme == "light" else f"-{color_scheme}"
        page.screenshot(path=str(screenshot_dir / f"{name}{suffix}.png"), full_page=True)
    finally:
        context.close()
    if state["mermaidRendered"] < state["mermaid"]:
        problems.append(
            f"{state['mermaid'] - state['mermaidRendered']} Mermaid diagram(s) not rendered"
        )
    if state["typeset"] < state["arithmatex"]:
        problems.append(f"{state['arithmatex'] - state['typeset']} formula(s) not typeset")
    for text in state["rawNotebookMath"]:
        problems.append(f"untypeset notebook math: {text}")
    for text in state["rawNavMath"]:
        problems.append(f"untypeset math in the navigation: {text}")
    if state["mathErrors"]:
        problems.append(f"{state['mathErrors']} MathJax error(s) in formulas")
    for src in state["brokenImages"]:
        problems.append(f"image did not load: {src}")
    return state, problems


@pytest.mark.parametrize("path", _page_paths(), ids=lambda p: p.strip("/") or "index")
def test_page_renders_cleanly(browser, site_url, npm_modules, screenshot_dir, path):
    state, problems = _check_page(browser, site_url, npm_modules, screenshot_dir, path)
    assert not problems, f"/{path}:\n" + "\n".join(problems)


def test_introduction_renders_diagram_math_and_figure(
    browser, site_url, npm_modules, screenshot_dir
):
    """The introduction has each kind of content; check it really was there to check."""
    state, problems = _check_page(browser, site_url, npm_modules, screenshot_dir, "", "dark")
    assert not problems, "\n".join(problems)
    assert state["mermaid"] >= 1 and state["mermaidRendered"] == state["mermaid"]
    assert state["arithmatex"] >= 1 and state["typeset"] == state["arithmatex"]
    print(f"screenshots: {screenshot_dir}")


def test_instant_navigation_typesets_math(browser, site_url, npm_modules, built_site):
    """Material swaps pages without reloading; MathJax must typeset the page it swaps in."""
    targets = [
        page
        for page in built_site.pages()
        if 'class="arithmatex"' in page.read_text(encoding="utf-8")
        and page.parent != built_site.dir
        and "notebooks" not in page.parts
    ]
    if not targets:
        pytest.skip("no chapter has math yet")
    if not site_url.endswith(f":{built_site.port}/"):
        pytest.skip("the site could not be served at its site_url, so instant nav is off")
    target = targets[0].parent.name
    context, page, problems = _open(browser, site_url, npm_modules)
    try:
        page.goto(site_url, wait_until="load")
        page.wait_for_function(WAIT_JS, timeout=PAGE_TIMEOUT_MS)
        page.evaluate("window.__sameDocument = true")
        page.click(f'nav.md-nav--primary a[href$="/{target}/"]')
        page.wait_for_url(f"**/{target}/", timeout=PAGE_TIMEOUT_MS)
        page.wait_for_function(
            "() => document.querySelectorAll('.arithmatex').length > 0", timeout=PAGE_TIMEOUT_MS
        )
        try:
            page.wait_for_function(WAIT_JS, timeout=PAGE_TIMEOUT_MS)
        except Exception:  # noqa: BLE001 - reported below
            pass
        state = page.evaluate(CHECKS_JS)
        instant = page.evaluate("window.__sameDocument === true")
    finally:
        context.close()
    assert not problems, "\n".join(problems)
    assert instant, "the click reloaded the page: Material's instant navigation is not active"
    assert state["typeset"] == state["arithmatex"], (
        f"after instant navigation to {target}/, {state['arithmatex'] - state['typeset']} "
        "formula(s) were not typeset"
    )
