// Picks the page from the address and renders it. Loaded last, after the page scripts.
(function () {
  "use strict";

  var M = window.MGit;
  var staticData = window.MGIT_STATIC;
  var root = document.getElementById("page");
  var page;

  if (staticData) {
    // The one-file export: the graph only, no server, no navigation.
    page = "graph";
    var nav = document.getElementById("nav");
    if (nav) {
      nav.parentNode.removeChild(nav);
    }
    var brand = document.getElementById("brand");
    brand.removeAttribute("href");
    document.getElementById("repo-title").textContent = staticData.title || "mgit";
    document.title = staticData.title || "mgit";
    document.body.classList.add("static");
  } else {
    var path = location.pathname.replace(/\/+$/, "") || "/";
    page = { "/": "graph", "/graph": "graph", "/model": "model", "/diff": "diff", "/storage": "storage" }[path] || null;
    document.title = (page ? page + " \u00b7 " : "") + "mgit";
    // The repository's folder name, once known (the header says "mgit" until then).
    M.api("repository").then(function (repository) {
      document.getElementById("repo-title").textContent = "mgit \u00b7 " + repository.name;
      document.title = (page ? page + " \u00b7 " : "") + repository.name + " \u00b7 mgit";
    }, function () {});
    var links = document.querySelectorAll("#nav a[data-page]");
    for (var i = 0; i < links.length; i++) {
      if (links[i].getAttribute("data-page") === page) {
        links[i].setAttribute("aria-current", "page");
      }
    }
  }

  document.body.setAttribute("data-page", page || "none");
  if (!page || !M.pages[page]) {
    M.showError("no page at " + location.pathname);
    return;
  }
  try {
    M.pages[page](root);
  } catch (e) {
    M.showError("this page failed: " + (e && e.message ? e.message : e));
    window.mgitReady = true;
  }
})();
