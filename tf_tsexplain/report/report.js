// tf_tsexplain report: the glue between the controls and the Plotly figures.
// The figures are built in Python (tf_tsexplain/report/page.py); this fills the
// detail templates with the chosen sequence's arrays, bins the time axis when more
// steps are in view than the plot has room for, and sorts the tables.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("tsx-data").textContent);
  var state = { seq: 0, bins: {}, drawn: {}, ready: false, lastHover: null, errors: [], draws: 0 };
  window.tfTsexplainReport = state;
  window.addEventListener("error", function (e) { state.errors.push(String(e.message)); });
  var CONFIG = {
    responsive: true, displaylogo: false, scrollZoom: true,
    modeBarButtonsToRemove: ["select2d", "lasso2d", "autoScale2d"],
  };
  var MIN_COLUMN_PX = 4; // a heat map column narrower than this is binned
  var cache = {};

  function decode(b64) {
    var s = atob(b64), bytes = new Uint8Array(s.length);
    for (var i = 0; i < s.length; i++) bytes[i] = s.charCodeAt(i);
    return new Float32Array(bytes.buffer);
  }
  function arrays(k) { // decoded arrays of detail sequence k: [{v, a: {method: array}}]
    if (!cache[k]) {
      cache[k] = data.sequences[k].parts.map(function (p) {
        var a = {};
        Object.keys(p.a).forEach(function (m) { a[m] = decode(p.a[m]); });
        return { v: p.v === null ? null : decode(p.v), a: a };
      });
    }
    return cache[k];
  }
  function copy(o) { return JSON.parse(JSON.stringify(o)); }
  function num(x) { return Number.isFinite(x) ? x : null; }

  function chooseBin(gd, steps, trace) {
    var fl = gd._fullLayout, ax = fl && fl["xaxis" + ((trace && trace.xaxis) || "x").slice(1)];
    if (!ax || !ax.range) { // not drawn yet: the heat map takes ~80% of the div's width
      var guess = Math.max(20, Math.floor(0.8 * (gd.clientWidth || 1000) / MIN_COLUMN_PX));
      return Math.max(1, Math.ceil(steps / guess));
    }
    var span = Math.min(steps, Math.abs(ax.range[1] - ax.range[0]));
    var columns = Math.max(20, Math.floor(ax._length / MIN_COLUMN_PX));
    return Math.max(1, Math.ceil(span / columns));
  }

  // one sequence input: heat maps (peak |attribution| per bin), totals, values
  function sequenceTraces(k, seq, bin) {
    var fig = data.figures["detail-" + k], meta = data.parts[k];
    var T = meta.steps, F = meta.features.length, nb = Math.ceil(T / bin);
    var p = arrays(seq)[k];
    var x = [], start = [], end = [];
    for (var j = 0; j < nb; j++) {
      start.push(j * bin);
      end.push(Math.min(T, (j + 1) * bin) - 1);
      x.push(bin === 1 ? j : (start[j] + end[j]) / 2);
    }
    function binned(a, peak) { // z[f][j]: peak (signed, largest |.|) or mean of real cells
      var z = [];
      for (var f = 0; f < F; f++) {
        var row = [];
        for (var j = 0; j < nb; j++) {
          var best = null, sum = 0, n = 0;
          for (var t = start[j]; t <= end[j]; t++) {
            var v = a[t * F + f];
            if (!Number.isFinite(v)) continue;
            sum += v; n++;
            if (best === null || Math.abs(v) > Math.abs(best)) best = v;
          }
          row.push(n === 0 ? null : (peak ? best : sum / n));
        }
        z.push(row);
      }
      return z;
    }
    var valueMeans = p.v ? binned(p.v, false) : null;
    var custom = [];
    for (var f = 0; f < F; f++) {
      var row = [];
      for (var j = 0; j < nb; j++) row.push([valueMeans ? valueMeans[f][j] : null, start[j], end[j]]);
      custom.push(row);
    }
    var where = bin === 1 ? "<b>%{y}</b>, step %{x}" : "<b>%{y}</b>, steps %{customdata[1]}-%{customdata[2]}";
    var valueLine = p.v ? (bin === 1 ? "<br>input value: %{customdata[0]:.6~g}"
                                     : "<br>mean input value: %{customdata[0]:.4~g}") : "";
    var cmax = 0;
    var traces = fig.data.map(function (t0) {
      var t = copy(t0), m = t.meta.method, a = m ? p.a[m] : null;
      if (t.meta.role === "values") {
        t.x = x;
        t.z = valueMeans.map(function (r, f) {
          return r.map(function (v) { return v === null ? null : (v - meta.mean[f]) / meta.std[f]; });
        });
        t.customdata = custom;
        t.hovertemplate = where + valueLine + "<extra>input</extra>";
      } else if (t.meta.role === "attr") {
        t.x = x;
        t.z = binned(a, true);
        t.customdata = custom;
        t.hovertemplate = where + (bin === 1 ? "<br>attribution: %{z:.6~g}" :
          "<br>largest |attribution|: %{z:.4~g}") + valueLine + "<extra>" + m + "</extra>";
        for (var i = 0; i < a.length; i++) if (Number.isFinite(a[i])) cmax = Math.max(cmax, Math.abs(a[i]));
      } else if (t.meta.role === "ftotal") {
        var tot = [];
        for (var f2 = 0; f2 < F; f2++) {
          var s = 0;
          for (var t2 = 0; t2 < T; t2++) { var v2 = a[t2 * F + f2]; if (Number.isFinite(v2)) s += v2; }
          tot.push(s);
        }
        t.x = tot;
      } else if (t.meta.role === "stotal") {
        var xs = [], ys = [];
        for (var t3 = 0; t3 < T; t3++) {
          var s3 = 0, n3 = 0;
          for (var f3 = 0; f3 < F; f3++) { var v3 = a[t3 * F + f3]; if (Number.isFinite(v3)) { s3 += v3; n3++; } }
          xs.push(t3); ys.push(n3 ? s3 : null);
        }
        t.x = xs; t.y = ys;
      }
      return t;
    });
    return { traces: traces, cmax: cmax || 1e-12 };
  }

  function staticTraces(k, seq) { // a static input: one bar per feature and method
    var fig = data.figures["detail-" + k], p = arrays(seq)[k];
    return {
      traces: fig.data.map(function (t0) {
        var t = copy(t0), a = p.a[t.meta.method];
        t.y = Array.prototype.map.call(a, num);
        t.customdata = p.v ? Array.prototype.map.call(p.v, num) : null;
        t.hovertemplate = "<b>%{x}</b><br>attribution: %{y:.6~g}" +
          (p.v ? "<br>input value: %{customdata:.6~g}" : "") + "<extra>" + t.meta.method + "</extra>";
        return t;
      }),
      cmax: null,
    };
  }

  var layouts = {};
  function drawDetail(k) {
    var gd = document.getElementById("fig-detail-" + k), meta = data.parts[k];
    if (!layouts[k]) layouts[k] = copy(data.figures["detail-" + k].layout);
    var layout = gd.layout && gd.data ? gd.layout : layouts[k];
    var bin = meta.static ? 1 : (state.bins[k] || chooseBin(gd, meta.steps, null));
    state.bins[k] = bin;
    var built = meta.static ? staticTraces(k, state.seq) : sequenceTraces(k, state.seq, bin);
    if (built.cmax !== null) {
      layout.coloraxis.cmin = -built.cmax;
      layout.coloraxis.cmax = built.cmax;
      layout.coloraxis2.cmin = -3;
      layout.coloraxis2.cmax = 3;
    }
    layout.datarevision = ++state.draws;
    return Plotly.react(gd, built.traces, layout, CONFIG).then(function () {
      state.drawn[k] = bin; // the bin of what is on screen (state.bins: what is asked for)
      if (meta.static || gd._tsxWired) return;
      gd._tsxWired = true;
      gd.on("plotly_relayout", function () {
        var b = chooseBin(gd, meta.steps, gd.data[0]);
        if (b !== state.bins[k]) { state.bins[k] = b; drawDetail(k); }
      });
    }).then(function () {
      if (meta.static) return;
      var b = chooseBin(gd, meta.steps, gd.data[0]); // the first draw knows its width now
      if (b !== state.bins[k]) { state.bins[k] = b; return drawDetail(k); }
    });
  }

  function wireHover(k) {
    var gd = document.getElementById("fig-detail-" + k);
    gd.on("plotly_hover", function (ev) {
      var p = ev.points[0], m = p.data.meta || {}, c = p.customdata;
      state.lastHover = {
        sample: data.sequences[state.seq].id, part: m.part, role: m.role, method: m.method || null,
        feature: m.role === "static" ? p.x : p.y, step: m.role === "static" ? null : p.x,
        attribution: m.role === "static" ? p.y : (m.role === "attr" ? p.z : null),
        value: Array.isArray(c) ? c[0] : (c === undefined ? null : c),
        steps: Array.isArray(c) ? [c[1], c[2]] : null, bin: state.bins[k],
      };
    });
  }

  // Shapley values and SIS of the chosen sequence (when the report holds them)
  function drawExtras(k) {
    var s = data.sequences[k], draws = [];
    var sh = data.figures.shapley, div = document.getElementById("fig-shapley");
    if (sh && div) {
      var traces = sh.data.map(function (t0) {
        var t = copy(t0), level = t.meta.role === "sh_event" ? "event" : "feature";
        var e = (s.shapley || {})[level];
        if (level === "event") { t.x = e ? e.t : []; t.y = e ? e.v : []; }
        else { t.y = e ? e.f : []; t.x = e ? e.v : []; }
        return t;
      });
      var layout = copy(sh.layout);
      if (!s.shapley) layout.title.text = "no Shapley values for this sequence";
      else if (s.shapley.event && s.shapley.event.pruned !== null) {
        layout.title.text += " (pruned older events together: " + s.shapley.event.pruned.toPrecision(4) + ")";
      }
      draws.push(Plotly.react(div, traces, layout, CONFIG));
    }
    var sis = data.figures.sis, sdiv = document.getElementById("fig-sis");
    if (sis && sdiv) {
      var part = data.parts.filter(function (p) { return p.name === data.sisInput; })[0];
      var T = part.steps, F = part.features.length, g = s.sis ? decode(s.sis) : null, z = [];
      for (var f = 0; f < F; f++) {
        var row = [];
        for (var t = 0; t < T; t++) row.push(g ? num(g[t * F + f]) : null);
        z.push(row);
      }
      var tr = copy(sis.data[0]), lay = copy(sis.layout);
      tr.z = z; tr.x = Array.from({ length: T }, function (_, i) { return i; });
      if (!s.sis) lay.title.text = "no SIS for this sequence";
      draws.push(Plotly.react(sdiv, [tr], lay, CONFIG));
    }
    return Promise.all(draws);
  }

  var select = document.getElementById("tsx-sequence");
  function choose(k) {
    state.seq = k;
    select.value = String(k);
    var s = data.sequences[k];
    document.getElementById("tsx-summary").textContent = "sample " + s.id + (s.summary ? ": " + s.summary : "");
    document.querySelectorAll("#tsx-instances tr.current").forEach(function (r) { r.classList.remove("current"); });
    var row = document.querySelector("#tsx-instances tr[data-seq='" + k + "']");
    if (row) row.classList.add("current");
    var draws = data.parts.map(function (_, i) { return drawDetail(i); });
    draws.push(drawExtras(k));
    return Promise.all(draws).then(function () { state.shown = k; }); // drawn: for tests
  }
  select.addEventListener("change", function () { choose(Number(select.value)); });
  document.getElementById("tsx-prev").addEventListener("click", function () {
    if (state.seq > 0) choose(state.seq - 1);
  });
  document.getElementById("tsx-next").addEventListener("click", function () {
    if (state.seq < data.sequences.length - 1) choose(state.seq + 1);
  });
  document.querySelectorAll("#tsx-instances tbody").forEach(function (body) {
    body.addEventListener("click", function (ev) {
      var row = ev.target.closest("tr.has-detail");
      if (row) {
        choose(Number(row.dataset.seq));
        document.getElementById("detail").scrollIntoView({ behavior: "smooth" });
      }
    });
  });

  // sortable tables: click a header; numbers by data-v, text otherwise
  document.querySelectorAll("table.sortable").forEach(function (table) {
    table.querySelectorAll("th").forEach(function (th, col) {
      th.addEventListener("click", function () {
        var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
        var up = th.dataset.sort !== "asc", numeric = th.dataset.type === "num";
        table.querySelectorAll("th").forEach(function (h) { delete h.dataset.sort; });
        th.dataset.sort = up ? "asc" : "desc";
        var key = function (r) {
          var cell = r.cells[col];
          if (!numeric) return cell.textContent;
          var v = parseFloat(cell.dataset.v);
          return Number.isFinite(v) ? v : (up ? Infinity : -Infinity);
        };
        rows.sort(function (a, b) {
          var x = key(a), y = key(b), d = numeric ? x - y : String(x).localeCompare(String(y), undefined, { numeric: true });
          return up ? d : -d;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  });

  var plots = [];
  Object.keys(data.figures).forEach(function (name) {
    if (name.indexOf("detail-") === 0 || name === "shapley" || name === "sis") return;
    var div = document.getElementById("fig-" + name);
    if (div) plots.push(Plotly.newPlot(div, data.figures[name].data, data.figures[name].layout, CONFIG));
  });
  data.parts.forEach(function (_, k) { state.bins[k] = 0; });
  plots.push(choose(0).then(function () { data.parts.forEach(function (_, k) { wireHover(k); }); }));
  Promise.all(plots).then(function () {
    state.ready = true;
    document.body.dataset.ready = "1";
  }, function (err) { state.errors.push(String(err)); });
})();
