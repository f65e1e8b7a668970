// Show every server timestamp in the viewer's own timezone; the UTC text stays without JS.
(function () {
  "use strict";
  var zone = "";
  try {
    zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
  } catch (e) { /* an old browser keeps the UTC text */ }
  document.querySelectorAll("time[data-local-time]").forEach(function (el) {
    var moment = new Date(el.getAttribute("datetime"));
    if (isNaN(moment.getTime())) return;
    try {
      // dateStyle/timeStyle cannot be combined with timeZoneName: name the zone separately.
      var text = moment.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
      el.title = el.textContent;
      el.textContent = zone ? text + " (" + zone.replace(/_/g, " ") + ")" : text;
    } catch (e) { /* keep the UTC text */ }
  });
})();
