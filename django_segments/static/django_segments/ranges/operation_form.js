/*
 * The span page's operations form shows only the inputs the chosen operation needs: the
 * segment for segment operations, and its value or delta. Each option of the operation
 * select names them (data-target, data-argument). Without this script every input shows.
 */
(function () {
  "use strict";
  function init() {
    var form = document.getElementById("segment-operation-form");
    var select = form && form.querySelector("select[name=operation]");
    if (!select) { return; }
    function field(name) { return form.querySelector('.segments-operation-field[data-field="' + name + '"]'); }
    function update() {
      var option = select.options[select.selectedIndex];
      var target = option ? option.getAttribute("data-target") : null;
      var argument = option ? option.getAttribute("data-argument") : null;
      var shown = { segment: target === "segment", value: argument === "value", delta: argument === "delta" };
      Object.keys(shown).forEach(function (name) {
        var box = field(name);
        if (box) { box.hidden = !shown[name]; }
      });
    }
    select.addEventListener("change", update);
    update();
  }
  document.addEventListener("DOMContentLoaded", init);
})();
