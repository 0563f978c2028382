// MathJax 3 configuration for pymdownx.arithmatex (generic mode) and for notebook pages.
// Loaded before MathJax itself (see extra_javascript in mkdocs.yml).
window.MathJax = {
  tex: {
    // arithmatex writes \( \) and \[ \]; notebook Markdown cells use $ and $$.
    inlineMath: [["\\(", "\\)"], ["$", "$"]],
    displayMath: [["\\[", "\\]"], ["$$", "$$"]],
    processEscapes: true,
    processEnvironments: true,
  },
  options: {
    // Ignore the page, except arithmatex spans, rendered notebook Markdown and navigation
    // links (a heading with math appears in the table of contents). An ignored element's
    // descendants are ignored too, unless one of them has a processHtmlClass class; code is
    // always skipped.
    ignoreHtmlClass: "md-container|md-header",
    processHtmlClass: "arithmatex|jp-RenderedMarkdown|md-nav__link",
  },
};

// Material's instant navigation swaps pages without reloading: typeset each new page. Not the
// first one: MathJax typesets it itself, and typesetting it again would typeset the MathML it
// has just added for screen readers (tex-mml-chtml reads MathML too), nesting the formulas.
let firstPage = true;
document$.subscribe(() => {
  if (firstPage || !window.MathJax.startup || !window.MathJax.typesetPromise) {
    firstPage = false;
    return;
  }
  window.MathJax.startup.output.clearCache();
  window.MathJax.typesetClear();
  window.MathJax.texReset();
  window.MathJax.typesetPromise();
});
