// Keeps an open run page current, without reloading: it listens to the run's server-sent
// events and, on each change, fetches the page's live part (#live) and swaps it in.
// Plain JavaScript, no framework, no build step.
(function () {
  "use strict";
  var script = document.currentScript;
  var liveUrl = script.dataset.live;
  var eventsUrl = script.dataset.events;
  var queue = Promise.resolve();

  function live() {
    return document.getElementById("live");
  }

  function refresh() {
    return fetch(liveUrl, { cache: "no-store", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.text();
      })
      .then(function (html) {
        var holder = document.createElement("template");
        holder.innerHTML = html.trim();
        var fresh = holder.content.firstElementChild;
        if (fresh && live()) live().replaceWith(fresh);
      })
      .catch(function () {});
  }

  function listen() {
    var part = live();
    if (!part || part.dataset.final === "true" || !window.EventSource) return;
    var source = new EventSource(eventsUrl + "?seen=" + encodeURIComponent(part.dataset.version));
    source.addEventListener("change", function (event) {
      var change = JSON.parse(event.data);
      if (change.final) source.close();
      queue = queue.then(refresh);
    });
  }

  listen();
})();
