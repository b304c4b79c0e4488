// The DB Console's replication page script, served at /console/replication.js.
//
// Every second it fetches the JSON named by #replication's data-source (/_status/replication),
// writes the fresh values into the cells marked data-field and redraws each lag chart with the
// same geometry as the server's first rendering (lag_chart in src/console/pages.rs). It only
// shows what the node answered. When the set of standby virtual clusters, the producer jobs or
// the presence of an error changes, it reloads the page so the server renders the new layout;
// when the session has ended (401) it reloads too, which shows the login form. A failed fetch
// is shown next to the refresh counter and retried on the next tick.
(function () {
  "use strict";
  var root = document.getElementById("replication");
  if (!root) {
    return;
  }
  var W = 600, H = 160, PAD_LEFT = 44, PAD_RIGHT = 8, PAD_TOP = 8, PAD_BOTTOM = 20;
  var INTERVAL_MS = 1000;
  var source = root.getAttribute("data-source");
  var status = document.getElementById("replication-updates");
  var updates = 0;

  function chartYmax(maxLag) {
    var step = 1;
    for (;;) {
      var mults = [1, 2, 5];
      for (var i = 0; i < mults.length; i++) {
        if (mults[i] * step >= maxLag || step >= 1e12) {
          return mults[i] * step;
        }
      }
      step *= 10;
    }
  }

  function chartSpanMs(oldestMs, nowMs, windowMs) {
    var age = oldestMs === null ? 0 : Math.max(0, nowMs - oldestMs);
    var span = Math.ceil(age / 60000) * 60000;
    return Math.min(Math.max(span, 60000), Math.max(windowMs, 60000));
  }

  function text(v) {
    return v === null || v === undefined ? "" : String(v);
  }

  function formatLag(secs) {
    return typeof secs === "number" ? secs.toFixed(3) + "s" : "";
  }

  function drawChart(svg, samples, nowMs, windowMs) {
    var maxLag = 0;
    samples.forEach(function (s) {
      if (s[1] > maxLag) {
        maxLag = s[1];
      }
    });
    var ymax = chartYmax(maxLag);
    var plotW = W - PAD_LEFT - PAD_RIGHT, plotH = H - PAD_TOP - PAD_BOTTOM;
    var span = chartSpanMs(samples.length ? samples[0][0] : null, nowMs, windowMs);
    var start = nowMs - span;
    var points = samples.map(function (s) {
      var dx = Math.min(1, Math.max(0, s[0] - start) / span);
      var x = PAD_LEFT + dx * plotW;
      var y = PAD_TOP + (1 - Math.min(1, s[1] / ymax)) * plotH;
      return x.toFixed(1) + "," + y.toFixed(1);
    });
    var line = svg.querySelector("polyline.lag-line");
    if (line) {
      line.setAttribute("points", points.join(" "));
    }
    var label = svg.querySelector("text.y-max");
    if (label) {
      label.textContent = ymax + "s";
    }
    var from = svg.querySelector("text.x-start");
    if (from) {
      from.textContent = "-" + span / 60000 + "m";
    }
    svg.setAttribute("data-points", String(samples.length));
  }

  function sameList(a, b) {
    return a.slice().sort().join("\n") === b.slice().sort().join("\n");
  }

  function apply(data) {
    var sections = Array.prototype.slice.call(root.querySelectorAll("section.stream"));
    var shown = sections.map(function (s) {
      return s.getAttribute("data-virtual-cluster");
    });
    var streams = data.streams || [];
    var producers = (data.producers || []).map(function (p) {
      return p.job_id;
    });
    var shownProducers = (root.getAttribute("data-producers") || "")
      .split(",")
      .filter(function (p) {
        return p !== "";
      });
    var hasError = root.querySelector(".error") !== null;
    if (
      !sameList(shown, streams.map(function (s) { return s.virtual_cluster; })) ||
      !sameList(shownProducers, producers) ||
      hasError !== (data.error !== null && data.error !== undefined)
    ) {
      window.location.reload();
      return;
    }
    var nowCell = root.querySelector('[data-field="now"]');
    if (nowCell) {
      nowCell.textContent = text(data.now);
    }
    var series = {};
    (data.lag_history || []).forEach(function (s) {
      series[s.virtual_cluster] = s.samples;
    });
    var windowMs = data.window_seconds * 1000;
    streams.forEach(function (stream) {
      var section = sections[shown.indexOf(stream.virtual_cluster)];
      section.querySelectorAll("[data-field]").forEach(function (cell) {
        var field = cell.getAttribute("data-field");
        cell.textContent =
          field === "replication_lag" ? formatLag(stream[field]) : text(stream[field]);
      });
      var svg = section.querySelector("svg.lag-chart");
      if (svg) {
        drawChart(svg, series[stream.virtual_cluster] || [], data.now_unix_ms, windowMs);
      }
    });
    updates += 1;
    if (status) {
      status.setAttribute("data-updates", String(updates));
      status.textContent = "refreshed " + updates + (updates === 1 ? " time" : " times");
    }
  }

  function poll() {
    fetch(source, { credentials: "same-origin", cache: "no-store" })
      .then(function (resp) {
        if (resp.status === 401) {
          window.location.reload();
          return null;
        }
        if (!resp.ok) {
          throw new Error("HTTP " + resp.status);
        }
        return resp.json();
      })
      .then(function (data) {
        if (data) {
          apply(data);
        }
      })
      .catch(function (err) {
        if (status) {
          status.textContent = "refresh failed: " + err.message;
        }
      })
      .then(function () {
        window.setTimeout(poll, INTERVAL_MS);
      });
  }

  poll();
})();
