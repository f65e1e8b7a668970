// Show every server timestamp in the viewer's own timezone; the UTC text stays without JS.
(function () {
  "use strict";
  document.querySelectorAll("time[data-local-time]").forEach(function (el) {
    var moment = new Date(el.getAttribute("datetime"));
    if (isNaN(moment.getTime())) return;
    el.title = el.textContent;
    el.textContent = moment.toLocaleString(undefined, {
      dateStyle: "medium", timeStyle: "short", timeZoneName: "short"
    });
  });
})();
