/* espresso-static status tables: filters, sorting, paging, a live progress bar, the
 * filter state in the URL hash and a CSV download of the filtered rows.
 *
 * Every <div class="es-status" data-meta="data/meta.json"> on a page becomes a table.
 * The data format (dictionary / delta / front coding, gzip chunks) is documented in
 * espresso_static/website/features/status.py. Written for this project; no third-party code. */
(function () {
  "use strict";

  // Text columns with at most this many distinct values get a multi-select filter.
  var MULTI_MAX = 60;
  var PAGE_ROWS = 50;

  // -- loading and decoding -----------------------------------------------------------

  function fetchJson(url) {
    return fetch(url).then(function (response) {
      if (!response.ok) throw new Error(url + ": HTTP " + response.status);
      return response.arrayBuffer();
    }).then(function (buffer) {
      var bytes = new Uint8Array(buffer);
      // A server may already have removed the gzip layer (Content-Encoding: gzip).
      if (bytes[0] !== 0x1f || bytes[1] !== 0x8b) return JSON.parse(new TextDecoder().decode(bytes));
      var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
      return new Response(stream).text().then(JSON.parse);
    });
  }

  function isNumeric(type) {
    return type === "int" || type === "float" || type === "datetime" || type === "date";
  }

  function makeColumn(meta, rows) {
    var column = { meta: meta, name: meta.name, type: meta.type, encoding: meta.encoding };
    if (meta.encoding === "dict") {
      column.dict = meta.dict;
      column.codes = meta.dict.length < 65536 ? new Uint16Array(rows) : new Int32Array(rows);
      if (isNumeric(meta.type)) {
        column.dictNumbers = Float64Array.from(meta.dict, function (v) { return v === null ? NaN : v; });
      }
    } else if (isNumeric(meta.type)) {
      column.numbers = new Float64Array(rows);
    } else {
      column.strings = new Array(rows);
    }
    return column;
  }

  function decodeInto(column, encoded, offset) {
    var i, n;
    if (column.encoding === "dict") {
      column.codes.set(encoded, offset);
    } else if (column.encoding === "delta") {
      var previous = 0;
      for (i = 0, n = encoded.length; i < n; i++) {
        var delta = encoded[i];
        if (delta === null) { column.numbers[offset + i] = NaN; continue; }
        previous += delta;
        column.numbers[offset + i] = previous;
      }
    } else if (column.encoding === "front") {
      var prefixes = encoded[0], suffixes = encoded[1], last = "";
      for (i = 0, n = prefixes.length; i < n; i++) {
        if (suffixes[i] === null) { column.strings[offset + i] = null; continue; }
        last = last.slice(0, prefixes[i]) + suffixes[i];
        column.strings[offset + i] = last;
      }
    } else if (column.numbers) {
      for (i = 0, n = encoded.length; i < n; i++) {
        column.numbers[offset + i] = encoded[i] === null ? NaN : encoded[i];
      }
    } else {
      for (i = 0, n = encoded.length; i < n; i++) column.strings[offset + i] = encoded[i];
    }
  }

  // -- values -------------------------------------------------------------------------

  function numberAt(column, row) {
    return column.codes ? column.dictNumbers[column.codes[row]] : column.numbers[row];
  }

  function rawAt(column, row) {
    if (column.codes) return column.dict[column.codes[row]];
    if (column.numbers) { var v = column.numbers[row]; return isNaN(v) ? null : v; }
    return column.strings[row];
  }

  function pad(n) { return n < 10 ? "0" + n : String(n); }

  function formatValue(column, value, forCsv) {
    if (value === null || value === undefined) return "";
    if (column.type === "datetime" || column.type === "date") {
      var d = new Date(value * 1000);
      var day = d.getUTCFullYear() + "-" + pad(d.getUTCMonth() + 1) + "-" + pad(d.getUTCDate());
      if (column.type === "date") return day;
      var time = pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes()) + ":" + pad(d.getUTCSeconds());
      return forCsv ? day + "T" + time + "Z" : day + " " + time;
    }
    return String(value);
  }

  // Decimal units, as the Data page's sizes.
  function humanBytes(bytes) {
    var units = ["bytes", "kB", "MB", "GB", "TB", "PB"], unit = 0;
    while (Math.abs(bytes) >= 1000 && unit < units.length - 1) { bytes /= 1000; unit++; }
    return unit === 0 ? bytes + " bytes" : bytes.toFixed(1) + " " + units[unit];
  }

  // -- the table ----------------------------------------------------------------------

  function StatusTable(root) {
    this.root = root;
    this.base = new URL(root.dataset.meta, document.baseURI);
    // [[category, label], ...] in display order, from the page (one list, in Python).
    var categories = JSON.parse(root.dataset.categories);
    this.categories = categories.map(function (pair) { return pair[0]; });
    this.categoryLabels = {};
    categories.forEach(function (pair) { this.categoryLabels[pair[0]] = pair[1]; }, this);
    this.sort = null; // {column index, descending}
    this.page = 0;
    this.filters = [];
  }

  StatusTable.prototype.load = function () {
    var self = this;
    var started = performance.now();
    self.root.setAttribute("data-state", "loading");
    return fetchJson(self.base.href).then(function (meta) {
      self.meta = meta;
      self.rows = meta.rows;
      self.columns = meta.columns.map(function (m) { return makeColumn(m, meta.rows); });
      self.showLoading(0);
      var offset = 0, loaded = 0;
      return Promise.all(meta.chunks.map(function (chunk) {
        var at = offset;
        offset += chunk.rows;
        return fetchJson(new URL(chunk.url, self.base).href).then(function (payload) {
          payload.forEach(function (encoded, c) { decodeInto(self.columns[c], encoded, at); });
          loaded += chunk.rows;
          self.showLoading(loaded);
        });
      }));
    }).then(function () {
      self.prepare();
      self.build();
      self.readHash();
      self.apply();
      self.loadMs = performance.now() - started;
      self.root.setAttribute("data-state", "ready");
      self.root.setAttribute("data-load-ms", self.loadMs.toFixed(0));
      // Milliseconds since navigation start: what the benchmark reports as interactive.
      self.root.setAttribute("data-ready-at", performance.now().toFixed(0));
    }).catch(function (error) {
      self.root.setAttribute("data-state", "error");
      var hint = location.protocol === "file:"
        ? " Browsers do not fetch data from file:// pages: serve the site with `espresso-static serve` in the project."
        : "";
      self.root.textContent = "Could not load the status data: " + error.message + "." + hint;
      self.root.classList.add("es-status--error");
    });
  };

  StatusTable.prototype.showLoading = function (loaded) {
    this.root.textContent = "Loading rows: " + loaded.toLocaleString("en") + " of " +
      this.rows.toLocaleString("en") + "…";
  };

  // Per-row category (done, missing, ...) and filter widgets kinds, computed once.
  StatusTable.prototype.prepare = function () {
    var meta = this.meta, rows = this.rows, categories = this.categories;
    this.statusColumn = this.columns.filter(function (c) { return c.name === meta.status; })[0];
    this.rowCategory = new Uint8Array(rows);
    var status = this.statusColumn;
    var categoryOf = function (value) {
      var name = meta.categories[value === null ? "" : String(value)] || "other";
      return categories.indexOf(name);
    };
    var i;
    if (status.codes) {
      var byCode = status.dict.map(categoryOf);
      for (i = 0; i < rows; i++) this.rowCategory[i] = byCode[status.codes[i]];
    } else {
      for (i = 0; i < rows; i++) this.rowCategory[i] = categoryOf(rawAt(status, i));
    }
    this.columns.forEach(function (column) {
      if (column.codes && !isNumeric(column.type) && column.dict.length <= MULTI_MAX) column.filterKind = "multi";
      else if (isNumeric(column.type)) column.filterKind = "range";
      else column.filterKind = "text";
    });
    this.order = null; // null: database order
  };

  // -- DOM ----------------------------------------------------------------------------

  function element(tag, attributes, children) {
    var node = document.createElement(tag);
    Object.keys(attributes || {}).forEach(function (key) {
      if (key === "text") node.textContent = attributes[key];
      else if (key === "className") node.className = attributes[key];
      else node.setAttribute(key, attributes[key]);
    });
    (children || []).forEach(function (child) { if (child) node.appendChild(child); });
    return node;
  }

  StatusTable.prototype.build = function () {
    var self = this;
    self.root.textContent = "";
    self.bar = element("div", { className: "es-bar", role: "img" });
    self.legend = element("div", { className: "es-legend" });
    self.countLine = element("span", { className: "es-count" });
    var csv = element("button", { className: "md-button es-button", type: "button", text: "Download CSV" });
    csv.addEventListener("click", function () { self.downloadCsv(); });
    var reset = element("button", { className: "md-button es-button", type: "button", text: "Reset filters" });
    reset.addEventListener("click", function () { self.resetFilters(); });
    var toolbar = element("div", { className: "es-toolbar" }, [self.countLine, reset, csv]);

    var headRow = element("tr");
    var filterRow = element("tr", { className: "es-filters" });
    self.headers = [];
    self.columns.forEach(function (column, index) {
      var button = element("button", { type: "button", className: "es-sort", text: column.meta.label, title: "Sort by " + column.meta.label });
      button.addEventListener("click", function () { self.toggleSort(index); });
      var th = element("th", { "data-column": column.name }, [button]);
      self.headers.push(th);
      headRow.appendChild(th);
      var filter = self.makeFilter(column);
      self.filters.push(filter);
      filterRow.appendChild(element("th", { "data-filter": column.name }, [filter.node]));
    });
    self.body = element("tbody");
    var table = element("table", { className: "es-table" }, [element("thead", {}, [headRow, filterRow]), self.body]);
    self.pager = element("div", { className: "es-pager" });
    self.root.appendChild(element("div", { className: "es-progress" }, [self.bar, self.legend]));
    self.root.appendChild(toolbar);
    self.root.appendChild(element("div", { className: "es-scroll" }, [table]));
    self.root.appendChild(self.pager);
    window.addEventListener("hashchange", function () {
      if (location.hash.slice(1) === self.writtenHash) return;
      self.readHash();
      self.apply();
    });
  };

  StatusTable.prototype.makeFilter = function (column) {
    var self = this, onChange = function () { self.page = 0; self.apply(); };
    if (column.filterKind === "multi") return multiFilter(column, onChange);
    if (column.filterKind === "range") return rangeFilter(column, onChange);
    return textFilter(column, onChange);
  };

  // Multi-select: a button opening a list of checkboxes; nothing checked means "all".
  function multiFilter(column, onChange) {
    var summary = element("button", { type: "button", className: "es-multi__button", text: "all", "aria-expanded": "false" });
    var list = element("div", { className: "es-multi__list", hidden: "" });
    var boxes = column.dict.map(function (value, code) {
      var text = value === null ? "(empty)" : String(value);
      var label = column.meta.choices && column.meta.choices[text];
      var box = element("input", { type: "checkbox", value: String(code) });
      list.appendChild(element("label", { title: label || text }, [box, document.createTextNode(" " + text)]));
      box.addEventListener("change", onChange);
      return box;
    });
    var node = element("div", { className: "es-multi" }, [summary, list]);
    var open = function (yes) { list.hidden = !yes; summary.setAttribute("aria-expanded", String(yes)); };
    summary.addEventListener("click", function () { open(list.hidden); });
    document.addEventListener("click", function (event) { if (!node.contains(event.target)) open(false); });
    var filter = {
      node: node,
      active: function () { return boxes.some(function (b) { return b.checked; }); },
      // Rows pass when their code is checked: a lookup table over the dictionary.
      apply: function (mask) {
        var allowed = new Uint8Array(column.dict.length);
        boxes.forEach(function (b, code) { allowed[code] = b.checked ? 1 : 0; });
        var codes = column.codes;
        for (var i = 0, n = mask.length; i < n; i++) if (mask[i] && !allowed[codes[i]]) mask[i] = 0;
      },
      refresh: function () {
        var checked = boxes.filter(function (b) { return b.checked; }).length;
        summary.textContent = checked ? checked + " of " + boxes.length : "all";
        node.classList.toggle("es-active", checked > 0);
      },
      save: function () {
        return boxes.filter(function (b) { return b.checked; }).map(function (b) {
          var v = column.dict[Number(b.value)];
          return encodeURIComponent(v === null ? "" : String(v));
        }).join(",");
      },
      load: function (text) {
        var wanted = text === null ? [] : text.split(",").map(decodeURIComponent);
        boxes.forEach(function (b) {
          var v = column.dict[Number(b.value)];
          b.checked = wanted.indexOf(v === null ? "" : String(v)) >= 0;
        });
      },
    };
    return filter;
  }

  // Text: "contains" (case-insensitive) or /regular expression/.
  function textFilter(column, onChange) {
    var input = element("input", { type: "search", placeholder: "contains… or /regex/", className: "es-input", "aria-label": "Filter " + column.meta.label });
    input.addEventListener("input", onChange);
    var test = function (text) {
      var match = /^\/(.*)\/([a-z]*)$/.exec(text);
      if (match) {
        try {
          var pattern = new RegExp(match[1], match[2].indexOf("i") >= 0 ? match[2] : match[2] + "i");
          input.classList.remove("es-invalid");
          return function (v) { return v !== null && pattern.test(v); };
        } catch (error) {
          input.classList.add("es-invalid");
          return function () { return true; };
        }
      }
      input.classList.remove("es-invalid");
      var needle = text.toLowerCase();
      return function (v) { return v !== null && v.toLowerCase().indexOf(needle) >= 0; };
    };
    return {
      node: input,
      active: function () { return input.value !== ""; },
      apply: function (mask) {
        var passes = test(input.value), i, n = mask.length;
        if (column.codes) { // decide once per dictionary entry
          var ok = Uint8Array.from(column.dict, function (v) { return passes(v === null ? null : String(v)) ? 1 : 0; });
          for (i = 0; i < n; i++) if (mask[i] && !ok[column.codes[i]]) mask[i] = 0;
        } else {
          var strings = column.strings;
          for (i = 0; i < n; i++) if (mask[i] && !passes(strings[i])) mask[i] = 0;
        }
      },
      refresh: function () { input.classList.toggle("es-active", input.value !== ""); },
      save: function () { return encodeURIComponent(input.value); },
      load: function (text) { input.value = text === null ? "" : decodeURIComponent(text); },
    };
  }

  // Numbers and dates: min and max, both inclusive (a max date includes its whole day).
  function rangeFilter(column, onChange) {
    var dated = column.type === "datetime" || column.type === "date";
    var kind = dated ? "date" : "number";
    var low = element("input", { type: kind, placeholder: "min", className: "es-input es-range", "aria-label": column.meta.label + " min", step: "any" });
    var high = element("input", { type: kind, placeholder: "max", className: "es-input es-range", "aria-label": column.meta.label + " max", step: "any" });
    [low, high].forEach(function (input) { input.addEventListener("change", onChange); input.addEventListener("input", onChange); });
    var parse = function (input, end) {
      if (input.value === "") return null;
      if (!dated) { var x = Number(input.value); return isNaN(x) ? null : x; }
      var t = Date.parse(input.value + "T00:00:00Z") / 1000;
      return isNaN(t) ? null : (end ? t + 86399 : t);
    };
    return {
      node: element("div", { className: "es-range-pair" }, [low, high]),
      active: function () { return parse(low, false) !== null || parse(high, true) !== null; },
      apply: function (mask) {
        var lo = parse(low, false), hi = parse(high, true);
        if (lo === null) lo = -Infinity;
        if (hi === null) hi = Infinity;
        var i, n = mask.length, v;
        if (column.codes) {
          var ok = Uint8Array.from(column.dictNumbers, function (x) { return x >= lo && x <= hi ? 1 : 0; });
          for (i = 0; i < n; i++) if (mask[i] && !ok[column.codes[i]]) mask[i] = 0;
        } else {
          var numbers = column.numbers;
          for (i = 0; i < n; i++) { v = numbers[i]; if (mask[i] && !(v >= lo && v <= hi)) mask[i] = 0; }
        }
      },
      refresh: function () {
        low.classList.toggle("es-active", low.value !== "");
        high.classList.toggle("es-active", high.value !== "");
      },
      save: function () { return encodeURIComponent(low.value) + ".." + encodeURIComponent(high.value); },
      load: function (text) {
        var parts = (text || "").split("..");
        low.value = parts[0] ? decodeURIComponent(parts[0]) : "";
        high.value = parts[1] ? decodeURIComponent(parts[1]) : "";
      },
    };
  }

  // -- filtering, sorting, drawing ------------------------------------------------------

  StatusTable.prototype.apply = function () {
    var started = performance.now();
    var rows = this.rows, mask = new Uint8Array(rows).fill(1);
    this.filters.forEach(function (filter) { if (filter.active()) filter.apply(mask); });
    var order = this.order, selected = new Int32Array(rows), count = 0;
    var categoryCounts = this.categories.map(function () { return 0; });
    var rowCategory = this.rowCategory, i, row;
    for (i = 0; i < rows; i++) {
      row = order ? order[i] : i;
      if (mask[row]) { selected[count++] = row; categoryCounts[rowCategory[row]]++; }
    }
    this.selected = selected.subarray(0, count);
    this.categoryCounts = categoryCounts;
    this.filters.forEach(function (filter) { filter.refresh(); });
    this.drawProgress();
    this.drawPage();
    this.writeHash();
    this.redrawMs = performance.now() - started;
    this.root.setAttribute("data-redraw-ms", this.redrawMs.toFixed(1));
  };

  StatusTable.prototype.toggleSort = function (index) {
    var descending = this.sort && this.sort.column === index ? !this.sort.descending : false;
    this.setSort({ column: index, descending: descending });
    this.page = 0;
    this.apply();
  };

  StatusTable.prototype.setSort = function (sort) {
    this.sort = sort;
    this.order = sort ? sortedOrder(this.columns[sort.column], this.rows, sort.descending) : null;
    this.headers.forEach(function (th, index) {
      var state = sort && sort.column === index ? (sort.descending ? "descending" : "ascending") : "none";
      th.setAttribute("aria-sort", state);
    });
  };

  // Row order by a column: a counting sort over dictionary ranks, else a typed-array sort.
  // Nulls sort last in both directions; ties keep database order.
  function sortedOrder(column, rows, descending) {
    var i, order = new Int32Array(rows);
    if (column.codes) {
      var dict = column.dict;
      var ranked = dict.map(function (_, code) { return code; }).sort(function (a, b) {
        return compareValues(dict[a], dict[b], descending);
      });
      var rank = new Int32Array(dict.length);
      ranked.forEach(function (code, r) { rank[code] = r; });
      var starts = new Int32Array(dict.length + 1);
      for (i = 0; i < rows; i++) starts[rank[column.codes[i]] + 1]++;
      for (i = 1; i <= dict.length; i++) starts[i] += starts[i - 1];
      for (i = 0; i < rows; i++) order[starts[rank[column.codes[i]]]++] = i;
      return order;
    }
    for (i = 0; i < rows; i++) order[i] = i;
    return order.sort(function (a, b) {
      return compareValues(rawAt(column, a), rawAt(column, b), descending) || a - b;
    });
  }

  function compareValues(a, b, descending) {
    if (a === b) return 0;
    if (a === null) return 1;
    if (b === null) return -1;
    var result = a < b ? -1 : 1;
    return descending ? -result : result;
  }

  StatusTable.prototype.drawProgress = function () {
    var counts = this.categoryCounts, total = this.selected.length, bar = this.bar, legend = this.legend;
    bar.textContent = "";
    legend.textContent = "";
    var parts = [], labels = this.categoryLabels;
    this.categories.forEach(function (category, index) {
      var count = counts[index];
      if (category === "other" && count === 0) return;
      var share = total ? (100 * count) / total : 0;
      if (count) {
        bar.appendChild(element("div", {
          className: "es-bar__part es-cat--" + category,
          style: "width:" + share + "%",
          title: labels[category] + ": " + count.toLocaleString("en"),
        }));
      }
      legend.appendChild(element("span", {
        className: "es-legend__item", "data-category": category, "data-count": String(count),
      }, [
        element("span", { className: "es-swatch es-cat--" + category }),
        element("span", { text: labels[category] + " " + count.toLocaleString("en") + " (" + share.toFixed(1) + " %)" }),
      ]));
      parts.push(labels[category] + " " + share.toFixed(1) + " %");
    });
    bar.setAttribute("aria-label", parts.join(", "));
    this.countLine.textContent = total.toLocaleString("en") + " of " + this.rows.toLocaleString("en") + " rows";
    this.countLine.setAttribute("data-count", String(total));
  };

  StatusTable.prototype.drawPage = function () {
    var self = this, total = this.selected.length;
    var pages = Math.max(1, Math.ceil(total / PAGE_ROWS));
    this.page = Math.min(Math.max(this.page, 0), pages - 1);
    var start = this.page * PAGE_ROWS, stop = Math.min(start + PAGE_ROWS, total);
    var fragment = document.createDocumentFragment();
    for (var k = start; k < stop; k++) {
      var row = this.selected[k], tr = document.createElement("tr");
      tr.setAttribute("data-row", String(row));
      this.columns.forEach(function (column) {
        var td = document.createElement("td");
        var text = formatValue(column, rawAt(column, row), false);
        if (column === self.statusColumn) {
          td.appendChild(element("span", { className: "es-badge es-cat--" + self.categories[self.rowCategory[row]], text: text }));
        } else if (column.meta.unit === "bytes" && text !== "") {
          td.textContent = humanBytes(Number(text));
          td.title = Number(text).toLocaleString("en") + " bytes";
        } else {
          td.textContent = text;
        }
        if (column.numbers || column.dictNumbers) td.className = "es-number";
        tr.appendChild(td);
      });
      fragment.appendChild(tr);
    }
    this.body.textContent = "";
    this.body.appendChild(fragment);
    this.pager.textContent = "";
    var previous = element("button", { type: "button", className: "es-page", text: "‹ previous" });
    var next = element("button", { type: "button", className: "es-page", text: "next ›" });
    previous.disabled = this.page === 0;
    next.disabled = this.page >= pages - 1;
    previous.addEventListener("click", function () { self.page--; self.drawPage(); self.writeHash(); });
    next.addEventListener("click", function () { self.page++; self.drawPage(); self.writeHash(); });
    var where = total ? "rows " + (start + 1).toLocaleString("en") + "–" + stop.toLocaleString("en") + " of " + total.toLocaleString("en") : "no row matches the filters";
    this.pager.appendChild(previous);
    this.pager.appendChild(element("span", { className: "es-where", text: where + " · page " + (this.page + 1) + " of " + pages }));
    this.pager.appendChild(next);
  };

  // -- URL state ------------------------------------------------------------------------
  // #ensemble=a12m310,a09m220&file_name=cfg003&size=100..&_sort=-configuration&_page=2

  StatusTable.prototype.writeHash = function () {
    var parts = [], self = this;
    this.filters.forEach(function (filter, index) {
      if (filter.active()) parts.push(encodeURIComponent(self.columns[index].name) + "=" + filter.save());
    });
    if (this.sort) parts.push("_sort=" + (this.sort.descending ? "-" : "") + encodeURIComponent(this.columns[this.sort.column].name));
    if (this.page) parts.push("_page=" + (this.page + 1));
    var hash = parts.join("&");
    if (hash === (this.writtenHash || "") && location.hash.slice(1) === hash) return;
    this.writtenHash = hash;
    history.replaceState(history.state, "", hash ? "#" + hash : location.pathname + location.search);
  };

  StatusTable.prototype.readHash = function () {
    var state = {};
    location.hash.slice(1).split("&").forEach(function (part) {
      var at = part.indexOf("=");
      if (at > 0) state[decodeURIComponent(part.slice(0, at))] = part.slice(at + 1);
    });
    var self = this;
    this.filters.forEach(function (filter, index) {
      var name = self.columns[index].name;
      filter.load(Object.prototype.hasOwnProperty.call(state, name) ? state[name] : null);
    });
    var sort = null;
    if (state._sort) {
      var key = decodeURIComponent(state._sort), descending = key.charAt(0) === "-";
      var column = this.columns.map(function (c) { return c.name; }).indexOf(descending ? key.slice(1) : key);
      if (column >= 0) sort = { column: column, descending: descending };
    }
    this.setSort(sort);
    this.page = state._page ? Math.max(0, parseInt(state._page, 10) - 1 || 0) : 0;
  };

  StatusTable.prototype.resetFilters = function () {
    this.filters.forEach(function (filter) { filter.load(null); });
    this.page = 0;
    this.apply();
  };

  // -- CSV ------------------------------------------------------------------------------

  // A text cell starting like a formula gets a "'" (OWASP CSV injection), as in the
  // CSV downloads (espresso_static.website.sanitize.csv_cell); numbers stay numbers.
  function csvField(text, numeric) {
    if (!numeric && /^[=+\-@\t\r]/.test(text)) text = "'" + text;
    return /[",\n\r]/.test(text) ? '"' + text.replace(/"/g, '""') + '"' : text;
  }

  StatusTable.prototype.csv = function () {
    var columns = this.columns, lines = [columns.map(function (c) { return csvField(c.name); }).join(",")];
    var selected = this.selected;
    for (var k = 0; k < selected.length; k++) {
      var row = selected[k];
      lines.push(columns.map(function (c) { return csvField(formatValue(c, rawAt(c, row), true), isNumeric(c.type)); }).join(","));
    }
    return lines.join("\r\n") + "\r\n";
  };

  StatusTable.prototype.downloadCsv = function () {
    var url = URL.createObjectURL(new Blob([this.csv()], { type: "text/csv" }));
    var name = this.meta.model.split(".").pop().toLowerCase() + (this.writtenHash ? "-filtered" : "") + ".csv";
    var link = element("a", { href: url, download: name });
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(function () { URL.revokeObjectURL(url); }, 10000);
  };

  // -- start ----------------------------------------------------------------------------

  function start() {
    document.querySelectorAll(".es-status:not([data-state])").forEach(function (root) {
      var table = new StatusTable(root);
      root.espressoStatus = table; // for tests and the benchmark
      table.load();
    });
  }

  // mkdocs-material's instant navigation swaps pages without reloading scripts.
  if (window.document$ && typeof window.document$.subscribe === "function") window.document$.subscribe(start);
  else if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
