// A follow-up question's page: countdown, autosave, and paste refused.
// The server owns the deadline; this script only displays it and resynchronises from
// every reply. Pasting and dropping text are refused here, since the question asks about
// the candidate's own answer, and each refusal is reported so reviewers see the attempt.
(function () {
  "use strict";
  var form = document.getElementById("answer-form");
  if (!form) return;
  var editor = document.getElementById("answer");
  var revisionInput = document.getElementById("revision");
  var statusEl = document.getElementById("save-status");
  var noticeEl = document.getElementById("notice");
  var timerEl = document.getElementById("timer");
  var timerValue = document.getElementById("timer-value");
  var announcer = document.getElementById("timer-announcer");
  var saveAnnouncer = document.getElementById("save-announcer");
  var counter = document.getElementById("counter");
  var submitButton = document.getElementById("submit-button");

  var SAVE_EVERY_MS = 5000;
  var deadlineAt = performance.now() + Number(timerEl.dataset.remainingMs);
  var revision = Number(revisionInput.value);
  var savedText = editor.value;
  var inFlight = null;
  var saveTimer = null;
  var stopped = false;
  var submitting = false;
  var failing = false;
  var announced = false;
  // A save whose outcome is unknown is retried with the same id and text, so a committed
  // save whose reply was lost is acknowledged rather than refused as stale.
  var unanswered = null;

  function dirty() { return editor.value !== savedText; }

  function newSaveId() {
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) {
      return (b < 16 ? "0" : "") + b.toString(16);
    }).join("");
  }

  function setStatus(text, kind) {
    statusEl.textContent = text;
    statusEl.dataset.state = kind;
  }

  function showNotice(text) {
    noticeEl.textContent = text;
    noticeEl.hidden = false;
  }

  function clockText(ms) {
    var total = Math.max(0, Math.ceil(ms / 1000));
    return Math.floor(total / 60) + ":" + String(total % 60).padStart(2, "0");
  }

  function tick() {
    var left = deadlineAt - performance.now();
    timerValue.textContent = clockText(left);
    timerEl.dataset.urgency = left <= 30000 ? "critical" : left <= 60000 ? "low" : "ok";
    if (left <= 60000 && left > 30000 && !announced) {
      announced = true;
      announcer.textContent = "1 minute left for this question.";
    }
    if (left <= 0 && !stopped) { timeUp(); return; }
    window.setTimeout(tick, 250);
  }

  function wordCount() {
    var words = editor.value.trim().split(/\s+/).filter(Boolean).length;
    counter.textContent = words + (words === 1 ? " word" : " words");
  }

  function save(leaving) {
    if (stopped) return Promise.resolve();
    if (inFlight) return inFlight.then(function () { return dirty() ? save(leaving) : null; });
    if (!dirty() && !unanswered) return Promise.resolve();
    window.clearTimeout(saveTimer);
    saveTimer = null;
    if (!unanswered) unanswered = { id: newSaveId(), text: editor.value };
    var text = unanswered.text;
    if (!failing) setStatus("Saving…", "saving");
    inFlight = fetch(form.dataset.draftUrl, {
      method: "POST",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify({ revision: revision, answer: text, save_id: unanswered.id }),
      keepalive: Boolean(leaving)
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (reply) {
        inFlight = null;
        handleReply(response.status, reply, text);
      });
    }, function () {
      inFlight = null;
      saveFailed();
    });
    return inFlight;
  }

  function saveFailed() {
    setStatus("Not saved — retrying", "error");
    if (!failing) saveAnnouncer.textContent = "Your answer is not saved yet. Retrying.";
    failing = true;
    scheduleSave(2000);
  }

  function handleReply(status, reply, text) {
    if (status < 500) unanswered = null;
    if (status === 200) {
      revision = reply.revision;
      revisionInput.value = String(revision);
      savedText = text;
      if (typeof reply.remaining_ms === "number") {
        deadlineAt = performance.now() + reply.remaining_ms;
      }
      setStatus("Saved " + new Date(reply.saved_at).toLocaleTimeString(), "saved");
      if (failing) saveAnnouncer.textContent = "Your answer is saved again.";
      failing = false;
      if (dirty()) scheduleSave(SAVE_EVERY_MS);
      return;
    }
    var message = reply.message || "Your answer could not be saved.";
    if (status === 409 || status === 410) {
      stopped = true;
      editor.readOnly = true;
      setStatus("Not saved", "error");
      showNotice(message);
      window.setTimeout(function () { window.location.assign(form.dataset.nextUrl); }, 4000);
      return;
    }
    if (status === 400 || status === 413) {
      setStatus("Not saved", "error");
      showNotice(message);
      return;
    }
    saveFailed();
  }

  function scheduleSave(delay) {
    if (saveTimer || stopped) return;
    saveTimer = window.setTimeout(function () { saveTimer = null; save(); }, delay);
  }

  function timeUp() {
    timerValue.textContent = "0:00";
    announcer.textContent = "Time is up for this question. Your answer is being submitted.";
    showNotice("Time is up for this question. Your answer is being submitted…");
    editor.readOnly = true;
    save().then(finalSubmit, finalSubmit);
  }

  function finalSubmit() {
    if (submitting) return;
    submitting = true;
    stopped = true;
    revisionInput.value = String(revision);
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
    if (!failing && !stopped) setStatus("Unsaved changes", "dirty");
    scheduleSave(SAVE_EVERY_MS);
  });
  editor.addEventListener("blur", function () { save(); });
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden") save(true);
  });
  form.addEventListener("submit", function (event) {
    if (submitting) return;
    event.preventDefault();
    submitButton.disabled = true;
    (inFlight || Promise.resolve()).then(finalSubmit, finalSubmit);
  });

  wordCount();
  tick();
  editor.focus();
})();
