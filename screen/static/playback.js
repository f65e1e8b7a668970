// The composition record's player (templates/reviewer/_authorship.html): replays the
// answer being written, with a scrubber, play/pause, speed and jumps to each paste.
//
// The log is fetched when the section is first opened, so a page whose reader never
// looks costs nothing. A record of 2 MiB holds ~100,000 edits: the controls work as soon
// as the log is parsed, and keyframes (the text every KEY_EVERY edits) are built in
// slices of a few milliseconds between frames, so the page never freezes; a seek past
// the keyframes built so far waits for them. Offsets are UTF-16 code units, which is
// what JavaScript strings index, so the replay matches reviewers/composition.py exactly.
(function () {
  "use strict";
  var KEY_EVERY = 500;
  var SLICE_MS = 8;
  // Idle stretches longer than this (in real time, at the chosen speed) are skipped.
  var MAX_WAIT_MS = 1200;

  var root = document.querySelector(".player[data-log-url]");
  if (!root) return;
  var details = root.closest("details");
  var status = root.querySelector("[data-player-status]");
  var controls = root.querySelector(".player-controls");
  var pastes = root.querySelector(".player-pastes");
  var playButton = root.querySelector("[data-player-play]");
  var speedSelect = root.querySelector("[data-player-speed]");
  var scrubber = root.querySelector("[data-player-scrubber]");
  var timeOut = root.querySelector("[data-player-time]");
  var textBox = root.querySelector("[data-player-text]");

  var events = [];
  var keyframes = [""];
  var built = 0; // edits applied while building keyframes
  var buildText = "";
  var index = 0; // edits applied to `text`
  var text = "";
  var playing = false;
  var pendingSeek = null;
  var lastFrame = 0;
  var clockMs = 0; // the attempt's time the playhead stands at
  var started = false;

  function apply(current, e) {
    var pos = Math.min(e[1], current.length);
    var end = Math.min(pos + e[2], current.length);
    return current.slice(0, pos) + e[3] + current.slice(end);
  }

  function clock(ms) {
    var s = Math.floor(ms / 1000);
    var rest = s % 60;
    return Math.floor(s / 60) + ":" + (rest < 10 ? "0" : "") + rest;
  }

  function say(message) {
    status.textContent = message;
  }

  function render() {
    var e = index > 0 ? events[index - 1] : null;
    var total = events.length.toLocaleString("en");
    var label = clock(clockMs) + ", edit " + index.toLocaleString("en") + " of " + total;
    timeOut.textContent = label;
    scrubber.value = String(index);
    scrubber.setAttribute("aria-valuetext", label);
    textBox.textContent = "";
    if (!e) {
      textBox.appendChild(caret());
      return;
    }
    var pos = Math.min(e[1], text.length);
    var end = Math.min(pos + e[3].length, text.length);
    var mark;
    if (e[4] === "p" && end > pos) {
      mark = document.createElement("mark");
      mark.className = "pasted";
      mark.textContent = text.slice(pos, end);
    } else {
      mark = caret();
      pos = end;
    }
    textBox.append(text.slice(0, pos), mark, text.slice(end));
    // Keep the edit in view inside the box without scrolling the page.
    textBox.scrollTop = Math.max(0, mark.offsetTop - textBox.clientHeight / 2);
  }

  function caret() {
    var span = document.createElement("span");
    span.className = "caret";
    span.setAttribute("aria-hidden", "true");
    return span;
  }

  function buildSome() {
    var until = performance.now() + SLICE_MS;
    while (built < events.length && performance.now() < until) {
      var stop = Math.min(events.length, built + 200);
      for (; built < stop; built++) {
        buildText = apply(buildText, events[built]);
        if ((built + 1) % KEY_EVERY === 0) keyframes.push(buildText);
      }
    }
    if (pendingSeek !== null && Math.floor(pendingSeek / KEY_EVERY) * KEY_EVERY <= built) {
      var target = pendingSeek;
      pendingSeek = null;
      seek(target);
    }
    if (built < events.length) {
      setTimeout(buildSome, 0);
    } else {
      root.dataset.keyframesMs = String(Math.round(performance.now() - root.loadStarted));
    }
  }

  function seek(target) {
    target = Math.max(0, Math.min(events.length, target));
    var k = Math.floor(target / KEY_EVERY);
    if (target >= index && target - index < KEY_EVERY) {
      // Forward and near: from where we are.
    } else if (k * KEY_EVERY <= built && keyframes[k] !== undefined) {
      text = keyframes[k];
      index = k * KEY_EVERY;
    } else {
      // Not built yet: wait for the keyframes to reach it.
      pendingSeek = target;
      timeOut.textContent = "Preparing this part of the replay…";
      return;
    }
    for (; index < target; index++) text = apply(text, events[index]);
    clockMs = index > 0 ? events[index - 1][0] : 0;
    render();
  }

  function tick(now) {
    if (!playing) return;
    var speed = Number(speedSelect.value) || 1;
    var elapsed = Math.min(now - lastFrame, 250);
    lastFrame = now;
    clockMs += elapsed * speed;
    if (index < events.length && (events[index][0] - clockMs) / speed > MAX_WAIT_MS) {
      clockMs = events[index][0]; // skip the idle stretch
    }
    var moved = false;
    while (index < events.length && events[index][0] <= clockMs) {
      text = apply(text, events[index]);
      index++;
      moved = true;
    }
    if (moved) render();
    if (index >= events.length) {
      setPlaying(false);
      return;
    }
    requestAnimationFrame(tick);
  }

  function setPlaying(on) {
    playing = on && events.length > 0;
    playButton.textContent = playing ? "Pause" : "Play";
    playButton.setAttribute("aria-pressed", playing ? "true" : "false");
    if (playing) {
      if (index >= events.length) seek(0);
      lastFrame = performance.now();
      requestAnimationFrame(tick);
    }
  }

  function ready(log) {
    events = log.events || [];
    scrubber.max = String(events.length);
    controls.hidden = false;
    if (pastes) pastes.hidden = false;
    index = 0;
    text = "";
    render();
    var minutes = events.length ? Math.round(events[events.length - 1][0] / 60000) : 0;
    say(
      (log.status === "complete" ? "Ready" : "Ready, but the record is " + log.label) +
        ": " + events.length.toLocaleString("en") + " edits over " + minutes + " min."
    );
    root.dataset.state = "ready";
    root.dataset.readyMs = String(Math.round(performance.now() - root.loadStarted));
    setTimeout(buildSome, 0);
  }

  function load() {
    if (started) return;
    started = true;
    root.loadStarted = performance.now();
    say("Loading the record…");
    fetch(root.dataset.logUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(ready)
      .catch(function (error) {
        root.dataset.state = "failed";
        say("The record could not be loaded (" + error.message + "). The figures and the timeline above still hold.");
      });
  }

  playButton.addEventListener("click", function () {
    setPlaying(!playing);
  });
  scrubber.addEventListener("input", function () {
    setPlaying(false);
    seek(Number(scrubber.value));
  });
  root.querySelectorAll("[data-player-jump]").forEach(function (button) {
    button.addEventListener("click", function () {
      setPlaying(false);
      seek(Number(button.dataset.playerJump));
      say("At the paste of " + button.textContent.split("·")[1].trim() + ", " + clock(clockMs) + ".");
    });
  });

  if (details && !details.open) {
    details.addEventListener("toggle", function () {
      if (details.open) load();
    });
  } else {
    load();
  }
})();
