/* dse report: draws the page from the JSON embedded in #dse-data.
 *
 * Every stored string (study, layer and parameter names, values, reasons, config) reaches
 * the DOM through textContent, never innerHTML; strings handed to plotly, which reads a
 * few HTML-like tags in labels, are entity-escaped first (plotlyText). Public hooks for
 * tests and power users: window.dseReport.select(trialNumber), .data, .ready.
 */
(function () {
  "use strict";

  var D = JSON.parse(document.getElementById("dse-data").textContent);
  var T = D.trials;
  var N = T.number.length;
  var OBJ = D.objectives;
  var M = OBJ.length;
  var S = D.strings;
  var indexOf = new Map();
  T.number.forEach(function (n, i) { indexOf.set(n, i); });
  var paretoSet = new Set(D.pareto);
  var state = { selected: null, plots: [], heat: null, tableRows: new Map() };
  var api = { data: D, ready: false, select: select, plots: state.plots };
  window.dseReport = api;

  var COLORS = { pareto: "#d9480f", dominated: "#4c6ef5", bad: "#868e96", baseline: "#212529", line: "#e8590c" };
  var RES_COLORS = { lut: "#1c7ed6", ff: "#0ca678", dsp: "#d9480f", bram18: "#ae3ec9", uram: "#f59f00" };
  var RES_LABEL = { lut: "LUT", ff: "FF", dsp: "DSP", bram18: "BRAM18", uram: "URAM" };
  var CAT_LABEL = { pareto: "Pareto", dominated: "dominated", infeasible: "infeasible",
                    abandoned: "abandoned", failed: "failed" };
  var PLOT_CONFIG = { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["select2d", "lasso2d"] };

  // --- small DOM and text helpers --------------------------------------------------------

  function h(tag, props, children) {
    var el = document.createElement(tag);
    props = props || {};
    Object.keys(props).forEach(function (k) {
      var v = props[k];
      if (v === undefined || v === null) return;
      if (k === "text") el.textContent = String(v);
      else if (k === "cls") el.className = v;
      else if (k === "on") Object.keys(v).forEach(function (ev) { el.addEventListener(ev, v[ev]); });
      else if (k === "style") Object.keys(v).forEach(function (s) { el.style[s] = v[s]; });
      else el.setAttribute(k, String(v));
    });
    (children || []).forEach(function (c) {
      if (c === null || c === undefined) return;
      el.appendChild(typeof c === "string" || typeof c === "number" ? document.createTextNode(String(c)) : c);
    });
    return el;
  }

  /* fixed-height plots: the div takes the layout's height so nothing below is overlapped */
  function plot(div, traces, layout, react) {
    div.style.height = layout.height + "px";
    return (react ? Plotly.react : Plotly.newPlot)(div, traces, layout, PLOT_CONFIG);
  }

  function body(id) { return document.getElementById(id); }

  function emptyNote(parent, text) { parent.appendChild(h("p", { cls: "empty", text: text })); }

  /* plotly parses <br>, <b>, <a href> ... in labels: escape stored strings to show them as text */
  function plotlyText(s) {
    return String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  }

  function sig(v, digits) {
    if (v === null || v === undefined || typeof v !== "number" || !isFinite(v)) return "-";
    if (v !== 0 && (Math.abs(v) >= 1e7 || Math.abs(v) < 1e-3)) return v.toExponential(digits - 1);
    if (Math.abs(v) >= 1e4) return Number(v.toPrecision(digits)).toLocaleString("en-US");
    return String(Number(v.toPrecision(digits)));
  }

  function grouped(v) {
    if (typeof v !== "number" || !isFinite(v)) return "-";
    return Math.round(v).toLocaleString("en-US");
  }

  function scaled(v, units) {
    var a = Math.abs(v);
    for (var k = 0; k < units.length; k++) {
      if (a * units[k][0] >= 1 || k === units.length - 1) return sig(v * units[k][0], 4) + " " + units[k][1];
    }
    return sig(v, 4);
  }

  function fmt(name, v) {
    if (v === null || v === undefined || typeof v !== "number" || !isFinite(v)) return "-";
    switch (name) {
      case "accuracy": case "float_accuracy": return (100 * v).toFixed(2) + "%";
      case "latency_s": return scaled(v, [[1, "s"], [1e3, "ms"], [1e6, "us"], [1e9, "ns"]]);
      case "energy_j": return scaled(v, [[1, "J"], [1e3, "mJ"], [1e6, "uJ"], [1e9, "nJ"]]);
      case "lut": case "ff": case "dsp": case "bram18": case "uram": case "cycles": case "macs": return grouped(v);
      case "avg_weight_bits": return v.toFixed(2);
      case "lut_share": case "dsp_share": return (100 * v).toFixed(0) + "%";
      default: return sig(v, 4);
    }
  }

  function fmtAny(v) {
    if (v === null || v === undefined) return "-";
    if (typeof v === "number") return Number.isInteger(v) && Math.abs(v) >= 1e4 ? grouped(v) : sig(v, 4);
    if (typeof v === "boolean") return v ? "yes" : "no";
    return String(v);
  }

  function duration(s) {
    if (!s || !isFinite(s)) return "0 s";
    if (s < 120) return s.toFixed(1) + " s";
    if (s < 7200) return (s / 60).toFixed(1) + " min";
    return (s / 3600).toFixed(1) + " h";
  }

  function when(unix) {
    if (!unix) return "-";
    return new Date(unix * 1000).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
  }

  function fmtKnob(name, v) {
    if (typeof v === "number" && /_hz$/.test(name)) return sig(v / 1e6, 4) + " MHz";
    return fmtAny(v);
  }

  function metric(i, name) { var col = T.metrics[name]; return col ? col[i] : null; }

  function better(j) { return OBJ[j].direction === "maximize" ? "higher is better" : "lower is better"; }

  // --- hover texts (built once, on demand) ----------------------------------------------

  var hoverCache = null;
  function hoverText(i) {
    if (!hoverCache) hoverCache = new Array(N);
    if (hoverCache[i] !== undefined) return hoverCache[i];
    var lines = [];
    var head = "trial #" + T.number[i] + " \u00b7 " + (CAT_LABEL[T.category[i]] || T.category[i]);
    if (T.baseline[i]) head += " \u00b7 baseline " + T.baseline[i];
    lines.push("<b>" + plotlyText(head) + "</b>");
    OBJ.forEach(function (o, j) { lines.push(plotlyText(o.name + ": " + fmt(o.name, T.values[i][j]))); });
    var res = ["lut", "dsp", "bram18", "ff"].filter(function (r) { return metric(i, r) !== null; })
      .map(function (r) { return RES_LABEL[r] + " " + fmt(r, metric(i, r)); });
    if (res.length) lines.push(plotlyText(res.join(" \u00b7 ")));
    if (T.design[i] !== null && S[T.design[i]]) lines.push(plotlyText(S[T.design[i]]));
    var knobs = Object.keys(T.knobs).map(function (k) { return k + "=" + fmtKnob(k, T.knobs[k][i]); });
    for (var k = 0; k < knobs.length; k += 3) lines.push(plotlyText(knobs.slice(k, k + 3).join(" ")));
    if (T.reason[i] !== null && T.category[i] !== "pareto" && T.category[i] !== "dominated") {
      var r = S[T.reason[i]];
      lines.push(plotlyText(r.length > 90 ? r.slice(0, 87) + "..." : r));
    }
    hoverCache[i] = lines.join("<br>");
    return hoverCache[i];
  }

  // --- header -----------------------------------------------------------------------------

  function renderHeader() {
    var m = D.meta, c = D.counts, t = D.time;
    document.title = m.study + " - dse report";
    body("title").textContent = m.study;
    body("subtitle").textContent = [m.workload, m.hwmodel, m.device].filter(Boolean).join(" \u00b7 ");
    var cons = [];
    if (m.fit_device) cons.push("fits the device");
    (m.caps || []).forEach(function (x) { cons.push(x); });
    var facts = [
      ["study", m.study], ["workload", m.workload + (m.n_layers ? " (" + m.n_layers + " layers)" : "")],
      ["hardware model", m.hwmodel], ["device", m.device || "-"],
      ["objectives", m.objectives.map(function (o) { return o.name + " (" + (o.direction === "maximize" ? "max" : "min") + ")"; }).join(", ")],
      ["constraints", cons.length ? cons.join("; ") : "none"],
      ["sampler", m.sampler + (m.seed !== null && m.seed !== undefined ? ", seed " + m.seed : "")],
      ["fidelity", m.fidelity || "-"],
      ["trials", c.total + (m.target_trials ? " of " + m.target_trials : "")],
      ["time spent", duration(t.wall_s) + " wall; " + duration(t.trial_s) + " in trials (hardware " +
        duration(t.hw_s) + ", fine-tune " + duration(t.finetune_s) + ")"],
      ["created", when(m.created_unix)], ["dse", m.dse_version || "-"],
    ];
    var dl = body("facts");
    facts.forEach(function (f) { dl.appendChild(h("div", {}, [h("dt", { text: f[0] }), h("dd", { text: f[1] })])); });
    var badges = [["complete", c.complete], ["Pareto", c.pareto], ["infeasible", c.infeasible],
                  ["abandoned", c.abandoned], ["failed", c.failed], ["duplicates", c.duplicate]];
    if (c.running) badges.push(["running", c.running]);
    if (c.waiting) badges.push(["waiting", c.waiting]);
    if (c.crashed_and_retried) badges.push(["crashed and retried", c.crashed_and_retried]);
    var box = body("counts");
    badges.forEach(function (b) {
      box.appendChild(h("span", { cls: "badge" + (b[0] === "Pareto" ? " pareto" : ""), "data-count": b[0] },
                        [h("b", { text: b[1] }), " " + b[0]]));
    });
    body("footer").textContent = "Written by dse " + (m.report_version || "") + " on " + when(m.generated_unix) +
      " from the study's storage alone. Self-contained: no network access.";
    var st = body("status");
    var finished = c.complete + c.infeasible + c.abandoned + c.failed + c.duplicate;
    if (finished === 0) {
      st.textContent = "This study has no finished trials yet" + (c.total ? " (" + c.total + " waiting or running)" : "") +
        ": nothing to show. Run `dse search` (or `dse worker`) on it, then write the report again.";
      st.hidden = false;
    } else if (c.complete === 0) {
      st.textContent = "No trial has completed: " + c.failed + " failed, " + c.infeasible + " infeasible, " +
        c.abandoned + " abandoned. There is no Pareto front to show; the reasons are listed under \u201cWhy points were infeasible\u201d.";
      st.hidden = false;
    }
  }

  // --- Pareto front: pairwise scatter -------------------------------------------------------

  function front2d(points) {
    // points: [[x, y, n]] in minimisation form; keep the non-dominated ones, sorted by x
    var keep = points.filter(function (p) {
      return !points.some(function (q) {
        return q[0] <= p[0] && q[1] <= p[1] && (q[0] < p[0] || q[1] < p[1]);
      });
    });
    return keep.sort(function (p, q) { return p[0] - q[0] || p[1] - q[1]; });
  }

  function pairTraces(a, b) {
    var oa = OBJ[a], ob = OBJ[b];
    var groups = { bad: [], dominated: [], pareto: [], baseline: [] };
    for (var i = 0; i < N; i++) {
      var x = T.values[i][a], y = T.values[i][b];
      if (x === null || y === null) continue;
      var cat = T.category[i];
      var g = cat === "pareto" ? "pareto" : cat === "dominated" ? "dominated" : "bad";
      groups[g].push(i);
      if (T.baseline[i]) groups.baseline.push(i);
    }
    function xs(list, j, o) { return list.map(function (i) { return T.values[i][j] * o.scale; }); }
    function trace(list, extra) {
      return Object.assign({
        type: "scatter", mode: "markers", x: xs(list, a, oa), y: xs(list, b, ob),
        customdata: list.map(function (i) { return T.number[i]; }),
        text: list.map(hoverText), hovertemplate: "%{text}<extra></extra>",
      }, extra);
    }
    var sa = oa.direction === "maximize" ? -1 : 1, sb = ob.direction === "maximize" ? -1 : 1;
    var line = front2d(groups.pareto.map(function (i) {
      return [sa * T.values[i][a], sb * T.values[i][b], i];
    })).map(function (p) { return p[2]; });
    return [
      trace(groups.bad, { name: "infeasible / abandoned", uid: "infeasible",
                          marker: { color: COLORS.bad, size: 6, opacity: 0.35, symbol: "x" } }),
      trace(groups.dominated, { name: "dominated", uid: "dominated",
                                marker: { color: COLORS.dominated, size: 6, opacity: 0.35 } }),
      { type: "scatter", mode: "lines", name: "front in this pair", uid: "frontline", x: xs(line, a, oa),
        y: xs(line, b, ob), line: { color: COLORS.line, width: 1.5 }, hoverinfo: "skip" },
      trace(groups.pareto, { name: "Pareto set (" + groups.pareto.length + ")", uid: "pareto",
                             marker: { color: COLORS.pareto, size: 10, line: { color: "#fff", width: 1 } } }),
      trace(groups.baseline, { name: "baseline", uid: "baseline", mode: "markers+text",
                               textposition: "top center", cliponaxis: false,
                               texttemplate: groups.baseline.map(function (i) { return plotlyText(T.baseline[i]); }),
                               textfont: { size: 10, color: COLORS.baseline },
                               marker: { color: COLORS.baseline, size: 13, symbol: "star",
                                         line: { color: "#fff", width: 1 } } }),
      { type: "scatter", mode: "markers", name: "selected", uid: "selected", x: [], y: [], hoverinfo: "skip",
        showlegend: false, marker: { size: 20, symbol: "circle-open", color: "#000", line: { width: 2.5 } } },
    ];
  }

  function axis(o, j) {
    return { title: { text: plotlyText(o.label + " \u00b7 " + better(j)) }, type: o.log ? "log" : "linear",
             zeroline: false, automargin: true, nticks: o.log ? 6 : undefined };
  }

  function renderFront() {
    var box = body("front-body");
    var plottable = T.values.some(function (v) { return v.filter(function (x) { return x !== null; }).length >= 2; });
    if (M < 2) { emptyNote(box, "A Pareto front needs two or more objectives."); return; }
    if (!plottable) { emptyNote(box, "No trial has values for two objectives yet: nothing to plot."); return; }
    if (!D.pareto.length) {
      box.appendChild(h("p", { cls: "empty warn", text: "No feasible complete trial yet: the Pareto set is empty; the points below all violate a constraint." }));
    }
    var grid = h("div", { cls: "grid" });
    if (M === 2) grid.style.gridTemplateColumns = "minmax(0, 900px)";  // one pair: give it room
    box.appendChild(grid);
    for (var a = 0; a < M; a++) {
      for (var b = a + 1; b < M; b++) {
        var div = h("div", { cls: "plot front-plot", id: "front-" + a + "-" + b, "data-x": OBJ[a].name, "data-y": OBJ[b].name });
        grid.appendChild(div);
        plot(div, pairTraces(a, b), {
          margin: { l: 60, r: 12, t: 36, b: 10 }, height: 420, hovermode: "closest",
          xaxis: axis(OBJ[a], a), yaxis: axis(OBJ[b], b),
          legend: { orientation: "h", y: 1.02, yanchor: "bottom", x: 0, font: { size: 11 } },
        });
        div.on("plotly_click", function (ev) {
          var p = ev && ev.points && ev.points[0];
          if (p && p.customdata !== undefined && p.customdata !== null) select(p.customdata);
        });
        state.plots.push({ div: div, a: a, b: b });
      }
    }
    var notes = [];
    for (var i = 0; i < N; i++) {
      if (!T.baseline[i]) continue;
      var drawn = T.values[i].filter(function (x) { return x !== null; }).length >= 2;
      var what = "baseline " + T.baseline[i] + ": trial #" + T.number[i] + ", " + (CAT_LABEL[T.category[i]] || T.category[i]);
      if (T.reason[i] !== null) what += " (" + S[T.reason[i]] + ")";
      if (!drawn) what += "; not drawn: its objectives were not all measured";
      notes.push(what);
    }
    if (notes.length) box.appendChild(h("ul", { cls: "help", id: "baseline-notes" }, notes.map(function (t) { return h("li", { text: t }); })));
    box.appendChild(h("p", { cls: "help", id: "front-selected" }));
  }

  // --- selection and details --------------------------------------------------------------

  function select(n) {
    n = Number(n);
    if (!indexOf.has(n)) return false;
    var i = indexOf.get(n);
    state.selected = n;
    state.plots.forEach(function (p) {
      var x = T.values[i][p.a], y = T.values[i][p.b];
      var ok = x !== null && y !== null;
      Plotly.restyle(p.div, { x: [ok ? [x * OBJ[p.a].scale] : []], y: [ok ? [y * OBJ[p.b].scale] : []] }, [5]);
    });
    var note = body("front-selected");
    if (note) {
      note.textContent = "";
      note.appendChild(document.createTextNode("Selected: trial #" + n + " (circled). "));
      note.appendChild(h("a", { href: "#details", text: "Details below" }));
    }
    state.tableRows.forEach(function (tr, k) { tr.classList.toggle("selected", k === n); });
    if (state.heat) {
      var c = D.heatmap.columns.indexOf(n);
      Plotly.relayout(state.heat, { shapes: c < 0 ? [] : [{ type: "rect", xref: "x", yref: "paper", x0: c - 0.5,
        x1: c + 0.5, y0: 0, y1: 1, line: { color: "#000", width: 2 } }] });
    }
    renderDetails(i);
    return true;
  }

  function kvList(pairs) {
    var dl = h("dl", { cls: "kv" });
    pairs.forEach(function (p) { dl.appendChild(h("dt", { text: p[0] })); dl.appendChild(h("dd", { text: p[1] })); });
    return dl;
  }

  var LAYER_HEAD = { name: "layer", kind: "scheme", granularity: "granularity", w_bits: "W bits", a_bits: "A bits",
                     term_budget: "term budget", group_size: "group", term_encoding: "encoding",
                     sp2_fraction: "SP2 fraction", macs: "MACs", cycles: "cycles", latency_s: "latency",
                     lut_share: "LUT share", dsp_share: "DSP share" };

  function renderDetails(i) {
    var box = body("details-body");
    box.textContent = "";
    var n = T.number[i], cat = T.category[i];
    var head = h("h3", { id: "details-title" }, ["Trial #" + n + " "]);
    head.appendChild(h("span", { cls: "tag " + cat, text: CAT_LABEL[cat] || cat }));
    if (T.baseline[i]) head.appendChild(h("span", { cls: "tag", text: "baseline " + T.baseline[i] }));
    box.appendChild(head);
    if (T.reason[i] !== null) box.appendChild(h("p", { cls: "help", text: "Reason: " + S[T.reason[i]] }));
    var cols = h("div", { cls: "cols" });
    cols.appendChild(h("div", {}, [h("h3", { text: "Objectives" }),
      kvList(OBJ.map(function (o, j) { return [o.name + " (" + (o.direction === "maximize" ? "max" : "min") + ")", fmt(o.name, T.values[i][j])]; }))]));
    var mets = Object.keys(T.metrics).filter(function (k) { return metric(i, k) !== null; });
    if (mets.length) cols.appendChild(h("div", {}, [h("h3", { text: "Metrics" }),
      kvList(mets.map(function (k) { return [k, fmt(k, metric(i, k))]; }))]));
    var knobs = Object.keys(T.knobs).map(function (k) { return [k, fmtKnob(k, T.knobs[k][i])]; });
    Object.keys(D.meta.fixed_knobs || {}).forEach(function (k) { knobs.push([k, fmtKnob(k, D.meta.fixed_knobs[k]) + " (fixed)"]); });
    if (knobs.length) cols.appendChild(h("div", {}, [h("h3", { text: "Hardware" }), kvList(knobs)]));
    box.appendChild(cols);
    var rows = D.details[String(n)];
    if (!rows || !rows.length) {
      box.appendChild(h("p", { cls: "help", text: "Per-layer detail is embedded for the Pareto set and the baselines only. " +
        "This point's plan: dse export --study NAME --trial " + n + " --plan-out plan.json" }));
      return;
    }
    var F = D.layer_fields;
    var used = F.filter(function (f, k) { return rows.some(function (r) { return r[k] !== null && r[k] !== undefined; }); });
    var ci = F.indexOf("cycles");
    var total = ci < 0 ? 0 : rows.reduce(function (s, r) { return s + (r[ci] || 0); }, 0);
    var thead = h("tr", {}, used.map(function (f) { return h("th", { cls: f === "name" || f === "kind" ? "text" : "", text: LAYER_HEAD[f] || f }); }));
    if (total) thead.appendChild(h("th", { text: "% of cycles" }));
    var tbody = h("tbody");
    rows.forEach(function (r) {
      var tr = h("tr");
      used.forEach(function (f) {
        var v = r[F.indexOf(f)];
        tr.appendChild(h("td", { cls: typeof v === "string" ? "text" : "", text: typeof v === "number" ? fmt(f, v) : fmtAny(v) }));
      });
      if (total) tr.appendChild(h("td", { text: (100 * (r[ci] || 0) / total).toFixed(1) + "%" }));
      tbody.appendChild(tr);
    });
    box.appendChild(h("h3", { text: "Per layer" }));
    box.appendChild(h("div", { cls: "scroll" }, [h("table", { id: "layer-table" }, [h("thead", {}, [thead]), tbody])]));
  }

  // --- per-layer heatmap --------------------------------------------------------------------

  var FIELD_LABEL = { w_bits: "weight bits", term_budget: "term budget", sp2_fraction: "SP2 fraction",
                      a_bits: "activation bits", group_size: "group size" };

  function renderHeatmap() {
    var box = body("allocation-body"), H = D.heatmap;
    var fields = Object.keys(H.fields || {});
    if (!H.columns.length || !fields.length) { emptyNote(box, "No Pareto point yet: nothing to compare."); return; }
    var sel = h("select", { id: "heat-field" }, fields.map(function (f) { return h("option", { value: f, text: FIELD_LABEL[f] || f }); }));
    box.appendChild(h("p", {}, [h("label", { text: "Show " }), sel]));
    var div = h("div", { cls: "plot", id: "heatmap" });
    box.appendChild(div);
    var x = H.columns.map(function (n) { return "#" + n; });
    var y = H.layers.map(plotlyText);
    var kinds = (H.kinds || []).map(function (r) { return r.map(function (k) { return plotlyText(k || "-"); }); });
    function draw(f) {
      return plot(div, [{
        type: "heatmap", x: x, y: y, z: H.fields[f], text: kinds, colorscale: "Viridis", xgap: 1, ygap: 1,
        // small grids carry the scheme and value in each cell; large ones keep it for the hover
        texttemplate: x.length <= 24 && y.length <= 60 ? "%{text} %{z}" : "", textfont: { size: 10 },
        colorbar: { title: { text: FIELD_LABEL[f] || f } },
        hovertemplate: "layer %{y}<br>trial %{x}<br>" + (FIELD_LABEL[f] || f) + ": %{z}<br>scheme: %{text}<extra></extra>",
      }], {
        margin: { l: 10, r: 10, t: 10, b: 60 }, height: Math.max(300, 20 * y.length + 110),
        xaxis: { type: "category", title: { text: "Pareto point (best " + OBJ[0].name + " first)" }, automargin: true },
        yaxis: { type: "category", autorange: "reversed", automargin: true },
        shapes: (state.heat && state.heat.layout && state.heat.layout.shapes) || [],
      }, true);
    }
    draw(fields[0]);
    sel.addEventListener("change", function () { draw(sel.value); });
    div.on("plotly_click", function (ev) {
      var p = ev && ev.points && ev.points[0];
      if (!p) return;
      var c = Array.isArray(p.pointNumber) ? p.pointNumber[1] : x.indexOf(p.x);
      if (c >= 0 && c < H.columns.length) select(H.columns[c]);
    });
    state.heat = div;
  }

  // --- resources ----------------------------------------------------------------------------

  function renderResources() {
    var box = body("resources-body"), R = D.resources;
    if (!R.points.length) { emptyNote(box, "No Pareto point yet."); return; }
    var known = R.unknown_devices.length === 0;
    var res = ["lut", "ff", "dsp", "bram18", "uram"].filter(function (r) {
      var cap = R.capacity[r], used = R.used[r];
      if (r === "uram") return cap.some(function (c) { return c > 0; }) || used.some(function (u) { return u > 0; });
      return used.some(function (u) { return u !== null; });
    });
    if (!known) box.appendChild(h("p", { cls: "help warn", text: "Device capacity unknown for " + R.unknown_devices.join(", ") + " (not in this installation's catalog): absolute use shown." }));
    var x = R.points.map(function (n) { return "#" + n; });
    var traces = [], layout = { barmode: "stack", margin: { l: 70, r: 10, t: 10, b: 60 }, showlegend: false,
                                height: 90 + 120 * res.length, hovermode: "closest",
                                xaxis: { type: "category", anchor: "y" + res.length, title: { text: "Pareto point" } } };
    var gap = 0.04, hgt = (1 - gap * (res.length - 1)) / res.length;
    res.forEach(function (r, k) {
      var yk = k === 0 ? "y" : "y" + (k + 1);
      var cap = R.capacity[r], used = R.used[r];
      var pct = used.map(function (u, c) { return cap[c] ? 100 * (u || 0) / cap[c] : null; });
      var showPct = cap.every(function (c) { return c > 0; });
      var hover = used.map(function (u, c) {
        return plotlyText(RES_LABEL[r] + ": " + grouped(u || 0) + (cap[c] ? " of " + grouped(cap[c]) + " (" + (100 * (u || 0) / cap[c]).toFixed(1) + "%)" : "") + " \u00b7 " + R.device[c]);
      });
      traces.push({ type: "bar", x: x, y: showPct ? pct : used, name: RES_LABEL[r], xaxis: "x", yaxis: yk,
                    marker: { color: RES_COLORS[r] }, text: hover, hovertemplate: "%{text}<extra></extra>", textposition: "none",
                    customdata: R.points });
      if (showPct) {
        traces.push({ type: "bar", x: x, y: pct.map(function (p) { return Math.max(0, 100 - p); }), name: "free",
                      xaxis: "x", yaxis: yk, marker: { color: "#e9ecef" }, hoverinfo: "skip", customdata: R.points });
      }
      var top = 1 - k * (hgt + gap);
      var maxPct = Math.max.apply(null, pct.map(function (p) { return p || 0; }).concat([100]));
      layout[k === 0 ? "yaxis" : "yaxis" + (k + 1)] = {
        domain: [Math.max(0, top - hgt), top], anchor: "x", automargin: true,
        title: { text: RES_LABEL[r] + (showPct ? " %" : "") }, range: showPct ? [0, maxPct * 1.02] : undefined,
        ticksuffix: showPct ? "%" : "",
      };
    });
    var div = h("div", { cls: "plot", id: "resources-plot" });
    box.appendChild(div);
    plot(div, traces, layout);
    div.on("plotly_click", function (ev) {
      var p = ev && ev.points && ev.points[0];
      if (p && p.customdata !== undefined) select(p.customdata);
    });
  }

  // --- search progress -----------------------------------------------------------------------

  function renderProgress() {
    var box = body("progress-body"), HV = D.hypervolume, I = D.importance;
    box.appendChild(h("h3", { text: "Hypervolume by trial" }));
    box.appendChild(h("p", { cls: "help", text: HV.note }));
    if (!HV.trial.length) emptyNote(box, "No feasible complete trial yet.");
    else {
      var div = h("div", { cls: "plot", id: "hypervolume-plot" });
      box.appendChild(div);
      plot(div, [{ type: "scatter", mode: "lines+markers", x: HV.trial, y: HV.value, line: { shape: "hv", color: COLORS.pareto },
                             marker: { size: 4 }, hovertemplate: "trial #%{x}<br>hypervolume %{y:.4g}<extra></extra>" }],
        { margin: { l: 60, r: 10, t: 10, b: 50 }, height: 320,
          xaxis: { title: { text: "trial number" } },
          yaxis: { title: { text: "hypervolume (normalised)" }, rangemode: "tozero" } });
    }
    box.appendChild(h("h3", { text: "Parameter importance per objective" }));
    box.appendChild(h("p", { cls: "help", text: I.evaluator + ". The 15 most important parameters are listed." }));
    if (I.message) box.appendChild(h("p", { cls: "empty", id: "importance-message", text: I.message }));
    var names = Object.keys(I.per_objective || {});
    if (!names.length) return;
    var grid = h("div", { cls: "grid" });
    box.appendChild(grid);
    names.forEach(function (o) {
      var rows = I.per_objective[o].slice().reverse();
      var div = h("div", { cls: "plot importance-plot", "data-objective": o });
      grid.appendChild(div);
      plot(div, [{ type: "bar", orientation: "h", x: rows.map(function (r) { return r[1]; }),
                             y: rows.map(function (r) { return plotlyText(r[0]); }), marker: { color: COLORS.dominated },
                             hovertemplate: "%{y}: %{x:.3f}<extra></extra>" }],
        { margin: { l: 10, r: 10, t: 30, b: 40 }, height: Math.max(260, 22 * rows.length + 80),
          title: { text: plotlyText(o), font: { size: 13 } },
          xaxis: { title: { text: "importance" }, rangemode: "tozero" }, yaxis: { automargin: true, type: "category" } });
    });
  }

  // --- Pareto table ---------------------------------------------------------------------------

  /* base64 keeps the bytes exact (a plain data: URL loses the CSV's CR LF line ends) */
  function base64Utf8(text) {
    var bytes = new TextEncoder().encode(text), bin = "";
    for (var k = 0; k < bytes.length; k += 0x8000) bin += String.fromCharCode.apply(null, bytes.subarray(k, k + 0x8000));
    return btoa(bin);
  }

  function safeStem(s) {
    return String(s).replace(/[^A-Za-z0-9_.-]+/g, "_").replace(/^[._]+|[._]+$/g, "") || "study";
  }

  function renderTable() {
    var box = body("table-body");
    if (!D.pareto.length) { emptyNote(box, "The Pareto set is empty."); return; }
    var link = h("a", { id: "csv-link", download: safeStem(D.meta.study) + "-pareto.csv",
                        href: "data:text/csv;charset=utf-8;base64," + base64Utf8(D.csv),
                        text: "Download the Pareto set as CSV (" + D.pareto.length + " rows, as dse export writes it)" });
    box.appendChild(h("p", {}, [link]));
    var objNames = OBJ.map(function (o) { return o.name; });
    var extra = ["accuracy", "latency_s", "energy_j", "lut", "ff", "dsp", "bram18", "uram", "avg_weight_bits"]
      .filter(function (k) { return objNames.indexOf(k) < 0 && T.metrics[k] && D.pareto.some(function (n) { var v = metric(indexOf.get(n), k); return v !== null && (k !== "uram" || v > 0); }); });
    var cols = [{ label: "trial", get: function (i) { return T.number[i]; }, show: function (v) { return "#" + v; } },
                { label: "baseline", text: true, get: function (i) { return T.baseline[i] || ""; }, show: String }];
    OBJ.forEach(function (o, j) { cols.push({ label: o.name + (o.direction === "maximize" ? " \u2191" : " \u2193"), get: function (i) { return T.values[i][j]; }, show: function (v) { return fmt(o.name, v); } }); });
    extra.forEach(function (k) { cols.push({ label: k, get: function (i) { return metric(i, k); }, show: function (v) { return fmt(k, v); } }); });
    Object.keys(T.knobs).forEach(function (k) { cols.push({ label: k, text: true, get: function (i) { return T.knobs[k][i]; }, show: function (v) { return fmtKnob(k, v); } }); });
    cols.push({ label: "design", text: true, get: function (i) { return T.design[i] === null ? "" : S[T.design[i]]; }, show: String });
    var table = h("table", { cls: "sortable pick", id: "pareto-table" });
    var headRow = h("tr");
    var tbody = h("tbody");
    cols.forEach(function (c, k) {
      var th = h("th", { cls: c.text ? "text" : "", text: c.label, title: "sort by " + c.label });
      th.addEventListener("click", function () { sortBy(k, th); });
      headRow.appendChild(th);
    });
    table.appendChild(h("thead", {}, [headRow]));
    table.appendChild(tbody);
    var items = D.pareto.map(function (n) {
      var i = indexOf.get(n);
      var tr = h("tr", { "data-trial": n }, cols.map(function (c) {
        var v = c.get(i);
        return h("td", { cls: c.text ? "text" : "", text: v === null || v === undefined ? "-" : c.show(v) });
      }));
      tr.addEventListener("click", function () { select(n); });
      state.tableRows.set(n, tr);
      return { tr: tr, i: i };
    });
    items.forEach(function (it) { tbody.appendChild(it.tr); });
    function sortBy(k, th) {
      var dir = th.getAttribute("data-sort") === "asc" ? "desc" : "asc";
      headRow.querySelectorAll("th").forEach(function (x) { x.removeAttribute("data-sort"); });
      th.setAttribute("data-sort", dir);
      var sign = dir === "asc" ? 1 : -1;
      items.sort(function (p, q) {
        var a = cols[k].get(p.i), b = cols[k].get(q.i);
        if (a === b) return T.number[p.i] - T.number[q.i];
        if (a === null || a === undefined || a === "") return 1;
        if (b === null || b === undefined || b === "") return -1;
        return (typeof a === "number" && typeof b === "number" ? a - b : String(a).localeCompare(String(b))) * sign;
      });
      items.forEach(function (it) { tbody.appendChild(it.tr); });
    }
    box.appendChild(h("div", { cls: "scroll" }, [table]));
  }

  // --- infeasible -----------------------------------------------------------------------------

  function renderInfeasible() {
    var box = body("infeasible-body"), I = D.infeasible, c = D.counts;
    if (!I.total) { emptyNote(box, "Every finished trial was feasible."); return; }
    box.appendChild(h("p", { cls: "help", text: I.total + " trials were not usable: " + c.infeasible + " infeasible before any fine-tune, " +
      c.infeasible_complete + " complete but over a cap, " + c.abandoned + " abandoned, " + c.failed +
      " failed. Reasons are grouped by cause (numbers replaced by N); a trial that fails several checks counts once per cause, and a device misfit once per resource over capacity." }));
    var max = Math.max.apply(null, I.groups.map(function (g) { return g.count; }).concat([1]));
    var tbody = h("tbody");
    I.groups.forEach(function (g) {
      tbody.appendChild(h("tr", { cls: "reason-group" }, [
        h("td", { cls: "text", text: g.label }), h("td", { cls: "text", text: g.kind }), h("td", { text: g.count }),
        h("td", { cls: "barcell" }, [h("div", { cls: "bar", style: { width: (100 * g.count / max).toFixed(1) + "%" } })]),
        h("td", { cls: "text", text: g.example, title: g.example })]));
      g.parts.forEach(function (p) {
        tbody.appendChild(h("tr", { cls: "reason-part" }, [
          h("td", { cls: "text", text: "\u2003over " + p.label }), h("td", { cls: "text", text: "" }), h("td", { text: p.count }),
          h("td", { cls: "barcell" }, [h("div", { cls: "bar", style: { width: (100 * p.count / max).toFixed(1) + "%", opacity: 0.6 } })]),
          h("td", { text: "" })]));
      });
    });
    var head = h("tr", {}, ["cause", "kind", "trials", "", "example"].map(function (t, k) { return h("th", { cls: k === 2 || k === 3 ? "" : "text", text: t }); }));
    box.appendChild(h("div", { cls: "scroll" }, [h("table", { id: "reasons-table" }, [h("thead", {}, [head]), tbody])]));
  }

  // --- configuration --------------------------------------------------------------------------

  function renderConfig() {
    var box = body("config-body"), m = D.meta;
    var pairs = [["config file", m.config_source || "-"]];
    Object.keys(m.fixed_knobs || {}).forEach(function (k) { pairs.push(["hardware." + k, fmtKnob(k, m.fixed_knobs[k])]); });
    box.appendChild(kvList(pairs));
    (m.baseline_notes || []).forEach(function (n) { box.appendChild(h("p", { cls: "help", text: "note: " + n })); });
    if (D.config.raw && Object.keys(D.config.raw).length) {
      box.appendChild(h("details", {}, [h("summary", { text: "Configuration as given" }),
        h("pre", { id: "config-raw", text: JSON.stringify(D.config.raw, null, 2) })]));
    }
    box.appendChild(h("details", {}, [h("summary", { text: "Configuration with every default filled in" }),
      h("pre", { text: JSON.stringify(D.config.resolved || {}, null, 2) })]));
  }

  // --- start ----------------------------------------------------------------------------------

  function loadPlotly() {
    if (window.Plotly) return Promise.resolve();
    var el = document.getElementById("dse-plotly-gz");
    if (!el) return Promise.reject(new Error("plotly.js is not embedded in this page"));
    if (typeof DecompressionStream === "undefined") {
      return Promise.reject(new Error("this browser cannot inflate the embedded plotly.js (DecompressionStream is missing); " +
        "write the report with `dse report --plain-js`"));
    }
    var bin = atob(el.textContent.trim());
    var bytes = new Uint8Array(bin.length);
    for (var k = 0; k < bin.length; k++) bytes[k] = bin.charCodeAt(k);
    var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    return new Response(stream).text().then(function (code) {
      var s = document.createElement("script");
      s.textContent = code;
      document.head.appendChild(s);
      if (!window.Plotly) throw new Error("plotly.js did not load");
    });
  }

  function done(status) {
    api.ready = true;
    document.body.setAttribute("data-ready", status);
  }

  var t0 = performance.now();
  renderHeader();
  renderTable();
  renderInfeasible();
  renderConfig();
  var timings = api.timings = {};
  function timed(name, fn) { var t = performance.now(); fn(); timings[name] = performance.now() - t; }
  loadPlotly().then(function () {
    timings.plotly = performance.now() - t0;
    timed("front", renderFront);
    timed("heatmap", renderHeatmap);
    timed("resources", renderResources);
    timed("progress", renderProgress);
    if (D.pareto.length) select(D.pareto[0]);
    else emptyNote(body("details-body"), "Nothing selected: click any point of the front to see it here.");
    api.renderMs = performance.now() - t0;
    done("ok");
  }).catch(function (e) {
    var st = body("status");
    st.textContent = "The plots could not be drawn: " + (e && e.message ? e.message : String(e));
    st.hidden = false;
    done("error");
  });
})();
