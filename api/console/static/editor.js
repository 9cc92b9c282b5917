// The journey editor: as the definition is typed, asks the console to check it (the API's own
// checks), lists each problem with its line, marks that line beside the text and the node on
// the diagram, and redraws the diagram. Also the send node preview. Without JavaScript the
// form still saves, and the page answers with the problems.
(function () {
  "use strict";
  var DELAY = 400; // ms after the last key before checking
  var text = document.getElementById("definition");
  var gutter = document.getElementById("gutter");
  var host = document.getElementById("diagram");
  var list = document.getElementById("problems");
  var none = document.getElementById("no-problems");
  var status = document.getElementById("check-status");
  var form = document.getElementById("editor-form");
  if (!text || !gutter) return;
  var badLines = {};

  function csrf(formElement) { return formElement.querySelector('input[name="csrf_token"]').value; }

  function drawGutter() {
    var count = text.value.split("\n").length, out = [];
    for (var n = 1; n <= count; n++) out.push(badLines[n] ? "! " + n : String(n));
    gutter.textContent = out.join("\n");
    gutter.scrollTop = text.scrollTop;
  }

  function goToLine(line) {
    var lines = text.value.split("\n"), start = 0;
    for (var n = 1; n < line && n <= lines.length; n++) start += lines[n - 1].length + 1;
    var written = lines[line - 1] || "", indent = written.length - written.trimStart().length;
    text.focus();
    text.setSelectionRange(start + indent, start + written.length); // the field, not its indentation
    text.scrollTop = Math.max(0, (line - 4) * parseFloat(getComputedStyle(text).lineHeight));
  }

  function markNodes(ids) {
    host.querySelectorAll(".node-invalid").forEach(function (node) { node.classList.remove("node-invalid"); });
    ids.forEach(function (id) {
      var node = host.querySelector('.node[data-node-id="' + CSS.escape(id) + '"]');
      if (node) node.classList.add("node-invalid");
    });
  }

  function showProblems(problems) {
    badLines = {};
    list.replaceChildren();
    problems.forEach(function (problem) {
      var item = document.createElement("li");
      item.dataset.node = problem.node || "";
      item.dataset.field = problem.field;
      if (problem.line) {
        badLines[problem.line] = true;
        item.dataset.line = problem.line;
        var button = document.createElement("button");
        button.type = "button";
        button.className = "to-line";
        button.dataset.line = problem.line;
        button.textContent = "Line " + problem.line;
        item.appendChild(button);
        item.appendChild(document.createTextNode(" "));
      }
      var message = document.createElement("span");
      message.className = "problem-message";
      message.textContent = problem.message;
      item.appendChild(message);
      list.appendChild(item);
    });
    none.hidden = problems.length > 0;
    drawGutter();
    markNodes(problems.map(function (p) { return p.node; }).filter(Boolean));
  }

  var timer = null, asked = 0;
  function check() {
    var ask = ++asked;
    status.textContent = "Checking…";
    var body = new URLSearchParams({ csrf_token: csrf(form), definition: text.value });
    fetch(text.dataset.check, { method: "POST", body: body, credentials: "same-origin" })
      .then(function (response) { return response.json().then(function (data) { return [response, data]; }); })
      .then(function (answer) {
        if (ask !== asked) return; // a later check is on its way
        var data = answer[1];
        if (!answer[0].ok) { status.textContent = data.error || "The check failed (" + answer[0].status + ")"; return; }
        if (data.graph) window.SojournDiagram.draw(host, data.graph);
        showProblems(data.problems);
        status.textContent = data.problems.length ? data.problems.length + " problem(s): the definition cannot be saved yet"
                                                  : "No problems: the definition can be saved";
      })
      .catch(function () { if (ask === asked) status.textContent = "The check could not reach the server; try again."; });
  }

  text.addEventListener("scroll", function () { gutter.scrollTop = text.scrollTop; });
  list.addEventListener("click", function (event) {
    var button = event.target.closest(".to-line");
    if (button) goToLine(Number(button.dataset.line));
  });
  if (form) {
    check(); // the saved text too: rules added since it was saved may refuse it now
    text.addEventListener("input", function () {
      drawGutter();
      clearTimeout(timer);
      timer = setTimeout(check, DELAY);
    });
  }
  [].forEach.call(list.querySelectorAll("li[data-line]"), function (item) {
    if (item.dataset.line) badLines[item.dataset.line] = true;
  });
  drawGutter();
  markNodes(JSON.parse(document.getElementById("invalid-nodes").textContent));

  var previewForm = document.getElementById("preview-form");
  var previewOut = document.getElementById("preview");
  if (!previewForm) return;

  function add(parent, name, content, className) {
    var element = document.createElement(name);
    if (content !== undefined) element.textContent = content;
    if (className) element.className = className;
    parent.appendChild(element);
    return element;
  }

  function showPreview(data) {
    previewOut.replaceChildren();
    add(previewOut, "p", data.channel ? "A send now would use " + data.channel + "." :
                         "A send now would be skipped: " + data.refusals.join("; "), "muted");
    Object.keys(data.messages).forEach(function (channel) {
      var message = data.messages[channel], payload = message.payload || {};
      var box = add(previewOut, "article", undefined, "message");
      box.dataset.channel = channel;
      add(box, "h3", channel);
      if (message.subject) add(box, "p", message.subject, "message-subject");
      if (typeof payload.html === "string") {
        var frame = add(box, "iframe", undefined, "message-html");
        frame.setAttribute("sandbox", ""); // no scripts, no navigation: the message is only shown
        frame.title = channel + " message as rendered";
        frame.srcdoc = payload.html;
      }
      var plain = typeof payload.text === "string" ? payload.text : (typeof payload === "string" ? payload : null);
      if (plain !== null) add(box, "pre", plain, "message-text");
      else if (typeof payload.html !== "string") add(box, "pre", JSON.stringify(payload, null, 2), "message-text");
    });
    Object.keys(data.errors).forEach(function (channel) {
      add(previewOut, "p", channel + ": " + data.errors[channel], "error");
    });
  }

  previewForm.addEventListener("submit", function (event) {
    event.preventDefault();
    previewOut.setAttribute("aria-busy", "true");
    previewOut.replaceChildren();
    add(previewOut, "p", "Rendering…", "busy");
    fetch(previewForm.action, { method: "POST", body: new URLSearchParams(new FormData(previewForm)),
                                credentials: "same-origin" })
      .then(function (response) { return response.json().then(function (data) { return [response, data]; }); })
      .then(function (answer) {
        previewOut.removeAttribute("aria-busy");
        if (answer[0].ok) { showPreview(answer[1]); return; }
        previewOut.replaceChildren();
        add(previewOut, "p", answer[1].error, "error").setAttribute("role", "alert");
      })
      .catch(function () {
        previewOut.removeAttribute("aria-busy");
        previewOut.replaceChildren();
        add(previewOut, "p", "The preview could not reach the server; try again.", "error");
      });
  });
})();
