// The review desk's keyboard: with focus on a dimension's levels (a radio button), the
// number keys 1..N choose level N of that dimension; on the recommendation, its Nth
// choice. Typing in a text field is never intercepted, and without this script the form
// works the same with the arrow keys. Loaded from a file (the CSP allows no inline script).
(function () {
  "use strict";
  var form = document.querySelector("form[data-rubric-form]");
  if (!form) return;
  var hint = document.querySelector("[data-keys-hint]");
  if (hint) hint.hidden = false;

  form.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || event.isComposing) return;
    var target = event.target;
    if (!(target instanceof HTMLInputElement) || target.type !== "radio") return;
    if (!/^[1-9]$/.test(event.key)) return;
    var group = target.closest("fieldset");
    if (!group) return;
    var choices = Array.prototype.filter.call(
      group.querySelectorAll("input[type=radio]"),
      function (input) { return input.name === target.name; }
    );
    var choice = choices[Number(event.key) - 1];
    if (!choice) return;
    event.preventDefault();
    if (!choice.checked) choice.click(); // checks it and fires input and change, as a click does
    choice.focus();
  });
})();
