// What the candidate's two writing pages share (attempt.js, follow_up.js): the autosave
// loop and the confirmation before an irreversible Submit. Loaded before
// either page's script, it only defines `window.ScreenCandidate`; each page decides what a
// save carries and what a refusal means for it.
(function () {
  "use strict";

  function newSaveId() {
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) {
      return (b < 16 ? "0" : "") + b.toString(16);
    }).join("");
  }

  function byteLength(text) {
    return new TextEncoder().encode(text).length;
  }

  // Whole minutes, rounded down, as the server's confirmation page says them
  // (screen/candidate/pages.py, time_left_text): never more time than there is.
  function timeLeftText(ms) {
    var minutes = Math.floor(ms / 60000);
    if (minutes < 1) return "less than a minute";
    return minutes + (minutes === 1 ? " minute" : " minutes");
  }

  // The autosave loop. A save whose outcome is unknown (no reply, or a server error) is
  // retried with the same id and text, so if it was committed the server acknowledges it
  // instead of refusing the retry as a change from another tab.
  //
  // options: form, editor, revisionInput, statusEl, saveAnnouncer, noticeEl, url,
  //   every (ms between saves while typing), savedText (null: the text is not saved),
  //   keepaliveLimit (bytes; a larger body is not sent as keepalive),
  //   take()            -> extra data travelling with one save (the attempt's record batch)
  //   decorate(payload, extra)  adds it to the request
  //   onSaved(reply, extra)     after a 200, before the state is updated
  //   onClock(remainingMs)      the server's time left, from every acknowledged save
  //   onRefused(status, reply, extra) -> true if the page handled the refusal
  function Autosave(options) {
    var self = {
      revision: Number(options.revisionInput.value),
      savedText: options.savedText,
      stopped: false,     // stale tab, time up or submitted: no more saves
      failing: false,     // the last save did not reach the server
      inFlight: null,
      unanswered: null    // { id, text, extra }
    };
    var saveTimer = null;
    var retryDelay = 2000;

    self.dirty = function () { return options.editor.value !== self.savedText; };

    self.setStatus = function (text, kind) {
      var el = options.statusEl;
      if (el.textContent === text && el.dataset.state === kind) return;
      el.textContent = text;
      el.dataset.state = kind;
    };

    // Saving retries on its own, so a screen reader hears only when it starts failing
    // and when it recovers, not every "Saving…" and "Saved".
    self.failed = function () {
      self.setStatus("Not saved — retrying", "error");
      if (!self.failing) options.saveAnnouncer.textContent = "Your answer is not saved yet. Retrying.";
      self.failing = true;
      self.schedule(retryDelay);
      retryDelay = Math.min(retryDelay * 2, 15000);
    };

    self.schedule = function (delay) {
      if (saveTimer || self.stopped) return;
      saveTimer = window.setTimeout(function () { saveTimer = null; self.save(); }, delay);
    };

    self.cancelScheduled = function () {
      window.clearTimeout(saveTimer);
      saveTimer = null;
    };

    self.stop = function () {
      self.stopped = true;
      self.cancelScheduled();
    };

    self.save = function (leaving) {
      if (self.stopped) return Promise.resolve();
      if (self.inFlight) {
        return self.inFlight.then(function () { return self.dirty() ? self.save(leaving) : null; });
      }
      if (!self.dirty() && !self.unanswered) return Promise.resolve();
      self.cancelScheduled();
      if (!self.unanswered) {
        self.unanswered = {
          id: newSaveId(),
          text: options.editor.value,
          extra: options.take ? options.take() : null
        };
      }
      var text = self.unanswered.text;
      var extra = self.unanswered.extra;
      var payload = { revision: self.revision, answer: text, save_id: self.unanswered.id };
      if (options.decorate) options.decorate(payload, extra);
      var body = JSON.stringify(payload);
      if (!self.failing) self.setStatus("Saving…", "saving");
      self.inFlight = fetch(options.url, {
        method: "POST",
        headers: { "Content-Type": "application/json", "Accept": "application/json" },
        body: body,
        // A save started as the tab hides or closes must outlive the page.
        keepalive: Boolean(leaving) && body.length < (options.keepaliveLimit || 60000)
      }).then(function (response) {
        return response.json().catch(function () { return {}; }).then(function (reply) {
          return { status: response.status, reply: reply };
        });
      }).then(function (result) {
        self.inFlight = null;
        handle(result.status, result.reply, text, extra);
      }, function () {
        self.inFlight = null;
        self.failed();
      });
      return self.inFlight;
    };

    function handle(status, reply, text, extra) {
      // Any answer but a server error settles the save; a server error may have committed it.
      if (status < 500) self.unanswered = null;
      if (status === 200) {
        if (options.onSaved) options.onSaved(reply, extra);
        self.revision = reply.revision;
        options.revisionInput.value = String(self.revision);
        self.savedText = text;
        retryDelay = 2000;
        if (typeof reply.remaining_ms === "number" && options.onClock) options.onClock(reply.remaining_ms);
        self.setStatus("Saved " + new Date(reply.saved_at).toLocaleTimeString(), "saved");
        // A retry resends the text of the save whose outcome was unknown; what was typed
        // since (offline, say) goes straight after it, not at the next regular save.
        var recovered = self.failing;
        if (self.failing) options.saveAnnouncer.textContent = "Your answer is saved again.";
        self.failing = false;
        if (options.hideNoticeOnSave) options.noticeEl.hidden = true;
        if (self.dirty()) self.schedule(recovered ? 0 : options.every);
        return;
      }
      if (status < 500 && options.onRefused && options.onRefused(status, reply, extra)) return;
      self.failed();
    }

    return self;
  }

  // Submitting cannot be undone: while time remains, ask first. Resolves true to submit.
  // Focus starts on "Keep writing", the choice that changes nothing.
  function confirmSubmit(remainingMs) {
    var dialog = document.getElementById("submit-dialog");
    var text = "You have " + timeLeftText(remainingMs) + " left. Submit now?";
    if (!dialog || typeof dialog.showModal !== "function") {
      return Promise.resolve(window.confirm(text));
    }
    document.getElementById("submit-dialog-text").textContent = text;
    return new Promise(function (resolve) {
      var confirmButton = document.getElementById("submit-confirm");
      var cancelButton = document.getElementById("submit-cancel");
      function finish(answer) {
        confirmButton.removeEventListener("click", onConfirm);
        cancelButton.removeEventListener("click", onCancel);
        dialog.removeEventListener("cancel", onCancel);
        if (dialog.open) dialog.close();
        resolve(answer);
      }
      function onConfirm() { finish(true); }
      function onCancel(event) { if (event) event.preventDefault(); finish(false); }
      confirmButton.addEventListener("click", onConfirm);
      cancelButton.addEventListener("click", onCancel);
      dialog.addEventListener("cancel", onCancel);  // Escape
      dialog.showModal();
      cancelButton.focus();
    });
  }

  window.ScreenCandidate = {
    Autosave: Autosave,
    byteLength: byteLength,
    confirmSubmit: confirmSubmit,
    newSaveId: newSaveId,
    timeLeftText: timeLeftText
  };
})();
