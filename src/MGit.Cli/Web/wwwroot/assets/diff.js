// The diff page: /diff?a=REF&b=REF (both optional; the selects pick them).
(function () {
  "use strict";

  var M = window.MGit;
  var el = M.el;
  var S = M.svg;

  var STATUS_ORDER = ["changed", "shape_changed", "dtype_changed", "added", "removed", "renamed", "identical"];

  function statusLabel(s) {
    return String(s || "").replace(/_/g, " ");
  }

  function refSelect(testid, label, refs, chosen) {
    var select = el("select", { testid: testid, id: testid, "aria-label": label },
      el("option", { value: "" }, "\u2014 choose a model \u2014"),
      refs.map(function (r) {
        return el("option", { value: r }, r);
      }));
    select.value = chosen && refs.indexOf(chosen) >= 0 ? chosen : "";
    if (chosen && refs.indexOf(chosen) < 0) {
      // Keep what the address asked for, even if ls does not list it (e.g. a tag or bare name).
      select.appendChild(el("option", { value: chosen }, chosen));
      select.value = chosen;
    }
    return select;
  }

  M.pages.diff = function (root) {
    var a = M.query("a");
    var b = M.query("b");
    var picker = el("form", { class: "picker card", action: "/diff", method: "get" });
    var selectsSpot = el("div", { class: "picker-row" }, el("span", { class: "muted" }, "loading models\u2026"));
    picker.appendChild(el("h1", null, "Compare two models"));
    picker.appendChild(selectsSpot);
    root.appendChild(picker);
    var results = el("div", { class: "diff-results" });
    root.appendChild(results);

    M.api("ls").then(function (list) {
      var refs = (list || []).map(function (m) {
        return m.ref;
      });
      var selA = refSelect("diff-a", "model A (before)", refs, a);
      var selB = refSelect("diff-b", "model B (after)", refs, b);
      var swap = el("button", { type: "button", class: "button small", title: "swap A and B" }, "\u21c4");
      var go = el("button", { type: "submit", testid: "diff-go", class: "button primary" }, "Compare");
      swap.addEventListener("click", function () {
        var t = selA.value;
        selA.value = selB.value;
        selB.value = t;
      });
      picker.addEventListener("submit", function (ev) {
        ev.preventDefault();
        if (!selA.value || !selB.value) {
          M.showError("choose two models to compare");
          return;
        }
        location.href = "/diff?a=" + encodeURIComponent(selA.value) + "&b=" + encodeURIComponent(selB.value);
      });
      M.clear(selectsSpot);
      selectsSpot.appendChild(el("label", { for: "diff-a" }, "A "));
      selectsSpot.appendChild(selA);
      selectsSpot.appendChild(swap);
      selectsSpot.appendChild(el("label", { for: "diff-b" }, "B "));
      selectsSpot.appendChild(selB);
      selectsSpot.appendChild(go);
    }, function (e) {
      M.clear(selectsSpot);
      M.showError(e);
    });

    if (!a || !b) {
      results.appendChild(el("p", { class: "muted" }, "Pick a model A and a model B, then Compare. Statistics are from B relative to A."));
      return;
    }
    results.appendChild(el("p", { class: "muted" }, "comparing " + a + " and " + b + "\u2026"));
    M.api("diff", { a: a, b: b }).then(function (diff) {
      M.clear(results);
      render(results, diff);
    }, function (e) {
      M.clear(results);
      M.showError(e);
    });
  };

  function summaryText(diff) {
    var s = diff.summary || {};
    var parts = [];
    STATUS_ORDER.forEach(function (k) {
      if (s[k]) {
        parts.push(M.number(s[k]) + " " + statusLabel(k));
      }
    });
    Object.keys(s).forEach(function (k) {
      if (STATUS_ORDER.indexOf(k) < 0 && !/^(tensors_|parameters_|files_changed|changed_without_statistics)/.test(k) && s[k]) {
        parts.push(M.number(s[k]) + " " + statusLabel(k));
      }
    });
    var text = diff.a + " \u2192 " + diff.b + ": " + M.number(s.tensors_a) + " \u2192 " + M.number(s.tensors_b) + " tensors (" + (parts.join(", ") || "nothing to compare") + ")";
    if (s.parameters_a !== undefined) {
      text += "; " + M.number(s.parameters_changed) + " of " + M.number(s.parameters_b) + " parameters changed";
    }
    if (s.files_changed) {
      text += "; " + M.number(s.files_changed) + (s.files_changed === 1 ? " file differs" : " files differ");
    }
    if (s.changed_without_statistics) {
      text += "; " + M.number(s.changed_without_statistics) + " changed without statistics";
    }
    return text;
  }

  function render(root, diff) {
    document.title = diff.a + " \u2192 " + diff.b + " \u00b7 mgit";
    var tensors = diff.tensors || [];
    root.appendChild(el("section", { class: "card wide" },
      el("h2", null, el("a", { href: M.modelHref(diff.a) }, diff.a), " \u2192 ", el("a", { href: M.modelHref(diff.b) }, diff.b)),
      el("p", { testid: "diff-summary", class: "summary" }, summaryText(diff))));

    root.appendChild(M.section("Relative change per tensor", { class: "card wide" },
      el("p", { class: "muted small" }, "\u2016b \u2212 a\u2016 / \u2016a\u2016 for each tensor, in file order; hover a bar for its numbers. Markers under the axis: tensors without statistics \u2014 grey identical, green added, red removed, orange reshaped or retyped, purple renamed."),
      el("div", { class: "chart-scroll" }, chart(tensors))));

    root.appendChild(tensorTable(tensors));

    var graphs = (diff.files || []).filter(function (f) {
      return f.graph;
    });
    if (graphs.length) {
      root.appendChild(onnxSection(graphs));
    }
    root.appendChild(filesSection(diff.files || []));
  }

  // ---- the chart ----
  function chart(tensors) {
    var n = tensors.length;
    var left = 64;
    var top = 14;
    var plotH = 200;
    var barW = Math.max(2, Math.min(28, Math.floor(900 / Math.max(1, n))));
    var gap = barW >= 6 ? 2 : 0;
    var names = n <= 40;
    var longest = tensors.reduce(function (m, t) {
      return Math.max(m, Math.min(22, String(t.name).length));
    }, 1);
    var bottom = names ? 40 + Math.round(longest * 5.2) : 46;
    var width = left + n * barW + 20;
    var height = top + plotH + bottom;
    var max = 0;
    tensors.forEach(function (t) {
      if (typeof t.relative_change === "number" && isFinite(t.relative_change)) {
        max = Math.max(max, t.relative_change);
      }
    });
    var yMax = max > 0 ? niceMax(max) : 1;
    var root = S("svg", { testid: "diff-chart", class: "chart", width: Math.max(width, 320), height: height, viewBox: "0 0 " + Math.max(width, 320) + " " + height, role: "img", "aria-label": "relative change per tensor" });
    // grid and y axis
    for (var i = 0; i <= 4; i++) {
      var v = (yMax * i) / 4;
      var y = top + plotH - (plotH * i) / 4;
      root.appendChild(S("line", { x1: left, x2: left + n * barW, y1: y, y2: y, class: i === 0 ? "axis-line" : "grid-line" }));
      root.appendChild(S("text", { x: left - 6, y: y + 4, class: "axis", "text-anchor": "end" }, formatTick(v)));
    }
    root.appendChild(S("text", { x: 12, y: top + plotH / 2, class: "axis-title", transform: "rotate(-90 12 " + (top + plotH / 2) + ")", "text-anchor": "middle" }, "relative change"));
    tensors.forEach(function (t, index) {
      var x = left + index * barW;
      var title = t.name + " \u2014 " + statusLabel(t.status);
      if (typeof t.relative_change === "number") {
        title += "\nrelative change " + M.number(t.relative_change);
        if (typeof t.cosine === "number") {
          title += "\ncosine " + M.number(t.cosine);
        }
        if (typeof t.max_abs_delta === "number") {
          title += "\nmax |\u0394| " + M.number(t.max_abs_delta);
        }
        if (typeof t.fraction_changed === "number") {
          title += "\n" + (t.fraction_changed * 100).toFixed(1) + "% of elements changed";
        }
        var h = Math.max(t.relative_change > 0 ? 1 : 0, Math.min(plotH, (t.relative_change / yMax) * plotH));
        root.appendChild(S("rect", { x: x + gap / 2, y: top + plotH - h, width: Math.max(1, barW - gap), height: Math.max(h, 0.5), class: "bar status-" + t.status }, S("title", null, title)));
      } else {
        if (t.status === "renamed" && t.from) {
          title += " (from " + t.from + ")";
        }
        if (t.shape_a) {
          title += "\n" + M.shape(t.shape_a) + " " + (t.dtype_a || "") + " \u2192 " + M.shape(t.shape_b) + " " + (t.dtype_b || "");
        }
        if (t.note) {
          title += "\n" + t.note;
        }
        root.appendChild(S("rect", { x: x + gap / 2, y: top + plotH + 4, width: Math.max(1, barW - gap), height: 8, class: "marker status-" + t.status }, S("title", null, title)));
      }
      if (names) {
        var label = t.name.length > 22 ? "\u2026" + t.name.slice(-21) : t.name;
        var tx = x + barW / 2 + 3;
        var ty = top + plotH + 18;
        root.appendChild(S("text", { x: tx, y: ty, class: "tick", transform: "rotate(-55 " + tx + " " + ty + ")", "text-anchor": "end" }, label, S("title", null, t.name)));
      }
    });
    if (!names) {
      root.appendChild(S("text", { x: left, y: top + plotH + 30, class: "axis" }, "tensor 1"));
      root.appendChild(S("text", { x: left + n * barW, y: top + plotH + 30, class: "axis", "text-anchor": "end" }, "tensor " + n));
    }
    root.appendChild(S("text", { x: left + (n * barW) / 2, y: height - 6, class: "axis-title", "text-anchor": "middle" }, "tensors in file order (" + n + ")"));
    return root;
  }

  function niceMax(v) {
    var p = Math.pow(10, Math.floor(Math.log10(v)));
    var steps = [1, 2, 4, 6, 8, 10];
    for (var i = 0; i < steps.length; i++) {
      if (steps[i] * p >= v) {
        return steps[i] * p;
      }
    }
    return 10 * p;
  }

  function formatTick(v) {
    if (v === 0) {
      return "0";
    }
    if (v >= 0.01 && v < 1000) {
      return String(Number(v.toPrecision(3)));
    }
    return v.toExponential(1);
  }

  // ---- the table ----
  function stat(key, label) {
    return {
      key: key, label: label, numeric: true, value: function (t) {
        return typeof t[key] === "number" ? t[key] : null;
      }, cell: function (t) {
        return typeof t[key] === "number" ? M.number(t[key]) : "";
      },
    };
  }

  function tensorTable(tensors) {
    var columns = [
      { key: "order", label: "#", numeric: true, value: function (t) { return t.__order; } },
      {
        key: "name", label: "tensor", value: function (t) { return t.name; }, cell: function (t) {
          return [el("code", null, t.name), t.from ? el("div", { class: "muted small" }, "from " + t.from) : null];
        },
      },
      { key: "status", label: "status", value: function (t) { return t.status; }, cell: function (t) { return el("span", { class: "status status-" + t.status }, statusLabel(t.status)); } },
      {
        key: "dtype", label: "dtype", value: function (t) { return t.dtype; }, cell: function (t) {
          return t.dtype_a && t.dtype_a !== t.dtype_b ? t.dtype_a + " \u2192 " + t.dtype_b : t.dtype || "-";
        },
      },
      {
        key: "shape", label: "shape", value: function (t) { return M.shape(t.shape); }, cell: function (t) {
          return t.shape_a && M.shape(t.shape_a) !== M.shape(t.shape_b) ? M.shape(t.shape_a) + " \u2192 " + M.shape(t.shape_b) : M.shape(t.shape);
        },
      },
      stat("relative_change", "relative change"),
      stat("cosine", "cosine"),
      stat("max_abs_delta", "max |\u0394|"),
      stat("l2_delta", "L2 \u0394"),
      {
        key: "fraction_changed", label: "elements changed", numeric: true, value: function (t) { return typeof t.fraction_changed === "number" ? t.fraction_changed : null; }, cell: function (t) {
          return typeof t.fraction_changed === "number" ? (t.fraction_changed * 100).toFixed(1) + "% (" + M.number(t.changed_elements) + ")" : "";
        },
      },
      { key: "changed_bytes", label: "changed bytes", numeric: true, value: function (t) { return typeof t.changed_bytes === "number" ? t.changed_bytes : null; }, cell: function (t) { return typeof t.changed_bytes === "number" ? M.bytes(t.changed_bytes) : ""; } },
      {
        key: "note", label: "note", value: function (t) { return t.note || (t.non_finite ? "non-finite" : null); }, cell: function (t) {
          var notes = [];
          if (t.note) {
            notes.push(t.note);
          }
          if (t.non_finite) {
            notes.push(M.number(t.non_finite) + " non-finite");
          }
          if (t.dequantized) {
            notes.push("dequantized");
          }
          return notes.join("; ");
        },
      },
    ];
    tensors.forEach(function (t, i) {
      t.__order = i + 1;
    });
    var table = M.sortableTable(columns, tensors, {
      attrs: { testid: "diff-table" },
      rowAttrs: function (t) {
        return { "data-status": t.status, "data-name": t.name };
      },
    });
    var present = [];
    tensors.forEach(function (t) {
      if (present.indexOf(t.status) < 0) {
        present.push(t.status);
      }
    });
    var statusFilter = el("select", { "aria-label": "show tensors with status" }, el("option", { value: "" }, "all statuses"),
      present.map(function (s) {
        return el("option", { value: s }, statusLabel(s));
      }));
    var nameFilter = el("input", { type: "search", placeholder: "filter by tensor name\u2026", "aria-label": "filter tensors by name" });
    var count = el("span", { class: "muted" }, tensors.length + " of " + tensors.length + " tensors");
    function apply() {
      var q = nameFilter.value.trim().toLowerCase();
      var s = statusFilter.value;
      var shown = table.filter(function (t) {
        return (!s || t.status === s) && (!q || t.name.toLowerCase().indexOf(q) >= 0);
      });
      count.textContent = shown + " of " + tensors.length + " tensors";
    }
    statusFilter.addEventListener("change", apply);
    nameFilter.addEventListener("input", apply);
    return M.section("Tensors", { class: "card wide" },
      el("div", { class: "toolbar" }, nameFilter, statusFilter, count),
      el("div", { class: "table-scroll tall" }, table.table));
  }

  // ---- ONNX graph diff ----
  var CHANGES_SHOWN = 300;

  /** The first CHANGES_SHOWN changes, and a button for the rest (a big graph can have thousands). */
  function changeList(rows) {
    if (rows.length <= CHANGES_SHOWN) {
      return el("div", { class: "table-scroll tall" }, changeTable(rows));
    }
    var box = el("div", { class: "table-scroll tall" }, changeTable(rows.slice(0, CHANGES_SHOWN)));
    var more = el("button", { type: "button", class: "button small" }, "show all " + M.number(rows.length) + " changes");
    more.addEventListener("click", function () {
      M.clear(box).appendChild(changeTable(rows));
      more.parentNode.removeChild(more);
    });
    return el("div", null, box, el("p", { class: "muted small" }, "showing the first " + CHANGES_SHOWN + " of " + M.number(rows.length) + " ", more));
  }

  function changeTable(rows) {
    var hasNode = rows.some(function (r) { return r.node; });
    var hasAttr = rows.some(function (r) { return r.attribute; });
    var heads = ["change", "subject"].concat(hasNode ? ["node"] : [], hasAttr ? ["attribute"] : [], ["before", "after"]);
    return el("table", { class: "data" },
      el("thead", null, el("tr", null, heads.map(function (h) { return el("th", { scope: "col" }, h); }))),
      el("tbody", null, rows.map(function (r) {
        return el("tr", { "data-kind": r.kind },
          el("td", null, el("span", { class: "status" }, statusLabel(r.kind))),
          el("td", null, el("code", null, M.display(r.subject))),
          hasNode ? el("td", null, r.node ? el("code", null, M.display(r.node)) : "") : null,
          hasAttr ? el("td", null, r.attribute ? M.display(r.attribute) : "") : null,
          el("td", { class: "before" }, r.before === null || r.before === undefined ? "" : M.display(r.before)),
          el("td", { class: "after" }, r.after === null || r.after === undefined ? "" : M.display(r.after)));
      })));
  }

  function onnxSection(files) {
    return el("section", { testid: "onnx-diff", class: "card wide" }, el("h2", null, "ONNX graph diff"),
      files.map(function (f) {
        var g = f.graph;
        var structural = g.structural || [];
        var contextual = g.contextual || [];
        return el("div", { class: "onnx-file" },
          el("h3", null, el("code", null, f.path)),
          el("h4", null, "structural changes (" + structural.length + ")"),
          structural.length ? changeList(structural) : el("p", { class: "muted" }, "none"),
          el("h4", null, "contextual changes (" + contextual.length + ")"),
          contextual.length ? changeList(contextual) : el("p", { class: "muted" }, "none"));
      }));
  }

  // ---- other files ----
  function filesSection(files) {
    if (!files.length) {
      return M.section("Files", { class: "card wide" }, el("p", { class: "muted" }, "no file differences"));
    }
    return M.section("Files", { class: "card wide" },
      el("div", { class: "table-scroll" }, el("table", { class: "data files-diff" },
        el("thead", null, el("tr", null, ["path", "status", "format", "size A", "size B", "changes"].map(function (h) { return el("th", { scope: "col" }, h); }))),
        el("tbody", null, files.map(function (f) {
          return el("tr", { "data-status": f.status },
            el("td", null, el("code", null, f.path)),
            el("td", null, el("span", { class: "status status-" + f.status }, statusLabel(f.status))),
            el("td", null, f.format || "-"),
            el("td", { class: "num" }, f.length_a === null || f.length_a === undefined ? "-" : M.bytes(f.length_a)),
            el("td", { class: "num" }, f.length_b === null || f.length_b === undefined ? "-" : M.bytes(f.length_b)),
            el("td", null, fileChanges(f)));
        })))));
  }

  function fileChanges(f) {
    var out = [];
    if (f.note) {
      out.push(el("div", { class: "muted" }, f.note));
    }
    if (f.json && f.json.length) {
      out.push(el("ul", { class: "plain changes" }, f.json.map(function (c) {
        return el("li", null, el("code", null, c.path), " ", c.op, ": ", c.before === null || c.before === undefined ? "" : el("span", { class: "before" }, M.display(c.before)),
          c.before !== null && c.before !== undefined && c.after !== null && c.after !== undefined ? " \u2192 " : "",
          c.after === null || c.after === undefined ? "" : el("span", { class: "after" }, M.display(c.after)));
      })));
    }
    if (f.metadata && f.metadata.length) {
      out.push(el("ul", { class: "plain changes" }, f.metadata.map(function (c) {
        return el("li", null, el("code", null, c.key), " ", c.op, ": ", c.before === null || c.before === undefined ? "" : el("span", { class: "before" }, M.display(c.before)),
          c.before !== null && c.before !== undefined && c.after !== null && c.after !== undefined ? " \u2192 " : "",
          c.after === null || c.after === undefined ? "" : el("span", { class: "after" }, M.display(c.after)));
      })));
    }
    if (f.lines && f.lines.length) {
      out.push(el("pre", { class: "code lines" }, f.lines.map(function (l) {
        var sign = l.op === "added" ? "+" : l.op === "removed" ? "-" : " ";
        return el("span", { class: "line " + l.op }, sign + String(l.line).padStart(5) + "  " + l.text + "\n");
      })));
    }
    if (f.graph) {
      out.push(el("div", { class: "muted" }, "graph changes: see ONNX graph diff"));
    }
    return out.length ? out : "-";
  }
})();
