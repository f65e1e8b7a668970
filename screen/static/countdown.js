// The countdown of the timed pages (the attempt, a follow-up question, and the staff
// preview of the attempt). It counts down the milliseconds the server said remain, on
// the page's own monotonic clock, never the device's date: the server owns the deadline,
// and each page resynchronises the countdown from the server's replies.
(function () {
  "use strict";

  // "38:05", or "1:02:07" past an hour.
  function clockText(ms) {
    var total = Math.max(0, Math.ceil(ms / 1000));
    var h = Math.floor(total / 3600), m = Math.floor((total % 3600) / 60), s = total % 60;
    var mm = (h ? String(m).padStart(2, "0") : String(m));
    return (h ? h + ":" : "") + mm + ":" + String(s).padStart(2, "0");
  }

  // timerEl carries data-remaining-ms; valueEl shows the time left. options:
  //   lowMs, criticalMs   at or under these, timerEl's data-urgency is "low", "critical"
  //   onTick(leftMs)      after each redraw; false stops the countdown
  // Nothing moves until the page calls start().
  function Countdown(timerEl, valueEl, options) {
    var deadlineAt = performance.now() + Number(timerEl.dataset.remainingMs);
    var self = {
      left: function () { return deadlineAt - performance.now(); },
      resync: function (remainingMs) { deadlineAt = performance.now() + remainingMs; }
    };
    function tick() {
      var left = self.left();
      valueEl.textContent = clockText(left);
      timerEl.dataset.urgency =
        left <= options.criticalMs ? "critical" : left <= options.lowMs ? "low" : "ok";
      if (options.onTick(left) !== false) window.setTimeout(tick, 250);
    }
    self.start = tick;
    return self;
  }

  window.ScreenCountdown = { Countdown: Countdown, clockText: clockText };
})();
