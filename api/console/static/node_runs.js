// On a journey's diagram, a node opens the list of runs waiting at it (click, Enter or Space).
(function () {
  "use strict";
  var host = document.getElementById("node-runs");
  var diagram = document.getElementById("diagram");
  if (!host || !diagram) return;
  function open(node) {
    var query = host.getAttribute("data-query");
    window.location.href = host.getAttribute("data-base") + encodeURIComponent(node.getAttribute("data-node-id")) +
      "/runs" + (query ? "?" + query : "");
  }
  diagram.querySelectorAll(".node").forEach(function (node) {
    node.style.cursor = "pointer";
    node.addEventListener("click", function () { open(node); });
    node.addEventListener("keydown", function (event) {
      if (event.key === "Enter" || event.key === " ") { event.preventDefault(); open(node); }
    });
  });
})();
