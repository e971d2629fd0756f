/* Plant MRV time-series chart, drawn by uPlot (vendored in static/vendor/uplot, loaded
 * before this file): mean line + min/max band, flagged readings as points, and DOM markers
 * over the plot for gaps, substitutions, anode effects, counter steps and clock jumps
 * (drawn from a uPlot "draw" hook so they can be hovered and counted). Drag to select a
 * range, wheel to zoom, shift-drag to pan, double-click / 0 / Esc to reset. Works offline.
 *
 * The server downsamples (min/max/mean per bucket); on every zoom the chart asks again for
 * about one bucket per pixel so detail appears as you zoom in. After each draw the chart
 * element carries data-state="ready", data-points (points drawn), data-gaps (gap shades),
 * and window.mrvChart exposes the same (and the uPlot instance), so tests and users can
 * check what is shown.
 */
(function () {
  "use strict";

  var root = document.getElementById("chart");
  if (!root || typeof window.uPlot !== "function") return;
  var uPlot = window.uPlot;

  var plotEl = root.querySelector(".chart-plot");
  var overlay = document.createElement("div");
  overlay.className = "chart-overlay";
  var statusEl = root.querySelector(".chart-status");
  var info = document.getElementById("chart-info");
  var resetBtn = document.getElementById("chart-reset");
  var gapTable = document.querySelector("#gap-table tbody");

  var url = root.dataset.url;
  var fullStart = Number(root.dataset.start);
  var fullEnd = Number(root.dataset.end);
  var unit = root.dataset.unit || "";
  var tz = root.dataset.tz || "UTC";

  var QUALITY = { bad: "坏读数 bad", uncertain: "不确定 uncertain" };
  var COUNTER_KINDS = {
    rollover: "计数器回绕 rollover", reset: "表计复位 reset", replacement: "换表 replacement",
    suspect: "可疑读数 suspect", glitch: "错误读数 glitch", rebaseline: "计数器跳变 rebaseline",
  };
  var MIN_SPAN = 10 * 60 * 1000;
  var HEIGHT = 380;

  var view = { start: fullStart, end: fullEnd };
  // Zoom is kept in the URL (?from=MS&to=MS): a link or a reload shows the same range.
  (function () {
    var qs = new URLSearchParams(window.location.search);
    var f = Number(qs.get("from")), t = Number(qs.get("to"));
    if (isFinite(f) && isFinite(t) && f >= fullStart && t <= fullEnd && t > f) {
      view.start = f; view.end = t;
    }
  })();
  var data = null; // last API answer
  var drawn = 0;
  var pending = null;
  var seq = 0;
  var loading = true;
  var applying = false; // true while the chart itself sets uPlot's x scale
  var pan = null;

  var fmtDateTime = new Intl.DateTimeFormat("zh-CN", {
    timeZone: tz, year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false,
  });

  var fmtDay = new Intl.DateTimeFormat("zh-CN", { timeZone: tz, month: "2-digit", day: "2-digit" });
  var fmtTime = new Intl.DateTimeFormat("zh-CN", {
    timeZone: tz, hour: "2-digit", minute: "2-digit", hourCycle: "h23",
  });

  function fmtNum(v) {
    if (v === null || v === undefined || !isFinite(v)) return "—";
    var a = Math.abs(v);
    if (a !== 0 && (a < 1e-3 || a >= 1e7)) return v.toExponential(3);
    return Number(v.toPrecision(6)).toLocaleString("en-US", { maximumFractionDigits: 6 });
  }

  function fmtSpan(ms) {
    var s = Math.round(ms / 1000);
    if (s < 120) return s + " s";
    if (s < 7200) return Math.round(s / 60) + " min";
    if (s < 172800) return (s / 3600).toFixed(1) + " h";
    return (s / 86400).toFixed(1) + " d";
  }

  // -- the uPlot instance --------------------------------------------------------------------
  function chartWidth() { return Math.max(300, Math.round(root.getBoundingClientRect().width)); }

  var u = new uPlot({
    width: chartWidth(),
    height: HEIGHT,
    ms: 1, // timestamps are epoch milliseconds, as the series API gives them
    tzDate: function (ts) { return uPlot.tzDate(new Date(ts), tz); },
    scales: { x: { time: true, auto: false, min: view.start, max: view.end } },
    cursor: {
      drag: { x: true, y: false, setScale: true },
      bind: { dblclick: function () { return function () { setView(fullStart, fullEnd); return null; }; } },
    },
    legend: { live: true },
    axes: [
      {
        stroke: "#5b6472", grid: { stroke: "#eef1f5" }, ticks: { stroke: "#e3e7ed" }, size: 44,
        // ticks in the site's local time, 24-hour, the date under each local midnight
        values: function (self, splits, axisIdx, space, incr) {
          return splits.map(function (v) {
            var d = new Date(v);
            if (incr >= 86400e3) return fmtDay.format(d);
            var hm = fmtTime.format(d);
            return hm === "00:00" ? hm + "\n" + fmtDay.format(d) : hm;
          });
        },
      },
      {
        stroke: "#5b6472", grid: { stroke: "#e3e7ed" }, ticks: { stroke: "#e3e7ed" },
        // wide enough for the longest tick label (counters reach millions), so it never
        // runs into the unit label
        size: function (self, values) {
          var longest = (values || []).reduce(function (m, v) { return Math.max(m, String(v).length); }, 4);
          return 30 + longest * 7;
        },
        label: unit, labelSize: 18,
        values: function (self, splits) { return splits.map(function (v) { return fmtNum(Number(v.toPrecision(10))); }); },
      },
    ],
    series: [
      { label: "时间 time", value: function (self, v) { return v === null ? "—" : fmtDateTime.format(new Date(v)); } },
      { label: "均值 mean", stroke: "#1d4ed8", width: 1.4, value: function (s, v) { return fmtNum(v) + (v === null ? "" : " " + unit); } },
      { label: "最小 min", stroke: "rgba(37, 99, 235, 0.35)", width: 1, value: function (s, v) { return fmtNum(v); } },
      { label: "最大 max", stroke: "rgba(37, 99, 235, 0.35)", width: 1, value: function (s, v) { return fmtNum(v); } },
      {
        label: "标记 flagged", stroke: "#d97706", fill: "#d97706", width: 0,
        paths: function () { return null; },
        points: { show: true, size: 6, stroke: "#d97706", fill: "#d97706" },
        value: function (s, v) { return v === null ? "" : "⚑"; },
      },
    ],
    bands: [{ series: [3, 2], fill: "rgba(37, 99, 235, 0.18)" }],
    hooks: {
      setScale: [function (self, key) {
        // a drag-select (uPlot's own zoom) goes through the same path as wheel and buttons
        if (key !== "x" || applying) return;
        var mn = self.scales.x.min, mx = self.scales.x.max;
        if (mn === null || mx === null) return;
        // hooks may run after applyView returns: the chart's own value is not a new view
        if (Math.abs(mn - view.start) < 1 && Math.abs(mx - view.end) < 1) return;
        setView(mn, mx);
      }],
      draw: [function () { drawMarkers(); }],
    },
  }, [[], [], [], [], []], plotEl);
  u.over.appendChild(overlay);

  function applyView() {
    applying = true;
    try { u.setScale("x", { min: view.start, max: view.end }); } finally { applying = false; }
  }

  // uPlot joins consecutive non-null points: a null between two buckets further apart than
  // 1.5 steps breaks the line (and band) at a gap, as the record sees it.
  function plotData(body) {
    var step0 = Math.max(body.bucket_ms || 0, body.interval_ms || 60000);
    var breakAfter = step0 * 1.5;
    var xs = [], mean = [], mn = [], mx = [], fl = [];
    for (var i = 0; i < body.t.length; i++) {
      if (i > 0 && body.t[i] - body.t[i - 1] > breakAfter) {
        xs.push((body.t[i] + body.t[i - 1]) / 2); mean.push(null); mn.push(null); mx.push(null); fl.push(null);
      }
      xs.push(body.t[i]);
      mean.push(body.mean[i]);
      mn.push(body.downsampled ? body.min[i] : null);
      mx.push(body.downsampled ? body.max[i] : null);
      fl.push(body.flagged[i] && body.mean[i] !== null ? body.mean[i] : null);
    }
    return [xs, mean, mn, mx, fl];
  }

  function load() {
    var mySeq = ++seq;
    var buckets = Math.min(5000, Math.max(50, Math.round(u.bbox.width / (window.devicePixelRatio || 1))));
    var q = "?start=" + Math.floor(view.start) + "&end=" + Math.ceil(view.end) + "&buckets=" + buckets;
    loading = true;
    root.dataset.state = "loading";
    statusEl.hidden = false;
    statusEl.textContent = "加载中… Loading…";
    fetch(url + q, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) {
        return r.json().then(function (body) {
          if (!r.ok) throw new Error((body.error && body.error.message) || ("HTTP " + r.status));
          return body;
        });
      })
      .then(function (body) {
        if (mySeq !== seq) return; // a newer view was asked for meanwhile
        data = body;
        loading = false;
        u.setData(plotData(body), false);
        applyView();
        fillTable();
      })
      .catch(function (err) {
        if (mySeq !== seq) return;
        root.dataset.state = "error";
        statusEl.hidden = false;
        statusEl.textContent = "无法加载数据 · Could not load data: " + err.message;
      });
  }

  function scheduleLoad() {
    loading = true;
    root.dataset.state = "loading";
    if (pending) clearTimeout(pending);
    pending = setTimeout(function () { pending = null; load(); }, 150);
  }

  function addBox(cls, x0, x1, title) {
    var el = document.createElement("div");
    el.className = cls;
    el.style.left = x0 + "px";
    el.style.width = Math.max(2, x1 - x0) + "px";
    if (title) el.title = title;
    overlay.appendChild(el);
    return el;
  }

  // Markers over the plot area (u.over), in CSS pixels from uPlot's x scale.
  function drawMarkers() {
    while (overlay.firstChild) overlay.removeChild(overlay.firstChild);
    if (!data) return;
    var pw = u.over.clientWidth;
    function X(t) { return u.valToPos(t, "x"); }
    function clampBox(cls, a, b, title) { return addBox(cls, Math.max(0, X(a)), Math.min(pw, X(b)), title); }

    var gapCount = 0;
    (data.gaps || []).forEach(function (g) {
      if (g[1] < view.start || g[0] > view.end) return;
      clampBox("gap", g[0], g[1], "缺口 gap: " + fmtDateTime.format(new Date(g[0])) + " → " +
        fmtDateTime.format(new Date(g[1])) + " (" + fmtSpan(g[1] - g[0]) + ")");
      gapCount++;
    });

    // substitutions from the month's record: orange strip along the bottom
    var subCount = 0;
    (data.substitutions || []).forEach(function (sb) {
      if (sb.end < view.start || sb.start > view.end) return;
      clampBox("sub", sb.start, sb.end,
        "替代 substituted (record v" + sb.record_version + "): " + sb.rule + " = " + fmtNum(sb.value) +
        " · " + fmtDateTime.format(new Date(sb.start)) + " → " + fmtDateTime.format(new Date(sb.end)));
      subCount++;
    });

    // anode effects: red markers along the top
    var aeCount = 0;
    (data.anode_effects || []).forEach(function (e) {
      if (e.end < view.start || e.start > view.end) return;
      clampBox("ae", e.start, e.end,
        "阳极效应 anode effect · cell " + e.cell + " · " + fmtDateTime.format(new Date(e.start)) +
        " · " + fmtSpan(e.end - e.start) + " · peak " + fmtNum(e.peak_v) + " V");
      aeCount++;
    });

    // counter steps the record treats specially (rollover, reset, rebaseline, ...): a thin
    // violet line across the plot, labelled with the kind
    var counterCount = 0;
    ((data.counter && data.counter.marks) || []).forEach(function (m) {
      if (m.ts < view.start || m.ts > view.end) return;
      var cx = X(m.ts);
      var el = addBox("counter", cx - 1, cx + 1,
        COUNTER_KINDS[m.kind] ? COUNTER_KINDS[m.kind] + " · " + fmtDateTime.format(new Date(m.ts)) : m.kind);
      el.dataset.kind = m.kind;
      counterCount++;
    });

    // clock jumps the agents reported: a thin teal line (timestamps around it shifted)
    var jumpCount = 0;
    (data.clock_jumps || []).forEach(function (j) {
      if (j.ts < view.start || j.ts > view.end) return;
      var jx = X(j.ts);
      addBox("clockjump", jx - 1, jx + 1, "时钟跳变 clock jump · " + j.agent + " · " +
        (j.jump_ms === null || j.jump_ms === undefined ? "" : fmtSpan(Math.abs(j.jump_ms)) + (j.jump_ms < 0 ? " back" : " forward")));
      jumpCount++;
    });

    drawn = 0;
    var flaggedDrawn = 0;
    for (var i = 0; i < data.t.length; i++) {
      if (data.mean[i] === null || data.t[i] < view.start || data.t[i] > view.end) continue;
      drawn++;
      if (data.flagged[i]) flaggedDrawn++;
    }

    statusEl.hidden = drawn > 0;
    if (!drawn) statusEl.textContent = "此区间无数据 · No data in this range";
    info.textContent =
      fmtDateTime.format(new Date(view.start)) + " → " + fmtDateTime.format(new Date(view.end)) +
      " · " + data.readings.toLocaleString("en-US") + " 读数 readings · " +
      (data.downsampled ? "每点 " + fmtSpan(data.bucket_ms) + " per point (min/max/mean)" : "原始 raw") +
      " · " + gapCount + " 缺口 gaps · " + aeCount + " 阳极效应 anode effects";

    root.dataset.points = String(drawn);
    root.dataset.gaps = String(gapCount);
    root.dataset.flagged = String(flaggedDrawn);
    root.dataset.anodeEffects = String(aeCount);
    root.dataset.substitutions = String(subCount);
    root.dataset.counterMarks = String(counterCount);
    root.dataset.clockJumps = String(jumpCount);
    root.dataset.viewStart = String(Math.round(view.start));
    root.dataset.viewEnd = String(Math.round(view.end));
    if (!loading) root.dataset.state = "ready";
    window.mrvChart = {
      points: drawn, gaps: gapCount, flagged: flaggedDrawn, anodeEffects: aeCount,
      downsampled: data.downsampled, bucketMs: data.bucket_ms, view: { start: view.start, end: view.end },
      uplot: u, series: u.series.length,
    };
  }

  function fillTable() {
    if (!gapTable) return;
    while (gapTable.firstChild) gapTable.removeChild(gapTable.firstChild);
    var rows = [];
    (data.gaps || []).forEach(function (g) { rows.push(["缺口 gap", g[0], g[1], fmtSpan(g[1] - g[0])]); });
    // consecutive flagged readings with the same quality and cause: one row per outage
    var runs = [];
    (data.flagged_readings || []).forEach(function (r) {
      var last = runs[runs.length - 1];
      var cause = r.cause || r.reason || "";
      if (last && last.quality === r.quality && last.cause === cause &&
          r.ts - last.end <= 1.5 * (data.interval_ms || 0)) {
        last.end = r.ts; last.n++;
      } else {
        runs.push({ quality: r.quality, cause: cause, start: r.ts, end: r.ts, n: 1, value: r.value });
      }
    });
    runs.slice(0, 200).forEach(function (g) {
      rows.push([QUALITY[g.quality] || g.quality, g.start, g.n > 1 ? g.end : null,
        g.cause + (g.n > 1 ? " · " + g.n + " 个读数 readings" : (g.value === null ? "" : " · " + fmtNum(g.value)))]);
    });
    (data.poll_overruns || []).forEach(function (o) {
      rows.push(["漏采 poll slots missed", o.start, o.end, o.agent + " · " + (o.missed || "?") +
        " 个采集时隙：上一次采集超时 slots: the previous poll took longer than the interval"]);
    });
    (data.clock_jumps || []).forEach(function (j) {
      rows.push(["时钟跳变 clock jump", j.ts, null, j.agent + (j.jump_ms === null || j.jump_ms === undefined ? "" : " · " + j.jump_ms + " ms")]);
    });
    ((data.counter && data.counter.marks) || []).forEach(function (m) {
      rows.push([COUNTER_KINDS[m.kind] || m.kind, m.ts, null, "计数器读数 counter reading " + fmtNum(m.value)]);
    });
    (data.substitutions || []).forEach(function (sb) {
      rows.push(["替代 substituted", sb.start, sb.end, sb.rule + " = " + fmtNum(sb.value) + " (record v" + sb.record_version + ")"]);
    });
    (data.anode_effects || []).forEach(function (e) {
      rows.push(["阳极效应 anode effect", e.start, e.end, "cell " + e.cell + " · peak " + fmtNum(e.peak_v) + " V"]);
    });
    rows.sort(function (a, b) { return a[1] - b[1]; });
    if (!rows.length) {
      var tr0 = document.createElement("tr");
      var td0 = document.createElement("td");
      td0.colSpan = 4; td0.className = "muted";
      td0.textContent = "此区间无缺口或标记 · No gaps or flags in this range";
      tr0.appendChild(td0); gapTable.appendChild(tr0);
      return;
    }
    rows.slice(0, 300).forEach(function (r) {
      var tr = document.createElement("tr");
      [r[0], fmtDateTime.format(new Date(r[1])), r[2] === null ? "" : fmtDateTime.format(new Date(r[2])), r[3]]
        .forEach(function (c) { var td = document.createElement("td"); td.textContent = c; tr.appendChild(td); });
      gapTable.appendChild(tr);
    });
  }

  // -- interaction ---------------------------------------------------------------------------
  function tAt(clientX) {
    var rect = u.over.getBoundingClientRect();
    return view.start + Math.min(1, Math.max(0, (clientX - rect.left) / rect.width)) * (view.end - view.start);
  }

  function setView(start, end) {
    var span = Math.max(MIN_SPAN, end - start);
    var full = fullEnd - fullStart;
    if (span >= full) { start = fullStart; end = fullEnd; }
    else {
      if (start < fullStart) start = fullStart;
      end = start + span;
      if (end > fullEnd) { end = fullEnd; start = end - span; }
    }
    view.start = start; view.end = end;
    keepInUrl();
    scheduleLoad();
    applyView();
  }

  function keepInUrl() {
    var qs = new URLSearchParams(window.location.search);
    if (view.start === fullStart && view.end === fullEnd) { qs.delete("from"); qs.delete("to"); }
    else { qs.set("from", String(Math.round(view.start))); qs.set("to", String(Math.round(view.end))); }
    var q = qs.toString();
    window.history.replaceState(null, "", window.location.pathname + (q ? "?" + q : ""));
  }

  // CSV of what is shown: the points in the visible range, as the chart has them (bucket
  // mean/min/max and counts when downsampled, raw readings otherwise), in record units.
  function csvOfView() {
    var rows = [["time_utc", "time_local", "mean", "min", "max", "readings", "flagged"].join(",")];
    if (!data) return rows.join("\n") + "\n";
    for (var i = 0; i < data.t.length; i++) {
      if (data.t[i] < view.start || data.t[i] > view.end) continue;
      rows.push([
        new Date(data.t[i]).toISOString(), fmtDateTime.format(new Date(data.t[i])),
        data.mean[i] === null ? "" : data.mean[i], data.min[i] === null ? "" : data.min[i],
        data.max[i] === null ? "" : data.max[i], data.n[i], data.flagged[i],
      ].join(","));
    }
    return rows.join("\n") + "\n";
  }
  var csvBtn = document.getElementById("chart-csv");
  if (csvBtn) csvBtn.addEventListener("click", function () {
    var blob = new Blob([csvOfView()], { type: "text/csv;charset=utf-8" });
    var a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = (root.dataset.param || "series") + "_" + new Date(view.start).toISOString().slice(0, 16).replace(/:/g, "") +
      "_" + new Date(view.end).toISOString().slice(0, 16).replace(/:/g, "") + ".csv";
    document.body.appendChild(a); a.click(); a.remove();
    setTimeout(function () { URL.revokeObjectURL(a.href); }, 1000);
  });

  u.over.addEventListener("wheel", function (ev) {
    ev.preventDefault();
    var at = tAt(ev.clientX);
    var factor = ev.deltaY < 0 ? 1 / 1.25 : 1.25;
    setView(at - (at - view.start) * factor, at + (view.end - at) * factor);
  }, { passive: false });

  // Shift-drag pans; caught before uPlot's own drag-select sees the mousedown.
  u.over.addEventListener("mousedown", function (ev) {
    if (ev.button !== 0 || !ev.shiftKey) return;
    pan = { x: ev.clientX, view: { start: view.start, end: view.end } };
    ev.stopPropagation();
    ev.preventDefault();
  }, true);
  window.addEventListener("mousemove", function (ev) {
    if (!pan) return;
    var dt = (ev.clientX - pan.x) / u.over.getBoundingClientRect().width * (pan.view.end - pan.view.start);
    setView(pan.view.start - dt, pan.view.end - dt);
  });
  window.addEventListener("mouseup", function () { pan = null; });

  if (resetBtn) resetBtn.addEventListener("click", function () { setView(fullStart, fullEnd); });

  root.tabIndex = 0;
  root.addEventListener("keydown", function (ev) {
    var span = view.end - view.start;
    if (ev.key === "+" || ev.key === "=") setView(view.start + span / 8, view.end - span / 8);
    else if (ev.key === "-") setView(view.start - span / 4, view.end + span / 4);
    else if (ev.key === "ArrowLeft") setView(view.start - span / 5, view.end - span / 5);
    else if (ev.key === "ArrowRight") setView(view.start + span / 5, view.end + span / 5);
    else if (ev.key === "0" || ev.key === "Escape") setView(fullStart, fullEnd);
  });

  var resizeTimer = null;
  window.addEventListener("resize", function () {
    if (resizeTimer) clearTimeout(resizeTimer);
    resizeTimer = setTimeout(function () { u.setSize({ width: chartWidth(), height: HEIGHT }); scheduleLoad(); }, 200);
  });

  load();
})();
