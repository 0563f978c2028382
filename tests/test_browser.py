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
* phone, 390 × 844 (touch): the same offline checks; the page never scrolls sideways, no
  display equation is wider than the column, no copy button over a line of code, no diagram
  label below 10 CSS px, and no figure's text (of the variant the page chose for the phone)
  below 9 CSS px;
* desktop, dark theme, the pages with figures and diagrams: their text keeps 4.5:1 contrast
  against what is behind it (text over a raster image, such as a heatmap cell, is skipped).

A page that cannot be measured (it times out, or the browser fails) is that page's failure
alone: the pass goes on with the next page in a fresh tab. The test waits for pages from
Python and never awaits a long-lived promise inside the page (see tests/browser_checks.js).

Then the search (chapter sections come before the notebook worksheets), the 404 page, a tap on
a figure, and instant navigation. The measuring code runs in the page:
tests/browser_checks.js. MINIGPT_SCREENSHOT_DIR=DIR also saves a screenshot of every page in
every pass there (full-page; the phone at device scale 2).

Skipped, with the reason, when Chromium or Playwright's Python package is missing (the site
build itself needs npm: see docs/hooks/vendor.py). Playwright drives the system Chromium and
downloads nothing.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from .conftest import DOCS_DIR

try:
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
except ImportError:  # the browser fixture skips every test that would need them
    PlaywrightError = PlaywrightTimeout = Exception

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHECKS_JS = Path(__file__).with_name("browser_checks.js").read_text(encoding="utf-8")
SETTLE_MS = 20_000  # longest wait for a page's diagrams, formulas, figures and search index
MIN_TEXT_PX = 11  # smallest text a figure or diagram may show at the desktop width
MIN_PHONE_FIGURE_PX = 9  # smallest text a figure may show on a phone
MIN_PHONE_DIAGRAM_PX = 10  # smallest label a diagram may show on a phone
MIN_CONTRAST = 4.5
DESKTOP = {"width": 1400, "height": 900}
PHONE = {"width": 390, "height": 844}
SEARCH_QUERY = "attention"
# Queries whose best answer is a chapter's explanation, not a notebook's exercise.
CHAPTER_QUERIES = ["layer norm", "GELU", "LayerNorm", "causal mask", "softmax"]


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
    """Serves the site as GitHub Pages does: a missing path gets the site's 404.html."""

    def log_message(self, *args) -> None:
        pass

    def send_error(self, code, message=None, explain=None) -> None:
        page = Path(self.directory) / "404.html"
        if code != 404 or not page.is_file():
            super().send_error(code, message, explain)
            return
        body = page.read_bytes()
        self.send_response(404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


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
        options: dict = {"viewport": viewport, "color_scheme": color_scheme}
        if viewport["width"] < 600:  # a phone: touch, and its screen's pixel density
            scale = 2 if _screenshot_dir() else 1  # the layout is the same; screenshots sharper
            options.update(is_mobile=True, has_touch=True, device_scale_factor=scale)
        self.context = browser.new_context(**options)
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
        """Open a page (by instant navigation from the page shown, when asked and Material takes
        the click; else in full), wait for it to settle, and return its state and what went
        wrong."""
        self.problems = []
        url = self.site_url + path
        if not (instant and self.page.evaluate("(url) => minigptChecks.click(url)", url)):
            self.page.goto(url, wait_until="domcontentloaded")
        self.page.wait_for_function(
            "(url) => minigptChecks.shown(url)", arg=url, timeout=SETTLE_MS, polling=50
        )
        settled = True
        try:
            self.page.wait_for_function(
                "() => minigptChecks.ready()", timeout=SETTLE_MS, polling=50
            )
        except PlaywrightTimeout:
            settled = False
        state = self.page.evaluate("() => minigptChecks.state()")
        state["settled"] = settled
        state["problems"] = self.problems
        return state

    def screenshot(self, folder: Path | None, name: str) -> None:
        if folder is not None:
            self.page.screenshot(path=str(folder / f"{name}.png"), full_page=True)

    def close(self) -> None:
        self.context.close()


def _screenshot_dir() -> Path | None:
    chosen = os.environ.get("MINIGPT_SCREENSHOT_DIR")
    if not chosen:
        return None
    path = Path(chosen)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _search(page, query: str = SEARCH_QUERY) -> list[dict]:
    """Type a query into the header's search box, key by key: the results listed, in order,
    once the list has stopped changing (each href and its text)."""
    field = page.locator(".md-search__input")
    if not field.is_visible():  # on a phone the header shows a search button instead
        page.locator('.md-header label[for="__search"]').click()
    field.click()
    page.keyboard.press("Control+A")
    page.keyboard.press("Backspace")
    page.keyboard.type(query)
    try:
        page.wait_for_function(
            "(query) => minigptChecks.searchSettled(query)", arg=query, timeout=10_000, polling=100
        )
    except PlaywrightTimeout:
        return []
    results = page.evaluate("() => minigptChecks.searchResults()")
    page.keyboard.press("Escape")
    return results


def _visit_all(
    browser,
    site_url: str,
    viewport: dict,
    paths: list[str],
    measure: str,
    prefix: str,
    color_scheme: str = "light",
    finish: Callable[[Tab], dict] | None = None,
) -> dict[str, dict]:
    """Every page of `paths`, the first loaded in full and the rest by instant navigation.

    A page that cannot be measured gets {"error": ...}, and the next one starts in a new tab.
    `finish(tab)`, on the last page, adds to that page's state.
    """
    shots = _screenshot_dir()
    results: dict[str, dict] = {}
    tab = None
    for path in paths:
        instant = tab is not None
        try:
            if tab is None:
                tab = Tab(browser, site_url, viewport, color_scheme)
            state = tab.visit(path, instant=instant)
            state["measured"] = tab.page.evaluate(f"() => minigptChecks.{measure}()")
            tab.screenshot(shots, f"{prefix}-{_page_id(path)}")
        except PlaywrightError as error:
            state = {"error": f"{type(error).__name__}: {error}".splitlines()[0]}
            if tab is not None:
                tab.close()
            tab = None
        results[path] = state
    if tab is None:
        return results
    try:
        if finish is not None:
            results[paths[-1]].update(finish(tab))
    except PlaywrightError as error:
        results[paths[-1]]["error"] = f"{type(error).__name__}: {error}".splitlines()[0]
    finally:
        tab.close()
    return results


@pytest.fixture(scope="session")
def desktop_pages(browser, site_url) -> dict[str, dict]:
    """Every page at 1400 px, light theme, from a notebook on: state and layout measurements."""
    notebooks = [p for p in PAGES if p.startswith("notebooks/")]
    order = notebooks[-1:] + [p for p in PAGES if p not in notebooks[-1:]]
    results = _visit_all(  # the search still answers at the end
        browser,
        site_url,
        DESKTOP,
        order,
        "desktop",
        "desktop",
        finish=lambda tab: {"search_results": len(_search(tab.page))},
    )
    if "error" not in results[order[0]]:  # and after a full load
        tab = Tab(browser, site_url, DESKTOP)
        try:
            tab.visit(order[0])
            results[order[0]]["search_results"] = len(_search(tab.page))
        except PlaywrightError as error:
            results[order[0]]["error"] = f"{type(error).__name__}: {error}".splitlines()[0]
        finally:
            tab.close()
    return results


@pytest.fixture(scope="session")
def phone_pages(browser, site_url) -> dict[str, dict]:
    """Every page at 390 px (a phone): its state and what a narrow screen must get right."""
    return _visit_all(browser, site_url, PHONE, PAGES, "phone", "phone")


@pytest.fixture(scope="session")
def dark_pages(browser, site_url) -> dict[str, dict]:
    """The pages with figures or diagrams at 1400 px in the dark theme: text contrast."""
    return _visit_all(browser, site_url, DESKTOP, CHAPTER_PAGES, "contrast", "dark", "dark")


def _measured(pages: dict[str, dict], path: str) -> dict:
    """A page's state from a pass; the page's test fails if it could not be measured."""
    state = pages[path]
    if "error" in state:
        pytest.fail(f"/{path} could not be measured: {state['error']}", pytrace=False)
    return state


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
    state = _measured(desktop_pages, path)
    problems = _offline_problems(state)
    if state.get("search_results") == 0:
        problems.append(f"search for {SEARCH_QUERY!r} found nothing (search: {state['search']!r})")
    assert not problems, f"/{path} at 1400 px:\n" + "\n".join(problems)


@pytest.mark.parametrize("path", PAGES, ids=_page_id)
def test_desktop_code_and_equations_fit_the_column(desktop_pages, path):
    layout = _measured(desktop_pages, path)["measured"]
    problems = [f"code wider than the column: {c}" for c in layout["overflowingCode"]]
    problems += [f"copy button covers a line: {c}" for c in layout["coveredLines"]]
    problems += [f"equation wider than the column: {e}" for e in layout["overflowingEquations"]]
    assert not problems, f"/{path} at 1400 px:\n" + "\n".join(problems)


def _small_figure_text(figures: list[dict], minimum: float) -> list[str]:
    return [
        f"{f['shown']}: text {f['text']!r} is {f['smallest']} px (shown {f['width']} px wide)"
        for f in figures
        if f["smallest"] < minimum
    ]


def _small_diagram_labels(diagrams: list[dict], minimum: float) -> list[str]:
    return [
        f"diagram {n + 1}: label {d['text']!r} is {d['smallest']} px"
        for n, d in enumerate(diagrams)
        if d["smallest"] < minimum
    ]


@pytest.mark.parametrize("path", PAGES, ids=_page_id)
def test_desktop_figure_and_diagram_text_is_legible(desktop_pages, path):
    layout = _measured(desktop_pages, path)["measured"]
    problems = _small_figure_text(layout["figures"], MIN_TEXT_PX)
    problems += [
        f"{f['src']}: scaled text, not measurable" for f in layout["figures"] if f["scaled"]
    ]
    problems += _small_diagram_labels(layout["diagrams"], MIN_TEXT_PX)
    problems += [
        f"diagram {n + 1} is {d['height']} px tall, more than the {DESKTOP['height']} px screen"
        for n, d in enumerate(layout["diagrams"])
        if d["height"] > DESKTOP["height"]
    ]
    assert not problems, f"/{path} at 1400 px:\n" + "\n".join(problems)


@pytest.mark.parametrize("path", PAGES, ids=_page_id)
def test_phone_page_reads_without_zooming(phone_pages, path):
    """At 390 px: offline as on the desktop, nothing wider than the screen, maths broken into
    lines that fit the column, no code under its copy button (code lines are wider than a
    phone and scroll), and diagram labels of 10 px or more."""
    state = _measured(phone_pages, path)
    problems = _offline_problems(state)
    if state["pageScrollsSideways"]:
        problems.append("the page scrolls sideways")
    layout = state["measured"]
    problems += [f"equation wider than the column: {e}" for e in layout["overflowingEquations"]]
    problems += [f"copy button covers a line: {c}" for c in layout["coveredLines"]]
    problems += _small_diagram_labels(layout["diagrams"], MIN_PHONE_DIAGRAM_PX)
    assert not problems, f"/{path} at 390 px:\n" + "\n".join(problems)


@pytest.mark.parametrize("path", PAGES, ids=_page_id)
def test_phone_figure_text_is_legible(phone_pages, path):
    """At 390 px every figure's smallest text, in the variant the page shows there, is 9 px or
    more: font size in the SVG × the width it is shown at / its viewBox width."""
    figures = _measured(phone_pages, path)["measured"]["figures"]
    problems = _small_figure_text(figures, MIN_PHONE_FIGURE_PX)
    assert not problems, f"/{path} at 390 px:\n" + "\n".join(problems)


@pytest.mark.parametrize("path", CHAPTER_PAGES, ids=_page_id)
def test_dark_theme_text_contrast(dark_pages, path):
    state = _measured(dark_pages, path)
    problems = _offline_problems(state) + state["measured"]["low"]
    assert not problems, f"/{path}, dark theme:\n" + "\n".join(problems)


def test_the_checks_measured_what_they_claim(desktop_pages, phone_pages, dark_pages):
    """The guide has each kind of content these tests are about: make sure they saw it."""
    desktop = [s for s in desktop_pages.values() if "error" not in s]
    phone = [s for s in phone_pages.values() if "error" not in s]
    dark = [s for s in dark_pages.values() if "error" not in s]
    figures = [f for state in desktop for f in state["measured"]["figures"]]
    diagrams = [d for state in desktop for d in state["measured"]["diagrams"]]
    assert len(figures) >= 20 and len(diagrams) >= 10, "figures or diagrams went unmeasured"
    assert all("#only-light" in f["src"] for f in figures), "a dark figure shown in light mode"
    assert sum(state["formulas"] for state in desktop) >= 100
    assert [s.get("search_results", 0) > 0 for s in desktop].count(True) >= 2
    contrasts = [state["measured"] for state in dark]
    measured = sum(c["measured"] for c in contrasts)
    assert measured >= 500, f"only {measured} texts had their contrast measured"
    phone_figures = [f for state in phone for f in state["measured"]["figures"]]
    phone_diagrams = [d for state in phone for d in state["measured"]["diagrams"]]
    assert len(phone_figures) >= 20 and len(phone_diagrams) >= 10, "unmeasured on the phone"
    assert sum(state["formulas"] for state in phone) >= 100
    assert all(f["lightbox"] for f in phone_figures), "a figure that does not open on a tap"
    smallest = min(f["smallest"] for f in figures + diagrams)
    lowest = min(c["lowest"] for c in contrasts if c["lowest"] is not None)
    print(
        f"\n{len(figures)} figures and {len(diagrams)} diagrams: smallest text {smallest:.1f} px "
        f"at 1400 px; lowest dark-theme contrast {lowest:.2f}:1 over {measured} texts; "
        f"on the phone, smallest figure text "
        f"{min(f['smallest'] for f in phone_figures):.1f} px, smallest diagram label "
        f"{min(d['smallest'] for d in phone_diagrams):.1f} px"
    )


@pytest.fixture(scope="session")
def search_results(browser, site_url) -> dict[str, list[dict] | str]:
    """Each of CHAPTER_QUERIES typed into the search box of a chapter page on a desktop: the
    results in the order listed (or, where the search failed, why)."""
    tab = Tab(browser, site_url, DESKTOP)
    results: dict[str, list[dict] | str] = {}
    try:
        tab.visit("01-tokenization/")
        for query in CHAPTER_QUERIES:
            try:
                results[query] = _search(tab.page, query)
            except PlaywrightError as error:
                results[query] = f"{type(error).__name__}: {error}".splitlines()[0]
    finally:
        tab.close()
    return results


@pytest.mark.parametrize("query", CHAPTER_QUERIES)
def test_search_lists_chapter_sections_before_notebooks(search_results, query):
    results = search_results[query]
    assert isinstance(results, list), f"search for {query!r} failed: {results}"
    assert results, f"search for {query!r} found nothing"
    pages = [urlsplit(r["href"]).path for r in results]
    assert not pages[0].startswith("/notebooks/"), (
        f"search for {query!r} lists a notebook first: {pages[:5]}"
    )
    assert not any("Copied!" in r["text"] for r in results), "copy-button text in the results"


def test_the_search_index_holds_no_notebook_code(built_site):
    """Notebook code cells (stubs, check calls) and their copy buttons stay out of the index,
    while the notebooks' own explanations are in it, ranked below the chapters."""
    index = json.loads((built_site.dir / "search" / "search_index.json").read_text("utf-8"))
    notebooks = [d for d in index["docs"] if d["location"].startswith("notebooks/")]
    assert notebooks, "no notebook section in the search index"
    assert not [d["location"] for d in index["docs"] if "Copied!" in d["text"]]
    assert not [d["location"] for d in notebooks if "<pre>" in d["text"]], "notebook code"
    assert all(0 < d.get("boost", 1) < 1 for d in notebooks)


def test_a_missing_page_offers_the_way_on(browser, site_url):
    """The 404 page, at any depth: the site's header with its search, the navigation, and a
    link to the introduction that leads there."""
    tab = Tab(browser, site_url, PHONE)
    try:
        response = tab.page.goto(site_url + "no/such/page/", wait_until="domcontentloaded")
        tab.page.wait_for_function(
            "() => minigptChecks.shown(location.href.split('#')[0])", timeout=SETTLE_MS
        )
        tab.page.wait_for_function("() => minigptChecks.ready()", timeout=SETTLE_MS)
        page = tab.page
        heading = page.locator("article h1").inner_text()
        pages = page.locator("article ul a").evaluate_all("links => links.map(a => a.href)")
        page.get_by_text("Search the guide").click()
        found = len(_search(page))
        page.get_by_role("link", name="Start at the introduction").click()
        page.wait_for_url(site_url, timeout=SETTLE_MS)
        title = page.title()
    finally:
        tab.close()
    assert response.status == 404
    assert heading == "Page not found"
    assert set(pages) >= {site_url + p for p in PAGES}, "the 404 page misses pages of the guide"
    assert found > 0, f"search from the 404 page found nothing for {SEARCH_QUERY!r}"
    assert title.startswith("MiniGPT"), title
    expected = {  # the missing page itself; any other 404 is listed with its address
        f"HTTP 404: {site_url}no/such/page/",
        "console: Failed to load resource: the server responded with a status of 404 (Not Found)",
    }
    assert [p for p in tab.problems if p not in expected] == []


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
            settled = True
            try:
                tab.page.wait_for_function("() => minigptChecks.ready()", timeout=SETTLE_MS)
            except PlaywrightTimeout:
                settled = False
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
