/*
 * Live member count of the user-segment form: after an edit of a definition, wait until
 * typing pauses, post the form to the count URL (which saves nothing) and show the count,
 * the form's errors, the refresh's warnings, and why the conditions can never be true.
 * Self-contained: no library, no external assets.
 */
(function () {
  "use strict";
  var DELAY_MS = 500;
  var IGNORED = ["name", "slug", "priority", "refresh_interval", "csrfmiddlewaretoken"];

  function list(items, className) {
    var ul = document.createElement("ul");
    ul.className = className;
    items.forEach(function (text) {
      var li = document.createElement("li");
      li.textContent = text;
      ul.appendChild(li);
    });
    return ul;
  }

  function render(box, data) {
    box.textContent = "";
    var head = document.createElement("span");
    head.className = "segments-live-count-text";
    var errors = [];
    Object.keys(data.errors || {}).forEach(function (field) {
      data.errors[field].forEach(function (message) {
        errors.push((field === "__all__" ? "" : field + ": ") + message);
      });
    });
    if (data.count === null || data.count === undefined) {
      head.textContent = "Not counted:";
    } else {
      var strong = document.createElement("strong");
      strong.className = "segments-live-count-number";
      strong.textContent = String(data.count);
      head.appendChild(strong);
      head.appendChild(document.createTextNode(
        " member" + (data.count === 1 ? "" : "s") + " match these definitions now (nothing is saved)."));
    }
    box.appendChild(head);
    if (errors.length) { box.appendChild(list(errors, "segments-live-errors")); }
    if (data.never && data.never.length) {
      var hint = document.createElement("p");
      hint.className = "segments-live-never";
      hint.textContent = "The conditions can never be true:";
      box.appendChild(hint);
      box.appendChild(list(data.never, "segments-live-never"));
    }
    if (data.warnings && data.warnings.length) { box.appendChild(list(data.warnings, "segments-live-warnings")); }
  }

  function init() {
    var box = document.getElementById("segments-live-count");
    var form = box && box.closest("form");
    if (!form || !window.fetch) { return; }
    // Shown right under the definitions it counts.
    var definitions = form.querySelector("[name=conditions], [name=static_ids]");
    var fieldset = definitions && definitions.closest("fieldset");
    if (fieldset) { fieldset.after(box); }
    var timer = null;
    var latest = 0;

    function run() {
      var mine = ++latest;
      box.classList.add("busy");
      fetch(box.dataset.url, { method: "POST", body: new FormData(form), credentials: "same-origin" })
        .then(function (response) { return response.json(); })
        .then(function (data) { if (mine === latest) { render(box, data); } })
        .catch(function () { if (mine === latest) { box.textContent = "The member count is not available."; } })
        .then(function () { if (mine === latest) { box.classList.remove("busy"); } });
    }

    function edited(event) {
      var name = event.target && event.target.name;
      if (IGNORED.indexOf(name) !== -1) { return; }
      window.clearTimeout(timer);
      timer = window.setTimeout(run, DELAY_MS);
    }

    form.addEventListener("input", edited);
    form.addEventListener("change", edited);
    if (box.dataset.initial) { run(); }
  }

  document.addEventListener("DOMContentLoaded", init);
})();
