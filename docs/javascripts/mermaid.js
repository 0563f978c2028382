// Mermaid from this site, loaded only on pages that have a diagram.
//
// Material for MkDocs renders diagrams with the global `mermaid` when one exists, and otherwise
// loads it from unpkg.com (which fails offline, and then breaks the page's other components,
// search included). This stand-in is that global: Material calls `initialize` once and then
// `render` for each diagram. The first `render` imports mermaid's ES module build, which
// docs/hooks/vendor.py puts into the site, and the module then takes the stand-in's place. The
// ES build fetches only the parts a diagram needs (about 0.9 MB for a flowchart, against 3.6
// MB for the single-file build); pages without a diagram fetch nothing. Instant navigation
// keeps the loaded module, which Material initializes once per visit.
(() => {
  const url = new URL("../assets/vendor/mermaid/mermaid.esm.min.mjs", document.currentScript.src);
  let settings = {};
  let loaded = null;

  function load() {
    loaded ??= import(url.href).then(({ default: mermaid }) => {
      mermaid.initialize(settings);
      window.mermaid = mermaid;
      return mermaid;
    });
    return loaded;
  }

  window.mermaid = {
    initialize(options) {
      settings = options;
    },
    async render(id, text) {
      return (await load()).render(id, text);
    },
  };
})();
