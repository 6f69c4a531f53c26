/* espresso-static News page: filter the notifications by minimum level and by tag.
 * The choice is kept in the URL query (?level=warning&tag=nightly-sync) so a filtered
 * view can be linked. Written for this project; no third-party code. */
(function () {
  "use strict";

  function matches(item, wanted, levels) {
    if (wanted.level && levels.indexOf(item.dataset.level) < levels.indexOf(wanted.level)) {
      return false;
    }
    return !wanted.tag || item.dataset.tag === wanted.tag;
  }

  function init() {
    var filters = document.querySelector("[data-news-filters]");
    if (!filters) return;
    // Least severe first, as the page lists them (one list, in Python).
    var levels = filters.dataset.levels.split(" ");
    var selects = Array.prototype.slice.call(filters.querySelectorAll("select[data-news-filter]"));
    var items = document.querySelectorAll(".es-news[data-level]");
    var count = filters.querySelector("[data-news-count]");
    var query = new URLSearchParams(window.location.search);

    function update() {
      var wanted = {};
      selects.forEach(function (select) {
        wanted[select.dataset.newsFilter] = select.value;
        if (select.value) query.set(select.dataset.newsFilter, select.value);
        else query.delete(select.dataset.newsFilter);
      });
      var shown = 0;
      items.forEach(function (item) {
        var visible = matches(item, wanted, levels);
        // Not the hidden attribute: the theme's admonition style would override it.
        item.style.display = visible ? "" : "none";
        if (visible) shown += 1;
      });
      count.textContent = shown + " of " + items.length + " shown";
      var search = query.toString();
      window.history.replaceState(null, "", (search ? "?" + search : window.location.pathname) + window.location.hash);
    }

    selects.forEach(function (select) {
      var value = query.get(select.dataset.newsFilter);
      if (value && select.querySelector('option[value="' + CSS.escape(value) + '"]')) select.value = value;
      select.addEventListener("change", update);
    });
    filters.hidden = false;
    update();
  }

  // mkdocs-material's instant navigation announces every new page on document$.
  if (typeof window.document$ !== "undefined") window.document$.subscribe(init);
  else document.addEventListener("DOMContentLoaded", init);
})();
