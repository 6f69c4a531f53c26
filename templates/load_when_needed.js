// Loads the big libraries only on the pages that use them: Mermaid (3.6 MB) where a
// diagram is, MathJax (1.2 MB) where math is. Every other page (a status page of
// millions of rows, say) no longer parses them before its own script runs.
// document.write keeps each a parser-blocking script, run before mkdocs-material looks
// for `mermaid` (without it, material would ask a CDN: the site must work offline).
(function () {
  var assets = document.currentScript.src.replace(/[^/]*$/, "");
  var libraries = [
    [".mermaid", "mermaid/mermaid.min.js"],
    [".arithmatex", "mathjax/tex-chtml.js"],
  ];
  libraries.forEach(function (library) {
    if (document.querySelector(library[0])) {
      document.write('<script src="' + assets + library[1] + '"></' + "script>");
    }
  });
})();
