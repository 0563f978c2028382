// Mermaid from this site, loaded only on pages that have a diagram.
//
// Material for MkDocs renders diagrams with the global `mermaid` when one exists, and otherwise
// loads it from unpkg.com (which fails offline, and then breaks the page's other components,
// search included). This stand-in is that global: Material calls `initialize` once and then
// `render` for each diagram. The first `render` imports mermaid's ES module build, which
// docs/hooks/vendor.py puts into the site, and every `render` hands the diagram on to it. The
// ES build fetches only the parts a diagram needs (about 0.9 MB for a flowchart, against 3.6
// MB for the single-file build); pages without a diagram fetch nothing. Instant navigation
// keeps the loaded module.
//
// On a narrow column (a phone), a diagram drawn left to right would be shrunk until its labels
// are unreadable, so there every flowchart and subgraph is drawn top to bottom instead, with
// labels wrapped at 200 px: the column then holds the diagram at full size.
(() => {
  const url = new URL("../assets/vendor/mermaid/mermaid.esm.min.mjs", document.currentScript.src);
  let settings = {};
  let loaded = null;

  function load() {
    loaded ??= import(url.href).then(({ default: mermaid }) => {
      mermaid.initialize(settings);
      return mermaid;
    });
    return loaded;
  }

  const NARROW_COLUMN_PX = 600;

  function forTheColumn(text) {
    const column = document.querySelector(".md-content__inner") || document.body;
    if (column.clientWidth >= NARROW_COLUMN_PX) return text;
    return text
      .replace(/^(\s*(?:flowchart|graph))\s+(?:LR|RL)\b/m, "$1 TB")
      .replace(/^(\s*direction)\s+(?:LR|RL)\b/gm, "$1 TB")
      .replace(/^(\s*wrappingWidth:)\s*\d+/m, "$1 200");
  }

  window.mermaid = {
    initialize(options) {
      settings = options;
    },
    async render(id, text) {
      return (await load()).render(id, forTheColumn(text));
    },
  };
})();
