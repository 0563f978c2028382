// Mermaid from this site, loaded only on pages that have a diagram.
//
// Material for MkDocs renders diagrams with the global `mermaid` when one exists, and otherwise
// loads it from unpkg.com (which fails offline, and then breaks the page's other components,
// search included). This stand-in is that global: Material calls `initialize` once and then
// `render` for each diagram; the first `render` loads the copy of mermaid that
// docs/hooks/vendor.py puts into the site, which then replaces this stand-in. Pages without a
// diagram never call `render`, so they never download mermaid. Instant navigation keeps the
// loaded copy: Material initializes it once per visit.
(() => {
  const script = document.currentScript;
  const url = new URL("../assets/vendor/mermaid/mermaid.min.js", script.src).href;
  let settings = {};
  let loaded = null;

  function load() {
    if (!loaded) {
      loaded = new Promise((resolve, reject) => {
        const element = document.createElement("script");
        element.src = url;
        element.onload = () => {
          window.mermaid.initialize(settings);
          resolve(window.mermaid);
        };
        element.onerror = () => reject(new Error(`could not load ${url}`));
        document.head.appendChild(element);
      });
    }
    return loaded;
  }

  window.mermaid = {
    initialize(options) {
      settings = options;
    },
    async render(id, text) {
      const mermaid = await load();
      return mermaid.render(id, text);
    },
  };
})();
