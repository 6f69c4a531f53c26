/* espresso-static status tables: filters, sorting, paging, a live progress bar, the
 * filter state in the URL hash and a CSV download of the filtered rows.
 *
 * Every <div class="es-status" data-meta="data/meta.json"> on a page becomes a table.
 * The data format (binary columns in primary-key segments, gzip files per part of
 * segments: one with the key columns, one per other column) is documented in
 * espresso_static/website/features/statusdata.py.
 * Loading order: the status and the other dictionary-coded columns of every row first
 * (the progress bar and most filters need nothing else), then the other columns of the
 * segments holding the rows on screen, then everything else; a filter or sort on a
 * column still loading waits for it and says so. Written for this project; no
 * third-party code. */
(function () {
  "use strict";

  // Dictionary-coded columns (texts, booleans, numbers with choices) with at most this
  // many distinct values get a multi-select filter.
  var MULTI_MAX = 60;
  var PAGE_ROWS = 50;
  // Files fetched at once (browsers open ~6 connections per host).
  var PARALLEL = 6;
  var NULL_INT32 = -2147483648;
  // A text filter tests row by row the segments where fewer than 1 row in this many
  // passes the other filters (searching a segment's text costs about that much).
  var FEW_LEFT = 4;

  // -- loading and decoding -----------------------------------------------------------

  function fetchBuffer(url) {
    return fetch(url).then(function (response) {
      if (!response.ok) throw new Error(url + ": HTTP " + response.status);
      return response.arrayBuffer();
    }).then(function (buffer) {
      var bytes = new Uint8Array(buffer, 0, Math.min(2, buffer.byteLength));
      // A server may already have removed the gzip layer (Content-Encoding: gzip).
      if (bytes[0] !== 0x1f || bytes[1] !== 0x8b) return buffer;
      var stream = new Blob([buffer]).stream().pipeThrough(new DecompressionStream("gzip"));
      return new Response(stream).arrayBuffer();
    });
  }

  // The frames of a part file: uint32 header length, JSON header, body; each body
  // starts and ends 8-byte aligned, so typed arrays view it in place.
  function readFrames(buffer) {
    var view = new DataView(buffer), decoder = new TextDecoder(), frames = [], at = 0;
    while (at < buffer.byteLength) {
      var size = view.getUint32(at, true);
      var header = JSON.parse(decoder.decode(new Uint8Array(buffer, at + 4, size)));
      frames.push({ header: header, buffer: buffer, body: at + 4 + size });
      at += 4 + size + header.bytes + ((8 - (header.bytes % 8)) % 8);
    }
    return frames;
  }

  function localCodes(file) {
    var h = file.header;
    return h.width === 1 ? new Uint8Array(file.buffer, file.body, h.rows) : new Uint16Array(file.buffer, file.body, h.rows);
  }

  // The key of a dictionary value (texts, booleans and null may share a spelling).
  function valueKey(value) { return value === null ? "\u0000" : typeof value + ":" + value; }

  // A segment of a text column: its values one string, "\n" after each, and each value's
  // start and length (-1: null) in it. A value is a slice made when it is needed. What
  // the text filter needs is prepared as it loads, not at the first keystroke: the
  // lower-case text (null when lower case changes lengths) and whether every line
  // break is a separator (no value holds one).
  function textBlock(texts, lengths) {
    var rows = lengths.length, starts = new Int32Array(rows), at = 0;
    for (var i = 0; i < rows; i++) { starts[i] = at; at += (lengths[i] > 0 ? lengths[i] : 0) + 1; }
    var breaks = 0, where = -1;
    while ((where = texts.indexOf("\n", where + 1)) >= 0) breaks++;
    var lower = texts.toLowerCase();
    return {
      text: texts, lengths: lengths, starts: starts, rows: rows,
      lower: lower.length === texts.length ? lower : null,
      lineSafe: breaks === rows && !/[\r\u2028\u2029]/.test(texts),
    };
  }

  function blockFromCodes(dict, codes) {
    var rows = codes.length, lengths = new Int32Array(rows), parts = new Array(rows);
    for (var i = 0; i < rows; i++) {
      var v = dict[codes[i]];
      parts[i] = v === null ? "" : String(v);
      lengths[i] = v === null ? -1 : parts[i].length;
    }
    return textBlock(parts.join("\n") + (rows ? "\n" : ""), lengths);
  }

  function blockValue(block, i) {
    var length = block.lengths[i];
    return length < 0 ? null : block.text.slice(block.starts[i], block.starts[i] + length);
  }

  function isNumeric(type) {
    return type === "int" || type === "float" || type === "datetime" || type === "date";
  }

  function makeColumn(meta, rows, segments) {
    var column = { meta: meta, name: meta.name, type: meta.type, kind: meta.kind, loaded: new Uint8Array(segments), loadedCount: 0 };
    if (meta.kind === "codes") {
      column.dict = meta.dict;
      var n = meta.dict.length;
      column.codes = n <= 256 ? new Uint8Array(rows) : n <= 65536 ? new Uint16Array(rows) : new Int32Array(rows);
      column.codeOf = {};
      meta.dict.forEach(function (value, code) { column.codeOf[valueKey(value)] = code; });
    } else if (meta.kind === "number") {
      column.numbers = new Float64Array(rows);
    } else {
      column.blocks = new Array(segments);
    }
    return column;
  }

  // Decode one frame of ``column`` (its values in ``segment``) into the rows from ``at`` on.
  function decodeInto(column, file, at, segment) {
    var h = file.header, rows = h.rows, i;
    if (column.kind === "codes") {
      var local = localCodes(file), global = h.dict.map(function (v) { return column.codeOf[valueKey(v)]; });
      var codes = column.codes;
      for (i = 0; i < rows; i++) codes[at + i] = global[local[i]];
    } else if (column.kind === "number") {
      if (h.encoding === "codes") { // a column with choices, coded where its segment could be
        var dict = h.dict.map(function (v) { return v === null ? NaN : v; }), coded = localCodes(file);
        for (i = 0; i < rows; i++) column.numbers[at + i] = dict[coded[i]];
      } else if (h.encoding === "f64") {
        column.numbers.set(new Float64Array(file.buffer, file.body, rows), at);
      } else {
        var ints = new Int32Array(file.buffer, file.body, rows), numbers = column.numbers;
        for (i = 0; i < rows; i++) numbers[at + i] = ints[i] === NULL_INT32 ? NaN : ints[i];
      }
    } else if (h.encoding === "codes") {
      column.blocks[segment] = blockFromCodes(h.dict, localCodes(file));
    } else {
      var lengths = new Int32Array(file.buffer, file.body, rows);
      var text = new TextDecoder().decode(new Uint8Array(file.buffer, file.body + 4 * rows, h.bytes - 4 * rows));
      column.blocks[segment] = textBlock(text, lengths);
    }
    column.loaded[segment] = 1;
    column.loadedCount++;
  }

  // -- values -------------------------------------------------------------------------

  // undefined: not loaded yet.
  StatusTable.prototype.valueAt = function (column, row) {
    if (column.codes) return column.dict[column.codes[row]];
    var segment = this.segmentOf(row);
    if (!column.loaded[segment]) return undefined;
    if (column.numbers) { var v = column.numbers[row]; return isNaN(v) ? null : v; }
    return blockValue(column.blocks[segment], row - this.segmentStarts[segment]);
  };

  StatusTable.prototype.segmentOf = function (row) {
    var starts = this.segmentStarts, low = 0, high = starts.length - 2;
    while (low < high) {
      var middle = (low + high + 1) >> 1;
      if (starts[middle] <= row) low = middle; else high = middle - 1;
    }
    return low;
  };

  function pad(n) { return n < 10 ? "0" + n : String(n); }

  // A time's number counts column.meta.per_second units a second since 1970 UTC.
  function formatValue(column, value, forCsv) {
    if (value === null || value === undefined) return "";
    if (column.type === "datetime" || column.type === "date") {
      var perSecond = column.meta.per_second, seconds = Math.floor(value / perSecond);
      var d = new Date(seconds * 1000);
      // Four digits, as Python's isoformat (year 1 is 0001).
      var year = String(d.getUTCFullYear()).padStart(4, "0");
      var day = year + "-" + pad(d.getUTCMonth() + 1) + "-" + pad(d.getUTCDate());
      if (column.type === "date") return day;
      var time = pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes()) + ":" + pad(d.getUTCSeconds());
      if (!forCsv) return day + " " + time;
      // The stored value as the downloads write it (Python's isoformat): microseconds
      // where there are some, the zone as +00:00.
      var micro = value - seconds * perSecond;
      return day + "T" + time + (micro ? "." + String(micro).padStart(6, "0") : "") + "+00:00";
    }
    return String(value);
  }

  // [text, title] of a value as Django shows it: a choice's label, its title the stored
  // value where they differ (null: none); a value not among the choices as stored.
  // Labels are the model's text: they reach the page as text, never as HTML.
  function shownValue(column, value) {
    var text = formatValue(column, value, false), choices = column.meta.choices;
    var chosen = value !== null && value !== undefined && choices && Object.prototype.hasOwnProperty.call(choices, text);
    var label = chosen ? choices[text] : text;
    return [label, label === text ? null : text];
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
    this.queue = []; // files [part, group] wanted now, first first
    this.background = []; // files [part, group] to fetch once the first page is shown
    this.running = 0;
    this.waiting = []; // {missing: [[segment, column]], step, resolve, reject}
    this.fetched = {}; // "part:group": the file's promise
  }

  StatusTable.prototype.load = function () {
    var self = this;
    self.started = performance.now();
    self.root.setAttribute("data-state", "loading");
    self.root.setAttribute("aria-busy", "true");
    return fetchBuffer(self.base.href).then(function (buffer) {
      var meta = JSON.parse(new TextDecoder().decode(buffer));
      self.meta = meta;
      self.rows = meta.rows;
      self.segments = meta.segments;
      self.segmentStarts = new Int32Array(meta.segments.length + 1);
      meta.segments.forEach(function (segment, s) { self.segmentStarts[s + 1] = self.segmentStarts[s] + segment[1]; });
      self.columns = meta.columns.map(function (m) { return makeColumn(m, meta.rows, meta.segments.length); });
      self.partOfSegment = new Int32Array(meta.segments.length);
      meta.parts.forEach(function (part, p) { self.partOfSegment.fill(p, part[1], part[1] + part[2]); });
      self.statusColumn = self.columns.filter(function (c) { return c.name === meta.status; })[0];
      // First what the bar and the filters need: the status and the codes of every row.
      var first = self.columns.filter(function (c) { return c.kind === "codes" || c === self.statusColumn; });
      var rest = self.columns.filter(function (c) { return first.indexOf(c) < 0; });
      rest.sort(function (a, b) { return (a.kind === "text") - (b.kind === "text"); }); // numbers before texts
      rest.forEach(function (column) {
        meta.parts.forEach(function (_, p) { self.background.push([p, self.columns.indexOf(column)]); });
      });
      self.showLoading(first);
      return self.whenLoaded(self.allSegments(first), function () { self.showLoading(first); });
    }).then(function () {
      self.prepare();
      self.build();
      self.readHash();
      self.apply();
    }).catch(function (error) { self.fail(error); });
  };

  StatusTable.prototype.fail = function (error) {
    this.root.setAttribute("data-state", "error");
    this.root.removeAttribute("aria-busy");
    var hint = location.protocol === "file:"
      ? " Browsers do not fetch data from file:// pages: serve the site with `espresso-static serve` in the project."
      : "";
    this.root.textContent = "Could not load the status data: " + error.message + "." + hint;
    this.root.classList.add("es-status--error");
    this.queue = [];
    this.background = [];
  };

  StatusTable.prototype.showLoading = function (columns) {
    var total = 0, loaded = 0;
    columns.forEach(function (c) { total += c.loaded.length; loaded += c.loadedCount; });
    this.root.textContent = "Loading the status of " + this.rows.toLocaleString("en") + " rows: " +
      Math.floor((100 * loaded) / Math.max(total, 1)) + " %…";
  };

  StatusTable.prototype.allSegments = function (columns) {
    var wanted = {}, self = this;
    self.segments.forEach(function (_, s) { wanted[s] = columns.map(function (c) { return self.columns.indexOf(c); }); });
    return wanted;
  };

  // The file holding a column: "k" (the key columns) or the column's index.
  StatusTable.prototype.groupOf = function (index) {
    return this.meta.key_columns.indexOf(index) >= 0 ? "k" : index;
  };

  StatusTable.prototype.groupColumns = function (group) {
    return group === "k" ? this.meta.key_columns : [group];
  };

  // Resolves once the values ``wanted`` ({segment: [column index]}) are loaded, their
  // files fetched before anything else still queued; ``step`` after each file.
  StatusTable.prototype.whenLoaded = function (wanted, step) {
    var self = this, missing = [], files = [], urgent = {};
    var key = function (file) { return file[0] + ":" + file[1]; };
    Object.keys(wanted).forEach(function (s) {
      wanted[s].forEach(function (c) {
        if (self.columns[c].loaded[s]) return;
        missing.push([Number(s), c]);
        var file = [self.partOfSegment[s], self.groupOf(c)];
        if (!urgent[key(file)]) { urgent[key(file)] = true; files.push(file); }
      });
    });
    if (!missing.length) return Promise.resolve();
    self.queue = files.concat(self.queue.filter(function (file) { return !urgent[key(file)]; }));
    self.background = self.background.filter(function (file) { return !urgent[key(file)]; });
    return new Promise(function (resolve, reject) {
      self.waiting.push({ missing: missing, step: step, resolve: resolve, reject: reject });
      self.pump();
    });
  };

  StatusTable.prototype.pump = function () {
    var self = this;
    while (self.running < PARALLEL && (self.queue.length || (self.shown && self.background.length))) {
      var file = (self.queue.length ? self.queue : self.background).shift();
      if (self.fetched[file[0] + ":" + file[1]]) continue;
      self.running++;
      self.fetchPart(file[0], file[1]).then(function () {
        self.running--;
        self.pump();
      }, function (error) {
        self.waiting.forEach(function (w) { w.reject(error); });
        self.waiting = [];
        self.fail(error);
      });
    }
  };

  StatusTable.prototype.fetchPart = function (p, group) {
    var self = this, part = self.meta.parts[p], indices = self.groupColumns(group);
    var url = new URL("p" + part[0] + "-" + (group === "k" ? "k" : "c" + group) + ".bin.gz", self.base).href;
    var done = fetchBuffer(url).then(function (buffer) {
      var frames = readFrames(buffer), next = 0;
      for (var s = part[1]; s < part[1] + part[2]; s++) {
        indices.forEach(function (c) { decodeInto(self.columns[c], frames[next++], self.segmentStarts[s], s); });
      }
      self.loadedFile(indices.map(function (c) { return self.columns[c]; }));
    });
    self.fetched[p + ":" + group] = done;
    return done;
  };

  // After each file: wake who waits for it; once a column is whole, what waits for it.
  StatusTable.prototype.loadedFile = function (columns) {
    var self = this;
    self.waiting = self.waiting.filter(function (w) {
      var left = w.missing.some(function (value) { return !self.columns[value[1]].loaded[value[0]]; });
      if (w.step) w.step();
      if (!left) w.resolve();
      return left;
    });
    var whole = columns.filter(function (column) { return self.isLoaded(column); });
    if (!whole.length || !self.built) return;
    if (self.pending && whole.some(function (column) { return self.pending.indexOf(column) >= 0; })) self.apply();
    if (self.columns.every(function (c) { return self.isLoaded(c); })) self.completed();
    else self.drawLoading();
  };

  StatusTable.prototype.completed = function () {
    this.root.removeAttribute("aria-busy");
    this.root.setAttribute("data-complete-at", performance.now().toFixed(0));
    this.drawLoading();
    if (this.csvWanted) { this.csvWanted = false; this.downloadCsv(); }
  };

  // Per-row category (done, missing, ...) and filter widgets kinds, computed once.
  StatusTable.prototype.prepare = function () {
    var meta = this.meta, rows = this.rows, categories = this.categories, self = this;
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
      for (i = 0; i < rows; i++) this.rowCategory[i] = categoryOf(self.valueAt(status, i));
    }
    this.columns.forEach(function (column) {
      if (column.codes && column.dict.length <= MULTI_MAX) column.filterKind = "multi";
      else if (column.numbers) column.filterKind = "range";
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
      else if (attributes[key] !== null) node.setAttribute(key, attributes[key]); // null: none
    });
    (children || []).forEach(function (child) { if (child) node.appendChild(child); });
    return node;
  }

  StatusTable.prototype.build = function () {
    var self = this;
    self.root.textContent = "";
    self.bar = element("div", { className: "es-bar", role: "img" });
    self.legend = element("div", { className: "es-legend" });
    self.countLine = element("span", { className: "es-count", role: "status" });
    self.note = element("span", { className: "es-note" });
    self.csvButton = element("button", { className: "md-button es-button", type: "button", text: "Download CSV" });
    self.csvButton.addEventListener("click", function () { self.downloadCsv(); });
    var reset = element("button", { className: "md-button es-button", type: "button", text: "Reset filters" });
    reset.addEventListener("click", function () { self.resetFilters(); });
    var toolbar = element("div", { className: "es-toolbar" }, [self.countLine, self.note, reset, self.csvButton]);

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
    self.built = true;
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
    return textFilter(this, column, onChange);
  };

  // Multi-select: a button opening a list of checkboxes; nothing checked means "all".
  function multiFilter(column, onChange) {
    var summary = element("button", { type: "button", className: "es-multi__button", text: "all", "aria-expanded": "false", "aria-label": "Filter " + column.meta.label });
    var list = element("div", { className: "es-multi__list", hidden: "" });
    var boxes = column.dict.map(function (value, code) {
      var shown = value === null ? ["(empty)", null] : shownValue(column, value);
      var box = element("input", { type: "checkbox", value: String(code) });
      list.appendChild(element("label", { title: shown[1] }, [box, document.createTextNode(" " + shown[0])]));
      box.addEventListener("change", onChange);
      return box;
    });
    var node = element("div", { className: "es-multi" }, [summary, list]);
    var open = function (yes) { list.hidden = !yes; summary.setAttribute("aria-expanded", String(yes)); };
    summary.addEventListener("click", function () { open(list.hidden); });
    document.addEventListener("click", function (event) { if (!node.contains(event.target)) open(false); });
    return {
      node: node,
      active: function () { return boxes.some(function (b) { return b.checked; }); },
      // Rows pass when their code is checked: a lookup table over the dictionary.
      passes: function (out) {
        var allowed = new Uint8Array(column.dict.length);
        boxes.forEach(function (b, code) { allowed[code] = b.checked ? 1 : 0; });
        var codes = column.codes;
        for (var i = 0, n = out.length; i < n; i++) out[i] = allowed[codes[i]];
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
        var wanted = text === null ? [] : text.split(",").map(decoded);
        boxes.forEach(function (b) {
          var v = column.dict[Number(b.value)];
          b.checked = wanted.indexOf(v === null ? "" : String(v)) >= 0;
        });
      },
    };
  }

  // A filter's value from the address: a link with a bad escape (%E0) leaves it as
  // written, where decodeURIComponent would throw and the page show no rows.
  function decoded(text) {
    try {
      return decodeURIComponent(text);
    } catch (error) {
      return text;
    }
  }

  // Which rows of a text segment pass: the segment is one string, searched at once
  // (indexOf, or the query's ``lines`` expression: values are its lines), each match
  // mapped to its row. Segments whose values hold line breaks, or whose lower case
  // changes lengths, and patterns ``lines`` cannot take are tested value by value, as
  // is a match running past its value.
  function blockMatches(block, query, passes) {
    var rows = block.rows, hits = new Uint8Array(rows), lengths = block.lengths, starts = block.starts, i;
    var contains = query.needle !== undefined;
    var whole = block.lineSafe && (contains ? block.lower !== null && query.needle.indexOf("\n") < 0 : query.lines !== null);
    if (!whole) {
      for (i = 0; i < rows; i++) hits[i] = passes(blockValue(block, i)) ? 1 : 0;
      return hits;
    }
    var row = 0, end = function (r) { return starts[r] + (lengths[r] > 0 ? lengths[r] : 0); };
    var found, length, pattern = query.lines;
    for (var from = 0; ;) {
      if (contains) {
        found = block.lower.indexOf(query.needle, from);
        length = query.needle.length;
      } else {
        pattern.lastIndex = from;
        var match = pattern.exec(block.text);
        found = match ? match.index : -1;
        length = match ? match[0].length : 0;
      }
      if (found < 0) break;
      while (end(row) < found) row++;
      if (lengths[row] >= 0) hits[row] = found + length <= end(row) ? 1 : passes(blockValue(block, row)) ? 1 : 0;
      if (++row >= rows) break;
      from = starts[row];
    }
    return hits;
  }

  // Whether a regular expression can take exponential time on a long text (JavaScript
  // has no timeout): a repeated group holding a repetition or alternatives ((a+)+,
  // (a|ab)*), or a back-reference. A link's such expression waits for the reader.
  function mayBacktrackForever(source) {
    var groups = [false], last = false, c;
    for (var i = 0; i < source.length; i++) {
      c = source.charAt(i);
      if (c === "\\") {
        if (/[1-9k]/.test(source.charAt(++i))) return true;
        last = false;
      } else if (c === "[") {
        for (i++; i < source.length && source.charAt(i) !== "]"; i++) if (source.charAt(i) === "\\") i++;
        last = false;
      } else if (c === "(") {
        groups.push(false);
        last = false;
      } else if (c === ")" && groups.length > 1) {
        last = groups.pop();
        groups[groups.length - 1] = groups[groups.length - 1] || last;
      } else if (c === "|") {
        groups[groups.length - 1] = true;
        last = false;
      } else if (c === "*" || c === "+" || (c === "{" && /^\{\d*,?\d*\}/.test(source.slice(i)))) {
        if (last) return true;
        groups[groups.length - 1] = true;
      } else {
        last = false;
      }
    }
    return false;
  }

  // ``source`` with each class, and each escape standing for one, kept from matching a
  // line break: a segment's text is searched at once, its values as lines, and a match
  // attempt then stops at its value's end rather than run on to the text's end
  // (/^[^-]*x/ over 10,000 file names took minutes). Within a value (no line break on
  // that path) it matches as ``source`` does.
  function lineBound(source) {
    var bounded = "", i = 0, end, next;
    while (i < source.length) {
      var c = source.charAt(i);
      if (c === "\\") {
        next = source.charAt(i + 1);
        end = i + 2;
        if ((next === "p" || next === "P") && source.charAt(end) === "{") end = source.indexOf("}", end) + 1 || source.length;
        bounded += "sWDpP".indexOf(next) >= 0 ? notLineBreak(source.slice(i, end)) : source.slice(i, end);
      } else if (c === "[") {
        for (end = i + 1; end < source.length && source.charAt(end) !== "]"; end++) if (source.charAt(end) === "\\") end++;
        var set = source.slice(i, ++end);
        bounded += /^\[\^|[\\\n\r\u2028\u2029]/.test(set) ? notLineBreak(set) : set;
      } else {
        bounded += c;
        end = i + 1;
      }
      i = end;
    }
    return bounded;
  }

  function notLineBreak(atom) {
    return "(?:(?!\\n)" + atom + ")";
  }

  // Text: "contains" (case-insensitive) or /regular expression/.
  function textFilter(table, column, onChange) {
    var input = element("input", { type: "search", placeholder: "contains… or /regex/", className: "es-input", "aria-label": "Filter " + column.meta.label });
    // A link's expression that may run for ever is shown, not applied, until the reader
    // edits it or presses Enter.
    var held = false, hold = function (on) {
      held = on;
      input.classList.toggle("es-held", on);
      if (on) input.title = "From the link, not applied: this expression could take very long. Press Enter to apply it.";
      else input.removeAttribute("title");
    };
    input.addEventListener("input", function () { hold(false); onChange(); });
    input.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && held) { hold(false); onChange(); }
    });
    // {needle} or {source, flags}; null: an invalid expression (every row passes).
    var query = function (text) {
      var match = /^\/(.*)\/([a-z]*)$/.exec(text);
      input.classList.remove("es-invalid");
      if (!match) return { needle: text.toLowerCase() };
      var flags = match[2].replace(/[gy]/g, "");
      if (flags.indexOf("i") < 0) flags += "i";
      try {
        var q = { source: match[1], flags: flags, pattern: new RegExp(match[1], flags), lines: null };
      } catch (error) {
        input.classList.add("es-invalid");
        return null;
      }
      // A segment's whole text is searched with ``lines`` (null: value by value): not
      // with a lookaround (it could see the next or the previous value), nor the v
      // flag's nested classes (lineBound does not read them).
      if (!/\(\?[=!<]/.test(q.source) && flags.indexOf("v") < 0) {
        // Values hold no line break there, so "s" changes nothing within one.
        var lineFlags = flags.replace("s", "") + "g" + (flags.indexOf("m") < 0 ? "m" : "");
        try {
          q.lines = new RegExp(lineBound(q.source), lineFlags);
        } catch (error) {
          q.lines = null;
        }
      }
      return q;
    };
    var tester = function (q) {
      if (q.pattern) return function (v) { return v !== null && q.pattern.test(v); };
      return function (v) { return v !== null && v.toLowerCase().indexOf(q.needle) >= 0; };
    };
    // What the rows gave for the current text, kept while it stays (another filter's
    // change then tests no row again): 0 not tested yet, PASS or FAIL.
    var PASS = 1, FAIL = 2, known = null, knownText = null;
    // The rows of ``rows`` (ascending) that pass, tested segment by segment: the rows
    // not tested yet alone where they are few, else the segment's whole text at once.
    var narrowBlocks = function (rows, q, passes) {
      if (knownText !== input.value) { known = new Uint8Array(table.rows); knownText = input.value; }
      var kept = new Int32Array(rows.length), count = 0, starts = table.segmentStarts;
      var needle = q.needle, k = 0, i, row;
      while (k < rows.length) {
        var s = table.segmentOf(rows[k]), start = starts[s], stop = starts[s + 1], first = k, left = 0;
        for (; k < rows.length && rows[k] < stop; k++) if (!known[rows[k]]) left++;
        var block = column.blocks[s];
        if (left && left * FEW_LEFT < block.rows) {
          // "contains" reads the lower-case text: no lower-casing per value.
          var lower = needle !== undefined && block.lower, at, length;
          for (i = first; i < k; i++) {
            row = rows[i];
            if (known[row]) continue;
            if (lower) {
              at = block.starts[row - start];
              length = block.lengths[row - start];
              known[row] = length >= 0 && lower.substring(at, at + length).indexOf(needle) >= 0 ? PASS : FAIL;
            } else {
              known[row] = passes(blockValue(block, row - start)) ? PASS : FAIL;
            }
          }
        } else if (left) {
          var hits = blockMatches(block, q, passes);
          for (i = 0; i < block.rows; i++) known[start + i] = hits[i] ? PASS : FAIL;
        }
        for (i = first; i < k; i++) if (known[rows[i]] === PASS) kept[count++] = rows[i];
      }
      return kept.subarray(0, count);
    };
    return {
      node: input,
      kind: "text",
      active: function () { return input.value !== ""; },
      // Text filters run last, on the rows the other filters leave.
      narrow: function (rows) {
        var q = held ? null : query(input.value);
        if (q === null) return rows;
        var passes = tester(q);
        if (!column.codes) return narrowBlocks(rows, q, passes);
        // Decided once per dictionary entry, on what the cells show (a choice's label).
        var ok = Uint8Array.from(column.dict, function (v) { return passes(v === null ? null : shownValue(column, v)[0]) ? 1 : 0; });
        var codes = column.codes;
        return rows.filter(function (row) { return ok[codes[row]] === 1; });
      },
      refresh: function () { input.classList.toggle("es-active", input.value !== ""); },
      save: function () { return encodeURIComponent(input.value); },
      load: function (text) {
        input.value = text === null ? "" : decoded(text);
        var match = /^\/(.*)\/[a-z]*$/.exec(input.value);
        hold(match !== null && mayBacktrackForever(match[1]));
      },
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
      var perSecond = column.meta.per_second, t = Date.parse(input.value + "T00:00:00Z") / 1000 * perSecond;
      return isNaN(t) ? null : (end ? t + 86400 * perSecond - 1 : t);
    };
    return {
      node: element("div", { className: "es-range-pair" }, [low, high]),
      active: function () { return parse(low, false) !== null || parse(high, true) !== null; },
      passes: function (out) {
        var lo = parse(low, false), hi = parse(high, true), numbers = column.numbers, v;
        if (lo === null) lo = -Infinity;
        if (hi === null) hi = Infinity;
        for (var i = 0, n = out.length; i < n; i++) { v = numbers[i]; out[i] = v >= lo && v <= hi ? 1 : 0; }
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

  StatusTable.prototype.isLoaded = function (column) { return column.loadedCount === this.segments.length; };

  StatusTable.prototype.apply = function () {
    var started = performance.now(), self = this;
    this.filters.forEach(function (filter) { filter.refresh(); });
    // A filter or the sort on a column still loading waits for it (loadedFile calls again).
    var pending = this.columns.filter(function (column, index) {
      var used = self.filters[index].active() || (self.sort && self.sort.column === index);
      return used && !self.isLoaded(column);
    });
    this.pending = pending.length ? pending : null;
    if (this.pending) {
      this.drawPending();
      this.writeHash();
      this.whenLoaded(this.allSegments(pending)).catch(function () { /* shown by fail() */ });
      return;
    }
    if (this.sort && !this.order) {
      this.order = sortedOrder(this, this.columns[this.sort.column], this.sort.descending);
    }
    var rows = this.rows, order = this.order, mask = this.otherFiltersMask(), left = null, i;
    var texts = this.filters.filter(function (filter) { return filter.kind === "text" && filter.active(); });
    if (texts.length) {
      // Text filters last, on the rows the others leave (listed once for them).
      if (!this.otherRows) this.otherRows = rowsOf(mask);
      left = this.otherRows;
      texts.forEach(function (filter) { left = filter.narrow(left); });
      if (order) {
        mask = new Uint8Array(rows);
        for (i = 0; i < left.length; i++) mask[left[i]] = 1;
        left = null;
      }
    }
    var categoryCounts = new Int32Array(this.categories.length);
    this.selected = left ? countedRows(left, this.rowCategory, categoryCounts) : selectedRows(mask, order, this.rowCategory, categoryCounts);
    this.categoryCounts = categoryCounts;
    this.drawProgress();
    this.drawPage();
    this.writeHash();
    this.redrawMs = performance.now() - started;
    this.root.setAttribute("data-redraw-ms", this.redrawMs.toFixed(1));
  };

  // The rows passing every filter but the text ones (1 in a mask). Each such filter's
  // own mask is kept with its state, and each row's count of filters it fails: a change
  // of one filter passes over the rows twice, however many others are set, and a
  // change of text tests no other filter again.
  StatusTable.prototype.otherFiltersMask = function () {
    var self = this, rows = this.rows;
    if (!this.otherMask) {
      var everyRow = new Uint8Array(rows).fill(1); // the mask of a filter not set
      this.otherMask = everyRow.slice();
      this.failedFilters = this.filters.length < 256 ? new Uint8Array(rows) : new Uint16Array(rows);
      this.filterStates = this.filters.map(function () { return null; }); // null: not set
      this.filterMasks = this.filters.map(function () { return everyRow; });
      this.everyRow = everyRow;
    }
    var states = this.filters.map(function (filter) {
      return filter.kind !== "text" && filter.active() ? filter.save() : null;
    });
    if (states.every(function (state) { return state === null; })) {
      if (this.filterStates.some(function (state) { return state !== null; })) {
        // None set (reset): every row passes, however many were set.
        this.failedFilters.fill(0);
        this.otherMask.fill(1);
        this.filterStates = states;
        this.filterMasks = this.filters.map(function () { return self.everyRow; });
        this.otherRows = null;
      }
      return this.otherMask;
    }
    this.filters.forEach(function (filter, index) {
      var state = states[index];
      if (state === self.filterStates[index]) return;
      var passing = self.everyRow;
      if (state !== null) filter.passes(passing = new Uint8Array(rows));
      countFailures(self.filterMasks[index], passing, self.failedFilters, self.otherMask);
      self.filterStates[index] = state;
      self.filterMasks[index] = passing;
      self.otherRows = null; // listed when a text filter needs them
    });
    return this.otherMask;
  };

  // One filter's mask going from ``before`` to ``after``: each row's count of failed
  // filters follows, and ``mask`` holds the rows failing none.
  function countFailures(before, after, failed, mask) {
    for (var i = 0, n = mask.length; i < n; i++) {
      var change = before[i] - after[i];
      if (change !== 0) {
        failed[i] += change;
        mask[i] = failed[i] === 0 ? 1 : 0;
      }
    }
  }

  // The rows of ``mask`` in ``order`` (null: row order), counted by category in
  // ``counts``. The loops over every row are functions of their own: each is
  // optimised for itself, whatever else runs in a redraw.
  function selectedRows(mask, order, rowCategory, counts) {
    var rows = mask.length, selected = new Int32Array(rows), count = 0, i, row;
    if (order) {
      for (i = 0; i < rows; i++) { row = order[i]; if (mask[row]) { selected[count++] = row; counts[rowCategory[row]]++; } }
    } else {
      for (i = 0; i < rows; i++) if (mask[i]) { selected[count++] = i; counts[rowCategory[i]]++; }
    }
    return selected.subarray(0, count);
  }

  function countedRows(list, rowCategory, counts) {
    for (var i = 0; i < list.length; i++) counts[rowCategory[list[i]]]++;
    return list;
  }

  function rowsOf(mask) {
    var rows = new Int32Array(mask.length), count = 0;
    for (var i = 0, n = mask.length; i < n; i++) if (mask[i]) rows[count++] = i;
    return rows.subarray(0, count);
  }

  StatusTable.prototype.toggleSort = function (index) {
    var descending = this.sort && this.sort.column === index ? !this.sort.descending : false;
    this.setSort({ column: index, descending: descending });
    this.page = 0;
    this.apply();
  };

  // The order itself is computed by apply(), once the column has loaded.
  StatusTable.prototype.setSort = function (sort) {
    var same = sort && this.sort && sort.column === this.sort.column && sort.descending === this.sort.descending;
    if (!same) this.order = null;
    this.sort = sort;
    this.headers.forEach(function (th, index) {
      var state = sort && sort.column === index ? (sort.descending ? "descending" : "ascending") : "none";
      th.setAttribute("aria-sort", state);
    });
  };

  // Row order by a column: a counting sort over dictionary ranks, a radix sort of
  // numbers, a comparison sort of texts. Nulls sort last in both directions; ties keep
  // database order.
  function sortedOrder(table, column, descending) {
    var rows = table.rows, i, order = new Int32Array(rows);
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
    if (column.numbers) return numberOrder(column.numbers, descending);
    var values = new Array(rows);
    column.blocks.forEach(function (block, s) {
      var start = table.segmentStarts[s];
      for (var k = 0; k < block.rows; k++) values[start + k] = blockValue(block, k);
    });
    for (i = 0; i < rows; i++) order[i] = i;
    return order.sort(function (a, b) { return compareValues(values[a], values[b], descending) || a - b; });
  }

  // An LSD radix sort (16-bit digits, stable) of the numbers as unsigned 64-bit keys
  // ordered like the numbers; NaN (null) gets the largest key.
  function numberOrder(numbers, descending) {
    var n = numbers.length, hi = new Uint32Array(n), lo = new Uint32Array(n);
    var one = new Float64Array(1), bits = new Uint32Array(one.buffer), i;
    for (i = 0; i < n; i++) {
      var v = numbers[i];
      if (v !== v) { hi[i] = 0xffffffff; lo[i] = 0xffffffff; continue; }
      one[0] = v + 0; // -0 as 0
      var h = bits[1], l = bits[0];
      if (h & 0x80000000) { h = ~h; l = ~l; } else { h = h | 0x80000000; }
      if (descending) { h = ~h; l = ~l; }
      hi[i] = h >>> 0;
      lo[i] = l >>> 0;
    }
    var order = new Int32Array(n), spare = new Int32Array(n), counts = new Int32Array(65537);
    for (i = 0; i < n; i++) order[i] = i;
    [[lo, 0], [lo, 16], [hi, 0], [hi, 16]].forEach(function (pass) {
      var keys = pass[0], shift = pass[1], d, r;
      counts.fill(0);
      for (i = 0; i < n; i++) counts[((keys[i] >>> shift) & 0xffff) + 1]++;
      for (d = 0; d < 65536; d++) if (counts[d + 1] === n) return; // one digit: order unchanged
      for (d = 1; d <= 65536; d++) counts[d] += counts[d - 1];
      for (i = 0; i < n; i++) { r = order[i]; spare[counts[(keys[r] >>> shift) & 0xffff]++] = r; }
      var swap = order; order = spare; spare = swap;
    });
    return order;
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

  StatusTable.prototype.loadingText = function (columns) {
    var self = this, parts = 0, loaded = 0;
    columns.forEach(function (c) { parts += self.segments.length; loaded += c.loadedCount; });
    return columns.map(function (c) { return c.meta.label; }).join(", ") + ": " + Math.floor((100 * loaded) / Math.max(parts, 1)) + " %";
  };

  // A filter waits for its column: no count and no rows that would not be right.
  StatusTable.prototype.drawPending = function () {
    this.countLine.textContent = "Filtering once the values have loaded (" + this.loadingText(this.pending) + ")…";
    this.countLine.removeAttribute("data-count");
    this.drawn = null; // a page drawn before waits no more
    this.body.textContent = "";
    this.body.setAttribute("aria-busy", "true");
    this.pager.textContent = "";
  };

  // What is still loading in the background (filters on those columns will wait).
  StatusTable.prototype.drawLoading = function () {
    var self = this, loading = this.columns.filter(function (c) { return !self.isLoaded(c); });
    if (this.pending) this.drawPending();
    this.note.textContent = loading.length ? "loading " + this.loadingText(loading) + "…" : "";
  };

  StatusTable.prototype.drawPage = function () {
    var self = this, total = this.selected.length;
    var pages = Math.max(1, Math.ceil(total / PAGE_ROWS));
    this.page = Math.min(Math.max(this.page, 0), pages - 1);
    var start = this.page * PAGE_ROWS, stop = Math.min(start + PAGE_ROWS, total);
    var fragment = document.createDocumentFragment(), missing = {}, incomplete = false;
    for (var k = start; k < stop; k++) {
      var row = this.selected[k], tr = document.createElement("tr");
      tr.setAttribute("data-row", String(row));
      this.columns.forEach(function (column, index) {
        var td = document.createElement("td"), value = self.valueAt(column, row);
        var text = formatValue(column, value, false), shown = shownValue(column, value);
        if (value === undefined) {
          var segment = self.segmentOf(row);
          (missing[segment] = missing[segment] || []).push(index);
          incomplete = true;
          td.textContent = "…";
        } else if (column === self.statusColumn) {
          td.appendChild(element("span", { className: "es-badge es-cat--" + self.categories[self.rowCategory[row]], text: shown[0], title: shown[1] }));
        } else if (column.meta.unit === "bytes" && text !== "") {
          td.textContent = humanBytes(Number(text));
          td.title = Number(text).toLocaleString("en") + " bytes";
        } else {
          td.textContent = shown[0];
          if (shown[1] !== null) td.title = shown[1];
        }
        if (column.numbers) td.className = "es-number";
        tr.appendChild(td);
      });
      fragment.appendChild(tr);
    }
    this.body.textContent = "";
    this.body.appendChild(fragment);
    var drawn = this.drawn = {};
    if (incomplete) {
      this.body.setAttribute("aria-busy", "true");
      // The other columns of these rows' segments, before anything else: then redraw.
      this.whenLoaded(missing).then(function () { if (self.drawn === drawn) self.drawPage(); }, function () {});
    } else {
      this.body.removeAttribute("aria-busy");
      if (!this.shown) this.firstShown();
    }
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

  // The first page of rows is on screen: the table is ready; load the rest.
  StatusTable.prototype.firstShown = function () {
    this.shown = true;
    this.root.setAttribute("data-state", "ready");
    this.root.setAttribute("data-load-ms", (performance.now() - this.started).toFixed(0));
    // Milliseconds since navigation start: what the benchmark reports.
    this.root.setAttribute("data-ready-at", performance.now().toFixed(0));
    var self = this;
    if (this.columns.every(function (c) { return self.isLoaded(c); })) this.completed();
    else this.drawLoading();
    this.pump();
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
    var self = this, columns = this.columns, lines = [columns.map(function (c) { return csvField(c.name); }).join(",")];
    var selected = this.selected;
    for (var k = 0; k < selected.length; k++) {
      var row = selected[k];
      lines.push(columns.map(function (c) { return csvField(formatValue(c, self.valueAt(c, row), true), isNumeric(c.type)); }).join(","));
    }
    return lines.join("\r\n") + "\r\n";
  };

  // Every value of the filtered rows: once every column has loaded.
  StatusTable.prototype.downloadCsv = function () {
    var self = this;
    if (this.pending || !this.columns.every(function (c) { return self.isLoaded(c); })) {
      this.csvWanted = true;
      this.note.textContent = "The CSV follows once every value has loaded…";
      return;
    }
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
