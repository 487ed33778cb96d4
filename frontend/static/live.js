// Live pages: clocks that keep counting between the server's re-renders, and notes the next update ends.
// An element carries the seconds the server computed when it rendered it (data-elapsed counts up,
// data-countdown counts down to zero); the browser adds the time since it first saw the element,
// so its own clock never has to agree with the router's.
(function () {
  "use strict";

  var firstSeen = new WeakMap();

  function clock(seconds) {
    var s = Math.max(0, seconds);
    var hours = Math.floor(s / 3600);
    var minutes = Math.floor((s % 3600) / 60);
    var rest = String(s % 60).padStart(2, "0");
    return hours ? hours + ":" + String(minutes).padStart(2, "0") + ":" + rest : minutes + ":" + rest;
  }

  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-elapsed], [data-countdown]").forEach(function (element) {
      if (!firstSeen.has(element)) firstSeen.set(element, now);
      var passed = (now - firstSeen.get(element)) / 1000;
      if (element.hasAttribute("data-countdown")) {
        element.textContent = clock(Math.ceil(parseFloat(element.dataset.countdown) - passed));
      } else {
        element.textContent = clock(Math.floor(parseFloat(element.dataset.elapsed) + passed));
      }
    });
  }

  // A note that routing had not yet confirmed an action is over once the router's update arrives.
  document.addEventListener("htmx:sseMessage", function () {
    document.querySelectorAll("#alerts [data-until-update]").forEach(function (note) { note.remove(); });
  });

  document.addEventListener("DOMContentLoaded", tick);
  document.addEventListener("htmx:afterSettle", tick);
  window.setInterval(tick, 1000);
})();
