// MathJax set-up for pymdownx.arithmatex in generic mode: typeset only what arithmatex
// marked, load the "safe" filter for user-written TeX, and typeset again after each
// page change of mkdocs-material's instant navigation (document$).
window.MathJax = {
  loader: { load: ["ui/safe"] },
  tex: {
    inlineMath: [["\\(", "\\)"]],
    displayMath: [["\\[", "\\]"]],
    processEscapes: true,
    processEnvironments: true,
  },
  options: { ignoreHtmlClass: ".*|", processHtmlClass: "arithmatex" },
};

if (typeof document$ !== "undefined") {
  document$.subscribe(() => {
    if (!window.MathJax.typesetPromise) return; // first page: MathJax typesets on load
    MathJax.startup.output.clearCache();
    MathJax.typesetClear();
    MathJax.texReset();
    MathJax.typesetPromise();
  });
}
