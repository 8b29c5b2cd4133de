// The storage page: /storage (from /api/stats).
(function () {
  "use strict";

  var M = window.MGit;
  var el = M.el;
  var S = M.svg;

  var CHART_MODELS_MAX = 60; // the per-model chart shows the largest; the table has them all

  var PALETTE = ["#3b6fd6", "#2e9b47", "#d08a1a", "#9b4dca", "#cf3a32", "#1f9aa8", "#7a8a2e", "#c2477f", "#5b6472", "#8a5a2b"];

  M.pages.storage = function (root) {
    root.appendChild(el("p", { class: "muted" }, "loading storage statistics\u2026"));
    M.api("stats").then(function (stats) {
      M.clear(root);
      render(root, stats);
    }, function (e) {
      M.clear(root);
      M.showError(e);
    });
  };

  function render(root, stats) {
    var saved = stats.logical_bytes - stats.stored_bytes;
    root.appendChild(el("section", { class: "card wide" },
      el("h1", null, "Storage"),
      el("p", { testid: "storage-total", class: "summary big" },
        M.bytes(stats.logical_bytes) + " logical, " + M.bytes(stats.stored_bytes) + " stored, ratio " + M.ratio(stats.ratio)),
      el("p", { class: "muted" },
        M.number(stats.models) + " models, " + M.number(stats.versions) + " versions, " + M.number(stats.objects) + " objects; " +
        (saved >= 0 ? M.bytes(saved) + " saved by deltas, sharing and compression" : M.bytes(-saved) + " more than the files themselves")),
      totalBars(stats)));

    var grid = el("div", { class: "grid two" });
    grid.appendChild(M.section("Stored bytes by codec", null,
      el("p", { class: "muted small" }, "How the stored bytes are encoded, over the whole repository (hover a bar for the exact size)."),
      codecChart(stats.codecs || {}, stats.stored_bytes)));
    var per = (stats.per_model || []).slice();
    grid.appendChild(M.section("Logical vs stored per model", null,
      el("p", { class: "muted small" }, per.length > CHART_MODELS_MAX ? "The " + CHART_MODELS_MAX + " largest of " + per.length + " versions; the table below lists all." : "Each version's logical size (its files) and what it adds to the store."),
      el("div", { class: "chart-scroll" }, modelsChart(per))));
    root.appendChild(grid);
    root.appendChild(modelsTable(per, stats.codecs || {}));
  }

  function totalBars(stats) {
    var W = 560;
    var max = Math.max(stats.logical_bytes || 0, stats.stored_bytes || 0, 1);
    var plot = W - 170;
    var lw = Math.max(1, (stats.logical_bytes / max) * plot);
    var sw = Math.max(1, (stats.stored_bytes / max) * plot);
    return S("svg", { class: "chart", width: W, height: 60, viewBox: "0 0 " + W + " 60", role: "img", "aria-label": "logical vs stored bytes of the repository" },
      S("text", { x: 0, y: 18, class: "axis" }, "logical"),
      S("rect", { x: 70, y: 5, width: lw, height: 18, class: "bar logical" }, S("title", null, "logical " + M.bytes(stats.logical_bytes) + " (" + M.number(stats.logical_bytes) + " bytes)")),
      S("text", { x: 76 + lw, y: 19, class: "value" }, M.bytes(stats.logical_bytes)),
      S("text", { x: 0, y: 47, class: "axis" }, "stored"),
      S("rect", { x: 70, y: 34, width: sw, height: 18, class: "bar stored" }, S("title", null, "stored " + M.bytes(stats.stored_bytes) + " (" + M.number(stats.stored_bytes) + " bytes)")),
      S("text", { x: 76 + sw, y: 48, class: "value" }, M.bytes(stats.stored_bytes)));
  }

  function codecChart(codecs, total) {
    var names = Object.keys(codecs).sort(function (a, b) {
      return codecs[b] - codecs[a];
    });
    var rowH = 24;
    var left = 170;
    var plot = 300;
    var W = left + plot + 120;
    var H = Math.max(1, names.length) * rowH + 34;
    var max = names.reduce(function (m, n) {
      return Math.max(m, codecs[n]);
    }, 1);
    var chart = S("svg", { testid: "storage-codecs", class: "chart", width: W, height: H, viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": "stored bytes by codec" });
    if (!names.length) {
      chart.appendChild(S("text", { x: 0, y: 20, class: "axis" }, "nothing stored yet"));
      return chart;
    }
    names.forEach(function (name, i) {
      var y = i * rowH + 4;
      var w = Math.max(1, (codecs[name] / max) * plot);
      var share = total ? (100 * codecs[name]) / total : 0;
      chart.appendChild(S("text", { x: left - 8, y: y + 15, class: "axis", "text-anchor": "end" }, name.length > 26 ? name.slice(0, 25) + "\u2026" : name, S("title", null, name)));
      chart.appendChild(S("rect", { x: left, y: y + 3, width: w, height: rowH - 8, style: "fill:" + PALETTE[i % PALETTE.length], class: "bar" },
        S("title", null, name + ": " + M.bytes(codecs[name]) + " (" + M.number(codecs[name]) + " bytes, " + share.toFixed(1) + "% of stored)")));
      chart.appendChild(S("text", { x: left + w + 6, y: y + 15, class: "value" }, M.bytes(codecs[name]) + " \u00b7 " + (share > 0 && share < 0.1 ? "<0.1" : share.toFixed(share < 10 ? 1 : 0)) + "%"));
    });
    var axisY = names.length * rowH + 8;
    chart.appendChild(S("line", { x1: left, x2: left + plot, y1: axisY, y2: axisY, class: "axis-line" }));
    chart.appendChild(S("text", { x: left, y: axisY + 16, class: "axis" }, "0"));
    chart.appendChild(S("text", { x: left + plot, y: axisY + 16, class: "axis", "text-anchor": "end" }, M.bytes(max)));
    return chart;
  }

  function modelsChart(per) {
    var shown = per.slice().sort(function (a, b) {
      return b.logical_bytes - a.logical_bytes;
    }).slice(0, CHART_MODELS_MAX);
    var rowH = 30;
    var left = 190;
    var plot = 300;
    var W = left + plot + 90;
    var H = Math.max(1, shown.length) * rowH + 58;
    var max = shown.reduce(function (m, p) {
      return Math.max(m, p.logical_bytes, p.stored_bytes);
    }, 1);
    var chart = S("svg", { testid: "storage-models", class: "chart", width: W, height: H, viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": "logical vs stored bytes per model" });
    chart.appendChild(S("rect", { x: left, y: 2, width: 12, height: 10, class: "bar logical" }));
    chart.appendChild(S("text", { x: left + 16, y: 11, class: "axis" }, "logical"));
    chart.appendChild(S("rect", { x: left + 80, y: 2, width: 12, height: 10, class: "bar stored" }));
    chart.appendChild(S("text", { x: left + 96, y: 11, class: "axis" }, "stored"));
    shown.forEach(function (p, i) {
      var y = i * rowH + 20;
      var lw = Math.max(1, (p.logical_bytes / max) * plot);
      var sw = Math.max(p.stored_bytes > 0 ? 1 : 0, (p.stored_bytes / max) * plot);
      var tip = p.ref + "\nlogical " + M.bytes(p.logical_bytes) + "\nstored " + M.bytes(p.stored_bytes) + "\nratio " + M.ratio(p.ratio);
      var label = p.ref.length > 28 ? p.ref.slice(0, 27) + "\u2026" : p.ref;
      chart.appendChild(S("a", { href: M.modelHref(p.ref) }, S("text", { x: left - 8, y: y + 16, class: "axis link", "text-anchor": "end" }, label, S("title", null, p.ref))));
      chart.appendChild(S("rect", { x: left, y: y + 2, width: lw, height: 11, class: "bar logical" }, S("title", null, tip)));
      chart.appendChild(S("rect", { x: left, y: y + 14, width: sw, height: 11, class: "bar stored" }, S("title", null, tip)));
      chart.appendChild(S("text", { x: left + Math.max(lw, sw) + 6, y: y + 17, class: "value" }, M.ratio(p.ratio)));
    });
    var axisY = shown.length * rowH + 24;
    chart.appendChild(S("line", { x1: left, x2: left + plot, y1: axisY, y2: axisY, class: "axis-line" }));
    chart.appendChild(S("text", { x: left, y: axisY + 16, class: "axis" }, "0"));
    chart.appendChild(S("text", { x: left + plot, y: axisY + 16, class: "axis", "text-anchor": "end" }, M.bytes(max)));
    chart.appendChild(S("text", { x: left + plot / 2, y: axisY + 30, class: "axis-title", "text-anchor": "middle" }, "bytes"));
    return chart;
  }

  function modelsTable(per, codecs) {
    var codecNames = Object.keys(codecs).sort(function (a, b) {
      return codecs[b] - codecs[a];
    });
    var columns = [
      { key: "ref", label: "version", value: function (p) { return p.ref; }, cell: function (p) { return M.modelLink(p.ref); } },
      { key: "logical", label: "logical", numeric: true, value: function (p) { return p.logical_bytes; }, cell: function (p) { return M.bytes(p.logical_bytes); } },
      { key: "stored", label: "stored", numeric: true, value: function (p) { return p.stored_bytes; }, cell: function (p) { return M.bytes(p.stored_bytes); } },
      { key: "ratio", label: "ratio", numeric: true, value: function (p) { return p.ratio; }, cell: function (p) { return M.ratio(p.ratio); } },
      {
        key: "codecs", label: "codecs (stored bytes)", value: function (p) {
          var c = p.codecs || {};
          var top = Object.keys(c).sort(function (a, b) { return c[b] - c[a]; })[0];
          return top || null;
        }, cell: function (p) {
          var c = p.codecs || {};
          return Object.keys(c).sort(function (a, b) {
            return c[b] - c[a];
          }).map(function (k) {
            var i = codecNames.indexOf(k);
            return el("span", { class: "codec" }, el("span", { class: "dot", style: "background:" + PALETTE[(i < 0 ? 0 : i) % PALETTE.length] }), k + " " + M.bytes(c[k]));
          });
        },
      },
    ];
    var table = M.sortableTable(columns, per, {
      attrs: { testid: "storage-table" },
      rowAttrs: function (p) {
        return { "data-ref": p.ref };
      },
    });
    var filter = el("input", { type: "search", placeholder: "filter by ref\u2026", "aria-label": "filter versions by ref" });
    var count = el("span", { class: "muted" }, per.length + " versions");
    filter.addEventListener("input", function () {
      var q = filter.value.trim().toLowerCase();
      count.textContent = table.filter(function (p) {
        return !q || p.ref.toLowerCase().indexOf(q) >= 0;
      }) + " of " + per.length + " versions";
    });
    return M.section("Per version", { class: "card wide" }, el("div", { class: "toolbar" }, filter, count), el("div", { class: "table-scroll tall" }, table.table));
  }
})();
