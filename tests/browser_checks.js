// What tests/test_browser.py measures in each page of the built site, run in the page itself.
// Installed as an init script, so it runs before the site's own scripts on every navigation.
"use strict";

// Material renders each mermaid diagram into a *closed* shadow root; open ones can be measured.
{
  const attachShadow = Element.prototype.attachShadow;
  Element.prototype.attachShadow = function (init) {
    return attachShadow.call(this, { ...init, mode: "open" });
  };
}

window.minigptChecks = (() => {
  const TEX = /\\\(|\\\[|\\begin\{|\$\$|\$[^$\s][^$]*\$/;
  const SHAPES = new Set(["path", "rect", "circle", "ellipse", "polygon", "polyline", "line", "use"]);

  function visible(el) {
    const rect = el.getBoundingClientRect();
    return rect.width > 0 && rect.height > 0 && getComputedStyle(el).visibility !== "hidden";
  }

  // Text nodes a reader sees in the page's content: not code, not typeset math, not scripts.
  function proseTextNodes(root) {
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    const nodes = [];
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const parent = node.parentElement;
      if (!parent || parent.closest("code, pre, script, style, mjx-container, textarea")) continue;
      if (!visible(parent)) continue;
      nodes.push(node);
    }
    return nodes;
  }

  // --- colours (WCAG) ----------------------------------------------------------------------

  function parseColor(text) {
    const m = text && text.match(/rgba?\(([^)]+)\)/);
    if (!m) return null;
    const [r, g, b, a = 1] = m[1].split(/[ ,/]+/).filter(Boolean).map(Number);
    return { r, g, b, a };
  }

  function luminance({ r, g, b }) {
    const f = (c) => ((c /= 255) <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4);
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  }

  function contrast(a, b) {
    const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
    return (hi + 0.05) / (lo + 0.05);
  }

  function over(top, bottom) {  // `top` painted with its alpha over an opaque `bottom`
    const a = top.a;
    return {
      r: top.r * a + bottom.r * (1 - a),
      g: top.g * a + bottom.g * (1 - a),
      b: top.b * a + bottom.b * (1 - a),
      a: 1,
    };
  }

  function pageBackground() {
    return parseColor(getComputedStyle(document.body).backgroundColor) || { r: 255, g: 255, b: 255, a: 1 };
  }

  // The paint an element puts under a point: an SVG shape's fill, or an HTML background.
  function paintOf(el) {
    const style = getComputedStyle(el);
    let color;
    if (el instanceof SVGElement) {
      if (el.tagName === "image") return "raster";
      if (!SHAPES.has(el.tagName) || style.fill === "none") return null;
      color = parseColor(style.fill);
      if (color) color.a *= Number(style.fillOpacity) * Number(style.opacity);
    } else {
      color = parseColor(style.backgroundColor);
    }
    return color && color.a > 0 ? color : null;
  }

  // The colour behind the centre of `el`: the shapes and backgrounds under it (its own HTML
  // ancestors included), then the page. Null where that is an image or off screen.
  function backgroundAt(el, root, page) {
    const rect = el.getBoundingClientRect();
    const x = rect.left + rect.width / 2;
    const y = rect.top + rect.height / 2;
    const header = document.querySelector(".md-header")?.getBoundingClientRect().bottom || 0;
    const overlay = el.closest(".minigpt-figure-overlay");
    if (x < 0 || y < (overlay ? 0 : header) || x >= innerWidth || y >= innerHeight) return null;
    const layers = [];
    for (const under of root.elementsFromPoint(x, y)) {
      if (under === el || el.contains(under)) continue;
      const paint = paintOf(under);
      if (paint === "raster") return null; // text over an image: cannot be measured here
      if (!paint) continue;
      layers.push(paint);
      if (paint.a >= 1) break;
    }
    return layers.reverse().reduce((below, layer) => over(layer, below), page);
  }

  function textColor(el) {
    const style = getComputedStyle(el);
    const color = parseColor(el instanceof SVGElement ? style.fill : style.color);
    if (color && el instanceof SVGElement) color.a *= Number(style.fillOpacity);
    return color;
  }

  // --- the page as a whole -------------------------------------------------------------------

  function state() {
    const content = document.querySelector(".md-content") || document.body;
    const rawTex = proseTextNodes(content)
      .map((node) => node.textContent)
      .filter((text) => TEX.test(text))
      .map((text) => text.trim().slice(0, 80));
    const navTex = [...document.querySelectorAll(".md-nav__link")]
      .map((a) => a.textContent.trim())
      .filter((text) => text.includes("\\(") || text.includes("\\["));
    const diagrams = [...document.querySelectorAll("div.mermaid")];
    return {
      url: location.href,
      rawTex,
      navTex,
      rawMermaid: document.querySelectorAll("pre.mermaid, code.language-mermaid").length,
      diagrams: diagrams.length,
      emptyDiagrams: diagrams.filter((d) => !d.shadowRoot || !d.shadowRoot.querySelector("svg")).length,
      formulas: document.querySelectorAll(".arithmatex").length,
      untypeset: [...document.querySelectorAll(".arithmatex")].filter((el) => !el.querySelector("mjx-container")).length,
      mathErrors: document.querySelectorAll("mjx-merror").length,
      brokenImages: [...document.images]
        .filter((img) => visible(img) && !(img.complete && img.naturalWidth > 0))
        .map((img) => img.getAttribute("src")),
      pageScrollsSideways: document.documentElement.scrollWidth > innerWidth + 1,
      search: (document.querySelector(".md-search-result__meta") || {}).textContent?.trim(),
    };
  }

  // --- waiting without promises ---------------------------------------------------------
  //
  // The test waits from Python (page.wait_for_function) on `ready()` and `shown()`, which answer
  // at once. It never awaits a promise that lives as long as a page load: Chromium keeps such a
  // promise only weakly while it waits, and collects it ("Resulting promise was garbage
  // collected") when nothing else holds it, e.g. once the page it belonged to is gone.

  let shownUrl = null; // the last page Material's document$ announced (instant navigation)
  let mathPromise = null;
  let mathDone = false;

  function watchDocument() {
    if (shownUrl === null && window.document$) {
      shownUrl = "";
      document$.subscribe(() => (shownUrl = location.href.split("#")[0]));
    }
  }

  // True once `url` is the page shown: loaded in full, or swapped in by instant navigation.
  function shown(url) {
    watchDocument();
    return shownUrl === url && !document.querySelector("article[data-left]");
  }

  // Formulas for MathJax: the chapters' arithmatex spans, or TeX in a notebook's Markdown.
  function hasMath() {
    if (document.querySelector(".md-content .arithmatex")) return true;
    return [...document.querySelectorAll(".jp-RenderedMarkdown")].some((cell) => /\$|\\\(|\\\[/.test(cell.textContent));
  }

  // MathJax has typeset everything it was asked to (it loads only on pages with maths).
  function mathSettled() {
    const promise = window.MathJax?.startup?.promise;
    if (!promise) return !hasMath(); // not loaded: it must be a page without maths
    if (promise !== mathPromise) {
      mathPromise = promise;
      mathDone = false;
      const done = () => (mathDone = mathPromise === promise);
      promise.then(done, done);
    }
    return mathDone;
  }

  function sitemapLoaded() {  // Material's instant navigation takes clicks once it has it
    return performance.getEntriesByType("resource").some((e) => /\/sitemap\.xml$/.test(e.name) && e.responseEnd > 0);
  }

  // Everything that loads late is in: figures (lazy ones are asked for now), diagrams,
  // formulas, the search index, and the sitemap that instant navigation needs.
  function ready() {
    watchDocument();
    for (const img of document.images) if (img.loading === "lazy" && visible(img)) img.loading = "eager";
    return (
      document.readyState !== "loading" &&
      document.querySelectorAll("pre.mermaid").length === 0 &&
      [...document.querySelectorAll(".arithmatex")].every((el) => el.querySelector("mjx-container")) &&
      mathSettled() &&
      [...document.images].every((img) => !visible(img) || img.complete) &&
      [...document.querySelectorAll('link[rel="stylesheet"]')].every((link) => link.sheet) &&
      document.fonts.status === "loaded" &&
      !/Initializing/i.test(document.querySelector(".md-search-result__meta")?.textContent || "") &&
      sitemapLoaded()
    );
  }

  // Click a link to `url` as a reader would. Material's instant navigation takes the click
  // (true); otherwise nothing happens (false) and the caller loads the page in full.
  function click(url) {
    document.querySelector("article")?.setAttribute("data-left", "yes");
    const link = document.createElement("a");
    link.href = url;
    document.body.appendChild(link);
    let taken = false;
    window.addEventListener("click", (event) => {  // after Material's listener on <body>
      taken = event.defaultPrevented;
      event.preventDefault();
    }, { once: true });
    link.dispatchEvent(new MouseEvent("click", { bubbles: true, cancelable: true, view: window }));
    link.remove();
    if (!taken) document.querySelector("article")?.removeAttribute("data-left");
    return taken;
  }

  // --- search ---------------------------------------------------------------------------

  let searchSignature = null;
  let searchStable = 0;

  // The header's search shows its answer to `query`, unchanged over five polls (it answers
  // each keystroke, so earlier answers arrive first).
  function searchSettled(query) {
    const input = document.querySelector(".md-search__input");
    const meta = document.querySelector(".md-search-result__meta")?.textContent || "";
    if (!input || input.value !== query || /Initializing|Type to start/i.test(meta)) {
      searchStable = 0;
      return false;
    }
    const links = [...document.querySelectorAll(".md-search-result__item a")].map((a) => a.href);
    const signature = `${meta}|${links.join(" ")}`;
    if (signature !== searchSignature) {
      [searchSignature, searchStable] = [signature, 0];
      return false;
    }
    return ++searchStable >= 5;
  }

  // The results listed, best first: each page's link and its text (title and snippet).
  function searchResults() {
    return [...document.querySelectorAll(".md-search-result__item")].map((item) => ({
      href: item.querySelector("a").href,
      text: item.textContent.trim().replace(/\s+/g, " ").slice(0, 300),
    }));
  }

  // --- layout at the desktop width -----------------------------------------------------------

  function codeBlocks() {
    return [...document.querySelectorAll(".md-typeset pre > code, .jp-InputArea pre, .jp-OutputArea-output pre")]
      .filter(visible);
  }

  function overflowingCode() {
    return codeBlocks()
      .filter((code) => code.scrollWidth > code.clientWidth + 1)
      .map((code) => {
        const longest = code.textContent.split("\n").reduce((a, b) => (b.length > a.length ? b : a), "");
        return `${longest.length} chars wide: ${longest.trim().slice(0, 70)}`;
      });
  }

  // The boxes of the visible characters of a code block, line by line.
  function glyphRects(code) {
    const rects = [];
    const walker = document.createTreeWalker(code, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const text = node.textContent;
      const end = text.trimEnd().length;
      const start = text.length - text.trimStart().length;
      if (end <= start) continue;
      const range = document.createRange();
      range.setStart(node, start);
      range.setEnd(node, end);
      rects.push(...[...range.getClientRects()].filter((r) => r.width > 0));
    }
    return rects;
  }

  // Lines whose text runs under a copy button (Material's, or a notebook cell's).
  function coveredLines() {
    const covered = [];
    for (const code of codeBlocks()) {
      const block = code.closest(".highlight, .jp-InputArea, .jp-Cell") || code.parentElement;
      const button = block.querySelector(".md-code__nav, .zeroclipboard-container");
      if (!button || !visible(button)) continue;
      const box = button.getBoundingClientRect();
      const hit = glyphRects(code).find(
        (line) => line.top < box.bottom && line.bottom > box.top && line.right > box.left + 0.5
      );
      if (hit) covered.push(code.textContent.trim().split("\n")[0].slice(0, 70));
    }
    return covered;
  }

  // Display equations wider than the space they have (they would be cut off or scroll).
  function overflowingEquations() {
    return [...document.querySelectorAll('mjx-container[display="true"]')]
      .filter(visible)
      .filter((mjx) => {
        const math = mjx.querySelector("mjx-math") || mjx;
        const box = (mjx.closest(".arithmatex") || mjx.parentElement).getBoundingClientRect();
        const rect = math.getBoundingClientRect();
        return rect.width > box.width + 1 || rect.left < box.left - 1 || rect.right > box.right + 1;
      })
      .map((mjx) => (mjx.closest(".arithmatex") || mjx).textContent.slice(0, 60));
  }

  // --- text in figures (SVG images) and diagrams (mermaid) -----------------------------------

  function textElements(root) {
    const found = new Set();
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      if (node.textContent.trim() && node.parentElement) found.add(node.parentElement);
    }
    // SVG text (figures), or HTML labels inside a foreignObject (diagrams); not metadata.
    return [...found].filter((el) => el.closest("text, foreignObject") && !el.closest("defs"));
  }

  function renderedFontSize(el) {
    const svgAncestor = el instanceof SVGGraphicsElement ? el : el.closest("foreignObject");
    const ctm = svgAncestor ? svgAncestor.getScreenCTM() : null;
    const scale = ctm ? Math.hypot(ctm.a, ctm.b) : 1;
    return parseFloat(getComputedStyle(el).fontSize) * scale;
  }

  // A figure's SVG text, fetched once per URL.
  const svgSources = new Map();
  async function svgSource(img) {
    const url = (img.currentSrc || img.src).split("#")[0];
    if (!svgSources.has(url)) svgSources.set(url, fetch(url).then((r) => r.text()));
    return svgSources.get(url);
  }

  // An <img> figure redrawn as inline SVG at the size the page shows it, in a fixed overlay on
  // the page's background, so its text can be hit-tested; then removed.
  async function withInlineFigure(img, callback) {
    const text = await svgSource(img);
    const holder = document.createElement("div");
    holder.className = "minigpt-figure-overlay";
    holder.style.cssText = `position:fixed;left:0;top:0;z-index:2147483647;background:${getComputedStyle(document.body).backgroundColor}`;
    holder.innerHTML = text.replace(/^[\s\S]*?(<svg)/, "$1");
    const svg = holder.querySelector("svg");
    const { width, height } = img.getBoundingClientRect();
    const fit = Math.min(1, innerWidth / width, innerHeight / height);
    svg.setAttribute("width", `${width * fit}px`);
    svg.setAttribute("height", `${height * fit}px`);
    document.body.appendChild(holder);
    try {
      return callback(svg);
    } finally {
      holder.remove();
    }
  }

  function figureImages() {
    return [...document.querySelectorAll('img[src*="figures/"]')].filter(visible);
  }

  // Text sizes as shown, read from the SVG itself: its text is sized in user units (matplotlib
  // writes no scaling transforms), and the page scales the whole drawing to the image's width.
  async function figureTextSizes() {
    const parser = new DOMParser();
    const figures = [];
    for (const img of figureImages()) {
      const doc = parser.parseFromString(await svgSource(img), "image/svg+xml");
      const svg = doc.documentElement;
      // The drawing's own width: its viewBox, else its width attribute (no unit: CSS px and
      // user units are both 1/96 in; pt would be 4/3 px, and the viewBox then says so).
      const drawn = svg.viewBox.baseVal?.width || Number.parseFloat(svg.getAttribute("width"));
      const scale = drawn > 0 ? img.getBoundingClientRect().width / drawn : Infinity;
      let smallest = Infinity, text = "";
      for (const el of doc.querySelectorAll("text, tspan")) {
        const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
        if (!own) continue;
        let size = NaN;
        for (let node = el; node && node !== svg && Number.isNaN(size); node = node.parentElement) {
          const match = (node.getAttribute("style") || "").match(/font(?:-size)?:\s*([\d.]+)px/);
          size = match ? Number(match[1]) : Number.parseFloat(node.getAttribute("font-size"));
        }
        if (Number.isNaN(size)) size = 16; // the SVG default
        if (size * scale < smallest) [smallest, text] = [size * scale, el.textContent.trim()];
      }
      if (!Number.isFinite(scale)) [smallest, text] = [0, "(unmeasurable: no viewBox or width)"];
      const link = img.closest("a.glightbox");
      figures.push({
        src: img.getAttribute("src"),
        shown: new URL(img.currentSrc || img.src).pathname, // the variant a <picture> chose
        smallest: +smallest.toFixed(2),
        text: text.slice(0, 30),
        scaled: /<(g|text|tspan)\b[^>]*transform="[^"]*scale\(/.test(svg.outerHTML),
        lightbox: !!link && link.getAttribute("href") === img.getAttribute("src"),
        width: Math.round(img.getBoundingClientRect().width),
      });
    }
    return figures;
  }

  function diagramSizes() {
    return [...document.querySelectorAll("div.mermaid")].filter((d) => d.shadowRoot).map((host) => {
      const svg = host.shadowRoot.querySelector("svg");
      let smallest = Infinity, text = "";
      for (const el of textElements(svg)) {
        const size = renderedFontSize(el);
        if (size < smallest) [smallest, text] = [size, el.textContent.trim()];
      }
      const rect = svg.getBoundingClientRect();
      return { smallest: +smallest.toFixed(2), text: text.slice(0, 30), width: Math.round(rect.width), height: Math.round(rect.height) };
    });
  }

  // --- contrast in the current colour scheme --------------------------------------------------

  function lowContrast(elements, root, page, where) {
    const low = [];
    let lowest = Infinity, measured = 0;
    for (const el of elements) {
      const background = backgroundAt(el, root, page);
      const color = textColor(el);
      if (!background || !color) continue;
      const ratio = contrast(over(color, background), background);
      measured += 1;
      lowest = Math.min(lowest, ratio);
      if (ratio < 4.5) low.push(`${where}: "${el.textContent.trim().slice(0, 30)}" ${ratio.toFixed(2)}:1`);
    }
    return { low, lowest, measured };
  }

  async function contrastReport() {
    const page = pageBackground();
    const result = { low: [], lowest: Infinity, measured: 0 };
    const add = (part) => {
      result.low.push(...part.low);
      result.lowest = Math.min(result.lowest, part.lowest);
      result.measured += part.measured;
    };
    for (const img of figureImages()) {
      await withInlineFigure(img, (svg) =>
        add(lowContrast(textElements(svg), document, page, img.getAttribute("src").split("/").pop()))
      );
    }
    for (const host of document.querySelectorAll("div.mermaid")) {
      if (!host.shadowRoot) continue;
      host.scrollIntoView({ block: "center" });
      const svg = host.shadowRoot.querySelector("svg");
      add(lowContrast(textElements(svg).filter(visible), host.shadowRoot, page, "diagram"));
    }
    window.scrollTo(0, 0);
    result.lowest = Number.isFinite(result.lowest) ? +result.lowest.toFixed(2) : null;
    return result;
  }

  async function desktop() {
    return {
      overflowingCode: overflowingCode(),
      coveredLines: coveredLines(),
      overflowingEquations: overflowingEquations(),
      figures: await figureTextSizes(),
      diagrams: diagramSizes(),
    };
  }

  async function phone() {
    return {
      coveredLines: coveredLines(),
      overflowingEquations: overflowingEquations(),
      figures: await figureTextSizes(),
      diagrams: diagramSizes(),
    };
  }

  return { state, ready, shown, click, searchSettled, searchResults, desktop, phone, contrast: contrastReport };
})();
