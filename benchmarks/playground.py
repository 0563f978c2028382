"""The playground's speed in headless Chromium: page load, first token, tokens/s (JSON).

Serves a built site on 127.0.0.1 (every other request is blocked), opens `playground/` in a
fresh browser context (an empty cache) `--loads` times and reports the medians of

* `load_ms`: from navigation start until `await minigpt.ready` (the runtime, the ONNX graph
  and the session are loaded), with the page's own marks (`session_ms`, `ready_ms`);
* `first_token_ms`: from navigation start until the first token of a greedy generation
  started as soon as the page is ready;

then generates `--tokens` tokens greedily from "ROMEO:" `--runs` times through
`minigpt.generate` and reports tokens/s overall, while the key/value cache applies (the first
block_size - len(prompt) tokens) and afterwards (every step recomputes block_size tokens), and
once through the page's Generate button (the same, plus drawing every token).

    python benchmarks/playground.py [--site DIR] [--tokens 500] [--runs 3] [--loads 3]

Without --site it builds the site first (MINIGPT_DOCS_EXECUTE=false mkdocs build).
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from urllib.parse import urlsplit

from report import RESULTS, emit

REPO = Path(__file__).resolve().parents[1]
PROMPT = "ROMEO:"

LOAD_JS = """async () => {
  await minigpt.ready;
  const t = performance.now();
  let first = null;
  await minigpt.generate(%s, {maxNewTokens: 1, temperature: 0,
                              onToken: () => { first = performance.now(); }});
  const mark = (name) => performance.getEntriesByName(name)[0].startTime;
  return {ready_ms: mark("minigpt:ready"), session_ms: mark("minigpt:session"),
          first_token_ms: first, generate_call_ms: t};
}"""

GENERATE_JS = """async ([prompt, count]) => {
  const times = [];
  const start = performance.now();
  const text = await minigpt.generate(prompt, {maxNewTokens: count, temperature: 0,
                                               onToken: () => times.push(performance.now())});
  return {start, times, text};
}"""


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def build_site(target: Path) -> None:
    env = {**os.environ, "MINIGPT_DOCS_EXECUTE": "false", "NO_MKDOCS_2_WARNING": "1"}
    subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "--site-dir", str(target)],
        cwd=REPO,
        env=env,
        check=True,
    )


def rate(count: int, seconds_ms: float) -> float | None:
    return round(count / (seconds_ms / 1000), 1) if count and seconds_ms > 0 else None


def measure(site: Path, tokens: int, runs: int, loads: int, chromium: str) -> dict:
    from playwright.sync_api import sync_playwright

    handler = functools.partial(_Quiet, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    blocked: list[str] = []

    def route(request_route) -> None:
        url = request_route.request.url
        if urlsplit(url).netloc == urlsplit(base).netloc or url.startswith(("data:", "blob:")):
            request_route.continue_()
        else:
            blocked.append(url)
            request_route.abort()

    manifest = json.loads((site / "assets/playground/model.json").read_text(encoding="utf-8"))
    block_size = manifest["model_config"]["block_size"]
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=chromium, args=["--no-sandbox", "--disable-gpu"]
            )
            version = browser.version
            load_samples = []
            for _ in range(loads):  # a new context each time: nothing cached
                context = browser.new_context()
                context.route("**/*", route)
                page = context.new_page()
                page.goto(base + "playground/")
                load_samples.append(page.evaluate(LOAD_JS % json.dumps(PROMPT)))
                context.close()
            context = browser.new_context()
            context.route("**/*", route)
            page = context.new_page()
            page.goto(base + "playground/")
            page.evaluate("() => minigpt.ready")
            page.evaluate(GENERATE_JS, [PROMPT, 20])  # warm-up
            generations = [page.evaluate(GENERATE_JS, [PROMPT, tokens]) for _ in range(runs)]
            page.fill(".minigpt-playground__prompt", PROMPT)
            page.fill("input[name=maxNewTokens]", str(tokens))
            page.fill("input[name=temperature]", "0")
            page.get_by_role("button", name="Generate").click()
            page.wait_for_function(
                "() => document.querySelector('.minigpt-playground__output')"
                ".dataset.tokensPerSecond",
                timeout=600_000,
            )
            ui_rate = float(
                page.eval_on_selector(
                    ".minigpt-playground__output", "e => e.dataset.tokensPerSecond"
                )
            )
            context.close()
            browser.close()
    finally:
        server.shutdown()
        server.server_close()
    if blocked:
        raise RuntimeError(f"the playground requested other origins: {blocked[:3]}")
    cached = block_size - len(PROMPT) + 1  # steps that run with the key/value cache
    overall, with_cache, sliding = [], [], []
    for run in generations:
        times = [run["start"], *run["times"]]
        overall.append(rate(tokens, times[-1] - times[0]))
        with_cache.append(rate(cached, times[cached] - times[0]))
        if tokens > cached:
            sliding.append(rate(tokens - cached, times[-1] - times[cached]))

    def median(key: str) -> float:
        return round(statistics.median(sample[key] for sample in load_samples), 1)

    return {
        "chromium": version,
        "prompt": PROMPT,
        "new_tokens": tokens,
        "runs": runs,
        "page_loads": loads,
        "load_ms": median("ready_ms"),
        "session_ms": median("session_ms"),
        "first_token_ms": median("first_token_ms"),
        "tokens_per_sec": statistics.median(overall),
        "tokens_per_sec_with_cache": statistics.median(with_cache),
        "tokens_per_sec_recomputing_block": statistics.median(sliding) if sliding else None,
        "tokens_per_sec_page_button": ui_rate,
        "greedy_text_start": generations[0]["text"][:80],
        "onnx_bytes": manifest["onnx_bytes"],
        "wasm_bytes": (site / "assets/vendor/onnxruntime-web/ort-wasm-simd-threaded.wasm")
        .stat()
        .st_size,
        "model": {
            "run": manifest["run"],
            "num_parameters": manifest["num_parameters"],
            "block_size": block_size,
        },
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--site", default=None, help="a built site (default: build one)")
    parser.add_argument("--tokens", type=int, default=500, help="new tokens per generation")
    parser.add_argument("--runs", type=int, default=3, help="timed generations")
    parser.add_argument("--loads", type=int, default=3, help="timed page loads")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    parser.add_argument("--out", default=None, help="result file (default: results/...)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        site = Path(args.site) if args.site else Path(scratch) / "site"
        if args.site is None:
            build_site(site)
        result = measure(site, args.tokens, args.runs, args.loads, args.chromium)
    summary = {
        "benchmark": "playground",
        "results": result,
        "machine": {
            "cpu_cores": os.cpu_count(),
            "load_average_1min": round(os.getloadavg()[0], 2),
            "platform": platform.platform(),
        },
    }
    emit(summary, Path(args.out) if args.out else RESULTS / "playground-chromium.json")
    return summary


if __name__ == "__main__":
    main()
