// Siaga dashboard: keep live regions fresh. Every element with data-live="<url>" is replaced, every 5 s,
// by the HTML fragment that URL returns. Polling pauses while the tab is hidden and skips a region while
// something inside it has focus. Pages work without this script: it only saves a reload.
(function () {
  "use strict";

  var INTERVAL = 5000;
  var timer = null;
  var busy = false;

  function regions() {
    return Array.prototype.slice.call(document.querySelectorAll("[data-live]"));
  }

  function replace(element, html) {
    var holder = document.createElement("template");
    holder.innerHTML = html.trim();
    var fresh = holder.content.querySelector("[data-live]");
    if (fresh && fresh.getAttribute("data-live") === element.getAttribute("data-live")) {
      element.replaceWith(fresh);
    }
  }

  function refresh(element) {
    var url = element.getAttribute("data-live");
    return fetch(url, {
      credentials: "same-origin",
      headers: { "Accept": "text/html", "X-Requested-With": "fetch" },
      cache: "no-store",
    }).then(function (response) {
      if (response.redirected) {
        // The session ended: the page itself will now ask to sign in.
        window.location.reload();
        return;
      }
      if (!response.ok) {
        return;
      }
      return response.text().then(function (html) {
        if (!element.contains(document.activeElement)) {
          replace(element, html);
        }
      });
    });
  }

  function tick() {
    if (busy || document.hidden) {
      return;
    }
    busy = true;
    Promise.all(regions().map(function (element) {
      return refresh(element).catch(function () { /* offline for a moment: try again next tick */ });
    })).then(function () { busy = false; }, function () { busy = false; });
  }

  function start() {
    if (timer === null && regions().length) {
      timer = window.setInterval(tick, INTERVAL);
    }
  }

  function stop() {
    if (timer !== null) {
      window.clearInterval(timer);
      timer = null;
    }
  }

  document.addEventListener("visibilitychange", function () {
    if (document.hidden) {
      stop();
    } else {
      tick();
      start();
    }
  });

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
