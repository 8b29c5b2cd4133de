// The graph page: the lineage DAG (cytoscape + dagre, top-down from the roots).
// Works from /api/graph, or from window.MGIT_STATIC.graph in the one-file export (no request at all).
(function () {
  "use strict";

  var M = window.MGit;
  var el = M.el;

  // Above these sizes the drawing is simplified so the page stays responsive.
  var BIG = 300; // nodes: straight edges, textures while panning, pixel ratio 1
  var EDGE_LABELS_MAX = 1000; // nodes: more than this and edges carry no text (the panel names them)

  var STATUS_TEXT = { passed: "all tests passed", failed: "some tests failed", none: "no tests" };

  function nodeLabel(n) {
    var second = n.type ? [n.type, M.bytes(n.logical_bytes)] : [M.bytes(n.logical_bytes)];
    if (n.lossy) {
      second.push("lossy");
    }
    var mark = n.test_status === "passed" ? " \u2713" : n.test_status === "failed" ? " \u2717" : "";
    return n.ref + "\n" + second.join(" \u00b7 ") + mark;
  }

  function labelSize(label) {
    var lines = label.split("\n");
    var longest = 0;
    lines.forEach(function (l) {
      longest = Math.max(longest, l.length);
    });
    return { w: Math.max(110, Math.min(340, Math.round(longest * 6.4 + 22))), h: 16 + lines.length * 14 };
  }

  function edgeLabel(e) {
    if (e.kind === "versioned") {
      return "version";
    }
    return e.how || e.kind || "";
  }

  function styles(big, edgeLabels) {
    var edge = {
      width: 1.5,
      "line-color": "#8d96a3",
      "target-arrow-color": "#8d96a3",
      "target-arrow-shape": "triangle",
      "arrow-scale": 0.9,
      "curve-style": big ? "straight" : "bezier",
    };
    if (edgeLabels) {
      Object.assign(edge, {
        label: "data(label)",
        "font-size": 10,
        color: "#4a5260",
        "text-background-color": "#ffffff",
        "text-background-opacity": 0.85,
        "text-background-padding": 2,
        "min-zoomed-font-size": 7,
      });
    }
    return [
      {
        selector: "node",
        style: {
          shape: "round-rectangle",
          width: "data(w)",
          height: "data(h)",
          "background-color": "#eef0f3",
          "border-width": 2,
          "border-color": "#8a939e",
          label: "data(label)",
          "text-wrap": "wrap",
          "text-max-width": 360,
          "text-valign": "center",
          "text-halign": "center",
          "font-size": 11,
          "font-family": "system-ui, -apple-system, Segoe UI, Roboto, Helvetica, Arial, sans-serif",
          "line-height": 1.3,
          color: "#1d2330",
          "min-zoomed-font-size": 6,
        },
      },
      { selector: "node.passed", style: { "background-color": "#dcf3e1", "border-color": "#2e9b47" } },
      { selector: "node.failed", style: { "background-color": "#fde0df", "border-color": "#cf3a32" } },
      { selector: "node.lossy", style: { shape: "cut-rectangle", "border-style": "double", "border-width": 5 } },
      { selector: "node.collapsed", style: { "ghost": "yes", "ghost-offset-x": 5, "ghost-offset-y": 5, "ghost-opacity": 0.35, "font-weight": "bold" } },
      { selector: "node:selected", style: { "border-color": "#1f5fd1", "border-width": 4, "overlay-opacity": 0 } },
      { selector: "node.match", style: { "underlay-color": "#ffcc00", "underlay-opacity": 0.7, "underlay-padding": 7, "underlay-shape": "round-rectangle" } },
      { selector: "edge", style: edge },
      { selector: "edge.versioned", style: { "line-style": "dashed", "line-dash-pattern": [6, 4], "line-color": "#6b57c9", "target-arrow-color": "#6b57c9" } },
      { selector: ".faded", style: { opacity: 0.25 } },
      { selector: ".hidden", style: { display: "none" } },
    ];
  }

  function legend() {
    function item(cls, text) {
      return el("li", null, el("span", { class: "swatch " + cls, "aria-hidden": "true" }), text);
    }
    return el("ul", { class: "legend", "aria-label": "legend" },
      item("passed", "all tests passed"),
      item("failed", "some tests failed"),
      item("none", "no tests"),
      item("lossy", "lossy version"),
      item("edge-adapted", "adapted (how)"),
      item("edge-versioned", "new version"));
  }

  function dagreOptions(edgeLabels) {
    return {
      name: "dagre",
      rankDir: "TB",
      nodeSep: 24,
      rankSep: edgeLabels ? 64 : 48,
      edgeSep: 12,
      fit: false,
      animate: false,
    };
  }

  /**
   * Top-down from the roots. A small graph is one dagre layout. A big one (dagre took 3-15 s
   * for 2,000 nodes, and a 2,000-node family laid out as one DAG is a thin ribbon) is cut into
   * trees - each version under its first parent - each tree laid out as a tidy tree, and the
   * trees packed in rows shaped like the view; the other edges (merges, second parents) are
   * drawn across.
   */
  function runLayout(cy, big, edgeLabels) {
    if (!big) {
      cy.layout(dagreOptions(edgeLabels)).run();
      fitNodes(cy, cy.nodes(), 30);
      return;
    }
    var firstParent = new Map();
    cy.edges().forEach(function (e) {
      var child = e.data("target");
      if (!firstParent.has(child)) {
        firstParent.set(child, e);
      }
    });
    // One hierarchy over the whole forest (a version under its first parent, a root under a
    // node that stands for the forest: no ref has a control character); its children are the
    // trees. Each tree is laid out as a tidy tree by d3-hierarchy (Reingold-Tilford: linear
    // time, a parent centred over its children, the next version first so a version chain runs
    // down the left edge); dagre took seconds on one 2,000-node tree.
    var FOREST = "\u0000forest";
    var rows = [{ id: FOREST, parentId: null }];
    cy.nodes().forEach(function (n) {
      var edge = firstParent.get(n.id());
      rows.push({ id: n.id(), parentId: edge ? edge.data("source") : FOREST, versioned: !!edge && edge.hasClass("versioned"), w: n.data("w"), h: n.data("h") });
    });
    var forest = d3.stratify()(rows).sort(function (a, b) {
      return (b.data.versioned ? 1 : 0) - (a.data.versioned ? 1 : 0);
    });
    var gapBelow = edgeLabels ? 64 : 48;
    var rankHeight = gapBelow;
    cy.nodes().forEach(function (n) {
      rankHeight = Math.max(rankHeight, n.data("h") + gapBelow);
    });
    var tidy = d3.tree().nodeSize([1, rankHeight]).separation(function (a, b) {
      return (a.data.w + b.data.w) / 2 + (a.parent === b.parent ? 24 : 48);
    });
    var boxes = (forest.children || []).map(function (tree) {
      var laid = tidy(tree.copy());
      var x1 = Infinity;
      var x2 = -Infinity;
      var y1 = Infinity;
      var y2 = -Infinity;
      laid.each(function (node) {
        x1 = Math.min(x1, node.x - node.data.w / 2);
        x2 = Math.max(x2, node.x + node.data.w / 2);
        y1 = Math.min(y1, node.y - node.data.h / 2);
        y2 = Math.max(y2, node.y + node.data.h / 2);
      });
      return { tree: laid, bb: { x1: x1, y1: y1, w: x2 - x1, h: y2 - y1 }, size: laid.descendants().length };
    });
    // Shelf packing: biggest trees first, rows about as wide as the view's shape asks.
    boxes.sort(function (a, b) {
      return b.size - a.size || b.bb.w - a.bb.w;
    });
    var gap = 90;
    var area = 0;
    var widest = 0;
    boxes.forEach(function (b) {
      area += (b.bb.w + gap) * (b.bb.h + gap);
      widest = Math.max(widest, b.bb.w);
    });
    var container = cy.container();
    var aspect = container && container.clientHeight ? Math.max(0.8, container.clientWidth / container.clientHeight) : 1.6;
    var rowWidth = Math.max(widest, Math.sqrt(area * aspect));
    var pos = {};
    var x = 0;
    var y = 0;
    var rowHeight = 0;
    boxes.forEach(function (b) {
      if (x > 0 && x + b.bb.w > rowWidth) {
        x = 0;
        y += rowHeight + gap;
        rowHeight = 0;
      }
      var dx = x - b.bb.x1;
      var dy = y - b.bb.y1;
      b.tree.each(function (node) {
        pos[node.data.id] = { x: node.x + dx, y: node.y + dy };
      });
      x += b.bb.w + gap;
      rowHeight = Math.max(rowHeight, b.bb.h);
    });
    cy.nodes().positions(function (n) {
      return pos[n.id()];
    });
    fitNodes(cy, cy.nodes(), 30);
  }

  /** cy.fit() measures every label; the node boxes are enough and much cheaper on a big graph. */
  function fitNodes(cy, nodes, padding) {
    if (nodes.empty()) {
      return;
    }
    var bb = nodes.boundingBox({ includeLabels: false, includeOverlays: false, includeUnderlays: false });
    var w = cy.width();
    var h = cy.height();
    var zoom = Math.min((w - 2 * padding) / Math.max(bb.w, 1), (h - 2 * padding) / Math.max(bb.h, 1));
    zoom = Math.max(cy.minZoom(), Math.min(cy.maxZoom(), zoom));
    cy.viewport({ zoom: zoom, pan: { x: (w - zoom * (bb.x1 + bb.x2)) / 2, y: (h - zoom * (bb.y1 + bb.y2)) / 2 } });
  }

  M.graphLayout = runLayout;

  M.pages.graph = function (root) {
    var isStatic = !!window.MGIT_STATIC;
    var search = el("input", { type: "search", testid: "graph-search", placeholder: "search refs\u2026", "aria-label": "search models by ref", autocomplete: "off", spellcheck: "false" });
    var count = el("span", { testid: "graph-search-count", class: "muted", "aria-live": "polite" });
    var summary = el("span", { testid: "graph-summary", class: "summary" });
    var fitButton = el("button", { type: "button", class: "small", title: "fit the whole graph in view" }, "Fit");
    var container = el("div", { testid: "graph", id: "graph", class: "graph-canvas", role: "img", "aria-label": "lineage graph" });
    var panel = el("aside", { testid: "graph-panel", class: "graph-panel card", "aria-live": "polite" });
    var status = el("div", { class: "graph-status muted" }, "loading the graph\u2026");
    root.classList.add("graph-page");
    root.appendChild(el("div", { class: "graph-toolbar" }, search, count, fitButton, summary, legend()));
    root.appendChild(el("div", { class: "graph-main" }, el("div", { class: "graph-wrap" }, container, status), panel));
    panel.appendChild(el("p", { class: "muted" }, "Select a node to see its details."));

    var documentPromise = isStatic ? Promise.resolve(window.MGIT_STATIC.graph) : M.api("graph");
    documentPromise.then(function (doc) {
      // Let the "loading" text paint before the (synchronous) layout.
      return new Promise(function (resolve) {
        requestAnimationFrame(function () {
          setTimeout(function () {
            resolve(doc);
          }, 0);
        });
      });
    }).then(function (doc) {
      render(doc);
    }).catch(function (e) {
      status.textContent = "";
      M.showError(e);
      window.mgitReady = true;
    });

    function render(doc) {
      var nodes = (doc && doc.nodes) || [];
      var edges = (doc && doc.edges) || [];
      var byRef = new Map();
      var names = new Set();
      nodes.forEach(function (n) {
        byRef.set(n.ref, n);
        names.add(n.name);
      });
      summary.textContent = nodes.length + (nodes.length === 1 ? " version, " : " versions, ") + names.size + (names.size === 1 ? " model" : " models");
      if (nodes.length === 0) {
        status.textContent = "This repository has no models yet (mgit add NAME FILE).";
        window.mgitReady = true;
        return;
      }

      var big = nodes.length > BIG;
      var edgeLabels = nodes.length <= EDGE_LABELS_MAX;
      var elements = [];
      nodes.forEach(function (n) {
        var label = nodeLabel(n);
        var size = labelSize(label);
        elements.push({
          group: "nodes",
          data: { id: n.ref, label: label, base: label, w: size.w, h: size.h, bw: size.w, bh: size.h },
          classes: [n.test_status || "none", n.lossy ? "lossy" : ""].join(" ").trim(),
        });
      });
      var incoming = new Map();
      var outgoing = new Map();
      edges.forEach(function (e, i) {
        if (!byRef.has(e.parent) || !byRef.has(e.child)) {
          return;
        }
        elements.push({ group: "edges", data: { id: "e" + i, source: e.parent, target: e.child, label: edgeLabel(e) }, classes: e.kind === "versioned" ? "versioned" : "adapted" });
        if (!incoming.has(e.child)) {
          incoming.set(e.child, []);
        }
        incoming.get(e.child).push(e);
        if (!outgoing.has(e.parent)) {
          outgoing.set(e.parent, []);
        }
        outgoing.get(e.parent).push(e);
      });

      var started = performance.now();
      var cy = window.cytoscape({
        container: container,
        elements: elements,
        style: styles(big, edgeLabels),
        layout: { name: "null" },
        minZoom: 0.01,
        maxZoom: 3,
        boxSelectionEnabled: false,
        selectionType: "single",
        autoungrabify: big,
        hideEdgesOnViewport: big,
        textureOnViewport: big,
        motionBlur: false,
        pixelRatio: big ? 1 : "auto",
      });
      window.mgitGraph = cy;
      var created = performance.now();
      runLayout(cy, nodes.length > BIG, edgeLabels);
      window.mgitLayoutMs = Math.round(performance.now() - started);
      window.mgitTimings = { cytoscape_ms: Math.round(created - started), layout_ms: Math.round(performance.now() - created) };
      requestAnimationFrame(function () {
        window.mgitTimings.first_frame_ms = Math.round(performance.now() - started);
      });
      status.textContent = "";
      status.hidden = true;
      if (cy.zoom() > 1.5) {
        cy.zoom({ level: 1.5, renderedPosition: { x: container.clientWidth / 2, y: container.clientHeight / 2 } });
        cy.center();
      }
      window.mgitReady = true;

      // ---- selection and the side panel ----
      var panelTimer = null;
      function schedulePanel() {
        if (panelTimer === null) {
          panelTimer = setTimeout(function () {
            panelTimer = null;
            updatePanel();
          }, 0);
        }
      }
      cy.on("select unselect", "node", schedulePanel);

      var opening = false;
      function open(ref) {
        if (!isStatic && !opening) {
          opening = true;
          location.href = M.modelHref(ref);
        }
      }

      cy.on("tap", "node", function (evt) {
        var node = evt.target;
        // 'tap' comes before cytoscape's own selection: selected() is the state before this tap.
        if (node.selected() && !isStatic) {
          open(node.id());
          return;
        }
        cy.batch(function () {
          cy.$("node:selected").unselect();
          node.select();
        });
      });
      // A double click is two taps: the first selects, the second opens (cytoscape's own dbltap
      // also fires for two taps on different nodes, so it is not used).

      function refLink(ref) {
        if (isStatic) {
          return el("a", {
            href: "#",
            class: "ref",
            on: {
              click: function (ev) {
                ev.preventDefault();
                focusNode(ref);
              },
            },
          }, ref);
        }
        return M.modelLink(ref);
      }

      function focusNode(ref) {
        var n = cy.getElementById(ref);
        if (n.empty()) {
          return;
        }
        cy.batch(function () {
          cy.$("node:selected").unselect();
          n.select();
        });
        if (!n.hasClass("hidden")) {
          cy.animate({ center: { eles: n }, duration: 200 });
        }
      }

      function edgeList(list, pick) {
        return el("ul", { class: "plain" }, list.map(function (e) {
          return el("li", null, refLink(pick(e)), " ", el("span", { class: "how" }, e.kind === "versioned" ? "new version" : e.how || e.kind));
        }));
      }

      function updatePanel() {
        var selected = cy.$("node:selected");
        M.clear(panel);
        if (selected.length === 0) {
          panel.appendChild(el("p", { class: "muted" }, "Select a node to see its details."));
          return;
        }
        if (selected.length > 1) {
          panel.appendChild(el("h2", null, selected.length + " selected"));
          var shown = selected.slice(0, 50);
          panel.appendChild(el("ul", { class: "plain" }, shown.map(function (n) {
            return el("li", null, refLink(n.id()));
          })));
          if (selected.length > shown.length) {
            panel.appendChild(el("p", { class: "muted" }, "\u2026 and " + (selected.length - shown.length) + " more"));
          }
          return;
        }
        var node = selected[0];
        var ref = node.id();
        var n = byRef.get(ref);
        var into = incoming.get(ref) || [];
        var out = outgoing.get(ref) || [];
        var message = n.message || (into.length ? into[0].message : null);
        var tests = n.tests || { passed: 0, failed: 0 };
        var testText = n.test_status === "none" ? "no tests" : tests.passed + " passed, " + tests.failed + " failed";
        panel.appendChild(el("h2", { class: "panel-ref" }, ref));
        panel.appendChild(M.kvTable([
          ["type", n.type || "-"],
          ["size", M.bytes(n.logical_bytes)],
          ["lossy", n.lossy ? "yes" : "no"],
          ["tests", el("span", { class: "badge " + (n.test_status || "none"), title: STATUS_TEXT[n.test_status] || "" }, testText)],
          ["tags", n.tags && n.tags.length ? n.tags.join(", ") : "-"],
        ]));
        if (message) {
          panel.appendChild(el("p", { class: "message" }, message));
        }
        var actions = el("div", { class: "actions" });
        if (!isStatic) {
          actions.appendChild(el("a", { testid: "open-model", class: "button primary", href: M.modelHref(ref) }, "Open model page"));
        }
        var descendants = node.successors("node").length;
        var isCollapsed = collapsed.has(ref);
        var collapseButton = el("button", {
          type: "button",
          testid: "collapse",
          class: "button",
          "aria-pressed": isCollapsed ? "true" : "false",
          disabled: !isCollapsed && descendants === 0,
          title: isCollapsed ? "show the descendants again" : "hide this node's descendants",
        }, isCollapsed ? "Expand (show " + descendants + " hidden)" : descendants ? "Collapse (hide " + descendants + (descendants === 1 ? " descendant)" : " descendants)") : "Collapse (no descendants)");
        collapseButton.addEventListener("click", function () {
          toggleCollapse(ref);
        });
        actions.appendChild(collapseButton);
        panel.appendChild(actions);
        if (into.length) {
          panel.appendChild(el("h3", null, "parents"));
          panel.appendChild(edgeList(into, function (e) {
            return e.parent;
          }));
        }
        if (out.length) {
          panel.appendChild(el("h3", null, "children"));
          panel.appendChild(edgeList(out, function (e) {
            return e.child;
          }));
        }
      }

      // ---- collapse: hide / show the descendants of a node ----
      var collapsed = new Set();
      function toggleCollapse(ref) {
        if (collapsed.has(ref)) {
          collapsed.delete(ref);
        } else {
          collapsed.add(ref);
        }
        applyCollapse();
        updatePanel();
      }
      function applyCollapse() {
        var hide = cy.collection();
        collapsed.forEach(function (ref) {
          hide = hide.union(cy.getElementById(ref).successors());
        });
        cy.batch(function () {
          cy.elements(".hidden").difference(hide).removeClass("hidden");
          hide.addClass("hidden");
          cy.nodes(".collapsed").forEach(function (n) {
            if (!collapsed.has(n.id())) {
              n.removeClass("collapsed");
              n.data({ label: n.data("base"), w: n.data("bw"), h: n.data("bh") });
            }
          });
          collapsed.forEach(function (ref) {
            var n = cy.getElementById(ref);
            var hidden = n.successors("node").length;
            n.addClass("collapsed");
            n.data({ label: n.data("base") + "\n+" + hidden + " hidden", w: n.data("bw"), h: n.data("bh") + 14 });
          });
        });
      }

      // ---- search ----
      function runSearch() {
        var q = search.value.trim().toLowerCase();
        var matches = cy.collection();
        cy.batch(function () {
          cy.elements(".match").removeClass("match");
          cy.elements(".faded").removeClass("faded");
          cy.$("node:selected").unselect();
          if (q) {
            matches = cy.nodes().filter(function (n) {
              return n.id().toLowerCase().indexOf(q) >= 0;
            });
            matches.addClass("match").select();
            if (nodes.length <= BIG) {
              // Fading restyles every element: worth it on a small graph only.
              cy.elements().difference(matches).difference(matches.edgesWith(matches)).addClass("faded");
            }
          }
        });
        if (!q) {
          count.textContent = "";
          return;
        }
        count.textContent = matches.length + (matches.length === 1 ? " match" : " matches");
        var visible = matches.filter(function (n) {
          return !n.hasClass("hidden");
        });
        if (visible.length) {
          fitNodes(cy, visible, 60);
          if (cy.zoom() > 1.5) {
            cy.zoom({ level: 1.5, renderedPosition: cy.getElementById(visible[0].id()).renderedPosition() });
            cy.center(visible);
          }
        }
      }
      var searchTimer = null;
      search.addEventListener("input", function () {
        clearTimeout(searchTimer);
        if (nodes.length > BIG) {
          searchTimer = setTimeout(runSearch, 120);
        } else {
          runSearch();
        }
      });
      search.addEventListener("keydown", function (ev) {
        if (ev.key === "Escape") {
          search.value = "";
          runSearch();
        } else if (ev.key === "Enter") {
          clearTimeout(searchTimer);
          runSearch();
        }
      });
      var initial = isStatic ? null : M.query("q");
      if (initial) {
        search.value = initial;
        runSearch();
      }
      fitButton.addEventListener("click", function () {
        fitNodes(cy, cy.nodes(":visible"), 30);
      });
    }
  };
})();
