// The attempt page's enhancements: countdown, autosave, integrity signals, the
// composition record (how the answer was written; format in reviewers/composition.py),
// the Markdown preview and the confirmation before Submit. The server owns the deadline;
// this script only displays it and resynchronises from every reply, so a wrong device
// clock cannot move it. The autosave loop is shared with the follow-up page (autosave.js)
// and the countdown with every timed page (countdown.js), both loaded first; the phone's
// Prompt/Answer tabs are attempt_tabs.js.
(function () {
  "use strict";
  var form = document.getElementById("answer-form");
  var shared = window.ScreenCandidate;
  if (!form || !shared || !window.ScreenCountdown) return;
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
  var compositionInput = document.getElementById("composition");
  var saveIdInput = document.getElementById("save-id");
  var confirmInput = document.getElementById("confirm");
  var recordStatus = document.getElementById("record-status");
  var byteLength = shared.byteLength;

  var SAVE_EVERY_MS = 10000;
  var CONFIRM_AFTER_MS = 5000;  // as the server's CONFIRM_AFTER_MS
  var RESYNC_EVERY_MS = 60000;
  var KEEPALIVE_LIMIT = 60000;  // browsers cap keepalive bodies at 64 KiB
  var maxBytes = Number(form.dataset.maxBytes);
  var countdown = window.ScreenCountdown.Countdown(timerEl, timerValue, {
    lowMs: 5 * 60000,
    criticalMs: 60000,
    onTick: announceTimeLeft
  });
  var submitting = false;
  var announced = {};
  var pendingEvents = [];

  // The composition record: one event per change of the text, sent in numbered batches
  // with the autosaves (a batch is stored with its draft or not at all). Its clock is the
  // server's: milliseconds since the attempt started. A page that opens on a draft the
  // record does not hold (seq 0 but text already saved) records nothing: the record says
  // absent rather than replaying to the wrong text.
  var RECORD_FLUSH_BYTES = 64 * 1024;  // a batch this large is saved at once
  var recording = form.dataset.composition === "on" &&
    !(Number(form.dataset.compositionSeq) === 0 && editor.value !== "");
  var nextSeq = Number(form.dataset.compositionSeq) + 1;
  var startedAt = performance.now() - Number(form.dataset.elapsedMs || 0);
  var lastValue = editor.value;
  var lastT = 0;
  var edits = [];
  var editBytes = 0;

  function isHigh(code) { return code >= 0xd800 && code <= 0xdbff; }
  function isLow(code) { return code >= 0xdc00 && code <= 0xdfff; }

  // One edit from the previous text to the current one: what lies between their common
  // prefix and common suffix. Offsets are UTF-16 units, as the textarea counts; a
  // surrogate pair is never split, so every inserted text is whole characters.
  function captureEdit(inputType) {
    var before = lastValue, after = editor.value;
    lastValue = after;
    if (!recording || before === after) return;
    var start = 0, limit = Math.min(before.length, after.length);
    while (start < limit && before.charCodeAt(start) === after.charCodeAt(start)) start++;
    if (start > 0 && isHigh(before.charCodeAt(start - 1))) start--;
    var endBefore = before.length, endAfter = after.length;
    while (endBefore > start && endAfter > start &&
           before.charCodeAt(endBefore - 1) === after.charCodeAt(endAfter - 1)) {
      endBefore--; endAfter--;
    }
    if (endBefore < before.length && isLow(before.charCodeAt(endBefore))) {
      endBefore++; endAfter++;
    }
    var inserted = after.slice(start, endAfter);
    // Never earlier than the last event: a resynchronised clock may step back a little.
    lastT = Math.max(lastT, Math.round(performance.now() - startedAt));
    var event = [lastT, start, endBefore - start, inserted];
    if (inputType === "insertFromPaste" || inputType === "insertFromDrop" ||
        inputType === "insertFromPasteAsQuotation") {
      event.push("p");
    }
    edits.push(event);
    editBytes += 24 + inserted.length * 3;
  }

  function takeBatch() {
    if (!recording || !edits.length) return null;
    var batch = { seq: nextSeq, events: edits };
    edits = [];
    editBytes = 0;
    return batch;
  }

  // A save refused without storing anything: its events go back in front of the newer
  // ones, to travel with the next save under the same number.
  function returnBatch(batch) {
    if (!batch || !recording) return;
    edits = batch.events.concat(edits);
    editBytes = 0;
    edits.forEach(function (e) { editBytes += 24 + e[3].length * 3; });
  }

  // On the wire a batch's events are the JSON text of their list: the server checks that
  // text once and stores it as it came, instead of decoding every event.
  function wire(batch) {
    return { seq: batch.seq, events: JSON.stringify(batch.events) };
  }

  function stopRecording() {
    recording = false;
    edits = [];
    editBytes = 0;
    recordStatus.hidden = false;
  }

  function showNotice(text) {
    noticeEl.textContent = text;
    noticeEl.hidden = false;
  }

  function resync(reply) {
    if (typeof reply.remaining_ms === "number") countdown.resync(reply.remaining_ms);
  }

  function announceTimeLeft(left) {
    var minutesLeft = left / 60000;
    [10, 5, 1].forEach(function (mark) {
      if (minutesLeft <= mark && minutesLeft > mark - 0.5 && !announced[mark]) {
        announced[mark] = true;
        announcer.textContent = mark + (mark === 1 ? " minute" : " minutes") + " left.";
      }
    });
    if (left <= 0 && !autosave.stopped) {
      timeUp();
      return false;
    }
    return true;
  }

  function wordCount() {
    var words = editor.value.trim().split(/\s+/).filter(Boolean).length;
    var text = words + (words === 1 ? " word" : " words");
    var used = byteLength(editor.value) / maxBytes;
    if (used > 0.9) {
      text += " — " + Math.round(used * 100) + "% of the size limit";
    }
    counter.textContent = text;
    counter.dataset.state = used > 1 ? "over" : used > 0.9 ? "near" : "ok";
  }

  function flushEvents() {
    if (!pendingEvents.length || autosave.stopped) return;
    var batch = pendingEvents.splice(0, pendingEvents.length);
    fetch(form.dataset.eventsUrl, {
      method: "POST",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify({ events: batch }),
      keepalive: true
    }).catch(function () { pendingEvents = batch.concat(pendingEvents); });
  }

  function resyncClock() {
    if (autosave.stopped) return;
    fetch(form.dataset.clockUrl, { headers: { "Accept": "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (reply) {
        if (!reply) return;
        if (reply.state && reply.state !== "started") {
          autosave.stop();
          window.location.assign(form.dataset.doneUrl);
          return;
        }
        resync(reply);
      })
      .catch(function () { /* offline: the next save or resync will catch up */ });
  }

  var autosave = shared.Autosave({
    form: form,
    editor: editor,
    revisionInput: revisionInput,
    statusEl: statusEl,
    saveAnnouncer: saveAnnouncer,
    noticeEl: noticeEl,
    url: form.dataset.draftUrl,
    every: SAVE_EVERY_MS,
    keepaliveLimit: KEEPALIVE_LIMIT,
    hideNoticeOnSave: true,
    // A submit refused for a too-large AI disclosure gives back an answer it did not save.
    savedText: "unsaved" in form.dataset ? null : editor.value,
    take: takeBatch,
    decorate: function (payload, batch) { if (batch) payload.composition = wire(batch); },
    onClock: countdown.resync,
    onSaved: function (reply, batch) {
      if (!batch) return;
      if (reply.composition === "incomplete") stopRecording();
      else nextSeq = batch.seq + 1;
      if (typeof reply.elapsed_ms === "number") {
        startedAt = performance.now() - reply.elapsed_ms;
      }
    },
    onRefused: function (status, reply, batch) {
      var message = reply.message || "Your answer could not be saved.";
      if (reply.error === "stale_revision") {
        message += " Copy anything from this page that you want to keep before reloading.";
      }
      if (status === 409 || status === 410) {
        autosave.stop();
        autosave.setStatus("Not saved", "error");
        showNotice(message);
        if (status === 410 || reply.error === "already_submitted") {
          editor.readOnly = true;
          window.setTimeout(function () { window.location.assign(form.dataset.doneUrl); }, 4000);
        }
        return true;
      }
      if (status === 413 || status === 400) {
        if (reply.error === "invalid_composition" || reply.error === "composition_too_large") {
          // The record is at fault, not the answer: drop the record, keep saving the text.
          stopRecording();
          autosave.schedule(0);
          return true;
        }
        returnBatch(batch);
        autosave.setStatus("Not saved", "error");
        showNotice(message);
        return true;
      }
      return false;
    }
  });

  function timeUp() {
    timerValue.textContent = "0:00";
    announcer.textContent = "Time is up. Your answer is being submitted.";
    showNotice("Time is up. Your answer is being submitted…");
    editor.readOnly = true;
    autosave.save().then(finalSubmit, finalSubmit);
  }

  function finalSubmit() {
    if (submitting) return;
    submitting = true;
    autosave.stop();
    revisionInput.value = String(autosave.revision);
    // Asked in the dialog, or the clock ended it: no confirmation page.
    confirmInput.value = "";
    // The record's last events, after those of a save whose reply never came (the server
    // skips that batch if the save was committed, and then takes this submission on it).
    var last = takeBatch();
    var unanswered = autosave.unanswered;
    var held = unanswered && unanswered.extra;
    if (held && last) last.seq = held.seq + 1;
    var batches = [held, last].filter(Boolean).map(wire);
    if (batches.length) {
      compositionInput.value = JSON.stringify(batches.length === 1 ? batches[0] : batches);
    }
    if (unanswered) saveIdInput.value = unanswered.id;
    form.submit();
  }

  editor.addEventListener("input", function (event) {
    captureEdit(event.inputType);
    // A large batch (a big paste, say) goes at once rather than growing for ten seconds.
    var flush = editBytes > RECORD_FLUSH_BYTES;
    if (flush) autosave.cancelScheduled();
    wordCount();
    if (noticeEl.hidden === false && !autosave.stopped) noticeEl.hidden = true;
    // While saves are failing, keep saying so: new text is not saved either.
    if (!autosave.failing && !autosave.stopped) autosave.setStatus("Unsaved changes", "dirty");
    autosave.schedule(flush ? 0 : SAVE_EVERY_MS);
  });
  editor.addEventListener("blur", function () { autosave.save(); });
  editor.addEventListener("paste", function (event) {
    var pasted = (event.clipboardData && event.clipboardData.getData("text")) || "";
    pendingEvents.push({ kind: "paste", size: pasted.length, at: new Date().toISOString() });
  });
  window.addEventListener("blur", function () {
    pendingEvents.push({ kind: "focus_lost", at: new Date().toISOString() });
  });
  window.addEventListener("focus", function () {
    pendingEvents.push({ kind: "focus_regained", at: new Date().toISOString() });
    flushEvents();
  });
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden") { autosave.save(true); flushEvents(); }
    else { resyncClock(); }
  });
  window.addEventListener("online", function () { autosave.save(); });
  window.addEventListener("beforeunload", function (event) {
    if (autosave.dirty() && !submitting && !autosave.stopped) {
      autosave.save(true); event.preventDefault(); event.returnValue = "";
    }
  });
  // Under a policy that asks how AI tools were used: what the server would refuse is said
  // here, before anything is sent (the time-up submit skips this, and is accepted).
  function disclosureProblem() {
    var disclosure = document.getElementById("ai-disclosure");
    var conversation = document.getElementById("ai-conversation");
    if (!disclosure) return null;
    if (!disclosure.value.trim()) {
      return [disclosure, "Before submitting, describe how you used AI tools (or that you used none)."];
    }
    var limit = Number(conversation.dataset.maxBytes);
    if (byteLength(conversation.value) > limit) {
      return [conversation, "The pasted conversation is over " + Math.round(limit / 1024) +
        " KB. Paste the parts that matter."];
    }
    return null;
  }

  form.addEventListener("submit", function (event) {
    if (submitting) return;
    event.preventDefault();
    var problem = disclosureProblem();
    if (problem) { showNotice(problem[1]); problem[0].focus(); return; }
    // Submitting early cannot be undone: ask while time remains (in the last seconds the
    // clock would take the answer anyway). The server asks the same without JavaScript.
    var left = countdown.left();
    var asked = left > CONFIRM_AFTER_MS ? shared.confirmSubmit(left) : Promise.resolve(true);
    asked.then(function (yes) {
      if (!yes || submitting) return;
      submitButton.disabled = true;
      // Wait for any save in flight so the posted revision is the latest one.
      var pending = autosave.inFlight || Promise.resolve();
      pending.then(function () { flushEvents(); finalSubmit(); }, finalSubmit);
    });
  });

  // The Markdown preview: rendered by the server with the same sanitiser the reviewers'
  // pages use, so it shows exactly what they will read. Nothing is saved by it.
  var previewToggle = document.getElementById("preview-toggle");
  var preview = document.getElementById("answer-preview");
  var previewing = false;

  function showEditor() {
    previewing = false;
    preview.hidden = true;
    preview.textContent = "";
    editor.hidden = false;
    previewToggle.textContent = "Preview";
  }

  function showPreview() {
    previewing = true;
    previewToggle.textContent = "Back to editing";
    editor.hidden = true;
    preview.hidden = false;
    preview.setAttribute("aria-busy", "true");
    preview.innerHTML = '<p class="hint">Rendering the preview…</p>';
    fetch(previewToggle.dataset.previewUrl, {
      method: "POST",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify({ answer: editor.value })
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (reply) {
        return { status: response.status, reply: reply };
      });
    }).then(function (result) {
      if (!previewing) return;
      preview.removeAttribute("aria-busy");
      if (result.status !== 200) {
        showEditor();
        showNotice(result.reply.message || "The preview could not be made. Your answer is unchanged.");
        return;
      }
      resync(result.reply);
      // Sanitised by the server (nh3), and the page's CSP allows no inline script.
      preview.innerHTML = result.reply.html ||
        '<p class="hint">Nothing written yet.</p>';
    }, function () {
      if (!previewing) return;
      showEditor();
      showNotice("The preview needs a connection. Your answer is unchanged.");
    });
  }

  previewToggle.hidden = false;
  previewToggle.addEventListener("click", function () {
    if (previewing) { showEditor(); editor.focus(); } else { showPreview(); }
  });

  // A refused submit is answered with this page: a reload should show it, not post again.
  if (/\/submit$/.test(window.location.pathname)) {
    window.history.replaceState(null, "", window.location.pathname.replace(/\/submit$/, "/attempt"));
  }
  if (autosave.dirty()) autosave.schedule(0);

  window.setInterval(flushEvents, 15000);
  window.setInterval(resyncClock, RESYNC_EVERY_MS);
  wordCount();
  countdown.start();
})();
