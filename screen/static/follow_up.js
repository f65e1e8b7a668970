// A follow-up question's page: countdown, autosave, paste refused, Submit confirmed.
// The server owns the deadline; this script only displays it and resynchronises from
// every reply. Pasting and dropping text are refused here, since the question asks about
// the candidate's own answer, and each refusal is reported so reviewers see the attempt.
// The autosave loop is shared with the attempt page (autosave.js) and the countdown with
// every timed page (countdown.js), both loaded first.
(function () {
  "use strict";
  var form = document.getElementById("answer-form");
  var shared = window.ScreenCandidate;
  if (!form || !shared || !window.ScreenCountdown) return;
  var editor = document.getElementById("answer");
  var revisionInput = document.getElementById("revision");
  var noticeEl = document.getElementById("notice");
  var timerEl = document.getElementById("timer");
  var timerValue = document.getElementById("timer-value");
  var announcer = document.getElementById("timer-announcer");
  var counter = document.getElementById("counter");
  var submitButton = document.getElementById("submit-button");

  var SAVE_EVERY_MS = 5000;
  var CONFIRM_AFTER_MS = 5000;
  var countdown = window.ScreenCountdown.Countdown(timerEl, timerValue, {
    lowMs: 60000,
    criticalMs: 30000,
    onTick: announceTimeLeft
  });
  var submitting = false;
  var announced = false;

  function showNotice(text) {
    noticeEl.textContent = text;
    noticeEl.hidden = false;
  }

  var autosave = shared.Autosave({
    form: form,
    editor: editor,
    revisionInput: revisionInput,
    statusEl: document.getElementById("save-status"),
    saveAnnouncer: document.getElementById("save-announcer"),
    noticeEl: noticeEl,
    url: form.dataset.draftUrl,
    every: SAVE_EVERY_MS,
    savedText: editor.value,
    onClock: countdown.resync,
    onRefused: function (status, reply) {
      var message = reply.message || "Your answer could not be saved.";
      if (status === 409 || status === 410) {
        autosave.stop();
        editor.readOnly = true;
        autosave.setStatus("Not saved", "error");
        showNotice(message);
        window.setTimeout(function () { window.location.assign(form.dataset.nextUrl); }, 4000);
        return true;
      }
      if (status === 400 || status === 413) {
        autosave.setStatus("Not saved", "error");
        showNotice(message);
        return true;
      }
      return false;
    }
  });

  function announceTimeLeft(left) {
    if (left <= 60000 && left > 30000 && !announced) {
      announced = true;
      announcer.textContent = "1 minute left for this question.";
    }
    if (left <= 0 && !autosave.stopped) { timeUp(); return false; }
    return true;
  }

  function wordCount() {
    var words = editor.value.trim().split(/\s+/).filter(Boolean).length;
    counter.textContent = words + (words === 1 ? " word" : " words");
  }

  function timeUp() {
    timerValue.textContent = "0:00";
    announcer.textContent = "Time is up for this question. Your answer is being submitted.";
    showNotice("Time is up for this question. Your answer is being submitted…");
    editor.readOnly = true;
    autosave.save().then(finalSubmit, finalSubmit);
  }

  function finalSubmit() {
    if (submitting) return;
    submitting = true;
    autosave.stop();
    revisionInput.value = String(autosave.revision);
    form.submit();
  }

  function refuse(event, size) {
    event.preventDefault();
    showNotice("Pasting is turned off for follow-up questions: please type your answer. " +
      "The attempt has been noted for reviewers.");
    fetch(form.dataset.pasteUrl, {
      method: "POST",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify({ size: size })
    }).catch(function () { /* offline: the refusal itself still stands */ });
  }

  editor.addEventListener("paste", function (event) {
    var pasted = (event.clipboardData && event.clipboardData.getData("text")) || "";
    refuse(event, pasted.length);
  });
  editor.addEventListener("drop", function (event) {
    var dropped = (event.dataTransfer && event.dataTransfer.getData("text")) || "";
    refuse(event, dropped.length);
  });
  // Some input methods bypass the paste event; refuse what arrives as a paste or drop.
  editor.addEventListener("beforeinput", function (event) {
    if (event.inputType === "insertFromPaste" || event.inputType === "insertFromDrop" ||
        event.inputType === "insertFromPasteAsQuotation") {
      refuse(event, (event.data || "").length);
    }
  });
  editor.addEventListener("input", function () {
    wordCount();
    if (!autosave.failing && !autosave.stopped) autosave.setStatus("Unsaved changes", "dirty");
    autosave.schedule(SAVE_EVERY_MS);
  });
  editor.addEventListener("blur", function () { autosave.save(); });
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden") autosave.save(true);
  });
  form.addEventListener("submit", function (event) {
    if (submitting) return;
    event.preventDefault();
    // Ending a question early cannot be undone: ask while its time remains.
    var left = countdown.left();
    var asked = left > CONFIRM_AFTER_MS ? shared.confirmSubmit(left) : Promise.resolve(true);
    asked.then(function (yes) {
      if (!yes || submitting) return;
      submitButton.disabled = true;
      (autosave.inFlight || Promise.resolve()).then(finalSubmit, finalSubmit);
    });
  });

  wordCount();
  countdown.start();
  editor.focus();
})();
