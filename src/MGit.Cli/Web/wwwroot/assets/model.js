// The model page: /model?ref=REF
(function () {
  "use strict";

  var M = window.MGit;
  var el = M.el;

  function optional(promise) {
    return promise.then(function (value) {
      return { ok: true, value: value };
    }, function (e) {
      return { ok: false, error: e };
    });
  }

  function edgeText(e, direction) {
    if (e.kind === "versioned") {
      return direction === "parent" ? "previous version" : "next version";
    }
    return e.how || e.kind || "adapted";
  }

  function edgeLinks(list, direction, testid) {
    if (!list || list.length === 0) {
      return el("p", { testid: testid, class: "muted" }, direction === "parent" ? "none (a root)" : "none");
    }
    return el("ul", { testid: testid, class: "plain links" }, list.map(function (e) {
      return el("li", null, M.modelLink(e.ref), " ", el("span", { class: "how", "data-how": e.how || e.kind }, edgeText(e, direction)),
        e.message && direction === "parent" ? el("div", { class: "muted small" }, e.message) : null);
    }));
  }

  function testsTable(results) {
    if (!results.ok) {
      return el("p", { testid: "model-tests", class: "muted" }, "tests unavailable: " + results.error.message);
    }
    var list = results.value || [];
    if (list.length === 0) {
      return el("p", { testid: "model-tests", class: "muted" }, "No test results (register one: mgit test add NAME --cmd CMD --pass EXPR; then mgit test run).");
    }
    return el("table", { testid: "model-tests", class: "data" },
      el("thead", null, el("tr", null, ["test", "result", "metrics", "reason", "ran at", "duration"].map(function (h) {
        return el("th", { scope: "col" }, h);
      }))),
      el("tbody", null, list.map(function (t) {
        var metrics = t.metrics ? Object.keys(t.metrics).map(function (k) {
          return el("div", { class: "metric" }, el("span", { class: "key" }, k), " = ", M.display(t.metrics[k]));
        }) : "-";
        return el("tr", { "data-passed": t.passed ? "true" : "false" },
          el("td", null, t.test),
          el("td", null, el("span", { class: "badge " + (t.passed ? "passed" : "failed") }, t.passed ? "passed" : "failed")),
          el("td", null, metrics),
          el("td", null, t.reason || "-"),
          el("td", { class: "nowrap" }, M.when(t.ran_at)),
          el("td", { class: "num" }, t.duration_s === null || t.duration_s === undefined ? "-" : M.number(t.duration_s) + " s"));
      })));
  }

  function tensorSection(show) {
    var tensors = show.tensors || [];
    var files = new Set(tensors.map(function (t) {
      return t.file;
    }));
    var anyShared = tensors.some(function (t) {
      return t.shared;
    });
    var columns = [
      { key: "name", label: "name", value: function (t) { return t.name; } },
      { key: "dtype", label: "dtype", value: function (t) { return t.dtype; } },
      {
        key: "shape", label: "shape", value: function (t) {
          return (t.shape || []).reduce(function (a, b) { return a * b; }, 1);
        }, cell: function (t) {
          return el("span", { title: t.ggml_shape ? "ggml order: " + M.shape(t.ggml_shape) : null }, M.shape(t.shape));
        },
      },
    ];
    if (files.size > 1) {
      columns.push({ key: "file", label: "file", value: function (t) { return t.file; } });
    }
    columns.push(
      { key: "length", label: "logical", numeric: true, value: function (t) { return t.length; }, cell: function (t) { return M.bytes(t.length); } },
      { key: "stored", label: "stored bytes", numeric: true, value: function (t) { return t.stored_bytes; }, cell: function (t) { return el("span", { title: M.number(t.stored_bytes) + " bytes" }, M.bytes(t.stored_bytes)); } },
      {
        key: "codec", label: "codec", value: function (t) { return t.codec; }, cell: function (t) {
          var detail = t.codecs ? Object.keys(t.codecs).map(function (k) { return k + " \u00d7" + t.codecs[k]; }).join(", ") : null;
          return el("code", { title: detail }, t.codec || "-");
        },
      },
      { key: "base", label: "delta base", value: function (t) { return t.base; }, cell: function (t) { return t.base ? el("code", { class: "hash", title: t.base }, t.base) : "-"; } },
      { key: "depth", label: "chain depth", numeric: true, value: function (t) { return t.chain_depth; } });
    if (anyShared) {
      // "with" can name hundreds of tensors (every tensor with the same bytes): show a count.
      columns.push({
        key: "shared", label: "shared", numeric: true, value: function (t) {
          return t.shared ? (t.shared["with"] || []).length : null;
        }, cell: function (t) {
          if (!t.shared) {
            return "";
          }
          var others = t.shared["with"] || [];
          var tip = others.slice(0, 20).join(", ") + (others.length > 20 ? ", \u2026 " + (others.length - 20) + " more" : "");
          return el("span", { title: tip }, t.shared.how + ": " + (others.length === 1 ? others[0] : others.length + " tensors"));
        },
      });
    }
    var table = M.sortableTable(columns, tensors, {
      attrs: { testid: "tensor-table" },
      rowAttrs: function (t) {
        return { "data-name": t.name };
      },
    });
    var filter = el("input", { type: "search", testid: "tensor-filter", placeholder: "filter by tensor name\u2026", "aria-label": "filter tensors by name", autocomplete: "off", spellcheck: "false" });
    var count = el("span", { testid: "tensor-count", class: "muted" }, tensors.length + " of " + tensors.length + " tensors");
    var lowered = null;
    filter.addEventListener("input", function () {
      if (lowered === null) {
        lowered = new Map(tensors.map(function (t) {
          return [t, String(t.name).toLowerCase()];
        }));
      }
      var q = filter.value.trim().toLowerCase();
      var shown = table.filter(function (t) {
        return !q || lowered.get(t).indexOf(q) >= 0;
      });
      count.textContent = shown + " of " + tensors.length + " tensors";
    });
    var storedSum = tensors.reduce(function (s, t) { return s + (t.stored_bytes || 0); }, 0);
    var logicalSum = tensors.reduce(function (s, t) { return s + (t.length || 0); }, 0);
    return M.section("Tensors", { class: "card wide", id: "tensors" },
      el("div", { class: "toolbar" }, filter, count,
        el("span", { class: "muted" }, "click a column heading to sort; again to reverse \u00b7 tensors: " + M.bytes(logicalSum) + " logical, " + M.bytes(storedSum) + " stored")),
      el("div", { class: "table-scroll tall" }, table.table));
  }

  M.pages.model = function (root) {
    var ref = M.query("ref");
    if (!ref) {
      M.showError("missing parameter 'ref' (open a model from the graph)");
      return;
    }
    root.appendChild(el("p", { class: "muted" }, "loading " + ref + "\u2026"));
    Promise.all([
      M.api("show", { ref: ref }),
      optional(M.api("ls")),
      optional(M.api("recipe", { ref: ref })),
      optional(M.api("tests", { ref: ref })),
    ]).then(function (answers) {
      M.clear(root);
      render(root, answers[0], answers[1], answers[2], answers[3]);
    }, function (e) {
      M.clear(root);
      M.showError(e);
    });
  };

  function render(root, show, ls, recipe, tests) {
    document.title = show.ref + " \u00b7 mgit";
    var tensors = show.tensors || [];
    var storedSum = tensors.reduce(function (s, t) { return s + (t.stored_bytes || 0); }, 0);

    // ---- heading ----
    var badges = el("div", { class: "badges" },
      el("span", { class: "pill" }, "type ", el("strong", { testid: "model-type" }, show.type || "-")),
      el("span", { class: "pill" }, show.kind || "model"),
      el("span", { class: "pill" }, M.bytes(show.logical_bytes)),
      show.lossy ? el("span", { class: "pill lossy", title: "every float element within " + show.error_bound + " of the original" }, "lossy (\u2264 " + M.display(show.error_bound) + ")") : null,
      (show.tags || []).map(function (t) {
        return el("span", { class: "pill tag" }, "tag " + t);
      }),
      el("span", { class: "muted" }, "added " + M.when(show.added_at)));
    var parents = show.parents || [];
    var head = el("div", { class: "model-head" },
      el("h1", { testid: "model-title" }, show.ref),
      badges,
      el("p", { testid: "model-message", class: "message" }, show.message || "(no message)"),
      el("div", { class: "actions" },
        parents.length ? el("a", { testid: "compare-parent", class: "button", href: "/diff?a=" + encodeURIComponent(parents[0].ref) + "&b=" + encodeURIComponent(show.ref) }, "Compare with parent " + parents[0].ref) : null,
        el("a", { class: "button", href: "/?q=" + encodeURIComponent(show.ref) }, "Show in graph")));
    root.appendChild(head);

    // ---- lineage ----
    var versions;
    if (ls.ok) {
      var same = (ls.value || []).filter(function (m) {
        return m.name === show.name;
      }).sort(function (a, b) {
        return a.version - b.version;
      });
      versions = el("ul", { testid: "model-versions", class: "plain inline-list" }, same.map(function (m) {
        var current = m.ref === show.ref;
        return el("li", null, el("a", { href: M.modelHref(m.ref), class: current ? "ref current" : "ref", "aria-current": current ? "page" : null }, m.ref));
      }));
    } else {
      versions = el("p", { testid: "model-versions", class: "muted" }, "versions unavailable: " + ls.error.message);
    }
    var grid = el("div", { class: "grid" });
    grid.appendChild(M.section("Lineage", null,
      el("h3", null, "versions of " + show.name), versions,
      el("h3", null, "parents"), edgeLinks(parents, "parent", "model-parents"),
      el("h3", null, "children"), edgeLinks(show.children, "child", "model-children")));

    // ---- storage ----
    var storageText = el("p", { testid: "model-storage" },
      "stored " + M.bytes(storedSum) + " of " + M.bytes(show.logical_bytes) + " logical" + (storedSum > 0 ? " (" + M.ratio(show.logical_bytes / storedSum) + ")" : "") + " \u2014 tensor data");
    var storageCard = M.section("Storage", null, storageText, storageBar(show.logical_bytes, storedSum));
    grid.appendChild(storageCard);
    // The whole version's stored size (manifest and non-tensor files too) is in /api/stats.
    M.api("stats").then(function (stats) {
      var mine = (stats.per_model || []).filter(function (p) {
        return p.ref === show.ref;
      })[0];
      if (mine) {
        storageText.textContent = "stored " + M.bytes(mine.stored_bytes) + " of " + M.bytes(mine.logical_bytes) + " logical (" + M.ratio(mine.ratio) + ")";
        M.clear(storageCard);
        storageCard.appendChild(el("h2", null, "Storage"));
        storageCard.appendChild(storageText);
        storageCard.appendChild(storageBar(mine.logical_bytes, mine.stored_bytes));
        var codecs = mine.codecs || {};
        storageCard.appendChild(M.kvTable(Object.keys(codecs).sort(function (a, b) {
          return codecs[b] - codecs[a];
        }).map(function (c) {
          return [c, M.bytes(codecs[c])];
        }), { class: "kv compact" }));
      }
    }, function () {});

    // ---- metadata ----
    var meta = show.metadata || {};
    var metaKeys = Object.keys(meta);
    grid.appendChild(M.section("Metadata", null,
      metaKeys.length ? M.kvTable(metaKeys.map(function (k) {
        return [k, M.display(meta[k])];
      }), { testid: "model-metadata" }) : el("table", { testid: "model-metadata", class: "kv" }, el("tbody", null, el("tr", null, el("td", { class: "muted" }, "no metadata")))),
      show.uninterpreted_globals && show.uninterpreted_globals.length ? el("p", { class: "muted small" }, "not interpreted: " + show.uninterpreted_globals.map(M.display).join(", ")) : null));

    // ---- recipe ----
    var recipeBody;
    if (!recipe.ok) {
      recipeBody = el("p", { testid: "model-recipe", class: "muted" }, "recipe unavailable: " + recipe.error.message);
    } else if (recipe.value && recipe.value.recipe) {
      recipeBody = el("div", { testid: "model-recipe" }, el("pre", { class: "code" }, String(recipe.value.recipe)),
        recipe.value.parents && recipe.value.parents.length ? el("p", { class: "muted small" }, "parents it names: " + recipe.value.parents.join(", ")) : null);
    } else {
      recipeBody = el("p", { testid: "model-recipe", class: "muted" }, "No recipe recorded (mgit recipe set " + show.ref + " --cmd CMD).");
    }
    grid.appendChild(M.section("Recipe", null, recipeBody));
    root.appendChild(grid);

    // ---- files ----
    var files = show.files || [];
    root.appendChild(M.section("Files", { class: "card wide" },
      el("div", { class: "table-scroll" },
        el("table", { testid: "model-files", class: "data" },
          el("thead", null, el("tr", null, ["path", "format", "size", "tensors", "metadata", ""].map(function (h) {
            return el("th", { scope: "col" }, h);
          }))),
          el("tbody", null, files.map(function (f) {
            var md = f.metadata || {};
            var mdKeys = Object.keys(md);
            return el("tr", null,
              el("td", null, el("code", null, f.path)),
              el("td", null, f.format || "-"),
              el("td", { class: "num", title: M.number(f.length) + " bytes" }, M.bytes(f.length)),
              el("td", { class: "num" }, M.display(f.tensors)),
              el("td", { class: "small" }, mdKeys.length ? mdKeys.slice(0, 8).map(function (k) {
                var v = M.display(md[k]);
                return el("div", { class: "metric" }, el("span", { class: "key" }, k), ": ", v.length > 120 ? v.slice(0, 120) + "\u2026" : v);
              }) : "-", mdKeys.length > 8 ? el("div", { class: "muted" }, "\u2026 " + (mdKeys.length - 8) + " more") : null),
              el("td", null, el("a", {
                testid: "download",
                class: "button small",
                href: "/api/file?ref=" + encodeURIComponent(show.ref) + "&path=" + encodeURIComponent(f.path),
                download: f.path.split("/").pop(),
                "data-path": f.path,
              }, "Download")));
          }))),
        (show.links || []).length ? el("p", { class: "muted small" }, "symbolic links: " + show.links.map(function (l) {
          return l.path + " \u2192 " + l.target;
        }).join(", ")) : null)));

    // ---- tests ----
    root.appendChild(M.section("Tests", { class: "card wide" }, el("div", { class: "table-scroll" }, testsTable(tests))));

    // ---- tensors ----
    root.appendChild(tensorSection(show));
  }

  function storageBar(logical, stored) {
    var W = 320;
    var max = Math.max(logical || 0, stored || 0, 1);
    var lw = Math.max(1, Math.round((logical / max) * (W - 140)));
    var sw = Math.max(1, Math.round((stored / max) * (W - 140)));
    return M.svg("svg", { class: "chart", width: W, height: 52, viewBox: "0 0 " + W + " 52", role: "img", "aria-label": "logical vs stored bytes" },
      M.svg("text", { x: 0, y: 15, class: "axis" }, "logical"),
      M.svg("rect", { x: 60, y: 4, width: lw, height: 16, class: "bar logical" }, M.svg("title", null, "logical " + M.bytes(logical))),
      M.svg("text", { x: 64 + lw, y: 16, class: "value" }, M.bytes(logical)),
      M.svg("text", { x: 0, y: 41, class: "axis" }, "stored"),
      M.svg("rect", { x: 60, y: 30, width: sw, height: 16, class: "bar stored" }, M.svg("title", null, "stored " + M.bytes(stored))),
      M.svg("text", { x: 64 + sw, y: 42, class: "value" }, M.bytes(stored)));
  }
})();
