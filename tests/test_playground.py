"""The playground in headless Chromium: the published model, run by the page, equals PyTorch.

The built site (the session's `built_site`) is served on 127.0.0.1; every request to another
origin is blocked and fails the test. The page's JavaScript API (`window.minigpt`) is checked
against the same weights in PyTorch: next-token logits within 1e-4, a 100-token greedy
continuation equal to `minigpt sample --temperature 0`, attention rows that sum to 1 and are 0
above the diagonal. Then the page itself: streaming, stop, and the messages for bad input, for
a browser without WebAssembly and for one without JavaScript.

Playwright's sync API allows one instance per thread and tests/test_browser.py keeps one open
for the session, so this module drives its own browser from a thread of its own.

Skipped, with the reason, when Chromium or Playwright's Python package is missing.
"""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import threading
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import torch

import minigpt
from minigpt.cli import main
from minigpt.generation import prompt_ids
from minigpt.runs import RUNS_DIR

RUN = RUNS_DIR / "shakespeare-char-cpu"
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
TIMEOUT_MS = 60_000
PROMPTS = [
    "ROMEO:",
    "To be, or not to be, that is the question:",
    "a",
    "",  # starts from a line break, as minigpt sample does
    "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n",
]


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def _serve(site: Path, port: int) -> tuple[str, Callable[[], None]]:
    """The site on `port` (its site_url, for instant navigation) or, when that port is taken,
    by the same site (test_browser.py serves it there) or on any free port."""
    handler = functools.partial(_Quiet, directory=str(site))
    try:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    except OSError:
        url = f"http://127.0.0.1:{port}/"
        try:
            with urllib.request.urlopen(url + "assets/playground/model.json", timeout=10) as r:
                if r.read() == (site / "assets/playground/model.json").read_bytes():
                    return url, lambda: None
        except OSError:
            pass
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    def stop() -> None:
        server.shutdown()
        server.server_close()

    return f"http://127.0.0.1:{server.server_address[1]}/", stop


class BrowserThread:
    """Chromium driven from one thread of its own.

    `run(fn)` calls `fn(open_page)` in that thread; `open_page(path)` opens a page in the
    module's browser context (shared, so the runtime's WebAssembly is compiled once), or in a
    context of its own when given options such as `java_script_enabled=False`. `evaluate(js,
    arg)` runs `js` on one playground page kept open for the module.
    """

    def __init__(self, chromium: str, base_url: str, site: Path) -> None:
        self.base_url = base_url
        self.site = site
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="playground-browser")
        self.pool.submit(self._start, chromium).result()

    def _start(self, chromium: str) -> None:
        from playwright.sync_api import sync_playwright

        self.playwright = sync_playwright().start()
        self.browser = self.playwright.chromium.launch(
            executable_path=chromium,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        self.problems: list[str] = []
        self.context = self._new_context()
        self.playground = None
        self.opened: list[Any] = []

    def _new_context(self, init_script: str | None = None, **options: Any):
        context = self.browser.new_context(viewport={"width": 1280, "height": 900}, **options)
        if init_script:
            context.add_init_script(init_script)
        local = urlsplit(self.base_url).netloc

        def route(route) -> None:
            url = route.request.url
            if urlsplit(url).netloc == local or url.startswith(("data:", "blob:")):
                route.continue_()
            else:
                self.problems.append(f"request outside the site: {url}")
                route.abort()

        context.route("**/*", route)
        context.set_default_timeout(TIMEOUT_MS)
        return context

    def _open(self, path: str, **options: Any):
        context = self.context
        if options:
            context = self._new_context(**options)
            self.opened.append(context)
        page = context.new_page()
        if not options:
            self.opened.append(page)
        problems = self.problems
        page.on("pageerror", lambda error: problems.append(f"JavaScript error: {error}"))
        page.on("console", lambda m: m.type == "error" and problems.append(f"console: {m.text}"))
        page.goto(self.base_url + path)
        return page

    def _call(self, fn: Callable[..., Any]) -> tuple[Any, list[str]]:
        self.problems.clear()
        try:
            return fn(self._open), list(self.problems)
        finally:
            for opened in self.opened:
                opened.close()
            self.opened.clear()

    def run(self, fn: Callable[..., Any]) -> Any:
        """fn(open_page)'s result; fails on any error or outside request meanwhile."""
        result, problems = self.pool.submit(self._call, fn).result()
        assert not problems, "\n".join(problems)
        return result

    def _on_playground(self, fn: Callable[..., Any]) -> tuple[Any, list[str]]:
        self.problems.clear()
        if self.playground is None:
            self.playground = self.context.new_page()
            problems = self.problems
            self.playground.on("pageerror", lambda error: problems.append(f"error: {error}"))
            self.playground.on(
                "console", lambda m: m.type == "error" and problems.append(f"console: {m.text}")
            )
            self.playground.goto(self.base_url + "playground/")
            self.playground.evaluate("() => minigpt.ready")
        return fn(self.playground), list(self.problems)

    def on_playground(self, fn: Callable[..., Any]) -> Any:
        """fn(page) on the playground page the module keeps open (and ready)."""
        result, problems = self.pool.submit(self._on_playground, fn).result()
        assert not problems, "\n".join(problems)
        return result

    def evaluate(self, js: str, arg: Any = None) -> Any:
        return self.on_playground(lambda page: page.evaluate(js, arg))

    def close(self) -> None:
        def stop() -> None:
            self.browser.close()
            self.playwright.stop()

        self.pool.submit(stop).result()
        self.pool.shutdown()


@pytest.fixture(scope="module")
def browser(built_site):
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("Playwright's Python package is not installed (pip install playwright)")
    chromium = next(filter(None, map(shutil.which, CHROMIUM_NAMES)), None)
    if chromium is None:
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    base_url, stop_server = _serve(built_site.dir, built_site.port)
    instance = BrowserThread(chromium, base_url, built_site.dir)
    yield instance
    instance.close()
    stop_server()


@pytest.fixture(scope="module")
def published():
    model, tokenizer = minigpt.load_model(RUN)
    return model, tokenizer


def _reference_logits(model, tokenizer, text: str) -> torch.Tensor:
    ids = torch.tensor([prompt_ids(tokenizer, text)[-model.config.block_size :]])
    with torch.no_grad():
        return model(ids)[0][0, -1]


def test_the_page_loads_the_published_model_offline(browser):
    summary = json.loads((RUN / "run.json").read_text(encoding="utf-8"))

    def check(page):
        info = page.evaluate("() => minigpt.ready")
        return info, page.inner_text(".minigpt-playground__status")

    info, status = browser.on_playground(check)  # no outside request, no error
    assert info["run"] == "shakespeare-char-cpu"
    assert info["vocab_size"] == summary["model_config"]["vocab_size"] == 65
    assert info["block_size"] == summary["model_config"]["block_size"] == 64
    assert info["step"] == summary["steps"]
    assert "0.81 M parameters, 4 layers × 4 heads" in status


def test_the_pages_logits_equal_pytorchs(browser, published):
    model, tokenizer = published
    logits = browser.evaluate("texts => Promise.all(texts.map(minigpt.logits))", PROMPTS)
    for text, values in zip(PROMPTS, logits):
        expected = _reference_logits(model, tokenizer, text)
        assert len(values) == model.config.vocab_size
        torch.testing.assert_close(torch.tensor(values), expected, atol=1e-4, rtol=0)


def test_a_greedy_continuation_equals_minigpt_sample(browser, capsys):
    code = main(
        ["sample", "--checkpoint", str(RUN), "--prompt", "ROMEO:", "--temperature", "0"]
        + ["--max-new-tokens", "100", "--device", "cpu"]
    )
    assert code == 0
    expected = capsys.readouterr().out
    text = browser.evaluate("() => minigpt.generate('ROMEO:', {maxNewTokens: 100, temperature: 0})")
    assert len(text) == 100  # past block_size, where every step recomputes the last 64 tokens
    assert "ROMEO:" + text + "\n" == expected


def test_attention_rows_sum_to_one_and_see_no_later_token(browser, published):
    model, tokenizer = published
    texts = ["To be, or not to be", PROMPTS[-1]]  # the second is longer than block_size
    results = browser.evaluate("texts => Promise.all(texts.map(minigpt.attention))", texts)
    for text, result in zip(texts, results):
        ids = tokenizer.encode(text)[-model.config.block_size :]
        assert result["tokens"] == [tokenizer.chars[i] for i in ids]
        weights = torch.tensor(result["weights"])  # [layer][head][query][key]
        n = len(ids)
        assert weights.shape == (4, 4, n, n)
        torch.testing.assert_close(weights.sum(-1), torch.ones(4, 4, n), atol=1e-5, rtol=0)
        assert torch.equal(weights.triu(1), torch.zeros_like(weights))
        expected = model.attention_maps(torch.tensor([ids]))[:, 0]
        torch.testing.assert_close(weights, expected, atol=1e-5, rtol=0)


def test_the_api_rejects_bad_input_with_the_packages_messages(browser):
    errors = browser.evaluate(
        """() => Promise.all([
          minigpt.generate('Héllo'), minigpt.logits('naïve'),
          minigpt.generate('a', {topK: 0}), minigpt.generate('a', {temperature: -1}),
          minigpt.generate('a', {topP: 1.5}), minigpt.generate('a', {maxNewTokens: -1}),
        ].map(p => p.then(() => 'no error', e => e.message)))"""
    )
    assert errors == [
        "character 'é' (U+00E9) at position 1 is not in the tokenizer's vocabulary of 65 "
        "characters",
        "character 'ï' (U+00EF) at position 2 is not in the tokenizer's vocabulary of 65 "
        "characters",
        "topK must be a positive integer or null, got 0",
        "temperature must be >= 0 (0 means greedy), got -1",
        "topP must be in (0, 1] or null, got 1.5",
        "maxNewTokens must be an integer >= 0, got -1",
    ]
    seeded = browser.evaluate(
        "() => Promise.all([1, 2].map(() => minigpt.generate('JULIET:', "
        "{maxNewTokens: 40, temperature: 0.8, topK: 20, topP: 0.9, seed: 3})))"
    )
    assert seeded[0] == seeded[1] and len(seeded[0]) == 40  # a seed repeats the text


def test_the_sites_onnx_graph_equals_pytorch_in_onnx_runtime(built_site, published):
    """The graph the site serves, run by ONNX Runtime in Python."""
    ort = pytest.importorskip("onnxruntime")
    model, tokenizer = published
    manifest = json.loads((built_site.dir / "assets/playground/model.json").read_text("utf-8"))
    session = ort.InferenceSession(str(built_site.dir / "assets/playground" / manifest["onnx"]))
    c = model.config
    empty = torch.zeros(c.num_layers, 1, c.num_heads, 0, c.head_dim).numpy()
    for text in PROMPTS:
        ids = torch.tensor([prompt_ids(tokenizer, text)[-c.block_size :]])
        logits, _, _, attention = session.run(
            None, {"ids": ids.numpy(), "past_keys": empty, "past_values": empty}
        )
        expected = _reference_logits(model, tokenizer, text)
        torch.testing.assert_close(torch.from_numpy(logits)[0, -1], expected, atol=1e-5, rtol=0)
        torch.testing.assert_close(
            torch.from_numpy(attention), model.attention_maps(ids)[:, 0], atol=1e-5, rtol=0
        )


def test_the_page_streams_shows_probabilities_and_stops(browser):
    def check(page):
        greedy = page.evaluate(
            "() => minigpt.generate('ROMEO:', {maxNewTokens: 30, temperature: 0})"
        )
        page.fill("input[name=maxNewTokens]", "30")
        page.fill("input[name=temperature]", "0")
        page.get_by_role("button", name="Generate").click()
        page.wait_for_function(
            "() => document.querySelector('.minigpt-playground__output').dataset.tokensPerSecond"
        )
        shown = page.inner_text(".minigpt-playground__output")
        bars = page.locator(".minigpt-playground__bars li").count()
        page.click(".minigpt-playground__output [data-step='3']")
        caption = page.inner_text(".minigpt-playground__bars + .minigpt-playground__caption")
        chosen = page.inner_text(".minigpt-playground__chosen code")
        # A long sampled generation, stopped once a few tokens are out.
        page.fill("input[name=maxNewTokens]", "2000")
        page.fill("input[name=temperature]", "0.8")
        page.get_by_role("button", name="Generate").click()
        page.wait_for_function(
            "() => document.querySelectorAll('.minigpt-playground__output [data-step]').length >= 5"
        )
        page.get_by_role("button", name="Stop").click()
        page.wait_for_function(
            "() => document.querySelector('.minigpt-playground__output').dataset.tokensPerSecond"
        )
        stopped = page.locator(".minigpt-playground__output [data-step]").count()
        return greedy, shown, bars, caption, chosen, stopped

    greedy, shown, bars, caption, chosen, stopped = browser.on_playground(check)
    assert shown == "ROMEO:" + greedy
    assert bars == 10
    assert caption.startswith("Step 3: greedy decoding takes the most likely one")
    assert chosen.replace("␣", " ").replace("↵", "\n") == greedy[3]
    assert 5 <= stopped < 2000


def test_the_page_explains_bad_input(browser):
    def check(page):
        messages = {}
        for name, text in {"vocabulary": "Héllo", "empty": "", "long": "abcdefghij" * 7}.items():
            before = page.inner_text(".minigpt-playground__message")
            page.fill(".minigpt-playground__prompt", text)
            page.wait_for_function(
                "before => document.querySelector('.minigpt-playground__message')"
                ".textContent !== before",
                arg=before,
            )
            messages[name] = (
                page.inner_text(".minigpt-playground__message"),
                page.get_by_role("button", name="Generate").is_disabled(),
                page.locator(".minigpt-playground__token--bad").count(),
                page.locator(".minigpt-playground__token--unseen").count(),
            )
        page.fill("input[name=temperature]", "-1")
        messages["temperature"] = page.inner_text(".minigpt-playground__controls + [role=alert]")
        page.fill("input[name=temperature]", "0.8")
        page.fill(".minigpt-playground__prompt", "ROMEO:")
        return messages

    messages = browser.on_playground(check)
    text, disabled, bad, _ = messages["vocabulary"]
    assert text == (
        "character 'é' (U+00E9) at position 1 is not in the tokenizer's vocabulary of 65 "
        "characters. Remove it or use another character."
    )
    assert disabled and bad == 1
    text, disabled, _, _ = messages["empty"]
    assert text == (
        "The prompt is empty: generation starts from a line break, as minigpt sample does."
    )
    assert not disabled
    text, disabled, _, unseen = messages["long"]
    assert text == (
        "The prompt has 70 tokens; the model sees only the last 64 (its block_size), so the "
        "first 6 are greyed out."
    )
    assert unseen == 6 and not disabled
    assert messages["temperature"] == (
        "temperature must be 0 or more (0 always takes the most likely token); not -1."
    )


def test_the_forms_messages_speak_its_labels(browser):
    """The form says what is wrong in its own words, and Generate does nothing meanwhile."""
    values = {
        "maxNewTokens": "-5",
        "temperature": "",
        "topK": "0",
        "topP": "1.5",
        "seed": "2.5",
    }

    def check(page):
        messages = {}
        shown = page.inner_text(".minigpt-playground__output")
        for name, value in values.items():
            field = f"input[name={name}]"
            good = page.input_value(field)
            page.fill(field, value)
            messages[name] = page.inner_text(".minigpt-playground__controls + [role=alert]")
            page.get_by_role("button", name="Generate").click()
            messages[name] += " | " + page.inner_text(".minigpt-playground__output")
            page.fill(field, good)
        cleared = page.inner_text(".minigpt-playground__controls + [role=alert]")
        return messages, shown, cleared

    messages, shown, cleared = browser.on_playground(check)
    assert messages == {
        name: f"{text} | {shown}"
        for name, text in {
            "maxNewTokens": "max new tokens must be a whole number, 0 or more; not -5.",
            "temperature": (
                "temperature must be 0 or more (0 always takes the most likely token); it is empty."
            ),
            "topK": "top-k must be a whole number, 1 or more, or empty (off); not 0.",
            "topP": "top-p must be more than 0 and at most 1, or empty (off); not 1.5.",
            "seed": "seed must be a whole number, or empty (a random one); not 2.5.",
        }.items()
    }
    assert cleared == ""


def _generate(page, prompt: str, tokens: int) -> None:
    """Greedy generation from the form, to its end."""
    page.fill(".minigpt-playground__prompt", prompt)
    page.fill("input[name=maxNewTokens]", str(tokens))
    page.fill("input[name=temperature]", "0")
    page.get_by_role("button", name="Generate").click()
    page.wait_for_function(
        "() => document.querySelector('.minigpt-playground__output').dataset.tokensPerSecond"
    )


def _panel(page) -> tuple[str, str, str, int]:
    """The text shown, its caption, the probability panel's caption and its number of bars."""
    return (
        page.inner_text(".minigpt-playground__output"),
        page.inner_text(".minigpt-playground__output + .minigpt-playground__caption"),
        page.inner_text(".minigpt-playground__bars + .minigpt-playground__caption"),
        page.locator(".minigpt-playground__bars li").count(),
    )


def test_editing_the_prompt_clears_the_old_generation(browser):
    def check(page):
        _generate(page, "ROMEO:", 20)
        before = _panel(page)
        page.click(".minigpt-playground__prompt")
        page.keyboard.press("End")
        page.keyboard.type(" JULIET")
        page.wait_for_function(
            "() => document.querySelector('.minigpt-playground__bars')"
            ".nextElementSibling.textContent.startsWith('After the prompt')"
        )
        return before, _panel(page)

    before, after = browser.on_playground(check)
    assert before[0].startswith("ROMEO:") and len(before[0]) == 26 and before[3] == 10
    assert after == ("", "", "After the prompt, at temperature 1.", 10)


def test_the_probabilities_follow_the_text_shown(browser):
    """Generate clicked right after typing: the prompt's probabilities, computed once the
    typing pauses (150 ms), do not replace those of the text generated meanwhile (one token:
    done well within those 150 ms)."""

    def check(page):
        page.fill("input[name=maxNewTokens]", "1")
        page.fill("input[name=temperature]", "0")
        page.click(".minigpt-playground__prompt")
        page.keyboard.press("Control+A")
        page.keyboard.type("JULIET:")
        page.get_by_role("button", name="Generate").click()  # before the prompt's update
        page.wait_for_function(
            "() => document.querySelector('.minigpt-playground__output').dataset.tokensPerSecond"
        )
        # The prompt's update starts once the typing pauses: its tokens are shown at once, and
        # its probabilities asked for. The model answers one call at a time, in order: once
        # this later call is answered, so is the prompt's.
        page.wait_for_function(
            "() => [...document.querySelectorAll('.minigpt-playground__char')]"
            ".map((c) => c.textContent).join('') === 'JULIET:'"
        )
        page.evaluate("() => minigpt.logits('JULIET:')")
        page.evaluate("() => new Promise((resolve) => setTimeout(resolve))")
        return _panel(page)

    text, caption, bars_caption, bars = browser.on_playground(check)
    assert text.startswith("JULIET:") and len(text) == 8 and caption.startswith("1 new tokens")
    assert (
        bars_caption
        == "Step 0: greedy decoding takes the most likely one; the chosen token is marked."
    )
    assert bars == 10


def test_the_page_lists_the_vocabulary_it_accepts(browser, published):
    """What the page says the tokenizer knows comes from the tokenizer itself."""
    _, tokenizer = published
    chars = tokenizer.chars
    caption = browser.on_playground(
        lambda page: page.inner_text(".minigpt-playground__tokens + .minigpt-playground__caption")
    )
    letters = {chr(c) for c in range(ord("a"), ord("z") + 1)}
    letters |= {ch.upper() for ch in letters}
    assert letters <= set(chars) and {" ", "\n"} <= set(chars)
    others = " ".join(ch for ch in chars if ch not in letters | {" ", "\n"})
    digits = [ch for ch in chars if ch.isdigit()]
    assert digits == ["3"]  # Tiny Shakespeare's one digit
    assert caption.endswith(
        f"Vocabulary: {len(chars)} characters (a–z; A–Z; space; line break; {others}); any "
        "other character (an accent, an emoji, a digit other than 3) never occurs in the "
        "training text and has no id."
    )


def test_without_webassembly_or_javascript_the_page_says_what_is_missing(browser):
    def check(open_page):
        page = open_page("playground/", java_script_enabled=False)
        no_javascript = page.inner_text(".minigpt-playground")
        page = open_page("playground/", init_script="delete window.WebAssembly;")
        error = page.evaluate("() => minigpt.ready.then(() => 'ready', e => e.message)")
        return no_javascript, error, page.inner_text(".minigpt-playground__status")

    no_javascript, error, status = browser.run(check)
    assert no_javascript.startswith("The playground needs JavaScript.")
    assert error.startswith("This browser has no WebAssembly (or it is turned off)")
    assert status == f"The playground could not start: {error}"


def test_chapter_11_embeds_the_playground_and_instant_navigation_loads_it(browser, built_site):
    def check(open_page):
        page = open_page("11-train-and-sample/")
        model_files = []  # the runtime's WebAssembly and the model's graph, as requested
        page.on("request", lambda request: model_files.append(request.url))
        page.wait_for_load_state("networkidle")
        model_files[:] = [url for url in model_files if url.endswith((".wasm", ".onnx"))]
        unread = list(model_files)  # the embed is at the end of a long page, far off screen
        page.locator(".minigpt-playground").scroll_into_view_if_needed()
        page.wait_for_function("() => performance.getEntriesByName('minigpt:ready').length > 0")
        assert not unread, f"chapter 11 loaded the model before the reader scrolled: {unread}"
        assert any(url.endswith(".onnx") for url in model_files), "scrolling loaded no model"
        info = page.evaluate("() => minigpt.ready")
        page.evaluate("window.__sameDocument = true")
        page.click('nav.md-nav--primary a[href$="/playground/"]')
        page.wait_for_url("**/playground/")
        page.wait_for_function("() => document.querySelector('.minigpt-playground[data-mounted]')")
        after = page.evaluate("() => minigpt.ready")
        return info, after, page.evaluate("() => window.__sameDocument === true")

    info, after, same = browser.run(check)
    assert info["run"] == after["run"] == "shakespeare-char-cpu"
    if browser.base_url.endswith(f":{built_site.port}/"):
        assert same, "the click reloaded the page: instant navigation is not active"


def test_the_benchmark_runs(built_site, tmp_path):
    """benchmarks/playground.py keeps working (its numbers are not asserted)."""
    from .test_benchmarks import load

    pytest.importorskip("playwright.sync_api")
    chromium = next(filter(None, map(shutil.which, CHROMIUM_NAMES)), None)
    if chromium is None:
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    bench = load("playground")
    argv = ["--site", str(built_site.dir), "--tokens", "64", "--runs", "1", "--loads", "1"]
    argv += ["--chromium", chromium, "--out", str(tmp_path / "result.json")]
    with ThreadPoolExecutor(1) as thread:  # Playwright's sync API: one instance per thread
        report = thread.submit(bench.main, argv).result()
    result = report["results"]
    assert json.loads((tmp_path / "result.json").read_text(encoding="utf-8")) == report
    assert result["new_tokens"] == 64 and result["model"]["run"] == "shakespeare-char-cpu"
    assert 0 < result["load_ms"] < result["first_token_ms"]
    assert result["tokens_per_sec"] > 0 and result["tokens_per_sec_recomputing_block"] > 0
