// Charts of the metrics API, drawn with uPlot (vendored in static/vendor/uplot).
//
// A page holds <section class="ops-charts" data-metrics="/api/metrics?task=..."
// data-history="/api/queues/NAME/history" data-period="1h" data-compare> with buttons
// [data-period] and <div class="ops-chart" data-kind="..."> elements. Each chart reads the
// series of the chosen period; with data-compare, the period before it is drawn dashed.
(function () {
  "use strict";

  var PERIODS = {
    "1h": { seconds: 3600, step: "1m", label: "last hour" },
    "1d": { seconds: 86400, step: "15m", label: "last day" },
    "7d": { seconds: 604800, step: "1h", label: "last 7 days" },
  };
  var STATES = ["SUCCESS", "FAILURE", "LOST", "REVOKED", "REJECTED", "IGNORED"];
  var COLOURS = {
    SUCCESS: "#28a745", FAILURE: "#dc3545", LOST: "#8b0000", REVOKED: "#6c757d",
    REJECTED: "#adb5bd", IGNORED: "#17a2b8", p50: "#007bff", p95: "#fd7e14", p99: "#6f42c1",
    depth: "#007bff", latency: "#fd7e14", rate: "#dc3545",
  };

  function seconds(value) {
    if (value === null || value === undefined) { return ""; }
    if (value < 0.001) { return (value * 1e6).toFixed(0) + " µs"; }
    if (value < 1) { return (value * 1000).toPrecision(3) + " ms"; }
    if (value < 120) { return value.toPrecision(3) + " s"; }
    if (value < 7200) { return (value / 60).toPrecision(3) + " min"; }
    return (value / 3600).toPrecision(3) + " h";
  }
  function count(value) { return value === null || value === undefined ? "" : String(Math.round(value * 100) / 100); }
  function percent(value) { return value === null || value === undefined ? "" : (value * 100).toFixed(1) + " %"; }

  // What each kind of chart draws from one point of a series.
  var KINDS = {
    throughput: {
      title: "Ended per step, by final state", format: count, source: "metrics",
      series: STATES.map(function (state) {
        return { label: state, colour: COLOURS[state], value: function (p) { return p.counts[state]; } };
      }),
    },
    failures: {
      title: "Failures (FAILURE and LOST) per step", format: count, source: "metrics",
      series: [{ label: "failures", colour: COLOURS.FAILURE, value: function (p) { return p.counts.FAILURE + p.counts.LOST; } }],
    },
    failure_rate: {
      title: "Failure rate", format: percent, source: "metrics", range: [0, 1],
      series: [{ label: "failure rate", colour: COLOURS.rate, value: function (p) { return p.failure_rate; } }],
    },
    runtime_p95: {
      title: "Runtime, p95", format: seconds, source: "metrics",
      series: [{ label: "p95", colour: COLOURS.p95, value: function (p) { return p.runtime.p95; } }],
    },
    runtime: {
      title: "Runtime percentiles", format: seconds, source: "metrics",
      series: ["p50", "p95", "p99"].map(function (name) {
        return { label: name, colour: COLOURS[name], value: function (p) { return p.runtime[name]; } };
      }),
    },
    wait_p95: {
      title: "Queue latency: wait before starting, p95", format: seconds, source: "metrics",
      series: [{ label: "p95 wait", colour: COLOURS.latency, value: function (p) { return p.wait.p95; } }],
    },
    depth: {
      title: "Depth (messages waiting)", format: count, source: "history",
      series: [{ label: "depth", colour: COLOURS.depth, value: function (p) { return p.depth; } }],
    },
    latency: {
      title: "Latency (oldest waiting)", format: seconds, source: "history",
      series: [{ label: "latency", colour: COLOURS.latency, value: function (p) { return p.latency_seconds; } }],
    },
  };

  function url(base, since, until, step) {
    var separator = base.indexOf("?") >= 0 ? "&" : "?";
    return base + separator + "since=" + encodeURIComponent(since.toISOString()) +
      "&until=" + encodeURIComponent(until.toISOString()) + "&step=" + step;
  }

  function fetchSeries(base, since, until, step) {
    return fetch(url(base, since, until, step), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.json();
      })
      .then(function (body) { return body.series; });
  }

  function draw(element, kind, current, previous, shift) {
    var spec = KINDS[kind];
    var xs = current.map(function (p) { return Date.parse(p.at) / 1000; });
    var data = [xs];
    var series = [{}];
    spec.series.forEach(function (line) {
      var values = current.map(line.value);
      if (values.every(function (v) { return !v; }) && spec.series.length > 1) { return; }
      data.push(values);
      // Points too: a percentile is missing where nothing ended, and a lone value has no line.
      series.push({ label: line.label, stroke: line.colour, width: 1.5, points: { show: true, size: 4 }, value: function (u, v) { return spec.format(v); } });
      if (previous) {
        // The period before, moved onto this one's time axis.
        var byTime = {};
        previous.forEach(function (p) { byTime[Date.parse(p.at) / 1000 + shift] = line.value(p); });
        data.push(xs.map(function (x) { return x in byTime ? byTime[x] : null; }));
        series.push({ label: line.label + " (period before)", stroke: line.colour, width: 1, dash: [4, 4], value: function (u, v) { return spec.format(v); } });
      }
    });
    element.textContent = "";
    var options = {
      title: spec.title,
      width: Math.max(element.clientWidth, 280),
      height: 180,
      series: series,
      scales: spec.range ? { x: { time: true }, y: { range: spec.range } } : { x: { time: true } },
      axes: [{}, { size: 70, values: function (u, values) { return values.map(spec.format); } }],
    };
    element.chart = new window.uPlot(options, data, element);
  }

  function load(section) {
    var period = PERIODS[section.getAttribute("data-period")] || PERIODS["1h"];
    var until = new Date();
    var since = new Date(until.getTime() - period.seconds * 1000);
    var before = new Date(since.getTime() - period.seconds * 1000);
    var compare = section.hasAttribute("data-compare");
    var wanted = {};
    section.querySelectorAll(".ops-chart").forEach(function (element) {
      var source = KINDS[element.getAttribute("data-kind")].source;
      wanted[source] = section.getAttribute("data-" + source);
    });
    var loads = Object.keys(wanted).map(function (source) {
      var both = [fetchSeries(wanted[source], since, until, period.step)];
      if (compare) { both.push(fetchSeries(wanted[source], before, since, period.step)); }
      return Promise.all(both).then(function (found) { return [source, found]; });
    });
    Promise.all(loads).then(function (results) {
      var bySource = {};
      results.forEach(function (result) { bySource[result[0]] = result[1]; });
      section.querySelectorAll(".ops-chart").forEach(function (element) {
        var kind = element.getAttribute("data-kind");
        var found = bySource[KINDS[kind].source];
        draw(element, kind, found[0], compare ? found[1] : null, period.seconds);
      });
      section.setAttribute("data-loaded", section.getAttribute("data-period"));
    }).catch(function (error) {
      section.querySelectorAll(".ops-chart").forEach(function (element) {
        element.textContent = "The chart could not be loaded (" + error.message + "); reload the page to try again.";
      });
    });
  }

  document.querySelectorAll(".ops-charts").forEach(function (section) {
    section.querySelectorAll("[data-period]").forEach(function (button) {
      if (button === section) { return; }
      button.addEventListener("click", function () {
        section.setAttribute("data-period", button.getAttribute("data-period"));
        section.querySelectorAll("button[data-period]").forEach(function (other) {
          other.classList.toggle("active", other === button);
          other.setAttribute("aria-pressed", other === button ? "true" : "false");
        });
        load(section);
      });
    });
    load(section);
  });
})();
