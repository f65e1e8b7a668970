// Phones: the attempt page's prompt and answer as two tabs in the sticky header, so the
// editor is one tap away however long the prompt; the staff preview of the page has the
// same. Wide screens keep both side by side, and so does a page without JavaScript
// (stacked, with a link to skip to the answer).
(function () {
  "use strict";
  var layout = document.getElementById("attempt-layout");
  var tabList = document.getElementById("attempt-tabs");
  var editor = document.getElementById("answer");
  if (!layout || !tabList || !editor) return;
  var tabs = [document.getElementById("tab-prompt"), document.getElementById("tab-answer")];
  var panels = [document.getElementById("prompt-panel"), document.getElementById("answer-panel")];
  var narrow = window.matchMedia("(max-width: 999.98px)");
  var current = editor.value.trim() ? 1 : 0;  // a candidate who comes back returns to the answer

  function selectTab(index, moveFocus) {
    current = index;
    tabs.forEach(function (tab, i) {
      tab.setAttribute("aria-selected", String(i === index));
      tab.tabIndex = i === index ? 0 : -1;
      panels[i].dataset.active = String(i === index);
    });
    if (moveFocus) tabs[index].focus();
  }

  function applyLayout() {
    var tabbed = narrow.matches;
    tabList.hidden = !tabbed;
    layout.classList.toggle("tabbed", tabbed);
    panels.forEach(function (panel, i) {
      if (tabbed) {
        panel.setAttribute("role", "tabpanel");
        panel.setAttribute("aria-labelledby", tabs[i].id);
      } else {
        panel.removeAttribute("role");
        panel.removeAttribute("aria-labelledby");
      }
    });
    selectTab(current, false);
  }

  tabs.forEach(function (tab, i) {
    tab.addEventListener("click", function () {
      selectTab(i, false);
      window.scrollTo(0, 0);
    });
    tab.addEventListener("keydown", function (event) {
      var next = null;
      if (event.key === "ArrowRight" || event.key === "ArrowLeft") next = 1 - i;
      else if (event.key === "Home") next = 0;
      else if (event.key === "End") next = 1;
      if (next === null) return;
      event.preventDefault();
      selectTab(next, true);
      window.scrollTo(0, 0);
    });
  });
  if (narrow.addEventListener) narrow.addEventListener("change", applyLayout);
  applyLayout();
})();
