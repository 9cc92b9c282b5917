// Draws a journey's graph (the page's #journey-graph JSON) as SVG in #diagram. dagre lays it
// out in layers, top to bottom, and keeps boxes and edge labels apart; this file only draws.
(function () {
  "use strict";
  var SVG = "http://www.w3.org/2000/svg";
  var WIDTH = 210, LINE = 16, PAD = 8, MAX_CHARS = 30;
  var source = document.getElementById("journey-graph");
  var host = document.getElementById("diagram");
  if (!source || !host) return;
  var data = JSON.parse(source.textContent);

  function el(name, attrs, parent) {
    var node = document.createElementNS(SVG, name);
    Object.keys(attrs || {}).forEach(function (key) { node.setAttribute(key, attrs[key]); });
    if (parent) parent.appendChild(node);
    return node;
  }
  function cut(text) { return text.length > MAX_CHARS ? text.slice(0, MAX_CHARS - 1) + "…" : text; }
  function lines(node) {
    var out = [
      { text: node.id, cls: "node-id" },
      { text: node.type + (node.detail && node.detail !== node.type ? " · " + node.detail : ""), cls: "node-detail" },
      { parts: [["entered", node.entered], ["here", node.here]] }
    ];
    if (node.send) out.push({ parts: [["sent", node.send.sent], ["opened", node.send.opened], ["clicked", node.send.clicked]] });
    return out;
  }
  function edgeText(edge) { return (edge.way === "next" ? "" : edge.way + " · ") + edge.runs; }

  var g = new dagre.graphlib.Graph({ multigraph: true });
  g.setGraph({ rankdir: "TB", nodesep: 28, ranksep: 56, edgesep: 16, marginx: 12, marginy: 12 });
  data.nodes.forEach(function (node) {
    g.setNode(node.id, { width: WIDTH, height: lines(node).length * LINE + 2 * PAD, node: node });
  });
  data.edges.forEach(function (edge, index) {
    var text = edgeText(edge);
    g.setEdge(edge.from, edge.to, { width: text.length * 7 + 12, height: 20, labelpos: "c", edge: edge }, "e" + index);
  });
  dagre.layout(g);

  var size = g.graph();
  var svg = el("svg", { width: size.width, height: size.height, viewBox: "0 0 " + size.width + " " + size.height,
                        role: "group", "aria-label": "Journey diagram" });
  var defs = el("defs", {}, svg);
  var marker = el("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 8, markerHeight: 8,
                              orient: "auto-start-reverse" }, defs);
  el("path", { d: "M 0 0 L 10 5 L 0 10 z", class: "arrowhead" }, marker);

  var edges = el("g", { class: "edges" }, svg);
  g.edges().forEach(function (key) {
    var label = g.edge(key), edge = label.edge;
    var d = label.points.map(function (p, i) { return (i ? "L " : "M ") + p.x + " " + p.y; }).join(" ");
    var group = el("g", { class: "edge", "data-from": edge.from, "data-to": edge.to, "data-way": edge.way }, edges);
    el("path", { d: d, "marker-end": "url(#arrow)" }, group);
    var box = el("g", { class: "edge-label", transform: "translate(" + (label.x - label.width / 2) + "," +
                        (label.y - label.height / 2) + ")" }, group);
    el("rect", { width: label.width, height: label.height, rx: 4 }, box);
    var text = el("text", { x: label.width / 2, y: 14, "text-anchor": "middle" }, box);
    if (edge.way !== "next") el("tspan", {}, text).textContent = edge.way + " · ";
    el("tspan", { "data-count": "runs" }, text).textContent = String(edge.runs);
  });

  var nodes = el("g", { class: "nodes" }, svg);
  g.nodes().forEach(function (id) {
    var box = g.node(id), node = box.node;
    var summary = node.id + ", " + node.type + (node.detail ? " (" + node.detail + ")" : "") + ": entered " +
      node.entered + ", here now " + node.here;
    var group = el("g", { class: "node node-" + node.type, "data-node-id": node.id, tabindex: 0,
                          "aria-label": summary, transform: "translate(" + (box.x - box.width / 2) + "," +
                          (box.y - box.height / 2) + ")" }, nodes);
    el("title", {}, group).textContent = summary;
    el("rect", { width: box.width, height: box.height, rx: 6 }, group);
    lines(node).forEach(function (line, index) {
      var text = el("text", { x: PAD, y: PAD + LINE * index + 12, class: line.cls || "node-numbers" }, group);
      if (line.text) { text.textContent = cut(line.text); return; }
      line.parts.forEach(function (part, at) {
        el("tspan", {}, text).textContent = (at ? " · " : "") + part[0] + " ";
        el("tspan", { "data-count": part[0], class: "count" }, text).textContent = String(part[1]);
      });
    });
  });
  host.appendChild(svg);
})();
