"""Every page of the built site in headless Chromium, with every request to another origin blocked.

The site must work offline and read well, so one browser visits every page (the guide's
chapters and the notebooks) in three passes, one tab each. A pass loads its first page in full
and reaches the others as a reader's clicks do, through Material's instant navigation (which
also keeps the browser time short):

* desktop, 1400 × 900, light (starting from a notebook): no request leaves the site, no
  JavaScript or console error, no raw TeX or mermaid source left on screen, every formula
  typeset and every diagram drawn, the search index ready (and a query answered on the first
  and the last page); no code block, output or display equation wider than the column; no
  copy button over the end of a line; no text in a figure or diagram below 11 CSS px; no
  diagram taller than the screen;
* phone, 390 × 844: the same offline checks; the page never scrolls sideways, wide equations
  scroll inside their own box, and every figure is legible or opens full size on a tap;
* desktop, dark theme, the pages with figures and diagrams: their text keeps 4.5:1 contrast
  against what is behind it (text over a raster image, such as a heatmap cell, is skipped).

The measuring code runs in the page: tests/browser_checks.js. MINIGPT_SCREENSHOT_DIR=DIR also
saves a screenshot of every page in every pass there (full-page on the desktop).

Skipped, with the reason, when Chromium or Playwright's Python package is missing (the site
build itself needs npm: see docs/hooks/vendor.py). Playwright drives the system Chromium and
downloads nothing.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from .conftest import DOCS_DIR

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHECKS_JS = Path(__file__).with_name("browser_checks.js").read_text(encoding="utf-8")
SETTLE_MS = 20_000  # longest wait for a page's diagrams, formulas, figures and search index
MIN_TEXT_PX = 11  # smallest text a figure or diagram may show at the desktop width
MIN_CONTRAST = 4.5
DESKTOP = {"width": 1400, "height": 900}
PHONE = {"width": 390, "height": 844}
SEARCH_QUERY = "attention"


def _page_paths() -> list[str]:
    """URL paths of every page, in reading order."""
    paths = [""]
    paths += [f"{p.stem}/" for p in sorted(DOCS_DIR.glob("[0-9][0-9]-*.md"))]
    paths += [f"notebooks/{p.stem}/" for p in sorted((DOCS_DIR / "notebooks").glob("*.py"))]
    return paths


PAGES = _page_paths()
CHAPTER_PAGES = [p for p in PAGES if not p.startswith("notebooks/")]


def _page_id(path: str) -> str:
    return path.strip("/") or "index"


@pytest.fixture(scope="session")
def chromium() -> str:
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("Chromium is not installed (apt-get install chromium)")


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


class Tab:
    """One browser tab that blocks every request leaving the site and records what goes wrong."""

    def __init__(self, browser, site_url: str, viewport: dict, color_scheme: str = "light"):
        self.context = browser.new_context(viewport=viewport, color_scheme=color_scheme)
        self.context.add_init_script(CHECKS_JS)
        self.problems: list[str] = []
        local = urlsplit(site_url).netloc

        def route(route):
            parts = urlsplit(route.request.url)
            if parts.netloc == local or parts.scheme in ("data", "blob"):
                route.continue_()
            else:
                self.problems.append(f"request to another origin: {route.request.url}")
                route.abort()

        self.context.route("**/*", route)
        self.page = self.context.new_page()
        self.page.on(
            "console", lambda m: m.type == "error" and self.problems.append(f"console: {m.text}")
        )
        self.page.on("pageerror", lambda e: self.problems.append(f"JavaScript error: {e}"))
        self.page.on(
            "requestfailed",
            lambda r: (
                urlsplit(r.url).netloc == local
                and self.problems.append(f"failed: {r.url} {r.failure}")
            ),
        )
        self.page.on(
            "response",
            lambda r: r.status >= 400 and self.problems.append(f"HTTP {r.status}: {r.url}"),
        )
        self.site_url = site_url

    def visit(self, path: str, instant: bool = False) -> dict:
        """Open a page (in full, or by instant navigation from the page shown), wait for it to
        settle, and return its state and what went wrong."""
        self.problems = []
        if instant:
            self.page.evaluate("(url) => minigptChecks.navigate(url)", self.site_url + path)
        else:
            self.page.goto(self.site_url + path, wait_until="domcontentloaded")
        settled = self.page.evaluate(f"() => minigptChecks.settle({SETTLE_MS})")
        state = self.page.evaluate("() => minigptChecks.state()")
        state["settled"] = settled
        state["problems"] = self.problems
        return state

    def screenshot(self, folder: Path | None, name: str, full_page: bool) -> None:
        if folder is not None:
            self.page.screenshot(path=str(folder / f"{name}.png"), full_page=full_page)

    def close(self) -> None:
        self.context.close()


def _screenshot_dir() -> Path | None:
    chosen = os.environ.get("MINIGPT_SCREENSHOT_DIR")
    if not chosen:
        return None
    path = Path(chosen)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _search(page) -> int:
    """Type a query into the header's search box; the number of results listed."""
    page.click(".md-search__input")
    page.keyboard.type(SEARCH_QUERY)
    try:
        page.wait_for_selector(".md-search-result__item", timeout=10_000)
    except Exception:  # noqa: BLE001 - reported as no results
        return 0
    count = page.locator(".md-search-result__item").count()
    page.keyboard.press("Escape")
    return count


def _visit_all(tab: Tab, paths: list[str], measure: str, shots: Path | None, prefix: str):
    """Every page of `paths`, the first loaded in full and the rest by instant navigation."""
    results = {}
    for n, path in enumerate(paths):
        state = tab.visit(path, instant=n > 0)
        state["measured"] = tab.page.evaluate(f"() => minigptChecks.{measure}()")
        tab.screenshot(shots, f"{prefix}-{_page_id(path)}", full_page=prefix == "desktop")
        results[path] = state
    return results


@pytest.fixture(scope="session")
def desktop_pages(browser, site_url) -> dict[str, dict]:
    """Every page at 1400 px, light theme, from a notebook on: state and layout measurements."""
    tab = Tab(browser, site_url, DESKTOP)
    notebooks = [p for p in PAGES if p.startswith("notebooks/")]
    order = notebooks[-1:] + [p for p in PAGES if p not in notebooks[-1:]]
    try:
        results = _visit_all(tab, order, "desktop", _screenshot_dir(), "desktop")
        results[order[-1]]["search_results"] = _search(tab.page)  # still answers at the end
        tab.visit(order[0])
        results[order[0]]["search_results"] = _search(tab.page)  # answers after a full load
    finally:
        tab.close()
    return results


@pytest.fixture(scope="session")
def phone_pages(browser, site_url) -> dict[str, dict]:
    """Every page at 390 px (a phone): its state and what a narrow screen must get right."""
    tab = Tab(browser, site_url, PHONE)
    try:
        return _visit_all(tab, PAGES, "phone", _screenshot_dir(), "phone")
    finally:
        tab.close()


@pytest.fixture(scope="session")
def dark_pages(browser, site_url) -> dict[str, dict]:
    """The pages with figures or diagrams at 1400 px in the dark theme: text contrast."""
    tab = Tab(browser, site_url, DESKTOP, "dark")
    try:
        return _visit_all(tab, CHAPTER_PAGES, "contrast", _screenshot_dir(), "dark")
    finally:
        tab.close()


def _offline_problems(state: dict) -> list[str]:
    """What every pass checks: the page works with nothing but the site itself."""
    problems = list(state["problems"])
    if not state["settled"]:
        problems.append(
            f"the page did not settle within {SETTLE_MS / 1000:.0f} s (search: {state['search']!r})"
        )
    if state["rawMermaid"] or state["emptyDiagrams"]:
        problems.append(
            f"{state['rawMermaid']} diagram(s) left as mermaid source, "
            f"{state['emptyDiagrams']} drawn empty"
        )
    if state["untypeset"]:
        problems.append(f"{state['untypeset']} of {state['formulas']} formula(s) not typeset")
    problems += [f"raw TeX on screen: {text!r}" for text in state["rawTex"]]
    problems += [f"raw TeX in the navigation: {text!r}" for text in state["navTex"]]
    if state["mathErrors"]:
        problems.append(f"{state['mathErrors']} MathJax error(s)")
    problems += [f"image did not load: {src}" for src in state["brokenImages"]]
    return problems


@pytest.mark.parametrize("path", PAGES, ids=_page_id)
def test_desktop_page_works_offline(desktop_pages, path):
    state = desktop_pages[path]
    problems = _offline_problems(state)
    if state.get("search_results") == 0:
        problems.append(f"search for {SEARCH_QUERY!r} found nothing (search: {state['search']!r})")
    assert not problems, f"/{path} at 1400 px:\n" + "\n".join(problems)


@pytest.mark.parametrize("path", PAGES, ids=_page_id)
def test_desktop_code_and_equations_fit_the_column(desktop_pages, path):
    layout = desktop_pages[path]["measured"]
    problems = [f"code wider than the column: {c}" for c in layout["overflowingCode"]]
    problems += [f"copy button covers a line: {c}" for c in layout["coveredLines"]]
    problems += [f"equation wider than the column: {e}" for e in layout["overflowingEquations"]]
    assert not problems, f"/{path} at 1400 px:\n" + "\n".join(problems)


@pytest.mark.parametrize("path", PAGES, ids=_page_id)
def test_desktop_figure_and_diagram_text_is_legible(desktop_pages, path):
    layout = desktop_pages[path]["measured"]
    problems = [
        f"{f['src']}: text {f['text']!r} is {f['smallest']} px (shown {f['width']} px wide)"
        for f in layout["figures"]
        if f["smallest"] < MIN_TEXT_PX
    ]
    problems += [
        f"{f['src']}: scaled text, not measurable" for f in layout["figures"] if f["scaled"]
    ]
    problems += [
        f"diagram {n + 1}: label {d['text']!r} is {d['smallest']} px"
        for n, d in enumerate(layout["diagrams"])
        if d["smallest"] < MIN_TEXT_PX
    ]
    problems += [
        f"diagram {n + 1} is {d['height']} px tall, more than the {DESKTOP['height']} px screen"
        for n, d in enumerate(layout["diagrams"])
        if d["height"] > DESKTOP["height"]
    ]
    assert not problems, f"/{path} at 1400 px:\n" + "\n".join(problems)


@pytest.mark.parametrize("path", PAGES, ids=_page_id)
def test_phone_page_works_and_reads(phone_pages, path):
    state = phone_pages[path]
    problems = _offline_problems(state)
    if state["pageScrollsSideways"]:
        problems.append("the page scrolls sideways")
    layout = state["measured"]
    problems += [f"equation cut off instead of scrolling: {e}" for e in layout["clippedEquations"]]
    problems += [
        f"{f['src']}: {f['smallest']} px text and no full-size view on a tap"
        for f in layout["figures"]
        if f["smallest"] < MIN_TEXT_PX and not f["lightbox"]
    ]
    assert not problems, f"/{path} at 390 px:\n" + "\n".join(problems)


@pytest.mark.parametrize("path", CHAPTER_PAGES, ids=_page_id)
def test_dark_theme_text_contrast(dark_pages, path):
    state = dark_pages[path]
    problems = _offline_problems(state) + state["measured"]["low"]
    assert not problems, f"/{path}, dark theme:\n" + "\n".join(problems)


def test_the_checks_measured_what_they_claim(desktop_pages, phone_pages, dark_pages):
    """The guide has each kind of content these tests are about: make sure they saw it."""
    figures = [f for state in desktop_pages.values() for f in state["measured"]["figures"]]
    diagrams = [d for state in desktop_pages.values() for d in state["measured"]["diagrams"]]
    assert len(figures) >= 20 and len(diagrams) >= 10, "figures or diagrams went unmeasured"
    assert all("#only-light" in f["src"] for f in figures), "a dark figure shown in light mode"
    assert sum(state["formulas"] for state in desktop_pages.values()) >= 100
    assert [s.get("search_results", 0) > 0 for s in desktop_pages.values()].count(True) >= 2
    contrasts = [state["measured"] for state in dark_pages.values()]
    measured = sum(c["measured"] for c in contrasts)
    assert measured >= 500, f"only {measured} texts had their contrast measured"
    phone_figures = [f for state in phone_pages.values() for f in state["measured"]["figures"]]
    assert phone_figures and all(f["lightbox"] for f in phone_figures)
    smallest = min(f["smallest"] for f in figures + diagrams)
    lowest = min(c["lowest"] for c in contrasts if c["lowest"] is not None)
    print(
        f"\n{len(figures)} figures and {len(diagrams)} diagrams: smallest text {smallest:.1f} px "
        f"at 1400 px; lowest dark-theme contrast {lowest:.2f}:1 over {measured} texts"
    )


def test_a_tap_opens_a_figure_full_size(browser, site_url):
    tab = Tab(browser, site_url, PHONE)
    try:
        tab.visit("04-self-attention/")
        link = tab.page.locator("a.glightbox").first
        href = link.get_attribute("href")
        link.click()
        image = tab.page.locator(".glightbox-container .gslide-image img").first
        image.wait_for(state="visible", timeout=10_000)
        assert image.get_attribute("src") == href
        opened = image.evaluate("img => img.complete && img.naturalWidth > 0")
    finally:
        tab.close()
    assert opened, f"the lightbox did not show {href}"
    assert not tab.problems, "\n".join(tab.problems)


def test_instant_navigation_renders_diagrams_and_math(browser, site_url, built_site):
    """Material swaps pages without reloading: a page reached that way must be complete too.

    From a notebook (no diagram, so mermaid is not loaded yet) to a chapter with a diagram
    and formulas, and on to another.
    """
    if not site_url.endswith(f":{built_site.port}/"):
        pytest.skip("the site could not be served at its site_url, so instant nav is off")
    tab = Tab(browser, site_url, DESKTOP)
    try:
        tab.visit(next(p for p in PAGES if p.startswith("notebooks/")))
        tab.page.evaluate("window.__sameDocument = true")
        states = []
        for target in ("04-self-attention/", "08-layer-normalization/"):
            # The address changes before the new page's content replaces the old one: mark
            # the old article and wait for an unmarked one.
            tab.page.evaluate("document.querySelector('article').dataset.left = 'yes'")
            tab.page.click(f'nav.md-nav--primary a[href$="/{target}"]')
            tab.page.wait_for_url(f"**/{target}", timeout=SETTLE_MS)
            tab.page.wait_for_function(
                "() => !document.querySelector('article[data-left]')"
                " && document.querySelectorAll('.arithmatex').length > 0",
                timeout=SETTLE_MS,
            )
            settled = tab.page.evaluate(f"() => minigptChecks.settle({SETTLE_MS})")
            state = tab.page.evaluate("() => minigptChecks.state()")
            state.update(settled=settled, problems=tab.problems)
            states.append((target, state))
        instant = tab.page.evaluate("window.__sameDocument === true")
    finally:
        tab.close()
    assert instant, "the click reloaded the page: Material's instant navigation is not active"
    for target, state in states:
        problems = _offline_problems(state)
        assert state["diagrams"] >= 1, f"{target}: no diagram"
        assert not problems, f"/{target} after instant navigation:\n" + "\n".join(problems)
