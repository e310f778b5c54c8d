/* dse report: draws the page from the JSON embedded in #dse-data.
 *
 * Every stored string (study, layer and parameter names, values, reasons, config) reaches
 * the DOM through textContent, never innerHTML; strings handed to plotly, which reads a
 * few HTML-like tags in labels, are entity-escaped first (plotlyText).
 *
 * Picking: plotly's own hover and click pick the nearest marker of any trace, so a small
 * dominated point under a Pareto marker wins. Here plotly's hover is off and one hit test
 * (pickAt) serves the tooltip and the click alike: among the markers under the pointer,
 * the one of the topmost visible trace (baseline, Pareto, dominated, infeasible), then
 * the nearest; with none under it, the nearest within a few pixels.
 *
 * State: the selected trial (body[data-selected-trial], URL hash #trial=N), the designs
 * compared (#...&compare=a,b), the reference for relative numbers (&base=N), and the
 * filters (objective ranges, resource caps, categories, parallel-coordinates brushes),
 * which every view follows.
 *
 * Public hooks for tests and power users: window.dseReport.select(n), .compare([n...]),
 * .setBaseline(n), .setFilter({objective: [lo, hi], resource: max %, category: bool}),
 * .brush(objective, lo, hi), .pickAt(div, clientX, clientY), .passing(), .data, .ready.
 */
(function () {
  "use strict";

  var D = JSON.parse(document.getElementById("dse-data").textContent);
  var T = D.trials;
  var N = T.number.length;
  var OBJ = D.objectives;
  var M = OBJ.length;
  var MET = D.metrics || {};  // the metric table (dse/metrics.py): label, unit, display, digits, ladder
  var S = D.strings;
  var indexOf = new Map();
  T.number.forEach(function (n, i) { indexOf.set(n, i); });
  var objIndex = {};
  OBJ.forEach(function (o, j) { objIndex[o.name] = j; });
  var KNEE = D.knee || { points: [], scaled: {}, neighbours: {}, message: "", method: "" };
  var kneeSet = new Set(KNEE.points);
  var VAL = D.validation || { points: [], rows: [], resources: [] };  // dse validate (RTL)
  var valSet = new Set(VAL.points);
  var pass = new Uint8Array(N).fill(1);
  var state = { selected: null, compare: [], base: null, plots: [], heat: null, tableRows: new Map(),
                explore: null, par: null, brush: {}, hashReady: false };
  var api = { data: D, ready: false, state: state, plots: state.plots };
  window.dseReport = api;

  var COLORS = { pareto: "#d9480f", dominated: "#4c6ef5", bad: "#868e96", baseline: "#212529", line: "#e8590c",
                 knee: "#2b8a3e" };
  var RES = ["lut", "ff", "dsp", "bram18", "uram"];
  var RES_COLORS = { lut: "#1c7ed6", ff: "#0ca678", dsp: "#d9480f", bram18: "#ae3ec9", uram: "#f59f00" };
  var RES_LABEL = { lut: "LUT", ff: "FF", dsp: "DSP", bram18: "BRAM18", uram: "URAM" };
  var CAT_LABEL = { pareto: "Pareto", dominated: "dominated", infeasible: "infeasible",
                    abandoned: "abandoned", failed: "failed", screened: "screened out" };
  var PLOT_CONFIG = { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["select2d", "lasso2d"] };
  var LOWER_BETTER = { latency_s: 1, energy_j: 1, lut: 1, ff: 1, dsp: 1, bram18: 1, uram: 1, cycles: 1,
                       avg_weight_bits: 1, mac_bits: 1, term_pairs: 1 };

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
    var m = MET[name];
    if (m) {
      switch (m.display) {
        case "percent": return (100 * v).toFixed(2) + "%";
        case "si": return scaled(v, m.ladder);
        case "count": return grouped(v);
        case "decimals": return v.toFixed(m.digits);
        default: return sig(v, 4);
      }
    }
    switch (name) {  // per-layer fields that are not metrics of a trial
      case "macs": return grouped(v);
      case "lut_share": case "dsp_share": case "utilization": return (100 * v).toFixed(0) + "%";
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

  /* an objective's value, else the stored metric of that name */
  function valueOf(i, name) {
    if (objIndex[name] !== undefined) return T.values[i][objIndex[name]];
    return metric(i, name);
  }

  function better(j) { return OBJ[j].direction === "maximize" ? "higher is better" : "lower is better"; }

  function deviceOf(i) { return (T.device[i] !== null && S[T.device[i]]) || D.meta.device || ""; }

  function capacityOf(i, r) { var c = (D.capacity || {})[deviceOf(i)]; return c ? c[r] : null; }

  // --- relative numbers ----------------------------------------------------------------------

  function isAcc(name) { return /accuracy$/.test(name); }

  function direction(name) {
    if (objIndex[name] !== undefined) return OBJ[objIndex[name]].direction;
    if (isAcc(name)) return "maximize";
    return LOWER_BETTER[name] ? "minimize" : null;
  }

  /* v against reference b: accuracy in percentage points, everything else in percent */
  function relText(name, v, b) {
    if (typeof v !== "number" || typeof b !== "number" || !isFinite(v) || !isFinite(b)) return "";
    if (isAcc(name)) {
      var d = 100 * (v - b);
      return (d >= 0 ? "+" : "\u2212") + Math.abs(d).toFixed(2) + " pp";
    }
    if (b === 0) return v === 0 ? "\u00b10%" : "";
    var p = 100 * (v / b - 1);
    if (Math.abs(p) < 0.05) return "\u00b10%";
    return (p >= 0 ? "+" : "\u2212") + Math.abs(p).toFixed(1) + "%";
  }

  function relClass(name, v, b) {
    var d = direction(name);
    if (!d || typeof v !== "number" || typeof b !== "number" || v === b) return "";
    return (v > b) === (d === "maximize") ? "better" : "worse";
  }

  function baseIndex() { return state.base === null ? null : indexOf.get(state.base); }

  function baseName() {
    var b = baseIndex();
    if (b === null || b === undefined) return "";
    return T.baseline[b] ? T.baseline[b] + " (#" + state.base + ")" : "#" + state.base;
  }

  /* "12.3 ms" plus "(-18.0% vs fixed W8A8 (#0))" when a reference is chosen */
  function withRel(name, i) {
    var v = valueOf(i, name), b = baseIndex();
    var out = [fmt(name, v)];
    if (b !== null && b !== undefined && b !== i) {
      var r = relText(name, v, valueOf(b, name));
      if (r) out.push(r);
    }
    return out;
  }

  function valueCell(tag, name, i, extraCls) {
    var parts = withRel(name, i), b = baseIndex();
    var el = h(tag, { cls: extraCls || "" }, [parts[0]]);
    if (parts.length > 1) {
      el.appendChild(h("span", { cls: "rel " + relClass(name, valueOf(i, name), valueOf(b, name)), text: " " + parts[1] }));
    }
    return el;
  }

  // --- tooltip (plain text, one for the page) --------------------------------------------------

  function tipLines(i) {
    var lines = [];
    var head = "trial #" + T.number[i] + " \u00b7 " + (CAT_LABEL[T.category[i]] || T.category[i]);
    if (T.baseline[i]) head += " \u00b7 baseline " + T.baseline[i];
    if (kneeSet.has(T.number[i])) head += " \u00b7 knee";
    lines.push(head);
    OBJ.forEach(function (o) { lines.push(o.name + ": " + withRel(o.name, i).join(" ")); });
    var res = ["lut", "dsp", "bram18", "ff"].filter(function (r) { return metric(i, r) !== null; })
      .map(function (r) { return RES_LABEL[r] + " " + fmt(r, metric(i, r)); });
    if (res.length) lines.push(res.join(" \u00b7 "));
    if (T.design[i] !== null && S[T.design[i]]) lines.push(S[T.design[i]]);
    var knobs = Object.keys(T.knobs).map(function (k) { return k + "=" + fmtKnob(k, T.knobs[k][i]); });
    for (var k = 0; k < knobs.length; k += 3) lines.push(knobs.slice(k, k + 3).join(" "));
    if (T.reason[i] !== null && T.category[i] !== "pareto" && T.category[i] !== "dominated") {
      var r = S[T.reason[i]];
      lines.push(r.length > 90 ? r.slice(0, 87) + "..." : r);
    }
    return lines;
  }

  var tip = null;
  function showTip(n, ev) {
    if (!tip) { tip = h("div", { id: "tip", cls: "tip", role: "tooltip" }); document.body.appendChild(tip); }
    if (n === null) { tip.hidden = true; tip.removeAttribute("data-trial"); return; }
    var i = indexOf.get(n);
    if (tip.getAttribute("data-trial") !== String(n)) {
      tip.textContent = "";
      tipLines(i).forEach(function (l, k) { tip.appendChild(h("div", { cls: k === 0 ? "tip-head" : "", text: l })); });
      tip.setAttribute("data-trial", String(n));
    }
    tip.hidden = false;
    var w = tip.offsetWidth, ht = tip.offsetHeight;
    var x = ev.clientX + 14, y = ev.clientY + 14;
    if (x + w > window.innerWidth - 4) x = Math.max(4, ev.clientX - w - 14);
    if (y + ht > window.innerHeight - 4) y = Math.max(4, ev.clientY - ht - 14);
    tip.style.left = x + "px";
    tip.style.top = y + "px";
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
    if (c["screened out"]) badges.splice(3, 0, ["screened out", c["screened out"]]);
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
    var finished = c.complete + c.infeasible + c.abandoned + c.failed + c.duplicate + (c["screened out"] || 0);
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

  // --- filters: one boolean per trial, followed by every view --------------------------------

  var filt = { cats: { pareto: true, dominated: true, bad: true }, obj: OBJ.map(function () { return [null, null]; }),
               res: {} };

  function catGroup(i) { var c = T.category[i]; return c === "pareto" ? "pareto" : c === "dominated" ? "dominated" : "bad"; }

  function computePass() {
    var count = 0;
    for (var i = 0; i < N; i++) {
      var ok = filt.cats[catGroup(i)];
      for (var j = 0; ok && j < M; j++) {
        var lo = filt.obj[j][0], hi = filt.obj[j][1], v = T.values[i][j];
        if (lo === null && hi === null) continue;
        if (v === null) { ok = false; break; }
        var d = v * OBJ[j].scale;
        if ((lo !== null && d < lo) || (hi !== null && d > hi)) ok = false;
      }
      for (var r in filt.res) {
        if (!ok) break;
        var cap = capacityOf(i, r), used = metric(i, r);
        if (filt.res[r] === null) continue;
        if (used === null || !cap) { ok = false; break; }
        if (100 * used / cap > filt.res[r]) ok = false;
      }
      for (var k in state.brush) {
        if (!ok) break;
        var ranges = state.brush[k], x = T.values[i][Number(k)];
        if (!ranges || !ranges.length) continue;
        if (x === null) { ok = false; break; }
        x *= OBJ[Number(k)].scale;
        ok = ranges.some(function (rg) { return x >= rg[0] && x <= rg[1]; });
      }
      pass[i] = ok ? 1 : 0;
      count += pass[i];
    }
    return count;
  }

  var refreshQueued = false;
  function refreshFiltered() {
    if (refreshQueued) return;
    refreshQueued = true;
    requestAnimationFrame(function () { refreshQueued = false; applyFilters(); });
  }

  function applyFilters(countOnly) {
    var count = computePass();
    var paretoShown = D.pareto.filter(function (n) { return pass[indexOf.get(n)]; }).length;
    var note = body("filter-count");
    if (note) {
      note.textContent = "Showing " + count.toLocaleString("en-US") + " of " + N.toLocaleString("en-US") +
        " designs (" + paretoShown + " of " + D.pareto.length + " Pareto points).";
    }
    document.body.setAttribute("data-shown", String(count));
    if (countOnly === true) return;
    redrawFront();
    if (state.par) state.par.draw();
    state.tableRows.forEach(function (tr, n) { tr.hidden = !pass[indexOf.get(n)]; });
    if (window.Plotly) { drawHeatmap(); drawResources(); }
  }
  api.passing = function () { return T.number.filter(function (n, i) { return pass[i]; }); };
  api.setFilter = function (f) {  // {objective: [lo, hi] in display units, resource: max %, category: bool}
    Object.keys(f).forEach(function (k) {
      if (objIndex[k] !== undefined) filt.obj[objIndex[k]] = f[k];
      else if (RES.indexOf(k) >= 0) filt.res[k] = f[k];
      else if (filt.cats[k] !== undefined) filt.cats[k] = !!f[k];
    });
    applyFilters();
  };

  function numberInput(id, title, onChange) {
    var el = h("input", { type: "number", step: "any", id: id, title: title, cls: "num" });
    el.addEventListener("input", function () { onChange(el.value === "" ? null : Number(el.value)); refreshFiltered(); });
    return el;
  }

  function renderControls() {
    var box = body("controls");
    // reference for relative numbers: the baselines the search enqueued, or any design
    var sel = h("select", { id: "baseline-select", title: "every number is also shown relative to this design" });
    sel.appendChild(h("option", { value: "", text: "none" }));
    var firstBase = null;
    for (var i = 0; i < N; i++) {
      if (!T.baseline[i]) continue;
      var usable = T.values[i].some(function (v) { return v !== null; });
      sel.appendChild(h("option", { value: T.number[i], text: T.baseline[i] + " (#" + T.number[i] + ")" +
                                    (usable ? "" : " - not measured") }));
      if (firstBase === null && usable) firstBase = T.number[i];
    }
    sel.addEventListener("change", function () { setBaseline(sel.value === "" ? null : Number(sel.value)); });
    state.base = firstBase;
    state.defaultBase = firstBase;
    sel.value = firstBase === null ? "" : String(firstBase);
    box.appendChild(h("div", { cls: "control" }, [h("label", { "for": "baseline-select", text: "Relative to " }), sel,
      h("span", { cls: "help", text: firstBase === null ? " (this study has no measured baseline: pick any design with \u201cuse as reference\u201d)" : "" })]));

    // filters
    var fbox = h("div", { cls: "filters", id: "filters" });
    var cats = h("div", { cls: "filter-row" }, [h("span", { cls: "flabel", text: "show" })]);
    [["pareto", "Pareto"], ["dominated", "dominated"], ["bad", "infeasible / abandoned / failed"]].forEach(function (c) {
      var cb = h("input", { type: "checkbox", id: "filter-cat-" + c[0] });
      cb.checked = true;
      cb.addEventListener("change", function () { filt.cats[c[0]] = cb.checked; refreshFiltered(); });
      cats.appendChild(h("label", {}, [cb, " " + c[1]]));
    });
    fbox.appendChild(cats);
    OBJ.forEach(function (o, j) {
      var unit = o.unit ? " (" + o.unit + ")" : "";
      fbox.appendChild(h("div", { cls: "filter-row" }, [
        h("span", { cls: "flabel", text: o.name + unit }),
        numberInput("filter-min-" + j, o.name + " at least", function (v) { filt.obj[j][0] = v; }), " to ",
        numberInput("filter-max-" + j, o.name + " at most", function (v) { filt.obj[j][1] = v; })]));
    });
    var hasCap = Object.keys(D.capacity || {}).length > 0;
    if (hasCap) {
      var row = h("div", { cls: "filter-row" }, [h("span", { cls: "flabel", text: "at most, % of the device" })]);
      ["lut", "ff", "dsp", "bram18"].filter(function (r) { return T.metrics[r]; }).forEach(function (r) {
        row.appendChild(h("label", {}, [RES_LABEL[r] + " \u2264 ", numberInput("filter-res-" + r, RES_LABEL[r] + " at most this % of the device",
          function (v) { filt.res[r] = v; }), "% "]));
      });
      fbox.appendChild(row);
    }
    var reset = h("button", { type: "button", id: "filter-reset", text: "Reset filters" });
    reset.addEventListener("click", function () {
      fbox.querySelectorAll("input[type=number]").forEach(function (el) { el.value = ""; });
      fbox.querySelectorAll("input[type=checkbox]").forEach(function (el) { el.checked = true; });
      filt.cats = { pareto: true, dominated: true, bad: true };
      filt.obj = OBJ.map(function () { return [null, null]; });
      filt.res = {};
      state.brush = {};
      if (state.par) state.par.clear();
      applyFilters();
    });
    fbox.appendChild(h("div", { cls: "filter-row" }, [reset, " ", h("span", { id: "filter-count", cls: "help" })]));
    box.appendChild(h("details", { id: "filter-box" }, [h("summary", { text: "Filters: objective ranges, resource caps, categories (every view follows)" }), fbox]));
  }

  // --- Pareto front: explorer, parallel coordinates, pairwise scatter ---------------------------

  function front2d(points) {
    // points: [[x, y, n]] in minimisation form; keep the non-dominated ones, sorted by x
    var keep = points.filter(function (p) {
      return !points.some(function (q) {
        return q[0] <= p[0] && q[1] <= p[1] && (q[0] < p[0] || q[1] < p[1]);
      });
    });
    return keep.sort(function (p, q) { return p[0] - q[0] || p[1] - q[1]; });
  }

  function range(j) {
    var lo = Infinity, hi = -Infinity;
    for (var i = 0; i < N; i++) {
      var v = T.values[i][j];
      if (v === null) continue;
      v = OBJ[j].log ? Math.log10(v) : v;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    return [lo, hi];
  }

  /* traces of one scatter; opt.color / opt.size: objective index carried as colour / size, or -1 */
  function scatterTraces(a, b, opt) {
    opt = opt || { color: -1, size: -1 };
    var oa = OBJ[a], ob = OBJ[b];
    var groups = { bad: [], dominated: [], pareto: [], baseline: [], knee: [], validated: [] };
    for (var i = 0; i < N; i++) {
      if (!pass[i]) continue;
      var x = T.values[i][a], y = T.values[i][b];
      if (x === null || y === null) continue;
      groups[catGroup(i)].push(i);
      if (T.baseline[i]) groups.baseline.push(i);
      if (kneeSet.has(T.number[i])) groups.knee.push(i);
      if (valSet.has(T.number[i])) groups.validated.push(i);
    }
    function xs(list, j, o) { return list.map(function (i) { return T.values[i][j] * o.scale; }); }
    var cr = opt.color >= 0 ? range(opt.color) : null, sr = opt.size >= 0 ? range(opt.size) : null;
    function colorOf(i) { var v = T.values[i][opt.color]; return v === null ? null : (OBJ[opt.color].log ? Math.log10(v) : v); }
    function sizeOf(i, base) {
      var v = T.values[i][opt.size];
      if (v === null) return base;
      v = OBJ[opt.size].log ? Math.log10(v) : v;
      return base + 12 * (sr[1] > sr[0] ? (v - sr[0]) / (sr[1] - sr[0]) : 0.5);
    }
    function marker(list, m, bar) {
      m = Object.assign({}, m);
      if (cr && list !== groups.bad) {
        m.color = list.map(colorOf);
        m.colorscale = "Viridis";
        m.cmin = cr[0];
        m.cmax = cr[1];
        m.reversescale = OBJ[opt.color].direction === "maximize";  // dark = better, either way
        if (bar) m.colorbar = { title: { text: plotlyText((OBJ[opt.color].log ? "log10 " : "") + OBJ[opt.color].label), side: "right" }, thickness: 12 };
      }
      if (sr && list !== groups.bad) m.size = list.map(function (i) { return sizeOf(i, m.size - 2); });
      return m;
    }
    function trace(list, uid, name, m, extra) {
      return Object.assign({
        type: "scatter", mode: "markers", uid: uid, name: name, x: xs(list, a, oa), y: xs(list, b, ob),
        customdata: list.map(function (i) { return T.number[i]; }), hoverinfo: "none", marker: m,
      }, extra || {});
    }
    var sa = oa.direction === "maximize" ? -1 : 1, sb = ob.direction === "maximize" ? -1 : 1;
    var line = front2d(groups.pareto.map(function (i) {
      return [sa * T.values[i][a], sb * T.values[i][b], i];
    })).map(function (p) { return p[2]; });
    var si = state.selected === null ? undefined : indexOf.get(state.selected);
    var sel = si !== undefined && T.values[si][a] !== null && T.values[si][b] !== null ? [si] : [];
    return [
      trace(groups.bad, "infeasible", "infeasible / abandoned",
            { color: COLORS.bad, size: 6, opacity: 0.35, symbol: "x" }),
      trace(groups.dominated, "dominated", "dominated",
            marker(groups.dominated, { color: COLORS.dominated, size: 6, opacity: cr ? 0.45 : 0.35 })),
      { type: "scatter", mode: "lines", name: "front in this pair", uid: "frontline", x: xs(line, a, oa),
        y: xs(line, b, ob), line: { color: COLORS.line, width: 1.5 }, hoverinfo: "skip" },
      trace(groups.pareto, "pareto", "Pareto set (" + groups.pareto.length + ")",
            marker(groups.pareto, { color: COLORS.pareto, size: 10, line: { color: cr ? "#d9480f" : "#fff", width: cr ? 2 : 1 } }, true)),
      trace(groups.baseline, "baseline", "baseline", { color: COLORS.baseline, size: 13, symbol: "star", line: { color: "#fff", width: 1 } },
            { mode: "markers+text", textposition: "top center", cliponaxis: false,
              texttemplate: groups.baseline.map(function (i) { return plotlyText(T.baseline[i]); }),
              textfont: { size: 10, color: COLORS.baseline } }),
      trace(groups.knee, "knee", "knee", { color: COLORS.knee, size: 22, symbol: "diamond-open", line: { width: 2.5 } },
            { hoverinfo: "skip" }),
      trace(groups.validated, "validated", "RTL-validated (" + groups.validated.length + ")",
            { color: "#1864ab", size: 16, symbol: "square-open", line: { width: 2 } },
            { hoverinfo: "skip", visible: groups.validated.length ? true : "legendonly", showlegend: valSet.size > 0 }),
      { type: "scatter", mode: "markers", name: "selected", uid: "selected", x: xs(sel, a, oa), y: xs(sel, b, ob),
        hoverinfo: "skip", showlegend: false, marker: { size: 20, symbol: "circle-open", color: "#000", line: { width: 2.5 } } },
    ];
  }

  /* fixed axis ranges over every drawn value (5 % margin): moving the selection ring (a larger
     marker) or filtering never re-pads the axes under the pointer; zoom and double-click work */
  var rangeCache = {};
  function axisRange(j) {
    if (rangeCache[j]) return rangeCache[j].slice();
    var o = OBJ[j], lo = Infinity, hi = -Infinity;
    for (var i = 0; i < N; i++) {
      var v = T.values[i][j];
      if (v === null || (o.log && !(v > 0))) continue;
      v = o.log ? Math.log10(v * o.scale) : v * o.scale;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    if (!isFinite(lo)) return undefined;
    var pad = hi > lo ? 0.05 * (hi - lo) : (o.log ? 0.1 : Math.max(0.5, Math.abs(lo) * 0.1));
    rangeCache[j] = [lo - pad, hi + pad];
    return rangeCache[j].slice();
  }

  function axis(o, j) {
    var r = axisRange(j);
    return { title: { text: plotlyText(o.label + " \u00b7 " + better(j)) }, type: o.log ? "log" : "linear",
             zeroline: false, automargin: true, nticks: o.log ? 6 : undefined,
             range: r, autorange: r ? false : true };
  }

  function pairLayout(a, b, revision) {
    return { margin: { l: 60, r: 12, t: 36, b: 10 }, height: 420, hovermode: false, uirevision: revision,
             xaxis: axis(OBJ[a], a), yaxis: axis(OBJ[b], b),
             legend: { orientation: "h", y: 1.02, yanchor: "bottom", x: 0, font: { size: 11 } } };
  }

  // three tiers: the pointer on a marker's painted area, within HIT_SLACK_PX of it, within NEAR_PX of it
  var HIT_SLACK_PX = 2, NEAR_PX = 8;
  var PRIORITY = { baseline: 4, pareto: 3, dominated: 2, infeasible: 1 };

  /* painted radius of marker q of trace tr (a star's points cover little beyond 0.8 of its box) */
  function markerRadius(tr, q) {
    var size = Array.isArray(tr.marker.size) ? tr.marker.size[q] : tr.marker.size;
    var r = size / 2 + ((tr.marker.line && tr.marker.line.width) || 0) / 2;
    return tr.marker.symbol === "star" ? 0.8 * r : r;
  }

  /* the trial under (clientX, clientY) in scatter div gd, or null: the highest tier wins, then
     the topmost trace (baseline, Pareto, dominated, infeasible), then the nearest centre */
  function pickAt(gd, clientX, clientY) {
    var fl = gd._fullLayout;
    if (!fl || !fl.xaxis || !gd._fullData) return null;
    var rect = gd.getBoundingClientRect(), xa = fl.xaxis, ya = fl.yaxis;
    var px = clientX - rect.left - xa._offset, py = clientY - rect.top - ya._offset;
    if (px < -NEAR_PX || py < -NEAR_PX || px > xa._length + NEAR_PX || py > ya._length + NEAR_PX) return null;
    var best = null;
    gd._fullData.forEach(function (fd, k) {
      var prio = PRIORITY[fd.uid];
      if (!prio || fd.visible !== true) return;
      var tr = gd.data[k], ids = tr.customdata;
      for (var q = 0; q < ids.length; q++) {
        var x = xa.c2p(tr.x[q]), y = ya.c2p(tr.y[q]);
        if (!isFinite(x) || !isFinite(y) || x < -1 || y < -1 || x > xa._length + 1 || y > ya._length + 1) continue;
        var d = Math.sqrt((x - px) * (x - px) + (y - py) * (y - py)), rad = markerRadius(tr, q);
        var tier = d <= rad ? 2 : d <= rad + HIT_SLACK_PX ? 1 : d <= rad + NEAR_PX ? 0 : -1;
        if (tier < 0) continue;
        if (!best || tier > best.tier || (tier === best.tier && (prio > best.prio || (prio === best.prio && d < best.d)))) {
          best = { n: ids[q], tier: tier, prio: prio, d: d };
        }
      }
    });
    return best ? best.n : null;
  }
  api.pickAt = function (gd, x, y) { return pickAt(typeof gd === "string" ? document.querySelector(gd) : gd, x, y); };

  var lastClick = { t: -1, x: 0, y: 0 }, lastDown = { x: -1, y: -1 };
  function attachPicking(gd) {
    // plotly re-dispatches its drag layer's click with whole-pixel coordinates: the press
    // itself keeps the fractional ones (zoomed pages, high-DPI screens, automated clicks)
    gd.addEventListener("pointerdown", function (ev) { lastDown = { x: ev.clientX, y: ev.clientY }; });
    gd.addEventListener("mousemove", function (ev) {
      var n = pickAt(gd, ev.clientX, ev.clientY);
      showTip(n, ev);
      var drag = gd.querySelector(".nsewdrag");
      if (drag) drag.style.cursor = n === null ? "" : "pointer";
    });
    gd.addEventListener("mouseleave", function () { showTip(null); });
    gd.addEventListener("click", function (ev) {
      // plotly re-dispatches the click of its drag layer; a browser may deliver its own too
      if (Math.abs(ev.timeStamp - lastClick.t) < 80 && ev.clientX === lastClick.x && ev.clientY === lastClick.y) return;
      lastClick = { t: ev.timeStamp, x: ev.clientX, y: ev.clientY };
      var near = Math.abs(lastDown.x - ev.clientX) < 1 && Math.abs(lastDown.y - ev.clientY) < 1;
      var n = near ? pickAt(gd, lastDown.x, lastDown.y) : pickAt(gd, ev.clientX, ev.clientY);
      if (n === null) return;
      if (ev.shiftKey) toggleCompare(n);
      else select(n);
    });
  }

  function objectiveSelect(id, value, withNone) {
    var sel = h("select", { id: id });
    if (withNone) sel.appendChild(h("option", { value: "-1", text: "none" }));
    OBJ.forEach(function (o, j) { sel.appendChild(h("option", { value: j, text: o.label })); });
    sel.value = String(value);
    sel.addEventListener("change", function () { drawExplorer(); });
    return sel;
  }

  function explorerOpts() {
    var e = state.explore;
    return { a: Number(e.x.value), b: Number(e.y.value), color: Number(e.color.value), size: Number(e.size.value) };
  }

  function drawExplorer() {
    var e = state.explore;
    if (!e) return;
    var o = explorerOpts();
    e.div.setAttribute("data-x", OBJ[o.a].name);
    e.div.setAttribute("data-y", OBJ[o.b].name);
    e.rec.a = o.a;
    e.rec.b = o.b;
    var layout = pairLayout(o.a, o.b, "explore-" + o.a + "-" + o.b);
    layout.height = 480;
    plot(e.div, scatterTraces(o.a, o.b, o), layout, true);
  }

  // parallel coordinates in SVG (no WebGL: it is missing or flaky in many headless and remote browsers)
  var SVGNS = "http://www.w3.org/2000/svg";
  function svg(tag, attrs, text) {
    var el = document.createElementNS(SVGNS, tag);
    Object.keys(attrs || {}).forEach(function (k) { el.setAttribute(k, String(attrs[k])); });
    if (text !== undefined) el.textContent = String(text);
    return el;
  }

  function niceTicks(lo, hi, count) {
    if (!(hi > lo)) return [lo];
    var step = Math.pow(10, Math.floor(Math.log10((hi - lo) / count)));
    var err = (hi - lo) / count / step;
    step *= err >= 7.5 ? 10 : err >= 3.5 ? 5 : err >= 1.5 ? 2 : 1;
    var out = [];
    for (var t = Math.ceil(lo / step) * step; t <= hi + 1e-9 * step; t += step) out.push(Number(t.toPrecision(12)));
    return out;
  }

  function renderParcoords(box) {
    box.appendChild(h("h3", { text: "All objectives at once: parallel coordinates" }));
    box.appendChild(h("p", { cls: "help", text: "One line per feasible design (orange: Pareto set, blue: dominated, black: the selected one), " +
      "one axis per objective (log axes where marked). Drag along an axis to keep only the designs in that range; " +
      "click the axis outside its range to drop it. Every other view on the page follows." }));
    var idx = [];
    for (var i = 0; i < N; i++) {
      var c = T.category[i];
      if ((c === "pareto" || c === "dominated") && T.values[i].every(function (v) { return v !== null; })) idx.push(i);
    }
    if (!idx.length) { emptyNote(box, "No feasible design yet."); return; }
    var W = Math.max(480, Math.min(1400, (box.clientWidth || 1000))), H = 320, top = 40, bottom = 24, left = 70, right = 70;
    var div = h("div", { cls: "plot", id: "parcoords", style: { height: H + "px", minHeight: "0" } });
    var root = svg("svg", { width: W, height: H, viewBox: "0 0 " + W + " " + H, role: "img" });
    div.appendChild(root);
    box.appendChild(div);
    var gap = M > 1 ? (W - left - right) / (M - 1) : 0;
    var axes = OBJ.map(function (o, j) {
      var lo = Infinity, hi = -Infinity;
      idx.forEach(function (i) { var v = T.values[i][j] * o.scale; if (v < lo) lo = v; if (v > hi) hi = v; });
      var log = o.log && lo > 0;
      var f = function (v) { return log ? Math.log10(v) : v; };
      var a = f(lo), b = f(hi);
      if (!(b > a)) { a -= 0.5; b += 0.5; }
      return { x: left + j * gap, lo: lo, hi: hi, log: log, f: f, a: a, b: b,
               y: function (v) { return top + (H - top - bottom) * (1 - (f(v) - a) / (b - a)); },
               v: function (y) { var t = a + (1 - (y - top) / (H - top - bottom)) * (b - a); return log ? Math.pow(10, t) : t; } };
    });
    var layers = { dim: svg("path", { fill: "none", stroke: "#ced4da", "stroke-width": 1, opacity: 0.5 }),
                   dominated: svg("path", { fill: "none", stroke: "#748ffc", "stroke-width": 1, opacity: 0.45 }),
                   pareto: svg("path", { fill: "none", stroke: COLORS.pareto, "stroke-width": 1.8 }),
                   selected: svg("path", { fill: "none", stroke: "#000", "stroke-width": 2.5 }) };
    ["dim", "dominated", "pareto", "selected"].forEach(function (k) { root.appendChild(layers[k]); });
    function line(i) {
      return axes.map(function (ax, j) { return (j ? "L" : "M") + ax.x.toFixed(1) + "," + ax.y(T.values[i][j] * OBJ[j].scale).toFixed(1); }).join("");
    }
    var paths = idx.map(line);
    var brushRects = [];
    axes.forEach(function (ax, j) {
      var g = svg("g", { "class": "pc-axis", "data-objective": OBJ[j].name });
      g.appendChild(svg("line", { x1: ax.x, x2: ax.x, y1: top, y2: H - bottom, stroke: "#495057", "stroke-width": 1 }));
      var ticks = ax.log ? niceTicks(ax.a, ax.b, 4).map(function (t) { return Math.pow(10, t); }) : niceTicks(ax.lo, ax.hi, 5);
      ticks.forEach(function (t) {
        var y = ax.y(t);
        if (y < top - 1 || y > H - bottom + 1) return;
        g.appendChild(svg("line", { x1: ax.x - 4, x2: ax.x, y1: y, y2: y, stroke: "#495057" }));
        g.appendChild(svg("text", { x: ax.x - 7, y: y + 4, "text-anchor": "end", "font-size": 11, fill: "#495057" }, sig(t, 3)));
      });
      g.appendChild(svg("text", { x: ax.x, y: top - 22, "text-anchor": "middle", "font-size": 12, fill: "#1d2127" }, OBJ[j].label + (ax.log ? " (log)" : "")));
      g.appendChild(svg("text", { x: ax.x, y: top - 8, "text-anchor": "middle", "font-size": 10, fill: "#5c6370" }, better(j)));
      var rect = svg("rect", { x: ax.x - 9, width: 18, y: 0, height: 0, fill: "#1c7ed6", opacity: 0.25, stroke: "#1c7ed6", visibility: "hidden", "class": "pc-brush" });
      brushRects.push(rect);
      g.appendChild(rect);
      // the grab area: a wide transparent strip along the axis
      var hit = svg("rect", { x: ax.x - 14, width: 28, y: top - 2, height: H - top - bottom + 4, fill: "transparent", "class": "pc-hit", "data-axis": j });
      hit.style.cursor = "ns-resize";
      g.appendChild(hit);
      root.appendChild(g);
      hit.addEventListener("pointerdown", function (ev) {
        ev.preventDefault();
        var r0 = root.getBoundingClientRect(), y0 = ev.clientY - r0.top, moved = false;
        function clampY(y) { return Math.max(top, Math.min(H - bottom, y)); }
        function move(e) {
          var y1 = e.clientY - r0.top;
          if (Math.abs(y1 - y0) < 3 && !moved) return;
          moved = true;
          var a = clampY(Math.min(y0, y1)), b = clampY(Math.max(y0, y1));
          setBrush(j, [ax.v(b), ax.v(a)], true);
        }
        function up(e) {
          window.removeEventListener("pointermove", move);
          window.removeEventListener("pointerup", up);
          if (!moved) {  // a click: drop the range unless it lands inside it
            var v = ax.v(clampY(e.clientY - r0.top)), cur = state.brush[j] && state.brush[j][0];
            if (!cur || v < cur[0] || v > cur[1]) setBrush(j, null);
          } else move(e), refreshFiltered();
        }
        window.addEventListener("pointermove", move);
        window.addEventListener("pointerup", up);
      });
    });
    function setBrush(j, rg, live) {
      if (rg) state.brush[j] = [rg];
      else delete state.brush[j];
      drawBrush(j);
      if (!live) refreshFiltered();
      else { computePass(); drawLines(); }
    }
    function drawBrush(j) {
      var rg = state.brush[j] && state.brush[j][0], rect = brushRects[j], ax = axes[j];
      if (!rg) { rect.setAttribute("visibility", "hidden"); return; }
      var y1 = ax.y(Math.max(rg[0], ax.log ? 1e-300 : -Infinity)), y0 = ax.y(rg[1]);
      y0 = Math.max(top, Math.min(H - bottom, y0));
      y1 = Math.max(top, Math.min(H - bottom, y1));
      rect.setAttribute("y", Math.min(y0, y1));
      rect.setAttribute("height", Math.abs(y1 - y0));
      rect.setAttribute("visibility", "visible");
    }
    function drawLines() {
      var dim = [], dom = [], par = [];
      idx.forEach(function (i, k) {
        (pass[i] ? (T.category[i] === "pareto" ? par : dom) : dim).push(paths[k]);
      });
      layers.dim.setAttribute("d", dim.join(""));
      layers.dominated.setAttribute("d", dom.join(""));
      layers.pareto.setAttribute("d", par.join(""));
      var si = state.selected === null ? undefined : indexOf.get(state.selected);
      layers.selected.setAttribute("d", si !== undefined && T.values[si].every(function (v) { return v !== null; }) ? line(si) : "");
    }
    state.par = { div: div, draw: drawLines, set: function (j, rg) { setBrush(j, rg); }, axes: axes,
                  clear: function () { state.brush = {}; axes.forEach(function (ax, j) { drawBrush(j); }); } };
    drawLines();
  }
  api.brush = function (objective, lo, hi) {  // display units; null drops the range
    if (state.par) state.par.set(objIndex[objective], lo === null || lo === undefined ? null : [lo, hi]);
  };

  function renderFront() {
    var box = body("front-body");
    var plottable = T.values.some(function (v) { return v.filter(function (x) { return x !== null; }).length >= 2; });
    if (M < 2) { emptyNote(box, "A Pareto front needs two or more objectives; this study has one (" + (OBJ[0] ? OBJ[0].name : "none") + "): the table below ranks its designs."); return; }
    if (!plottable) { emptyNote(box, "No trial has values for two objectives yet: nothing to plot."); return; }
    if (!D.pareto.length) {
      box.appendChild(h("p", { cls: "empty warn", text: "No feasible complete trial yet: the Pareto set is empty; the points below all violate a constraint." }));
    }
    renderKneeNote(box);
    if (M >= 3) {
      box.appendChild(h("h3", { text: "Explore: any two objectives, the others as colour and size" }));
      var e = state.explore = {
        x: objectiveSelect("main-x", 0), y: objectiveSelect("main-y", 1),
        color: objectiveSelect("main-color", 2, true), size: objectiveSelect("main-size", M >= 4 ? 3 : -1, true),
      };
      box.appendChild(h("p", { cls: "control" }, [h("label", { text: "x " }), e.x, h("label", { text: " y " }), e.y,
        h("label", { text: " colour " }), e.color, h("label", { text: " size " }), e.size,
        h("span", { cls: "help", text: " (colour: dark = better; size: larger = higher value)" })]));
      e.div = h("div", { cls: "plot explore-plot", id: "main-plot" });
      box.appendChild(e.div);
      e.rec = { div: e.div, a: 0, b: 1 };
      drawExplorer();
      attachPicking(e.div);
      state.plots.push(e.rec);
      renderParcoords(box);
      box.appendChild(h("h3", { text: "Every pair of objectives" }));
    }
    var grid = h("div", { cls: "grid" });
    if (M === 2) grid.style.gridTemplateColumns = "minmax(0, 900px)";  // one pair: give it room
    box.appendChild(grid);
    for (var a = 0; a < M; a++) {
      for (var b = a + 1; b < M; b++) {
        var div = h("div", { cls: "plot front-plot", id: "front-" + a + "-" + b, "data-x": OBJ[a].name, "data-y": OBJ[b].name });
        grid.appendChild(div);
        plot(div, scatterTraces(a, b), pairLayout(a, b, "pair"));
        attachPicking(div);
        state.plots.push({ div: div, a: a, b: b, pair: true });
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

  function redrawFront() {
    if (!window.Plotly) return;
    state.plots.forEach(function (p) {
      if (p.pair) plot(p.div, scatterTraces(p.a, p.b), pairLayout(p.a, p.b, "pair"), true);
    });
    drawExplorer();
  }

  /* move the selection ring in every scatter (zoom and pan are kept: only one trace changes) */
  function moveRings() {
    var i = state.selected === null ? undefined : indexOf.get(state.selected);
    state.plots.forEach(function (p) {
      var k = p.div.data.findIndex(function (t) { return t.uid === "selected"; });
      if (k < 0) return;
      var ok = i !== undefined && T.values[i][p.a] !== null && T.values[i][p.b] !== null;
      Plotly.restyle(p.div, { x: [ok ? [T.values[i][p.a] * OBJ[p.a].scale] : []],
                              y: [ok ? [T.values[i][p.b] * OBJ[p.b].scale] : []] }, [k]);
    });
  }

  function renderKneeNote(box) {
    var el = h("div", { id: "knee-note", cls: "knee-note" });
    box.appendChild(el);
    if (!KNEE.points.length) {
      el.appendChild(h("p", { cls: "help", text: "Knee: " + (KNEE.message || "none") }));
      return;
    }
    KNEE.points.forEach(function (n) {
      var i = indexOf.get(n), sc = KNEE.scaled[String(n)] || [];
      var link = h("a", { href: "#trial=" + n, cls: "knee-link", "data-trial": n, text: "trial #" + n });
      link.addEventListener("click", function (ev) { ev.preventDefault(); select(n); });
      var p = h("p", {}, [h("b", { text: "Knee: " }), link, " (\u25c7 in the plots). On the Pareto set's own scale (0 = its best value, 1 = its worst) it sits at " +
        OBJ.map(function (o, j) { return o.name + " " + (typeof sc[j] === "number" ? sc[j].toFixed(2) : "-"); }).join(", ") +
        ": the smallest sum of all Pareto points. Its nearest alternatives on the front: " +
        (KNEE.neighbours[String(n)] || []).map(function (m) {
          var k = indexOf.get(m);
          return "#" + m + " (" + OBJ.map(function (o, j) { return o.name + " " + relText(o.name, T.values[k][j], T.values[i][j]); }).join(", ") + ")";
        }).join("; ") + "."]);
      el.appendChild(p);
    });
    el.appendChild(h("p", { cls: "help", text: KNEE.method }));
  }
  // --- selection, URL hash ---------------------------------------------------------------------

  function select(n, opts) {
    n = Number(n);
    if (!indexOf.has(n)) return false;
    var i = indexOf.get(n);
    state.selected = n;
    document.body.setAttribute("data-selected-trial", String(n));
    if (window.Plotly) moveRings();
    if (state.par) state.par.draw();
    var note = body("front-selected");
    if (note) {
      note.textContent = "";
      note.appendChild(document.createTextNode("Selected: trial #" + n + " (circled)" + (pass[i] ? "" : ", hidden by the filters") + ". "));
      note.appendChild(h("a", { href: "#details", text: "Details below" }));
    }
    state.tableRows.forEach(function (tr, k) { tr.classList.toggle("selected", k === n); });
    if (window.Plotly) markHeatColumn();
    renderDetails(i);
    if (!(opts && opts.keepHash)) writeHash();
    return true;
  }
  api.select = select;

  function writeHash() {
    if (!state.hashReady) return;
    var parts = [];
    if (state.selected !== null) parts.push("trial=" + state.selected);
    if (state.compare.length) parts.push("compare=" + state.compare.join(","));
    if (state.base !== state.defaultBase) parts.push("base=" + (state.base === null ? "none" : state.base));
    var hash = "#" + parts.join("&");
    if (location.hash === hash) return;
    try { history.replaceState(null, "", hash); } catch (err) { location.hash = hash; }
  }

  function readHash() {
    var q = {};
    location.hash.replace(/^#/, "").split("&").forEach(function (kv) {
      var k = kv.indexOf("=");
      if (k > 0) q[kv.slice(0, k)] = decodeURIComponent(kv.slice(k + 1));
    });
    return q;
  }

  /* open the page where the link points: #trial=N[&compare=a,b][&base=M|none] */
  function applyHash() {
    var q = readHash(), problems = [];
    if (q.base !== undefined) {
      if (q.base === "none") setBaseline(null, true);
      else if (indexOf.has(Number(q.base))) setBaseline(Number(q.base), true);
      else problems.push("base=" + q.base);
    }
    if (q.compare !== undefined) {
      var list = q.compare.split(",").filter(Boolean).map(Number);
      list.filter(function (n) { return !indexOf.has(n); }).forEach(function (n) { problems.push("compare " + n); });
      setCompare(list.filter(function (n) { return indexOf.has(n); }), true);
    }
    var picked = false;
    if (q.trial !== undefined) {
      if (/^\d+$/.test(q.trial) && indexOf.has(Number(q.trial))) picked = select(Number(q.trial), { keepHash: true });
      else problems.push("trial=" + q.trial);
    }
    var st = body("link-status");
    st.hidden = !problems.length;
    st.textContent = problems.length ? "This link names trials that this report does not draw (" + problems.join(", ") +
      "): they are not finished, are duplicates, or belong to another study." : "";
    return picked;
  }

  // --- reference for relative numbers ------------------------------------------------------------

  function setBaseline(n, quiet) {
    state.base = n === null || n === undefined || !indexOf.has(Number(n)) ? null : Number(n);
    var sel = body("baseline-select");
    if (sel) {
      if (state.base !== null && !sel.querySelector('option[value="' + state.base + '"]')) {
        sel.appendChild(h("option", { value: state.base, text: "trial #" + state.base }));
      }
      sel.value = state.base === null ? "" : String(state.base);
    }
    if (tip) tip.removeAttribute("data-trial");
    if (state.selected !== null) renderDetails(indexOf.get(state.selected));
    renderTableValues();
    if (!quiet) writeHash();
  }
  api.setBaseline = setBaseline;

  // --- details of the selected design ----------------------------------------------------------

  function kvList(pairs) {
    var dl = h("dl", { cls: "kv" });
    pairs.forEach(function (p) {
      dl.appendChild(h("dt", { text: p[0] }));
      dl.appendChild(typeof p[1] === "string" ? h("dd", { text: p[1] }) : h("dd", {}, [p[1]]));
    });
    return dl;
  }

  var LAYER_HEAD = { name: "layer", kind: "scheme", granularity: "granularity", w_bits: "W bits", a_bits: "A bits",
                     term_budget: "term budget", group_size: "group", term_encoding: "encoding",
                     sp2_fraction: "SP2 fraction", macs: "MACs", cycles: "cycles", latency_s: "latency",
                     energy_j: "energy", utilization: "PE use", lut_share: "MACs on LUTs", dsp_share: "MACs on DSPs" };
  var COST_FIELDS = ["cycles", "latency_s", "energy_j", "utilization", "lut_share", "dsp_share"];

  function col(rows, f) { var k = D.layer_fields.indexOf(f); return rows.map(function (r) { return k < 0 ? null : r[k]; }); }

  function recorded(rows, f) { return col(rows, f).some(function (v) { return v !== null && v !== undefined; }); }

  /* shell words, quoted only where needed */
  function shq(s) { s = String(s); return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : "'" + s.replace(/'/g, "'\\''") + "'"; }

  function commandsFor(n) {
    var m = D.meta, plan = "plan-" + n + ".json";
    var exp = ["dse", "export"];
    if (m.storage) exp.push("--storage", m.storage);
    exp.push("--study", m.study, "--trial", String(n), "--plan-out", plan);
    var out = [{ id: "export-cmd", what: "write this design's plan", cmd: exp.map(shq).join(" ") }];
    if (m.workload && m.hwmodel) {
      out.push({ id: "hw-cmd", what: "price it again on the hardware model", cmd: ["dse", "hw", "eval", "--workload", m.workload, "--hwmodel", m.hwmodel, "--plan", plan].map(shq).join(" ") });
      if (m.hwmodel === "systolic") {  // the model dse hw rtl generates Verilog for
        out.push({ id: "rtl-cmd", what: "write its array's Verilog and testbench", cmd: ["dse", "hw", "rtl", "--workload", m.workload, "--hwmodel", m.hwmodel, "--plan", plan, "-o", "rtl-" + n].map(shq).join(" ") });
      }
    }
    if (m.trainable && m.workload) {
      out.push({ id: "finetune-cmd", what: "fine-tune it", cmd: ["dse", "finetune", m.workload, "--plan", plan].map(shq).join(" ") });
      var q = exp.slice(0, exp.indexOf("--plan-out")).concat(["--qonnx", "design-" + n + ".onnx"]);
      out.push({ id: "qonnx-cmd", what: "export the quantized model as QONNX (the qonnx extra)", cmd: q.map(shq).join(" ") });
    }
    return out;
  }

  function copyButton(getText, id) {
    var b = h("button", { type: "button", cls: "copy", id: id, text: "Copy" });
    b.addEventListener("click", function () {
      var text = getText();
      function fallback() {
        var ta = h("textarea", { style: { position: "fixed", left: "-9999px" } });
        ta.value = text;
        document.body.appendChild(ta);
        ta.select();
        var ok = false;
        try { ok = document.execCommand("copy"); } catch (err) { ok = false; }
        ta.remove();
        b.textContent = ok ? "Copied" : "Select and copy";
      }
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText(text).then(function () { b.textContent = "Copied"; }, fallback);
      } else fallback();
      setTimeout(function () { b.textContent = "Copy"; }, 2000);
    });
    return b;
  }

  function renderExport(box, n) {
    box.appendChild(h("h3", { text: "Take it out of the page" }));
    commandsFor(n).forEach(function (c) {
      box.appendChild(h("div", { cls: "cmd" }, [h("span", { cls: "help", text: c.what + ": " }),
        h("code", { id: c.id, text: c.cmd }), " ", copyButton(function () { return c.cmd; }, c.id + "-copy")]));
    });
    var plan = (D.plans || {})[String(n)];
    if (!plan) {
      box.appendChild(h("p", { cls: "help", id: "plan-missing", text: "The plan itself is embedded for the Pareto set and the baselines only; " +
        "the first command writes this one from the storage." }));
      return;
    }
    var text = JSON.stringify(plan, null, 2) + "\n";
    var dl = h("a", { id: "plan-download", download: "plan-" + n + ".json",
                      href: "data:application/json;charset=utf-8;base64," + base64Utf8(text), text: "Download plan-" + n + ".json" });
    box.appendChild(h("p", {}, [dl, " ", copyButton(function () { return text; }, "plan-copy"),
      h("span", { cls: "help", text: " the plan as dse export --trial " + n + " --plan-out writes it (dse finetune --plan and dse hw eval --plan read it)" })]));
    box.appendChild(h("details", {}, [h("summary", { text: "Plan JSON" }), h("pre", { id: "plan-json", text: text })]));
  }

  function renderDetails(i) {
    var box = body("details-body");
    box.textContent = "";
    var n = T.number[i], cat = T.category[i];
    var head = h("h3", { id: "details-title" }, ["Trial #" + n + " "]);
    head.appendChild(h("span", { cls: "tag " + cat, text: CAT_LABEL[cat] || cat }));
    if (T.baseline[i]) head.appendChild(h("span", { cls: "tag", text: "baseline " + T.baseline[i] }));
    if (kneeSet.has(n)) head.appendChild(h("span", { cls: "tag knee", text: "knee" }));
    box.appendChild(head);
    var inCmp = state.compare.indexOf(n) >= 0;
    var add = h("button", { type: "button", id: "compare-add", text: inCmp ? "Remove from comparison" : "Add to comparison" });
    add.addEventListener("click", function () { toggleCompare(n); });
    var ref = h("button", { type: "button", id: "use-as-base", text: "Use as reference" });
    ref.disabled = state.base === n;
    ref.addEventListener("click", function () { setBaseline(n); });
    box.appendChild(h("p", { cls: "control" }, [add, " ", ref, h("span", { cls: "help",
      text: state.base === null ? " No reference chosen." : (state.base === n ? " This design is the reference." : " Percentages: against " + baseName() + ".") })]));
    if (T.reason[i] !== null) box.appendChild(h("p", { cls: "help", text: "Reason: " + S[T.reason[i]] }));
    var cols = h("div", { cls: "cols" });
    cols.appendChild(h("div", {}, [h("h3", { text: "Objectives" }),
      kvList(OBJ.map(function (o) { return [o.name + " (" + (o.direction === "maximize" ? "max" : "min") + ")", valueCell("span", o.name, i)]; }))]));
    var mets = Object.keys(T.metrics).filter(function (k) { return metric(i, k) !== null && objIndex[k] === undefined; });
    if (mets.length) cols.appendChild(h("div", {}, [h("h3", { text: "Metrics" }),
      kvList(mets.map(function (k) { return [k, valueCell("span", k, i)]; }))]));
    var resPairs = RES.filter(function (r) { return metric(i, r) !== null && (r !== "uram" || metric(i, r) > 0 || capacityOf(i, r)); })
      .map(function (r) {
        var cap = capacityOf(i, r), u = metric(i, r);
        return [RES_LABEL[r], grouped(u) + (cap ? " of " + grouped(cap) + " (" + (100 * u / cap).toFixed(1) + "%)" : "")];
      });
    if (resPairs.length) cols.appendChild(h("div", { id: "details-resources" }, [h("h3", { text: "Resources vs " + (deviceOf(i) || "device") }), kvList(resPairs)]));
    var knobs = Object.keys(T.knobs).map(function (k) { return [k, fmtKnob(k, T.knobs[k][i])]; });
    Object.keys(D.meta.fixed_knobs || {}).forEach(function (k) { knobs.push([k, fmtKnob(k, D.meta.fixed_knobs[k]) + " (fixed)"]); });
    if (knobs.length) cols.appendChild(h("div", {}, [h("h3", { text: "Hardware" }), kvList(knobs)]));
    box.appendChild(cols);
    renderLayers(box, n);
    renderExport(box, n);
  }

  function renderLayers(box, n) {
    var rows = D.details[String(n)];
    box.appendChild(h("h3", { text: "Per layer" }));
    if (!rows || !rows.length) {
      box.appendChild(h("p", { cls: "help", id: "layers-missing", text: "Per-layer detail is embedded for the Pareto set and the baselines only; " +
        "this design's plan is one command away (below)." }));
      return;
    }
    var F = D.layer_fields;
    var used = F.filter(function (f) { return recorded(rows, f); });
    var missing = COST_FIELDS.filter(function (f) { return !recorded(rows, f); });
    if (!recorded(rows, "cycles")) {
      box.appendChild(h("p", { cls: "help warn", id: "layer-costs-missing", text: "Per-layer hardware costs: not recorded for this trial (the hardware model did not price it, or the study predates them); its schemes:" }));
    } else if (missing.length) {
      box.appendChild(h("p", { cls: "help", id: "layer-fields-missing", text: "Not recorded in this study (written before dse stored them): " +
        missing.map(function (f) { return LAYER_HEAD[f] || f; }).join(", ") + "." }));
    }
    box.appendChild(h("p", { cls: "help", text: "LUTs, DSPs and BRAM belong to the accelerator, shared by the layers, which run one after another; " +
      "per layer the model reports cycles, latency, energy, how busy the processing elements are, and which arithmetic carries the MACs." }));
    var totals = {};
    ["cycles", "energy_j"].forEach(function (f) {
      totals[f] = col(rows, f).reduce(function (s, v) { return s + (v || 0); }, 0);
    });
    var thead = h("tr", {}, used.map(function (f) { return h("th", { cls: f === "name" || f === "kind" || f === "granularity" || f === "term_encoding" ? "text" : "", text: LAYER_HEAD[f] || f }); }));
    if (totals.cycles) thead.appendChild(h("th", { text: "% of cycles" }));
    if (totals.energy_j) thead.appendChild(h("th", { text: "% of energy" }));
    var tbody = h("tbody");
    rows.forEach(function (r) {
      var tr = h("tr");
      used.forEach(function (f) {
        var v = r[F.indexOf(f)];
        tr.appendChild(h("td", { cls: typeof v === "string" ? "text" : "", text: typeof v === "number" ? fmt(f, v) : fmtAny(v) }));
      });
      ["cycles", "energy_j"].forEach(function (f) {
        if (!totals[f]) return;
        var share = (r[F.indexOf(f)] || 0) / totals[f];
        tr.appendChild(h("td", { cls: "sharecell" }, [h("div", { cls: "bar", style: { width: (100 * share).toFixed(1) + "%" } }),
          h("span", { text: (100 * share).toFixed(1) + "%" })]));
      });
      tbody.appendChild(tr);
    });
    box.appendChild(h("div", { cls: "scroll" }, [h("table", { id: "layer-table" }, [h("thead", {}, [thead]), tbody])]));
  }

  // --- comparison -----------------------------------------------------------------------------

  function setCompare(list, quiet) {
    var seen = new Set();
    state.compare = list.map(Number).filter(function (n) {
      if (!indexOf.has(n) || seen.has(n)) return false;
      seen.add(n);
      return true;
    });
    renderCompare();
    if (state.selected !== null) {
      var b = body("compare-add");
      if (b) b.textContent = state.compare.indexOf(state.selected) >= 0 ? "Remove from comparison" : "Add to comparison";
    }
    state.tableRows.forEach(function (tr, k) { tr.classList.toggle("compared", state.compare.indexOf(k) >= 0); });
    if (!quiet) writeHash();
  }
  api.compare = function (list) { setCompare(list || []); return state.compare.slice(); };

  function toggleCompare(n) {
    var k = state.compare.indexOf(n);
    setCompare(k >= 0 ? state.compare.filter(function (m) { return m !== n; }) : state.compare.concat([n]));
  }

  function schemeText(rows, k) {
    var F = D.layer_fields, r = rows[k];
    function g(f) { var c = F.indexOf(f); return c < 0 ? null : r[c]; }
    var s = String(g("kind") || "-");
    if (g("w_bits") !== null) s += " W" + g("w_bits");
    if (g("a_bits") !== null) s += "A" + g("a_bits");
    if (g("term_budget") !== null) s += " t" + g("term_budget");
    if (g("group_size") !== null && g("group_size") > 1) s += " g" + g("group_size");
    if (g("sp2_fraction") !== null) s += " sp2 " + Math.round(100 * g("sp2_fraction")) + "%";
    return s;
  }

  function renderCompare() {
    var box = body("compare-body");
    if (!box) return;
    box.textContent = "";
    var quick = h("button", { type: "button", id: "compare-knee", text: "Compare the knee with the baselines" });
    quick.addEventListener("click", function () {
      var list = KNEE.points.slice();
      for (var i = 0; i < N; i++) if (T.baseline[i]) list.push(T.number[i]);
      setCompare(list);
    });
    var clear = h("button", { type: "button", id: "compare-clear", text: "Clear" });
    clear.addEventListener("click", function () { setCompare([]); });
    box.appendChild(h("p", { cls: "control" }, [quick, " ", clear]));
    var list = state.compare;
    if (list.length < 2) {
      emptyNote(box, list.length ? "One design chosen (#" + list[0] + "): add another with \u201cAdd to comparison\u201d or a shift-click." :
        "Pick two or more designs: \u201cAdd to comparison\u201d under the selected design, or shift-click points and table rows.");
      if (!list.length) return;
    }
    var idx = list.map(function (n) { return indexOf.get(n); }), ref = idx[0];
    var table = h("table", { id: "compare-table", cls: "compare" });
    var head = h("tr", {}, [h("th", { cls: "text", text: "" })]);
    list.forEach(function (n, c) {
      var rm = h("button", { type: "button", cls: "x", title: "remove #" + n, text: "\u00d7" });
      rm.addEventListener("click", function () { toggleCompare(n); });
      var pick = h("a", { href: "#trial=" + n, text: "#" + n });
      pick.addEventListener("click", function (ev) { ev.preventDefault(); select(n); });
      var i = idx[c], tags = [CAT_LABEL[T.category[i]] || T.category[i]];
      if (T.baseline[i]) tags.push(T.baseline[i]);
      if (kneeSet.has(n)) tags.push("knee");
      head.appendChild(h("th", { cls: "design", "data-trial": n }, [pick, " ", rm, h("div", { cls: "help", text: tags.join(" \u00b7 ") + (c === 0 ? " \u00b7 reference" : "") })]));
    });
    var tbody = h("tbody");
    function section(title) { tbody.appendChild(h("tr", { cls: "group" }, [h("th", { cls: "text", colspan: list.length + 1, text: title })])); }
    function row(label, name, get, show) {
      var vals = idx.map(get);
      var d = direction(name), bestV = null;
      if (d) vals.forEach(function (v) { if (typeof v === "number" && (bestV === null || (d === "maximize" ? v > bestV : v < bestV))) bestV = v; });
      var tr = h("tr", { "data-row": name }, [h("td", { cls: "text", text: label })]);
      vals.forEach(function (v, c) {
        var td = h("td", { cls: (bestV !== null && v === bestV && vals.length > 1 ? "best" : "") }, [show(v, idx[c])]);
        if (c > 0 && typeof v === "number") {
          var r = relText(name, v, vals[0]);
          if (r) td.appendChild(h("span", { cls: "rel " + relClass(name, v, vals[0]), text: " " + r }));
        }
        tr.appendChild(td);
      });
      tbody.appendChild(tr);
    }
    section("Objectives (bold: best; percentages against the first design)");
    OBJ.forEach(function (o, j) { row(o.name, o.name, function (i) { return T.values[i][j]; }, function (v) { return fmt(o.name, v); }); });
    var mets = Object.keys(T.metrics).filter(function (k) { return objIndex[k] === undefined && RES.indexOf(k) < 0 && idx.some(function (i) { return metric(i, k) !== null; }); });
    if (mets.length) {
      section("Other metrics");
      mets.forEach(function (k) { row(k, k, function (i) { return metric(i, k); }, function (v) { return fmt(k, v); }); });
    }
    var res = RES.filter(function (r) { return idx.some(function (i) { return metric(i, r) !== null && (r !== "uram" || metric(i, r) > 0); }); });
    if (res.length) {
      section("Resources vs the device");
      res.forEach(function (r) {
        row(RES_LABEL[r], r, function (i) { return metric(i, r); }, function (v, i) {
          var cap = capacityOf(i, r);
          return grouped(v) + (cap && typeof v === "number" ? " \u00b7 " + (100 * v / cap).toFixed(1) + "% of " + deviceOf(i) : "");
        });
      });
    }
    var knobs = Object.keys(T.knobs);
    if (knobs.length) {
      section("Hardware knobs (highlighted: differs from the first design)");
      knobs.forEach(function (k) {
        var tr = h("tr", { "data-row": k }, [h("td", { cls: "text", text: k })]);
        idx.forEach(function (i, c) {
          var v = T.knobs[k][i];
          tr.appendChild(h("td", { cls: c > 0 && JSON.stringify(v) !== JSON.stringify(T.knobs[k][ref]) ? "diff" : "", text: fmtKnob(k, v) }));
        });
        tbody.appendChild(tr);
      });
    }
    table.appendChild(h("thead", {}, [head]));
    table.appendChild(tbody);
    box.appendChild(h("div", { cls: "scroll" }, [table]));
    renderCompareLayers(box, list, idx);
  }

  function renderCompareLayers(box, list, idx) {
    box.appendChild(h("h3", { text: "Per layer: scheme and cost (highlighted: scheme differs from the first design; percentages: cost against it)" }));
    var rowsOf = list.map(function (n) { return D.details[String(n)] || null; });
    var missing = list.filter(function (n, c) { return !rowsOf[c]; });
    if (missing.length) {
      box.appendChild(h("p", { cls: "help", id: "compare-layers-missing", text: "Per-layer detail is embedded for the Pareto set and the baselines only; not for " +
        missing.map(function (n) { return "#" + n; }).join(", ") + " (dse export --trial N --plan-out writes their plans)." }));
    }
    var have = list.filter(function (n, c) { return rowsOf[c]; });
    if (!have.length) return;
    var F = D.layer_fields, nameK = F.indexOf("name"), cycK = F.indexOf("cycles"), enK = F.indexOf("energy_j");
    var layers = [];
    rowsOf.forEach(function (rows) { (rows || []).forEach(function (r) { if (layers.indexOf(r[nameK]) < 0) layers.push(r[nameK]); }); });
    var maps = rowsOf.map(function (rows) {
      var m = new Map();
      (rows || []).forEach(function (r, k) { m.set(r[nameK], k); });
      return m;
    });
    var refC = rowsOf.findIndex(function (r) { return r; });
    var withEnergy = rowsOf.some(function (rows) { return rows && recorded(rows, "energy_j"); });
    var head = h("tr", {}, [h("th", { cls: "text", text: "layer" })]);
    list.forEach(function (n, c) {
      if (!rowsOf[c]) return;
      head.appendChild(h("th", { cls: "text", text: "#" + n + " scheme" }));
      head.appendChild(h("th", { text: "#" + n + " cycles" }));
      if (withEnergy) head.appendChild(h("th", { text: "#" + n + " energy" }));
    });
    var tbody = h("tbody");
    layers.forEach(function (name) {
      var tr = h("tr", { "data-layer": name }, [h("td", { cls: "text", text: name })]);
      var refRows = rowsOf[refC], rk = maps[refC].get(name);
      list.forEach(function (n, c) {
        var rows = rowsOf[c];
        if (!rows) return;
        var k = maps[c].get(name);
        if (k === undefined) {
          tr.appendChild(h("td", { cls: "text", text: "-" }));
          tr.appendChild(h("td", { text: "-" }));
          if (withEnergy) tr.appendChild(h("td", { text: "-" }));
          return;
        }
        var sch = schemeText(rows, k), refSch = rk === undefined ? null : schemeText(refRows, rk);
        tr.appendChild(h("td", { cls: "text" + (c !== refC && sch !== refSch ? " diff" : ""), text: sch }));
        [[cycK, "cycles"]].concat(withEnergy ? [[enK, "energy_j"]] : []).forEach(function (p) {
          var v = p[0] < 0 ? null : rows[k][p[0]];
          var td = h("td", {}, [v === null || v === undefined ? "not recorded" : fmt(p[1], v)]);
          if (c !== refC && rk !== undefined && typeof v === "number") {
            var r = relText(p[1], v, refRows[rk][p[0]]);
            if (r) td.appendChild(h("span", { cls: "rel " + relClass(p[1], v, refRows[rk][p[0]]), text: " " + r }));
          }
          tr.appendChild(td);
        });
      });
      tbody.appendChild(tr);
    });
    box.appendChild(h("div", { cls: "scroll" }, [h("table", { id: "compare-layers" }, [h("thead", {}, [head]), tbody])]));
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
    state.heat = { div: div, sel: sel, cols: [] };
    sel.addEventListener("change", drawHeatmap);
    drawHeatmap();
    div.on("plotly_click", function (ev) {
      var p = ev && ev.points && ev.points[0];
      if (!p) return;
      var c = Array.isArray(p.pointNumber) ? p.pointNumber[1] : -1;
      var n = state.heat.cols[c];
      if (n !== undefined) select(n);
    });
  }

  function drawHeatmap() {
    var H = D.heatmap, hs = state.heat;
    if (!hs) return;
    var f = hs.sel.value;
    var keep = [];
    H.columns.forEach(function (n, c) { if (pass[indexOf.get(n)]) keep.push(c); });
    hs.cols = keep.map(function (c) { return H.columns[c]; });
    var x = hs.cols.map(function (n) { return "#" + n; });
    var y = H.layers.map(plotlyText);
    var z = H.fields[f].map(function (r) { return keep.map(function (c) { return r[c]; }); });
    var kinds = (H.kinds || []).map(function (r) { return keep.map(function (c) { return plotlyText(r[c] || "-"); }); });
    plot(hs.div, [{
      type: "heatmap", x: x, y: y, z: z, text: kinds, colorscale: "Viridis", xgap: 1, ygap: 1,
      // small grids carry the scheme and value in each cell; large ones keep it for the hover
      texttemplate: x.length <= 24 && y.length <= 60 ? "%{text} %{z}" : "", textfont: { size: 10 },
      colorbar: { title: { text: FIELD_LABEL[f] || f } },
      hovertemplate: "layer %{y}<br>trial %{x}<br>" + (FIELD_LABEL[f] || f) + ": %{z}<br>scheme: %{text}<extra></extra>",
    }], {
      margin: { l: 10, r: 10, t: 10, b: 60 }, height: Math.max(300, 20 * y.length + 110),
      xaxis: { type: "category", title: { text: "Pareto point (best " + OBJ[0].name + " first)" }, automargin: true },
      yaxis: { type: "category", autorange: "reversed", automargin: true },
      shapes: heatShapes(),
    }, true);
  }

  function heatShapes() {
    var c = state.heat ? state.heat.cols.indexOf(state.selected) : -1;
    return c < 0 ? [] : [{ type: "rect", xref: "x", yref: "paper", x0: c - 0.5, x1: c + 0.5, y0: 0, y1: 1,
                           line: { color: "#000", width: 2 } }];
  }

  function markHeatColumn() {
    if (state.heat && state.heat.div.data) Plotly.relayout(state.heat.div, { shapes: heatShapes() });
  }

  // --- resources ----------------------------------------------------------------------------

  function renderResources() {
    var box = body("resources-body"), R = D.resources;
    if (!R.points.length) { emptyNote(box, "No Pareto point yet."); return; }
    if (R.unknown_devices.length) box.appendChild(h("p", { cls: "help warn", text: "Device capacity unknown for " + R.unknown_devices.join(", ") + " (not in this installation's catalog): absolute use shown." }));
    var div = h("div", { cls: "plot", id: "resources-plot" });
    box.appendChild(div);
    state.res = div;
    drawResources();
    div.on("plotly_click", function (ev) {
      var p = ev && ev.points && ev.points[0];
      if (p && p.customdata !== undefined) select(p.customdata);
    });
  }

  function drawResources() {
    var R = D.resources, div = state.res;
    if (!div) return;
    var keep = [];
    R.points.forEach(function (n, c) { if (pass[indexOf.get(n)]) keep.push(c); });
    var pick = function (arr) { return keep.map(function (c) { return arr[c]; }); };
    var points = pick(R.points), devs = pick(R.device);
    var res = RES.filter(function (r) {
      var cap = R.capacity[r], used = R.used[r];
      if (r === "uram") return cap.some(function (c) { return c > 0; }) || used.some(function (u) { return u > 0; });
      return used.some(function (u) { return u !== null; });
    });
    var x = points.map(function (n) { return "#" + n; });
    var traces = [], layout = { barmode: "stack", margin: { l: 70, r: 10, t: 10, b: 60 }, showlegend: false,
                                height: 90 + 120 * res.length, hovermode: "closest",
                                xaxis: { type: "category", anchor: "y" + res.length, title: { text: "Pareto point" } } };
    var gap = 0.04, hgt = (1 - gap * (res.length - 1)) / res.length;
    res.forEach(function (r, k) {
      var yk = k === 0 ? "y" : "y" + (k + 1);
      var cap = pick(R.capacity[r]), used = pick(R.used[r]);
      var pct = used.map(function (u, c) { return cap[c] ? 100 * (u || 0) / cap[c] : null; });
      var showPct = cap.length > 0 && cap.every(function (c) { return c > 0; });
      var hover = used.map(function (u, c) {
        return plotlyText(RES_LABEL[r] + ": " + grouped(u || 0) + (cap[c] ? " of " + grouped(cap[c]) + " (" + (100 * (u || 0) / cap[c]).toFixed(1) + "%)" : "") + " \u00b7 " + devs[c]);
      });
      traces.push({ type: "bar", x: x, y: showPct ? pct : used, name: RES_LABEL[r], xaxis: "x", yaxis: yk,
                    marker: { color: RES_COLORS[r] }, text: hover, hovertemplate: "%{text}<extra></extra>", textposition: "none",
                    customdata: points });
      if (showPct) {
        traces.push({ type: "bar", x: x, y: pct.map(function (p) { return Math.max(0, 100 - p); }), name: "free",
                      xaxis: "x", yaxis: yk, marker: { color: "#e9ecef" }, hoverinfo: "skip", customdata: points });
      }
      var top = 1 - k * (hgt + gap);
      var maxPct = Math.max.apply(null, pct.map(function (p) { return p || 0; }).concat([100]));
      layout[k === 0 ? "yaxis" : "yaxis" + (k + 1)] = {
        domain: [Math.max(0, top - hgt), top], anchor: "x", automargin: true,
        title: { text: RES_LABEL[r] + (showPct ? " %" : "") }, range: showPct ? [0, maxPct * 1.02] : undefined,
        ticksuffix: showPct ? "%" : "",
      };
    });
    plot(div, traces, layout, true);
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

  var tableCells = [];  // [td, column, i] of the cells that show a value (re-filled when the reference changes)

  function fillCell(td, c, i) {
    td.textContent = "";
    var v = c.get(i);
    if (c.metric) {
      var parts = v === null || v === undefined ? ["-"] : withRel(c.metric, i);
      td.appendChild(document.createTextNode(parts[0]));
      if (parts.length > 1) td.appendChild(h("span", { cls: "rel " + relClass(c.metric, v, valueOf(baseIndex(), c.metric)), text: " " + parts[1] }));
    } else td.textContent = v === null || v === undefined ? "-" : c.show(v);
  }

  function renderTableValues() { tableCells.forEach(function (x) { fillCell(x[0], x[1], x[2]); }); }

  function renderTable() {
    var box = body("table-body");
    if (!D.pareto.length) { emptyNote(box, "The Pareto set is empty."); return; }
    var link = h("a", { id: "csv-link", download: safeStem(D.meta.study) + "-pareto.csv",
                        href: "data:text/csv;charset=utf-8;base64," + base64Utf8(D.csv),
                        text: "Download the Pareto set as CSV (" + D.pareto.length + " rows, as dse export writes it; filters do not apply)" });
    box.appendChild(h("p", {}, [link]));
    var objNames = OBJ.map(function (o) { return o.name; });
    var extra = Object.keys(MET).filter(function (k) { return MET[k].report_column; })
      .filter(function (k) { return objNames.indexOf(k) < 0 && T.metrics[k] && D.pareto.some(function (n) { var v = metric(indexOf.get(n), k); return v !== null && (k !== "uram" || v > 0); }); });
    var cols = [{ label: "trial", get: function (i) { return T.number[i]; }, show: function (v) { return "#" + v + (kneeSet.has(v) ? " \u25c7 knee" : ""); } },
                { label: "baseline", text: true, get: function (i) { return T.baseline[i] || ""; }, show: String }];
    OBJ.forEach(function (o, j) { cols.push({ label: o.name + (o.direction === "maximize" ? " \u2191" : " \u2193"), metric: o.name, get: function (i) { return T.values[i][j]; } }); });
    extra.forEach(function (k) { cols.push({ label: k, metric: k, get: function (i) { return metric(i, k); } }); });
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
        var td = h("td", { cls: c.text ? "text" : "" });
        fillCell(td, c, i);
        if (c.metric) tableCells.push([td, c, i]);
        return td;
      }));
      tr.addEventListener("click", function (ev) { if (ev.shiftKey) toggleCompare(n); else select(n); });
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
    box.appendChild(h("p", { cls: "help", text: "Shift-click a row to add it to the comparison." }));
    box.appendChild(h("div", { cls: "scroll" }, [table]));
  }

  // --- infeasible -----------------------------------------------------------------------------

  // --- RTL validation (dse validate): model vs simulation vs synthesis ------------------------

  function renderValidation() {
    if (!VAL.rows.length) return;
    var anchor = document.getElementById("resources");
    if (!anchor) return;
    var sec = h("section", { id: "validation" }, [
      h("h2", { text: "RTL validation" }),
      h("p", { cls: "help", text: "Pareto points whose generated array was simulated (cycles against the model, " +
        "outputs against an integer GEMM) and synthesized with Yosys by 'dse validate' (square markers in the " +
        "scatter plots). Error = (model \u2212 synthesis) / synthesis." })]);
    var head = ["trial", "array", "layers simulated", "cycles", "outputs"];
    VAL.resources.forEach(function (r) { head.push((RES_LABEL[r] || r) + " model / synth"); });
    var tbl = h("table", { cls: "validation" }, [h("thead", {}, [h("tr", {}, head.map(function (t) { return h("th", { text: t }); }))])]);
    var tb = h("tbody");
    VAL.rows.forEach(function (r) {
      var cells = ["#" + r.trial + (r.on_front ? "" : " (off the front)"), r.array || r.status];
      if (r.status !== "validated") {
        cells.push(r.reason || r.status);
        tb.appendChild(h("tr", {}, cells.map(function (t) { return h("td", { text: t }); })));
        return;
      }
      cells.push(r.layers + (r.skipped ? " (" + r.skipped + " over the bound)" : ""));
      cells.push(r.layers ? (r.cycles_match ? "match" : "DIFFER") : "\u2014");
      cells.push(r.layers ? (r.outputs_match ? "match" : "DIFFER") : "\u2014");
      VAL.resources.forEach(function (res) {
        var x = r[res] || {};
        if (x.synth === null || x.synth === undefined) { cells.push(r.synth_note ? "not synthesized" : "\u2014"); return; }
        cells.push(grouped(x.model) + " / " + grouped(x.synth) + (x.error === null ? "" : " (" + (x.error >= 0 ? "+" : "") + (100 * x.error).toFixed(1) + "%)"));
      });
      tb.appendChild(h("tr", {}, cells.map(function (t) { return h("td", { text: String(t) }); })));
    });
    tbl.appendChild(tb);
    sec.appendChild(tbl);
    anchor.parentNode.insertBefore(sec, anchor.nextSibling);
  }

  function renderInfeasible() {
    var box = body("infeasible-body"), I = D.infeasible, c = D.counts;
    if (!I.total) { emptyNote(box, "Every finished trial was feasible."); return; }
    box.appendChild(h("p", { cls: "help", text: I.total + " trials were not usable: " + c.infeasible + " infeasible before any fine-tune, " +
      c.infeasible_complete + " complete but over a cap, " + (c["screened out"] ? c["screened out"] + " screened out (not fine-tuned), " : "") +
      c.abandoned + " abandoned, " + c.failed +
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

  // nav links scroll without replacing the #trial=N hash (the link to this design stays shareable)
  document.querySelectorAll("#nav a").forEach(function (a) {
    a.addEventListener("click", function (ev) {
      var target = body(a.getAttribute("href").slice(1));
      if (!target) return;
      ev.preventDefault();
      target.scrollIntoView();
    });
  });

  var t0 = performance.now();
  renderHeader();
  if (M >= 1) renderControls();
  renderTable();
  renderInfeasible();
  renderConfig();
  renderValidation();
  computePass();
  var timings = api.timings = {};
  function timed(name, fn) { var t = performance.now(); fn(); timings[name] = performance.now() - t; }
  loadPlotly().then(function () {
    timings.plotly = performance.now() - t0;
    timed("front", renderFront);
    timed("heatmap", renderHeatmap);
    timed("resources", renderResources);
    timed("progress", renderProgress);
    renderCompare();
    applyFilters(true);  // every view is drawn unfiltered already: only the counts
    state.hashReady = true;
    var fromLink = applyHash();
    if (!fromLink) {
      if (D.pareto.length) select(KNEE.points.length ? KNEE.points[0] : D.pareto[0], { keepHash: true });
      else emptyNote(body("details-body"), "Nothing selected: click any point of the front to see it here.");
    }
    window.addEventListener("hashchange", applyHash);
    api.renderMs = performance.now() - t0;
    done("ok");
  }).catch(function (e) {
    var st = body("status");
    st.textContent = "The plots could not be drawn: " + (e && e.message ? e.message : String(e));
    st.hidden = false;
    done("error");
  });
})();
