// A staff preview of the attempt page (screen/review/library_pages.py): the countdown
// runs here only, and nothing is sent anywhere. No autosave, no record, no submit: the
// real page's scripts (autosave.js, attempt.js) are not loaded; the countdown
// (countdown.js) and the phone's tabs (attempt_tabs.js) are the real page's own.
(function () {
  "use strict";
  var timerEl = document.getElementById("timer");
  var timerValue = document.getElementById("timer-value");
  var form = document.getElementById("answer-form");
  var editor = document.getElementById("answer");
  var counter = document.getElementById("counter");
  var notice = document.getElementById("notice");
  var status = document.getElementById("save-status");
  if (!timerEl || !form || !("preview" in form.dataset) || !window.ScreenCountdown) return;

  // As on the real page (attempt.js), but nothing happens at 0:00.
  window.ScreenCountdown.Countdown(timerEl, timerValue, {
    lowMs: 5 * 60000,
    criticalMs: 60000,
    onTick: function (left) { return left > 0; }
  }).start();
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
})();
