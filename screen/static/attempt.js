// The attempt page's enhancements: countdown, autosave, integrity signals, and the
// composition record (how the answer was written; format in reviewers/composition.py).
// The server owns the deadline; this script only displays it and resynchronises
// from every reply, so a wrong device clock cannot move it.
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
  var compositionInput = document.getElementById("composition");
  var saveIdInput = document.getElementById("save-id");
  var recordStatus = document.getElementById("record-status");

  var SAVE_EVERY_MS = 10000;
  var RESYNC_EVERY_MS = 60000;
  var KEEPALIVE_LIMIT = 60000;  // browsers cap keepalive bodies at 64 KiB
  var maxBytes = Number(form.dataset.maxBytes);
  var deadlineAt = performance.now() + Number(timerEl.dataset.remainingMs);
  var revision = Number(revisionInput.value);
  // A submit refused for a too-large AI disclosure gives back an answer it did not save.
  var savedText = "unsaved" in form.dataset ? null : editor.value;
  var inFlight = null;
  var saveTimer = null;
  var retryDelay = 2000;
  var stopped = false;          // stale tab, time up or submitted: no more saves
  var submitting = false;
  var announced = {};
  var failing = false;          // the last save did not reach the server
  // A save whose outcome is unknown (no reply, or a server error): its retries resend the
  // same text with the same id, so if it was committed the server acknowledges it instead
  // of refusing the retry as a change from another tab.
  var unanswered = null;        // { id, text, batch }
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

  function dirty() { return editor.value !== savedText; }

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

  function newSaveId() {
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) {
      return (b < 16 ? "0" : "") + b.toString(16);
    }).join("");
  }

  function setStatus(text, kind) {
    if (statusEl.textContent === text && statusEl.dataset.state === kind) return;
    statusEl.textContent = text;
    statusEl.dataset.state = kind;
  }

  // Saving retries on its own, so a screen reader hears only when it starts failing
  // and when it recovers, not every "Saving…" and "Saved".
  function saveFailed() {
    setStatus("Not saved — retrying", "error");
    if (!failing) saveAnnouncer.textContent = "Your answer is not saved yet. Retrying.";
    failing = true;
    scheduleSave(retryDelay);
    retryDelay = Math.min(retryDelay * 2, 15000);
  }

  function showNotice(text) {
    noticeEl.textContent = text;
    noticeEl.hidden = false;
  }

  function clockText(ms) {
    var total = Math.max(0, Math.ceil(ms / 1000));
    var h = Math.floor(total / 3600), m = Math.floor((total % 3600) / 60), s = total % 60;
    var mm = (h ? String(m).padStart(2, "0") : String(m));
    return (h ? h + ":" : "") + mm + ":" + String(s).padStart(2, "0");
  }

  function resync(reply) {
    if (typeof reply.remaining_ms === "number") {
      deadlineAt = performance.now() + reply.remaining_ms;
    }
  }

  function tick() {
    var left = deadlineAt - performance.now();
    timerValue.textContent = clockText(left);
    var minutesLeft = left / 60000;
    timerEl.dataset.urgency = minutesLeft <= 1 ? "critical" : minutesLeft <= 5 ? "low" : "ok";
    [10, 5, 1].forEach(function (mark) {
      if (minutesLeft <= mark && minutesLeft > mark - 0.5 && !announced[mark]) {
        announced[mark] = true;
        announcer.textContent = mark + (mark === 1 ? " minute" : " minutes") + " left.";
      }
    });
    if (left <= 0 && !stopped) {
      timeUp();
      return;
    }
    window.setTimeout(tick, 250);
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
    if (!pendingEvents.length || stopped) return;
    var batch = pendingEvents.splice(0, pendingEvents.length);
    fetch(form.dataset.eventsUrl, {
      method: "POST",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify({ events: batch }),
      keepalive: true
    }).catch(function () { pendingEvents = batch.concat(pendingEvents); });
  }

  function byteLength(text) {
    return new TextEncoder().encode(text).length;
  }

  function resyncClock() {
    if (stopped) return;
    fetch(form.dataset.clockUrl, { headers: { "Accept": "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (reply) {
        if (!reply) return;
        if (reply.state && reply.state !== "started") {
          stopped = true;
          window.location.assign(form.dataset.doneUrl);
          return;
        }
        resync(reply);
      })
      .catch(function () { /* offline: the next save or resync will catch up */ });
  }

  function save(leaving) {
    if (stopped) return Promise.resolve();
    if (inFlight) return inFlight.then(function () { return dirty() ? save(leaving) : null; });
    if (!dirty() && !unanswered) return Promise.resolve();
    window.clearTimeout(saveTimer);
    saveTimer = null;
    if (!unanswered) unanswered = { id: newSaveId(), text: editor.value, batch: takeBatch() };
    var text = unanswered.text;
    var batch = unanswered.batch;
    var payload = { revision: revision, answer: text, save_id: unanswered.id };
    if (batch) payload.composition = wire(batch);
    var body = JSON.stringify(payload);
    if (!failing) setStatus("Saving…", "saving");
    inFlight = fetch(form.dataset.draftUrl, {
      method: "POST",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: body,
      // A save started as the tab hides or closes must outlive the page.
      keepalive: Boolean(leaving) && body.length < KEEPALIVE_LIMIT
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (reply) {
        return { status: response.status, reply: reply };
      });
    }).then(function (result) {
      inFlight = null;
      handleReply(result.status, result.reply, text, batch);
    }, function () {
      inFlight = null;
      saveFailed();
    });
    return inFlight;
  }

  function handleReply(status, reply, text, batch) {
    // Any answer but a server error settles the save; a server error may have committed it.
    if (status < 500) unanswered = null;
    if (status === 200) {
      if (batch) {
        if (reply.composition === "incomplete") stopRecording();
        else nextSeq = batch.seq + 1;
        if (typeof reply.elapsed_ms === "number") {
          startedAt = performance.now() - reply.elapsed_ms;
        }
      }
      revision = reply.revision;
      revisionInput.value = String(revision);
      savedText = text;
      retryDelay = 2000;
      resync(reply);
      var at = new Date(reply.saved_at);
      setStatus("Saved " + at.toLocaleTimeString(), "saved");
      // A retry resends the text of the save whose outcome was unknown; what was typed
      // since (offline, say) goes straight after it, not at the next regular save.
      var recovered = failing;
      if (failing) saveAnnouncer.textContent = "Your answer is saved again.";
      failing = false;
      noticeEl.hidden = true;
      if (dirty()) scheduleSave(recovered ? 0 : SAVE_EVERY_MS);
      return;
    }
    var message = reply.message || "Your answer could not be saved.";
    if (reply.error === "stale_revision") {
      message += " Copy anything from this page that you want to keep before reloading.";
    }
    if (status === 409 || status === 410) {
      stopped = true;
      setStatus("Not saved", "error");
      showNotice(message);
      if (status === 410 || reply.error === "already_submitted") {
        editor.readOnly = true;
        window.setTimeout(function () { window.location.assign(form.dataset.doneUrl); }, 4000);
      }
      return;
    }
    if (status === 413 || status === 400) {
      if (reply.error === "invalid_composition" || reply.error === "composition_too_large") {
        // The record is at fault, not the answer: drop the record, keep saving the text.
        stopRecording();
        scheduleSave(0);
        return;
      }
      returnBatch(batch);
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
    announcer.textContent = "Time is up. Your answer is being submitted.";
    showNotice("Time is up. Your answer is being submitted…");
    editor.readOnly = true;
    save().then(finalSubmit, finalSubmit);
  }

  function finalSubmit() {
    if (submitting) return;
    submitting = true;
    stopped = true;
    revisionInput.value = String(revision);
    // The record's last events, after those of a save whose reply never came (the server
    // skips that batch if the save was committed, and then takes this submission on it).
    var last = takeBatch();
    var held = unanswered && unanswered.batch;
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
    if (flush) { window.clearTimeout(saveTimer); saveTimer = null; }
    wordCount();
    if (noticeEl.hidden === false && !stopped) noticeEl.hidden = true;
    // While saves are failing, keep saying so: new text is not saved either.
    if (!failing && !stopped) setStatus("Unsaved changes", "dirty");
    scheduleSave(flush ? 0 : SAVE_EVERY_MS);
  });
  editor.addEventListener("blur", function () { save(); });
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
    if (document.visibilityState === "hidden") { save(true); flushEvents(); }
    else { resyncClock(); }
  });
  window.addEventListener("online", function () { save(); });
  window.addEventListener("beforeunload", function (event) {
    if (dirty() && !submitting && !stopped) { save(true); event.preventDefault(); event.returnValue = ""; }
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
    submitButton.disabled = true;
    // Wait for any save in flight so the posted revision is the latest one.
    var pending = inFlight || Promise.resolve();
    pending.then(function () { flushEvents(); finalSubmit(); }, finalSubmit);
  });

  // A refused submit is answered with this page: a reload should show it, not post again.
  if (/\/submit$/.test(window.location.pathname)) {
    window.history.replaceState(null, "", window.location.pathname.replace(/\/submit$/, "/attempt"));
  }
  if (dirty()) scheduleSave(0);

  window.setInterval(flushEvents, 15000);
  window.setInterval(resyncClock, RESYNC_EVERY_MS);
  wordCount();
  tick();
})();
