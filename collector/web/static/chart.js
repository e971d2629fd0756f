/* Plant MRV time-series chart: canvas line + min/max band, gaps shaded, flags and anode
 * effects marked, wheel/drag zoom, shift-drag pan, tooltip. No dependencies, works offline.
 *
 * The server downsamples (min/max/mean per bucket); on every zoom the chart asks again for
 * about one bucket per pixel so detail appears as you zoom in. After each draw the chart
 * element carries data-state="ready", data-points (points drawn), data-gaps (gap shades),
 * and window.mrvChart exposes the same, so tests and users can check what is shown.
 */
(function () {
  "use strict";

  var root = document.getElementById("chart");
  if (!root) return;

  var canvas = root.querySelector("canvas");
  var overlay = root.querySelector(".chart-overlay");
  var tooltip = root.querySelector(".chart-tooltip");
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
  var PAD = { left: 64, right: 16, top: 12, bottom: 34 };
  var MIN_SPAN = 10 * 60 * 1000;

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
  var drag = null;

  var fmtDateTime = new Intl.DateTimeFormat("zh-CN", {
    timeZone: tz, year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false,
  });
  var fmtDay = new Intl.DateTimeFormat("zh-CN", { timeZone: tz, month: "2-digit", day: "2-digit" });
  var fmtTime = new Intl.DateTimeFormat("zh-CN", {
    timeZone: tz, hour: "2-digit", minute: "2-digit", hour12: false,
  });

  function tzOffsetMs(t) {
    // Offset of the site's zone at t: format t in the zone and read it back as UTC.
    var parts = {};
    new Intl.DateTimeFormat("en-US", {
      timeZone: tz, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit",
    }).formatToParts(new Date(t)).forEach(function (p) { parts[p.type] = p.value; });
    var asUtc = Date.UTC(+parts.year, +parts.month - 1, +parts.day, +parts.hour, +parts.minute, +parts.second);
    return asUtc - Math.floor(t / 1000) * 1000;
  }

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

  function size() {
    var rect = canvas.getBoundingClientRect();
    var dpr = window.devicePixelRatio || 1;
    var w = Math.max(200, Math.round(rect.width));
    var h = Math.max(160, Math.round(rect.height));
    if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
      canvas.width = Math.round(w * dpr);
      canvas.height = Math.round(h * dpr);
    }
    return { w: w, h: h, dpr: dpr };
  }

  function plotWidth() {
    return Math.max(50, canvas.getBoundingClientRect().width - PAD.left - PAD.right);
  }

  function load() {
    var mySeq = ++seq;
    var buckets = Math.min(5000, Math.max(50, Math.round(plotWidth())));
    var q = "?start=" + Math.floor(view.start) + "&end=" + Math.ceil(view.end) + "&buckets=" + buckets;
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
        draw();
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
    if (pending) clearTimeout(pending);
    pending = setTimeout(function () { pending = null; load(); }, 150);
  }

  function niceStep(range, count) {
    var raw = range / Math.max(1, count);
    var mag = Math.pow(10, Math.floor(Math.log10(raw)));
    var norm = raw / mag;
    var step = norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10;
    return step * mag;
  }

  var TIME_STEPS = [60e3, 5 * 60e3, 15 * 60e3, 30 * 60e3, 3600e3, 3 * 3600e3, 6 * 3600e3,
    12 * 3600e3, 86400e3, 2 * 86400e3, 7 * 86400e3];

  function yRange() {
    var lo = Infinity, hi = -Infinity;
    for (var i = 0; i < data.t.length; i++) {
      if (data.t[i] < view.start || data.t[i] > view.end) continue;
      var a = data.min[i], b = data.max[i];
      if (a !== null && a < lo) lo = a;
      if (b !== null && b > hi) hi = b;
    }
    if (!isFinite(lo)) { lo = 0; hi = 1; }
    if (lo === hi) { lo -= Math.abs(lo) * 0.05 || 1; hi += Math.abs(hi) * 0.05 || 1; }
    var pad = (hi - lo) * 0.06;
    return { lo: lo - pad, hi: hi + pad };
  }

  function clearOverlay() {
    while (overlay.firstChild) overlay.removeChild(overlay.firstChild);
  }

  function addBox(cls, x0, x1, title) {
    var el = document.createElement("div");
    el.className = cls;
    el.style.left = x0 + "px";
    el.style.width = Math.max(2, x1 - x0) + "px";
    el.style.top = PAD.top + "px";
    el.style.bottom = PAD.bottom + "px";
    if (title) el.title = title;
    overlay.appendChild(el);
    return el;
  }

  function draw() {
    if (!data) return;
    var s = size();
    var ctx = canvas.getContext("2d");
    ctx.setTransform(s.dpr, 0, 0, s.dpr, 0, 0);
    ctx.clearRect(0, 0, s.w, s.h);
    clearOverlay();
    tooltip.hidden = true; // it described the previous view

    var pw = s.w - PAD.left - PAD.right;
    var ph = s.h - PAD.top - PAD.bottom;
    var span = view.end - view.start;
    var yr = yRange();
    function X(t) { return PAD.left + (t - view.start) / span * pw; }
    function Y(v) { return PAD.top + (1 - (v - yr.lo) / (yr.hi - yr.lo)) * ph; }

    // grid and y axis
    ctx.font = "11px system-ui, sans-serif";
    ctx.fillStyle = "#5b6472";
    ctx.strokeStyle = "#e3e7ed";
    ctx.lineWidth = 1;
    var ys = niceStep(yr.hi - yr.lo, Math.max(2, Math.floor(ph / 40)));
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    for (var yv = Math.ceil(yr.lo / ys) * ys; yv <= yr.hi; yv += ys) {
      var yy = Math.round(Y(yv)) + 0.5;
      ctx.beginPath(); ctx.moveTo(PAD.left, yy); ctx.lineTo(PAD.left + pw, yy); ctx.stroke();
      ctx.fillText(fmtNum(Number(yv.toPrecision(10))), PAD.left - 6, yy);
    }
    if (unit) {
      ctx.save(); ctx.textAlign = "left"; ctx.textBaseline = "top";
      ctx.fillText(unit, 4, 2); ctx.restore();
    }

    // x axis: ticks aligned to the site's local time
    var want = Math.max(2, Math.floor(pw / 110));
    var step = TIME_STEPS[TIME_STEPS.length - 1];
    for (var k = 0; k < TIME_STEPS.length; k++) {
      if (span / TIME_STEPS[k] <= want) { step = TIME_STEPS[k]; break; }
    }
    var off = tzOffsetMs(view.start);
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    var first = Math.ceil((view.start + off) / step) * step - off;
    for (var tx = first; tx <= view.end; tx += step) {
      var xx = Math.round(X(tx)) + 0.5;
      ctx.strokeStyle = "#eef1f5";
      ctx.beginPath(); ctx.moveTo(xx, PAD.top); ctx.lineTo(xx, PAD.top + ph); ctx.stroke();
      var d = new Date(tx);
      var label = step >= 86400e3 ? fmtDay.format(d) : fmtTime.format(d);
      ctx.fillText(label, xx, PAD.top + ph + 6);
      if (step < 86400e3 && ((tx + off) % 86400e3 === 0)) ctx.fillText(fmtDay.format(d), xx, PAD.top + ph + 19);
    }
    ctx.strokeStyle = "#9aa3b0";
    ctx.strokeRect(PAD.left + 0.5, PAD.top + 0.5, pw, ph);

    // gaps (DOM elements, so they can be hovered and counted)
    var gapCount = 0;
    (data.gaps || []).forEach(function (g) {
      if (g[1] < view.start || g[0] > view.end) return;
      var x0 = Math.max(PAD.left, X(g[0])), x1 = Math.min(PAD.left + pw, X(g[1]));
      addBox("gap", x0, x1, "缺口 gap: " + fmtDateTime.format(new Date(g[0])) + " → " +
        fmtDateTime.format(new Date(g[1])) + " (" + fmtSpan(g[1] - g[0]) + ")");
      gapCount++;
    });

    // substitutions from the month's record: orange strip along the bottom
    var subCount = 0;
    (data.substitutions || []).forEach(function (sb) {
      if (sb.end < view.start || sb.start > view.end) return;
      var el = addBox("sub", Math.max(PAD.left, X(sb.start)), Math.min(PAD.left + pw, X(sb.end)),
        "替代 substituted (record v" + sb.record_version + "): " + sb.rule + " = " + fmtNum(sb.value) +
        " · " + fmtDateTime.format(new Date(sb.start)) + " → " + fmtDateTime.format(new Date(sb.end)));
      el.style.top = "auto";
      el.style.height = "6px";
      subCount++;
    });

    // the series: band, then mean line broken at gaps
    var t = data.t, mean = data.mean, mn = data.min, mx = data.max;
    var step0 = Math.max(data.bucket_ms || 0, data.interval_ms || 60000);
    var breakAfter = step0 * 1.5;
    ctx.save();
    ctx.beginPath(); ctx.rect(PAD.left, PAD.top, pw, ph); ctx.clip();
    if (data.downsampled) {
      ctx.fillStyle = "rgba(37, 99, 235, 0.18)";
      var seg = [];
      var flush = function () {
        if (!seg.length) return;
        ctx.beginPath();
        for (var a = 0; a < seg.length; a++) {
          var p = seg[a];
          if (a === 0) ctx.moveTo(X(t[p]), Y(mx[p])); else ctx.lineTo(X(t[p]), Y(mx[p]));
        }
        for (var b = seg.length - 1; b >= 0; b--) ctx.lineTo(X(t[seg[b]]), Y(mn[seg[b]]));
        ctx.closePath(); ctx.fill();
        // each bucket's min-max as a vertical stroke: a one-bucket spike stays visible
        ctx.strokeStyle = "rgba(37, 99, 235, 0.45)";
        ctx.lineWidth = 1;
        ctx.beginPath();
        for (var c = 0; c < seg.length; c++) {
          var xq = Math.round(X(t[seg[c]])) + 0.5;
          ctx.moveTo(xq, Y(mx[seg[c]])); ctx.lineTo(xq, Y(mn[seg[c]]) + 0.5);
        }
        ctx.stroke();
        seg = [];
      };
      for (var i = 0; i < t.length; i++) {
        if (mn[i] === null) { flush(); continue; }
        if (seg.length && t[i] - t[seg[seg.length - 1]] > breakAfter) flush();
        seg.push(i);
      }
      flush();
    }
    ctx.strokeStyle = "#1d4ed8";
    ctx.lineWidth = 1.4;
    ctx.beginPath();
    var prevT = null;
    drawn = 0;
    for (var j = 0; j < t.length; j++) {
      if (mean[j] === null) { prevT = null; continue; }
      var px = X(t[j]), py = Y(mean[j]);
      if (prevT === null || t[j] - prevT > breakAfter) ctx.moveTo(px, py); else ctx.lineTo(px, py);
      prevT = t[j];
      if (t[j] >= view.start && t[j] <= view.end) drawn++;
    }
    ctx.stroke();
    // flagged readings (substituted / uncertain / bad): orange ticks on the line
    ctx.fillStyle = "#d97706";
    var flaggedDrawn = 0;
    for (var f = 0; f < t.length; f++) {
      if (!data.flagged[f] || mean[f] === null) continue;
      ctx.beginPath(); ctx.arc(X(t[f]), Y(mean[f]), 3, 0, Math.PI * 2); ctx.fill();
      flaggedDrawn++;
    }
    ctx.restore();

    // anode effects: red markers along the top
    var aeCount = 0;
    (data.anode_effects || []).forEach(function (e) {
      if (e.end < view.start || e.start > view.end) return;
      var x0 = X(e.start), x1 = Math.max(x0 + 2, X(e.end));
      var el = addBox("ae", Math.max(PAD.left, x0), Math.min(PAD.left + pw, x1),
        "阳极效应 anode effect · cell " + e.cell + " · " + fmtDateTime.format(new Date(e.start)) +
        " · " + fmtSpan(e.end - e.start) + " · peak " + fmtNum(e.peak_v) + " V");
      el.style.bottom = "auto";
      el.style.height = "8px";
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
    root.dataset.state = "ready";
    window.mrvChart = {
      points: drawn, gaps: gapCount, flagged: flaggedDrawn, anodeEffects: aeCount,
      downsampled: data.downsampled, bucketMs: data.bucket_ms, view: { start: view.start, end: view.end },
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
    var rect = canvas.getBoundingClientRect();
    var x = clientX - rect.left - PAD.left;
    var pw = rect.width - PAD.left - PAD.right;
    return view.start + Math.min(1, Math.max(0, x / pw)) * (view.end - view.start);
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
    draw();
    scheduleLoad();
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

  canvas.addEventListener("wheel", function (ev) {
    ev.preventDefault();
    var at = tAt(ev.clientX);
    var factor = ev.deltaY < 0 ? 1 / 1.25 : 1.25;
    setView(at - (at - view.start) * factor, at + (view.end - at) * factor);
  }, { passive: false });

  canvas.addEventListener("mousedown", function (ev) {
    if (ev.button !== 0) return;
    var rect = root.getBoundingClientRect();
    drag = { x: ev.clientX, t: tAt(ev.clientX), pan: ev.shiftKey, view: { start: view.start, end: view.end }, box: null, left: rect.left };
    ev.preventDefault();
  });

  window.addEventListener("mousemove", function (ev) {
    if (drag) {
      if (drag.pan) {
        var rect = canvas.getBoundingClientRect();
        var pw = rect.width - PAD.left - PAD.right;
        var dt = (ev.clientX - drag.x) / pw * (drag.view.end - drag.view.start);
        setView(drag.view.start - dt, drag.view.end - dt);
      } else {
        if (!drag.box) { drag.box = document.createElement("div"); drag.box.className = "selection"; overlay.appendChild(drag.box); }
        var a = Math.min(drag.x, ev.clientX) - drag.left, b = Math.max(drag.x, ev.clientX) - drag.left;
        drag.box.style.left = a + "px"; drag.box.style.width = (b - a) + "px";
        drag.box.style.top = PAD.top + "px"; drag.box.style.bottom = PAD.bottom + "px";
      }
      return;
    }
    tip(ev);
  });

  window.addEventListener("mouseup", function (ev) {
    if (!drag) return;
    var d = drag; drag = null;
    if (d.box && d.box.parentNode) d.box.parentNode.removeChild(d.box);
    if (!d.pan && Math.abs(ev.clientX - d.x) > 4) {
      var t2 = tAt(ev.clientX);
      setView(Math.min(d.t, t2), Math.max(d.t, t2));
    }
  });

  canvas.addEventListener("dblclick", function () { setView(fullStart, fullEnd); });
  canvas.addEventListener("mouseleave", function () { tooltip.hidden = true; });
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

  function tip(ev) {
    if (!data || !data.t.length) return;
    var rect = canvas.getBoundingClientRect();
    if (ev.clientX < rect.left + PAD.left || ev.clientX > rect.right - PAD.right ||
        ev.clientY < rect.top || ev.clientY > rect.bottom) { tooltip.hidden = true; return; }
    var t0 = tAt(ev.clientX);
    var lo = 0, hi = data.t.length - 1;
    while (lo < hi) { var mid = (lo + hi) >> 1; if (data.t[mid] < t0) lo = mid + 1; else hi = mid; }
    if (lo > 0 && Math.abs(data.t[lo - 1] - t0) < Math.abs(data.t[lo] - t0)) lo--;
    var i = lo;
    var lines = [fmtDateTime.format(new Date(data.t[i]))];
    if (data.downsampled) {
      lines.push("均值 mean " + fmtNum(data.mean[i]) + " " + unit);
      lines.push("最小 min " + fmtNum(data.min[i]) + " · 最大 max " + fmtNum(data.max[i]));
      lines.push(data.n[i] + " 读数 readings / " + fmtSpan(data.bucket_ms));
    } else {
      lines.push(fmtNum(data.mean[i]) + " " + unit);
    }
    if (data.flagged[i]) lines.push("⚑ " + data.flagged[i] + " 标记 flagged");
    (data.gaps || []).forEach(function (g) {
      if (t0 >= g[0] && t0 <= g[1]) lines.push("缺口 gap " + fmtSpan(g[1] - g[0]));
    });
    tooltip.textContent = lines.join("\n");
    tooltip.hidden = false;
    var rr = root.getBoundingClientRect();
    var x = ev.clientX - rr.left + 14, y = ev.clientY - rr.top + 14;
    if (x + 230 > rr.width) x -= 250;
    tooltip.style.left = x + "px"; tooltip.style.top = y + "px";
  }

  var resizeTimer = null;
  window.addEventListener("resize", function () {
    if (resizeTimer) clearTimeout(resizeTimer);
    resizeTimer = setTimeout(function () { draw(); scheduleLoad(); }, 200);
  });

  load();
})();
