// A staff preview of the attempt page (screen/review/library_pages.py): the countdown
// runs here only, and nothing is sent anywhere. No autosave, no record, no submit: the
// real page's scripts (autosave.js, attempt.js) are not loaded.
(function () {
  "use strict";
  var timerEl = document.getElementById("timer");
  var timerValue = document.getElementById("timer-value");
  var form = document.getElementById("answer-form");
  var editor = document.getElementById("answer");
  var counter = document.getElementById("counter");
  var notice = document.getElementById("notice");
  var status = document.getElementById("save-status");
  if (!timerEl || !form || !("preview" in form.dataset)) return;

  var deadlineAt = performance.now() + Number(timerEl.dataset.remainingMs);
  function clockText(ms) {
    var total = Math.max(0, Math.ceil(ms / 1000));
    var h = Math.floor(total / 3600), m = Math.floor((total % 3600) / 60), s = total % 60;
    return (h ? h + ":" + String(m).padStart(2, "0") : String(m)) + ":" + String(s).padStart(2, "0");
  }
  function tick() {
    var left = deadlineAt - performance.now();
    timerValue.textContent = clockText(left);
    var minutes = left / 60000;
    timerEl.dataset.urgency = minutes <= 1 ? "critical" : minutes <= 5 ? "low" : "ok";
    if (left > 0) window.setTimeout(tick, 250);
  }
  tick();
  if (status) { status.textContent = "Preview: not saved"; status.dataset.state = "idle"; }

  editor.addEventListener("input", function () {
    var words = editor.value.trim().split(/\s+/).filter(Boolean).length;
    counter.textContent = words + (words === 1 ? " word" : " words");
  });
  document.getElementById("submit-button").addEventListener("click", function () {
    notice.textContent = "This is a preview: nothing was submitted or saved.";
    notice.hidden = false;
  });
  form.addEventListener("submit", function (event) { event.preventDefault(); });

  // Phones: the prompt and the answer as two tabs, as on the real page.
  var layout = document.getElementById("attempt-layout");
  var tabList = document.getElementById("attempt-tabs");
  var tabs = [document.getElementById("tab-prompt"), document.getElementById("tab-answer")];
  var panels = [document.getElementById("prompt-panel"), document.getElementById("answer-panel")];
  var narrow = window.matchMedia("(max-width: 999.98px)");
  var current = 0;
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
    tab.addEventListener("click", function () { selectTab(i, false); window.scrollTo(0, 0); });
    tab.addEventListener("keydown", function (event) {
      var next = null;
      if (event.key === "ArrowRight" || event.key === "ArrowLeft") next = 1 - i;
      else if (event.key === "Home") next = 0;
      else if (event.key === "End") next = 1;
      if (next === null) return;
      event.preventDefault();
      selectTab(next, true);
    });
  });
  if (narrow.addEventListener) narrow.addEventListener("change", applyLayout);
  applyLayout();
})();
