// Small progressive enhancements; every page works without this file.
"use strict";
(function () {
  function each(selector, fn) { Array.prototype.forEach.call(document.querySelectorAll(selector), fn); }

  // File inputs accept dropped files natively; the zone around them shows it.
  each("[data-dropzone]", function (zone) {
    var input = zone.querySelector("input[type=file]");
    var hint = zone.querySelector(".drop-hint");
    ["dragenter", "dragover"].forEach(function (name) {
      zone.addEventListener(name, function (ev) { ev.preventDefault(); zone.classList.add("over"); });
    });
    ["dragleave", "drop"].forEach(function (name) {
      zone.addEventListener(name, function () { zone.classList.remove("over"); });
    });
    zone.addEventListener("drop", function (ev) {
      ev.preventDefault();
      if (ev.dataTransfer && ev.dataTransfer.files.length) {
        input.files = ev.dataTransfer.files;
        input.dispatchEvent(new Event("change"));
      }
    });
    input.addEventListener("change", function () {
      if (hint) { hint.textContent = input.files.length ? input.files[0].name + " (" + input.files[0].size + " bytes)" : "or drop the file here"; }
    });
  });

  // A form sent once shows it is working and is not sent twice.
  each("form[method=post]", function (form) {
    form.addEventListener("submit", function (ev) {
      var button = ev.submitter || form.querySelector("button[type=submit]");
      if (button && !button.disabled) {
        window.setTimeout(function () { button.disabled = true; button.textContent = "Working…"; }, 0);
      }
    });
  });
})();
