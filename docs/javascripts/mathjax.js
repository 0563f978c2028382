// MathJax 4 from this site, loaded only on pages that have maths.
//
// MathJax (about 1 MB) is fetched the first time a page with a formula is shown: from the
// arithmatex spans of the chapters, or from `$` or `\(` in a notebook's Markdown. Its fonts and
// extensions load on demand from assets/vendor/ (docs/hooks/vendor.py puts them there), never
// from a CDN. A display equation wider than the column breaks into lines at the column's width
// (on a phone too) instead of being cut off or scrolling sideways.
(() => {
  const vendor = new URL("../assets/vendor/", document.currentScript.src).href;
  let requested = false; // the script is in (Material's instant navigation drops it from <head>)
  let started = false; // MathJax has typeset the page shown when it started

  window.MathJax = {
    loader: {
      // MathJax's own components (extensions, accessibility) sit beside tex-mml-chtml.js; the
      // font's parts in mathjax-newcm-font/ (MathJax looks for [fonts]/mathjax-newcm-font).
      paths: { mathjax: `${vendor}mathjax`, fonts: vendor.replace(/\/$/, "") },
    },
    tex: {
      // arithmatex writes \( \) and \[ \]; notebook Markdown cells use $ and $$.
      inlineMath: [["\\(", "\\)"], ["$", "$"]],
      displayMath: [["\\[", "\\]"], ["$$", "$$"]],
      processEscapes: true,
      processEnvironments: true,
    },
    output: { displayOverflow: "linebreak" },
    options: {
      // Ignore the page, except arithmatex spans, rendered notebook Markdown and navigation
      // links (a heading with math appears in the table of contents). An ignored element's
      // descendants are ignored too, unless one of them has a processHtmlClass class; code is
      // always skipped.
      ignoreHtmlClass: "md-container|md-header",
      processHtmlClass: "arithmatex|jp-RenderedMarkdown|md-nav__link",
      // Screen readers get hidden MathML, as with MathJax 3; speech and Braille generation
      // (a 1.2 MB worker and rule files) stay off unless a reader turns them on in the menu.
      menuOptions: { settings: { assistiveMml: true, enrich: false, speech: false, braille: false } },
    },
    startup: {
      pageReady() {
        started = true;
        return MathJax.startup.defaultPageReady();
      },
    },
  };

  function hasMath() {
    if (document.querySelector(".md-content .arithmatex")) return true;
    return [...document.querySelectorAll(".jp-RenderedMarkdown")].some((cell) =>
      /\$|\\\(|\\\[/.test(cell.textContent),
    );
  }

  // Material's instant navigation swaps pages without reloading: typeset each new page. Not the
  // one MathJax typeset when it started: typesetting it again would typeset the MathML it has
  // just added for screen readers (tex-mml-chtml reads MathML too), nesting the formulas.
  document$.subscribe(() => {
    if (!hasMath()) return;
    if (!requested) {
      requested = true;
      const script = document.createElement("script");
      script.src = `${vendor}mathjax/tex-mml-chtml.js`;
      script.async = true;
      document.head.appendChild(script);
      return; // MathJax typesets the page shown once it has started
    }
    if (!started) return; // still starting: it typesets the page shown now
    MathJax.startup.output.clearCache();
    MathJax.typesetClear();
    MathJax.texReset();
    MathJax.typesetPromise();
  });
})();
