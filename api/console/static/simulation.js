// The simulation form: shows the fields of the contact chosen (a stored one or a profile), adds
// script rows, and shows that the simulation is running until its answer arrives. Without
// JavaScript the form still works: both contact fields show and three rows are offered.
(function () {
  "use strict";
  var form = document.getElementById("simulation-form");
  if (!form) return;
  var rows = document.getElementById("script-rows");
  var addRow = document.getElementById("add-row");

  function showContact() {
    var profile = document.getElementById("contact-profile").checked;
    form.querySelector(".contact-stored").hidden = profile;
    form.querySelector(".contact-profile").hidden = !profile;
  }
  form.querySelectorAll('input[name="contact_mode"]').forEach(function (radio) {
    radio.addEventListener("change", showContact);
  });
  showContact();

  addRow.hidden = false;
  addRow.addEventListener("click", function () {
    var last = rows.lastElementChild, row = last.cloneNode(true), n = rows.children.length + 1;
    row.dataset.row = n;
    row.classList.remove("row-error");
    row.querySelector(".row-number").textContent = n;
    row.querySelectorAll("label").forEach(function (label) {
      var field = label.htmlFor.replace(/-\d+$/, "");
      label.htmlFor = field + "-" + n;
      label.textContent = label.textContent.replace(/^Row \d+/, "Row " + n);
    });
    row.querySelectorAll("input, select").forEach(function (input) {
      input.id = input.id.replace(/-\d+$/, "-" + n);
      input.removeAttribute("aria-invalid");
      input.removeAttribute("aria-describedby");
      if (input.tagName === "INPUT") input.value = "";
    });
    rows.appendChild(row);
    row.querySelector("input").focus();
  });

  form.addEventListener("submit", function () {
    var run = document.getElementById("run");
    run.disabled = true;
    run.textContent = "Simulating…";
    document.getElementById("simulation-busy").hidden = false;
    document.getElementById("result").setAttribute("aria-busy", "true");
  });
})();
