// Follows a segment enrollment without reloading: asks its progress (a small JSON answer) every
// data-poll-ms and writes it into the page, until the enrollment has ended.
(function () {
  "use strict";
  var host = document.getElementById("enrollment");
  if (!host) return;
  var url = host.getAttribute("data-progress-url");
  var every = Number(host.getAttribute("data-poll-ms"));
  var ended = host.getAttribute("data-ended").split(",");
  var bar = document.getElementById("enrollment-progress");
  function field(name) { return host.querySelector('[data-field="' + name + '"]'); }
  function show(progress) {
    var done = progress.enrolled + progress.existing + progress.failed;
    field("status").textContent = progress.status;
    field("done").textContent = String(done);
    field("total").textContent = progress.total === null ? "counting…" : String(progress.total);
    ["enrolled", "existing", "failed"].forEach(function (name) { field(name).textContent = String(progress[name]); });
    field("per_second").textContent = progress.per_second === null ? "–" : progress.per_second.toFixed(1);
    if (progress.total !== null) bar.max = progress.total;
    bar.value = done;
    var errors = field("errors");
    errors.hidden = !progress.errors.length;
    errors.textContent = progress.errors.join("; ");
  }
  function fail(message) {
    var errors = field("errors");
    errors.hidden = false;
    errors.textContent = message;
  }
  function poll() {
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        var type = response.headers.get("content-type") || "";
        if (type.indexOf("application/json") !== 0) throw new Error("Signed out: reload the page to sign in again.");
        return response.json().then(function (body) {
          if (!response.ok) throw new Error(body.error.message);
          return body;
        });
      })
      .then(function (progress) {
        show(progress);
        if (ended.indexOf(progress.status) < 0) setTimeout(poll, every);
      })
      .catch(function (error) { fail(error.message); setTimeout(poll, every * 5); });
  }
  if (ended.indexOf(field("status").textContent) < 0) setTimeout(poll, every);
})();
