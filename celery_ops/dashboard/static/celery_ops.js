// The dashboard's own behaviour, as a file: the Content-Security-Policy lets no inline
// script or event handler run.
(function () {
  "use strict";

  // A form with data-confirm asks before it is sent (deleting a schedule, say); a button
  // with data-confirm asks before its own submission.
  document.addEventListener("submit", function (event) {
    var button = event.submitter;
    var message = (button && button.getAttribute("data-confirm")) ||
      event.target.getAttribute("data-confirm");
    if (message && !window.confirm(message)) {
      event.preventDefault();
    }
  });

  // Times: the server writes UTC; the reader sees their own time zone and how long ago,
  // with UTC kept on hover.
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function local(date) {
    return date.getFullYear() + "-" + pad(date.getMonth() + 1) + "-" + pad(date.getDate()) +
      " " + pad(date.getHours()) + ":" + pad(date.getMinutes()) + ":" + pad(date.getSeconds());
  }
  function ago(date) {
    var seconds = Math.round((Date.now() - date.getTime()) / 1000);
    var future = seconds < 0;
    seconds = Math.abs(seconds);
    var text;
    if (seconds < 5) { return "just now"; }
    if (seconds < 60) { text = seconds + " s"; }
    else if (seconds < 3600) { text = Math.round(seconds / 60) + " min"; }
    else if (seconds < 86400) { text = Math.round(seconds / 3600) + " h"; }
    else { text = Math.round(seconds / 86400) + " d"; }
    return future ? "in " + text : text + " ago";
  }
  function localiseTimes(root) {
    var times = (root || document).querySelectorAll("time[datetime]");
    for (var i = 0; i < times.length; i++) {
      var element = times[i];
      var date = new Date(element.getAttribute("datetime"));
      if (isNaN(date.getTime())) { continue; }
      if (!element.hasAttribute("data-utc")) {
        element.setAttribute("data-utc", element.textContent);
        element.setAttribute("title", element.textContent);
      }
      element.textContent = local(date) + " (" + ago(date) + ")";
    }
  }
  window.celeryOps = { localiseTimes: localiseTimes };

  // A table wider than the screen scrolls sideways in its own box (celery_ops.css): such a
  // box takes the keyboard's focus, so that it scrolls with the arrow keys too.
  function scrollableByKeyboard(root) {
    var boxes = (root || document).querySelectorAll("table.table, .ops-table-wrap");
    for (var i = 0; i < boxes.length; i++) {
      var box = boxes[i];
      if (box.scrollWidth > box.clientWidth + 1) {
        box.setAttribute("tabindex", "0");
      } else if (box.getAttribute("tabindex") === "0") {
        box.removeAttribute("tabindex");
      }
    }
  }

  // Live regions: an element with data-live asks its URL for what changed every
  // data-interval seconds (2 by default), sending the version it shows; the server answers
  // 204 when nothing did, else {"version", "html", "done"}. Paused while the tab is hidden
  // and when the reader pauses it (remembered by the browser).
  var PAUSED_KEY = "celery-ops-live-paused";
  var regions = [];
  var timer = null;

  function paused() {
    try { return window.localStorage.getItem(PAUSED_KEY) === "1"; } catch (e) { return false; }
  }

  function showControl() {
    var control = document.getElementById("ops-live");
    if (!control) { return; }
    control.hidden = regions.length === 0;
    var off = paused();
    control.setAttribute("aria-pressed", off ? "false" : "true");
    control.classList.toggle("btn-outline-success", !off);
    control.classList.toggle("btn-outline-secondary", off);
    control.querySelector(".ops-live-text").textContent = off ? "Paused" : "Live";
    control.title = off ? "Updates paused: click to resume" : "Updating as things change: click to pause";
  }

  function selectedIds(element) {
    var boxes = element.querySelectorAll("input[type=checkbox][name=ids]:checked");
    var ids = {};
    for (var i = 0; i < boxes.length; i++) { ids[boxes[i].value] = true; }
    return ids;
  }

  function restoreSelection(element, ids) {
    var boxes = element.querySelectorAll("input[type=checkbox][name=ids]");
    for (var i = 0; i < boxes.length; i++) { boxes[i].checked = !!ids[boxes[i].value]; }
  }

  function poll(region) {
    var element = region.element;
    var url = new URL(element.getAttribute("data-live"), window.location.href);
    url.searchParams.set("version", element.getAttribute("data-version") || "");
    var rows = element.querySelectorAll("[data-task-id]");
    if (rows.length && element.hasAttribute("data-live-ids")) {
      var ids = [];
      for (var i = 0; i < rows.length; i++) { ids.push(rows[i].getAttribute("data-task-id")); }
      url.searchParams.set("ids", ids.join(","));
    }
    region.busy = true;
    return fetch(url.toString(), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (response.status === 204) { return null; }
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.json();
      })
      .then(function (answer) {
        region.failures = 0;
        if (!answer) { return; }
        var kept = selectedIds(element);
        element.innerHTML = answer.html;
        element.setAttribute("data-version", answer.version);
        restoreSelection(element, kept);
        localiseTimes(element);
        scrollableByKeyboard(element);
        if (answer.done) { region.done = true; }
        element.dispatchEvent(new CustomEvent("ops:updated", { bubbles: true }));
      })
      .catch(function () {
        region.failures = (region.failures || 0) + 1;  // asked again later, less often
      })
      .then(function () { region.busy = false; region.last = Date.now(); });
  }

  function tick() {
    timer = null;
    if (!document.hidden && !paused()) {
      var now = Date.now();
      for (var i = 0; i < regions.length; i++) {
        var region = regions[i];
        var wait = region.interval * Math.pow(2, Math.min(region.failures || 0, 5));
        if (!region.done && !region.busy && now - (region.last || 0) >= wait) { poll(region); }
      }
    }
    timer = window.setTimeout(tick, 500);
  }

  function start() {
    var elements = document.querySelectorAll("[data-live]");
    for (var i = 0; i < elements.length; i++) {
      var seconds = parseFloat(elements[i].getAttribute("data-interval") || "2");
      regions.push({ element: elements[i], interval: seconds * 1000, last: Date.now() });
    }
    localiseTimes(document);
    scrollableByKeyboard(document);
    window.addEventListener("resize", function () { scrollableByKeyboard(document); });
    window.setInterval(function () { localiseTimes(document); }, 30000);
    var control = document.getElementById("ops-live");
    if (control) {
      control.addEventListener("click", function () {
        try { window.localStorage.setItem(PAUSED_KEY, paused() ? "0" : "1"); } catch (e) { /* private mode */ }
        showControl();
      });
    }
    showControl();
    document.addEventListener("visibilitychange", function () {
      // Back on the tab: catch up at once.
      if (!document.hidden) { for (var i = 0; i < regions.length; i++) { regions[i].last = 0; } }
    });
    if (regions.length) { tick(); }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
