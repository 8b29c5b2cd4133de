// Shared helpers for the mgit serve pages. No framework, no build step.
// Untrusted text (names, messages, metadata, errors) is only ever set through el()/text(),
// i.e. createTextNode / textContent / setAttribute - never innerHTML.
(function () {
  "use strict";

  var SVG_NS = "http://www.w3.org/2000/svg";

  function append(node, child) {
    if (child === null || child === undefined || child === false) {
      return;
    }
    if (Array.isArray(child)) {
      for (var i = 0; i < child.length; i++) {
        append(node, child[i]);
      }
      return;
    }
    if (typeof child === "string" || typeof child === "number") {
      node.appendChild(document.createTextNode(String(child)));
      return;
    }
    node.appendChild(child);
  }

  function setAttrs(node, attrs) {
    if (!attrs) {
      return;
    }
    Object.keys(attrs).forEach(function (key) {
      var value = attrs[key];
      if (value === null || value === undefined || value === false) {
        return;
      }
      if (key === "on") {
        Object.keys(value).forEach(function (type) {
          node.addEventListener(type, value[type]);
        });
      } else if (key === "class") {
        node.setAttribute("class", Array.isArray(value) ? value.filter(Boolean).join(" ") : value);
      } else if (key === "testid") {
        node.setAttribute("data-testid", value);
      } else if (key === "text") {
        node.textContent = String(value);
      } else if (key === "value" && "value" in node) {
        node.value = value;
      } else {
        node.setAttribute(key, value === true ? "" : String(value));
      }
    });
  }

  /** el("a", {href: x, class: "c", testid: "t", on: {click: f}}, "text", child, [more]) */
  function el(tag, attrs) {
    var node = document.createElement(tag);
    setAttrs(node, attrs);
    for (var i = 2; i < arguments.length; i++) {
      append(node, arguments[i]);
    }
    return node;
  }

  /** The same for SVG elements. */
  function svg(tag, attrs) {
    var node = document.createElementNS(SVG_NS, tag);
    setAttrs(node, attrs);
    for (var i = 2; i < arguments.length; i++) {
      append(node, arguments[i]);
    }
    return node;
  }

  function clear(node) {
    while (node.firstChild) {
      node.removeChild(node.firstChild);
    }
    return node;
  }

  function bytes(n) {
    if (n === null || n === undefined || isNaN(n)) {
      return "-";
    }
    var units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    var value = Number(n);
    var i = 0;
    while (Math.abs(value) >= 1024 && i < units.length - 1) {
      value /= 1024;
      i++;
    }
    if (i === 0) {
      return value + " B";
    }
    return (Math.abs(value) >= 100 ? value.toFixed(0) : Math.abs(value) >= 10 ? value.toFixed(1) : value.toFixed(2)) + " " + units[i];
  }

  function number(n) {
    if (n === null || n === undefined) {
      return "-";
    }
    if (typeof n !== "number") {
      return String(n);
    }
    if (Number.isInteger(n)) {
      return n.toLocaleString("en-US");
    }
    var a = Math.abs(n);
    if (a !== 0 && (a < 1e-3 || a >= 1e6)) {
      return n.toExponential(3);
    }
    return String(Number(n.toPrecision(4)));
  }

  function ratio(r) {
    return r === null || r === undefined ? "-" : Number(r).toFixed(2) + "\u00d7";
  }

  function when(iso) {
    if (!iso) {
      return "-";
    }
    var d = new Date(iso);
    if (isNaN(d.getTime())) {
      return String(iso);
    }
    return d.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
  }

  function shape(s) {
    return Array.isArray(s) ? "[" + s.join(", ") + "]" : s === null || s === undefined ? "-" : String(s);
  }

  /** A value from a JSON document as display text (objects as compact JSON). */
  function display(v) {
    if (v === null || v === undefined) {
      return "-";
    }
    if (typeof v === "object") {
      return JSON.stringify(v);
    }
    if (typeof v === "number") {
      return number(v);
    }
    return String(v);
  }

  function ApiError(message, status) {
    this.message = message;
    this.status = status;
  }
  ApiError.prototype = Object.create(Error.prototype);
  ApiError.prototype.name = "ApiError";

  /** GET /api/...: the parsed JSON, or throws ApiError with the server's one-line message. */
  function api(path, params) {
    if (window.MGIT_STATIC) {
      return Promise.reject(new ApiError("this is a static page: there is no server to ask", 0));
    }
    var query = "";
    if (params) {
      var parts = [];
      Object.keys(params).forEach(function (k) {
        if (params[k] !== null && params[k] !== undefined) {
          parts.push(encodeURIComponent(k) + "=" + encodeURIComponent(params[k]));
        }
      });
      query = parts.length ? "?" + parts.join("&") : "";
    }
    return fetch("/api/" + path + query, { headers: { Accept: "application/json" }, credentials: "same-origin" }).then(
      function (response) {
        return response.text().then(function (body) {
          var doc = null;
          try {
            doc = body ? JSON.parse(body) : null;
          } catch (e) {
            doc = null;
          }
          if (!response.ok) {
            var message = doc && typeof doc.error === "string" ? doc.error : "HTTP " + response.status + " from /api/" + path;
            throw new ApiError(message, response.status);
          }
          if (doc === null && body) {
            throw new ApiError("/api/" + path + " answered something that is not JSON", response.status);
          }
          return doc;
        });
      },
      function (e) {
        throw new ApiError("cannot reach the server: " + (e && e.message ? e.message : e), 0);
      }
    );
  }

  function showError(message) {
    var box = document.querySelector("[data-testid=error]");
    if (!box) {
      return;
    }
    box.textContent = String(message && message.message ? message.message : message);
    box.hidden = false;
  }

  function hideError() {
    var box = document.querySelector("[data-testid=error]");
    if (box) {
      box.textContent = "";
      box.hidden = true;
    }
  }

  function query(name) {
    var value = new URLSearchParams(location.search).get(name);
    return value === null || value === "" ? null : value;
  }

  function modelHref(ref) {
    return "/model?ref=" + encodeURIComponent(ref);
  }

  function modelLink(ref, attrs) {
    var a = el("a", Object.assign({ href: modelHref(ref), class: "ref" }, attrs || {}), ref);
    return a;
  }

  function section(title, attrs) {
    var body = Array.prototype.slice.call(arguments, 2);
    return el("section", Object.assign({ class: "card" }, attrs || {}), el("h2", null, title), body);
  }

  function nameOf(ref) {
    var at = ref.lastIndexOf("@");
    return at > 0 ? ref.slice(0, at) : ref;
  }

  /**
   * A table whose rows can be sorted (click a th; again reverses) and filtered.
   * columns: [{key, label, value(row) -> sortable value, cell(row) -> node|string, numeric}]
   * Rows are built once; sorting re-appends the same tr elements, filtering toggles hidden.
   */
  function sortableTable(columns, rows, options) {
    options = options || {};
    var tbody = el("tbody");
    var entries = rows.map(function (row, index) {
      var tr = el("tr", options.rowAttrs ? options.rowAttrs(row) : null,
        columns.map(function (c) {
          return el("td", { class: c.numeric ? "num" : null }, c.cell ? c.cell(row) : display(c.value(row)));
        }));
      return { row: row, tr: tr, index: index, visible: true };
    });
    var sortKey = null;
    var descending = false;
    var ths = columns.map(function (c, ci) {
      var th = el("th", { scope: "col", class: ["sortable", c.numeric ? "num" : null], "data-key": c.key, title: "sort by " + c.label }, c.label);
      th.addEventListener("click", function () {
        if (sortKey === c.key) {
          descending = !descending;
        } else {
          sortKey = c.key;
          descending = false;
        }
        sortBy(ci);
      });
      return th;
    });
    function sortBy(ci) {
      var c = columns[ci];
      var keyed = entries.map(function (e) {
        return { e: e, k: c.value(e.row) };
      });
      keyed.sort(function (x, y) {
        var a = x.k;
        var b = y.k;
        var r;
        if (a === b) {
          r = 0;
        } else if (a === null || a === undefined) {
          r = 1;
        } else if (b === null || b === undefined) {
          r = -1;
        } else if (typeof a === "number" && typeof b === "number") {
          r = a - b;
        } else {
          r = String(a).localeCompare(String(b), undefined, { numeric: true });
        }
        if (descending) {
          r = -r;
        }
        return r || x.e.index - y.e.index;
      });
      var fragment = document.createDocumentFragment();
      keyed.forEach(function (x) {
        fragment.appendChild(x.e.tr);
      });
      tbody.appendChild(fragment);
      ths.forEach(function (th, i) {
        th.classList.toggle("sorted-asc", i === ci && !descending);
        th.classList.toggle("sorted-desc", i === ci && descending);
        th.setAttribute("aria-sort", i === ci ? (descending ? "descending" : "ascending") : "none");
      });
    }
    var fragment = document.createDocumentFragment();
    entries.forEach(function (e) {
      fragment.appendChild(e.tr);
    });
    tbody.appendChild(fragment);
    var table = el("table", Object.assign({ class: "data" }, options.attrs || {}), el("thead", null, el("tr", null, ths)), tbody);
    return {
      table: table,
      /** Shows the rows for which keep(row) is true; returns how many are shown. */
      filter: function (keep) {
        var shown = 0;
        entries.forEach(function (e) {
          var visible = keep(e.row);
          if (visible !== e.visible) {
            e.tr.hidden = !visible;
            e.visible = visible;
          }
          if (visible) {
            shown++;
          }
        });
        return shown;
      },
    };
  }

  /** A plain key/value table. */
  function kvTable(pairs, attrs) {
    return el("table", Object.assign({ class: "kv" }, attrs || {}),
      el("tbody", null, pairs.map(function (p) {
        return el("tr", null, el("th", { scope: "row" }, p[0]), el("td", null, p[1]));
      })));
  }

  window.MGit = {
    pages: {},
    el: el,
    svg: svg,
    clear: clear,
    bytes: bytes,
    number: number,
    ratio: ratio,
    when: when,
    shape: shape,
    display: display,
    api: api,
    ApiError: ApiError,
    showError: showError,
    hideError: hideError,
    query: query,
    modelHref: modelHref,
    modelLink: modelLink,
    section: section,
    nameOf: nameOf,
    sortableTable: sortableTable,
    kvTable: kvTable,
  };
})();
