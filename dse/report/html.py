"""The page: one self-contained HTML file (styles, data, plotly.js and our script inline).

Safety: the data travels as JSON inside ``<script type="application/json">`` with every
``<``, ``>`` and ``&`` written as a ``\\u00XX`` escape, so no stored string (study name,
layer names, parameter values, config text) can close the element or open a tag; the
script builds the page with ``textContent`` only. The title, the one piece of markup
written here from data, goes through :func:`html.escape`.

Size: plotly.js is about 4.8 MB minified. It is embedded gzip-compressed and base64-coded
(about 1.9 MB) and inflated in the browser with ``DecompressionStream`` (Chrome 80,
Firefox 113, Safari 16.4 and later); ``compress_js=False`` embeds it as plain text for
older browsers.
"""

from __future__ import annotations

import re

import base64
import gzip
import html
import json
from functools import lru_cache
from importlib import resources
from typing import Any

_CSS = """
:root { --fg:#1d2127; --muted:#5c6370; --line:#d8dce2; --bg:#ffffff; --panel:#f6f7f9; --accent:#d9480f;
        --dominated:#4c6ef5; --bad:#868e96; --ok:#2b8a3e; }
* { box-sizing: border-box; }
body { margin:0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       color:var(--fg); background:var(--bg); }
header { padding: 18px 28px 10px; border-bottom: 1px solid var(--line); background: var(--panel); }
header h1 { margin: 0 0 4px; font-size: 22px; word-break: break-all; }
header .sub { color: var(--muted); margin-bottom: 10px; }
nav { position: sticky; top: 0; z-index: 5; background: var(--bg); border-bottom: 1px solid var(--line);
      padding: 6px 28px; display:flex; flex-wrap: wrap; gap: 14px; }
nav a { color: var(--muted); text-decoration: none; font-size: 13px; }
nav a:hover { color: var(--fg); }
main { padding: 0 28px 40px; max-width: 1500px; }
section { margin-top: 26px; }
h2 { font-size: 18px; margin: 0 0 6px; }
h3 { font-size: 15px; margin: 14px 0 6px; }
p.help { color: var(--muted); margin: 0 0 10px; max-width: 1000px; }
.facts { display: grid; grid-template-columns: repeat(auto-fill, minmax(230px, 1fr)); gap: 4px 20px; margin: 0; }
.facts div { display: flex; gap: 6px; min-width: 0; }
.facts dt { color: var(--muted); white-space: nowrap; }
.facts dd { margin: 0; overflow-wrap: anywhere; }
.counts { display:flex; flex-wrap: wrap; gap: 8px; margin-top: 10px; }
.badge { border: 1px solid var(--line); border-radius: 12px; padding: 1px 10px; background: var(--bg); font-size: 13px; }
.badge b { font-variant-numeric: tabular-nums; }
.badge.pareto { border-color: var(--accent); color: var(--accent); }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(460px, 1fr)); gap: 12px; }
.plot { border: 1px solid var(--line); border-radius: 6px; min-height: 260px; overflow: hidden; }
.empty { padding: 18px; border: 1px dashed var(--line); border-radius: 6px; color: var(--muted); background: var(--panel); }
.warn { color: #a61e4d; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; font-size: 13px; }
th, td { border-bottom: 1px solid var(--line); padding: 3px 8px; text-align: right; white-space: nowrap; }
th { background: var(--panel); position: sticky; top: 0; }
td.text, th.text { text-align: left; }
.scroll { overflow: auto; max-height: 560px; border: 1px solid var(--line); border-radius: 6px; }
table.sortable th { cursor: pointer; user-select: none; }
table.sortable th[data-sort="asc"]::after { content: " \\25B2"; font-size: 10px; }
table.sortable th[data-sort="desc"]::after { content: " \\25BC"; font-size: 10px; }
table.pick tbody tr { cursor: pointer; }
table.pick tbody tr:hover { background: #fff4e6; }
tr.selected, tr.selected:hover { background: #ffe8cc !important; }
.kv { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; }
.kv dt { color: var(--muted); }
.kv dd { margin: 0; overflow-wrap: anywhere; }
.cols { display: flex; flex-wrap: wrap; gap: 28px; align-items: flex-start; }
.bar { background: #ffd8a8; height: 10px; border-radius: 2px; }
.barcell { width: 220px; }
.tag { display: inline-block; border-radius: 3px; padding: 0 6px; font-size: 12px; background: var(--panel);
       border: 1px solid var(--line); margin-right: 4px; }
.tag.pareto { background: #fff4e6; border-color: var(--accent); }
.tag.infeasible, .tag.failed, .tag.abandoned, .tag.screened { background: #f1f3f5; }
pre { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 10px; overflow: auto;
      max-height: 480px; font-size: 12px; }
select, button { font: inherit; }
footer { color: var(--muted); padding: 14px 28px; border-top: 1px solid var(--line); font-size: 12px; }
.tip { position: fixed; z-index: 20; pointer-events: none; background: #fff; border: 1px solid #adb5bd; border-radius: 4px;
       padding: 5px 8px; font-size: 12px; box-shadow: 0 2px 6px rgba(0,0,0,.15); max-width: 460px; }
.tip .tip-head { font-weight: 600; }
.toolbar { display: flex; flex-direction: column; gap: 6px; margin: 6px 0 10px; }
.control label { color: var(--muted); }
.filters { display: flex; flex-direction: column; gap: 4px; padding: 8px 0; }
.filter-row { display: flex; flex-wrap: wrap; gap: 6px 12px; align-items: center; }
.flabel { color: var(--muted); min-width: 190px; }
input.num { width: 96px; font: inherit; }
.rel { color: var(--muted); font-size: 12px; }
.rel.better { color: var(--ok); }
.rel.worse { color: #c92a2a; }
td.diff, td.text.diff { background: #fff3bf; }
td.best { font-weight: 700; }
table.compare th.design { text-align: left; vertical-align: top; }
table.compare th.design .help { font-weight: normal; font-size: 12px; margin: 0; }
table.compare tr.group th { text-align: left; background: #fff; color: var(--muted); font-weight: 600; padding-top: 10px; }
button.x { border: none; background: none; cursor: pointer; color: var(--muted); padding: 0 4px; }
.cmd { margin: 4px 0; }
.cmd code { background: var(--panel); border: 1px solid var(--line); border-radius: 4px; padding: 2px 6px; font-size: 12px;
            overflow-wrap: anywhere; }
.tag.knee { background: #ebfbee; border-color: var(--ok); }
tr.compared td:first-child { box-shadow: inset 3px 0 0 var(--dominated); }
.knee-note p { margin: 4px 0; max-width: 1100px; }
td.sharecell { position: relative; min-width: 90px; }
td.sharecell .bar { position: absolute; left: 0; top: 4px; bottom: 4px; height: auto; opacity: .6; }
td.sharecell span { position: relative; }
"""

_BODY = """<noscript><p class="empty">This report draws everything with JavaScript; enable it to see the
study.</p></noscript>
<header><h1 id="title"></h1><div class="sub" id="subtitle"></div><dl class="facts" id="facts"></dl>
<div class="counts" id="counts"></div></header>
<nav id="nav"><a href="#front">Pareto front</a><a href="#details">Design point</a><a href="#compare">Compare</a><a
href="#allocation">Per-layer allocation</a><a href="#resources">Resources</a><a href="#progress">Search progress</a><a href="#table">Pareto
set</a><a href="#infeasible">Infeasible points</a><a href="#config">Configuration</a></nav>
<main>
<p id="status" class="empty" hidden></p>
<p id="link-status" class="empty warn" hidden></p>
<section id="front"><h2>Pareto front</h2><p class="help">Orange: the Pareto set of all objectives, linked where
they also trade off in the pair shown; blue: feasible but dominated; grey: infeasible or abandoned (constraint
violated, does not fit, fine-tune stopped); stars: the fixed-point baselines; green diamond: the knee. Hover a
point for its numbers, click it to select it everywhere on the page (the address then links to it), shift-click
to add it to the comparison. Drag to zoom, double-click to zoom out.</p><div id="controls" class="toolbar"></div>
<div id="front-body"></div></section>
<section id="details"><h2>Selected design point</h2><div id="details-body"></div></section>
<section id="compare"><h2>Compare designs</h2><p class="help">Designs side by side: objectives, resources
against the device, hardware knobs and, per layer, scheme and cost, each against the first design.</p>
<div id="compare-body"></div></section>
<section id="allocation"><h2>Per-layer allocation across the Pareto set</h2><p class="help">One column per Pareto
point (best first in the first objective), one row per layer: which layers keep precision. Click a column to
select that point.</p><div id="allocation-body"></div></section>
<section id="resources"><h2>Resources against the device</h2><p class="help">Share of the device used by each Pareto
point (solid) and what is left (light), per resource; hover for the absolute numbers.</p>
<div id="resources-body"></div></section>
<section id="progress"><h2>Search progress</h2><div id="progress-body"></div></section>
<section id="table"><h2>Pareto set</h2><p class="help">Click a column header to sort, a row to select the point.
</p><div id="table-body"></div></section>
<section id="infeasible"><h2>Why points were infeasible</h2><div id="infeasible-body"></div></section>
<section id="config"><h2>Configuration</h2><div id="config-body"></div></section>
</main>
<footer id="footer"></footer>
"""


def embed_json(data: Any) -> str:
    """JSON safe inside a ``<script>`` element: no ``<``, ``>`` or ``&`` left literal."""
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return (text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


@lru_cache(maxsize=1)
def _plotly_source() -> str:
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


@lru_cache(maxsize=1)
def _plotly_gzip_b64() -> str:
    # mtime=0: the same plotly gives the same bytes, so reports diff cleanly
    return base64.b64encode(gzip.compress(_plotly_source().encode("utf-8"), compresslevel=9, mtime=0)).decode("ascii")


def _report_script() -> str:
    return resources.files("dse.report").joinpath("report.js").read_text(encoding="utf-8")


def _script_safe(code: str) -> str:
    """Inline script text must not contain ``</script``; plotly.min.js has none, but check."""
    if "</script" in code.lower():
        code = code.replace("</script", "<\\/script").replace("</SCRIPT", "<\\/SCRIPT")
    return code


def render_page(data: dict[str, Any], compress_js: bool = True) -> str:
    """The whole HTML document for :func:`dse.report.data.report_data` output."""
    title = f"{data['meta']['study']} - dse report"
    if compress_js:
        plotly = (f'<script type="application/octet-stream" id="dse-plotly-gz">{_plotly_gzip_b64()}</script>')
    else:
        plotly = f"<script>{_script_safe(_plotly_source())}</script>"
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        # nothing may be fetched: scripts and styles are inline, images are data: URIs
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; script-src 'unsafe-inline'; "
        "style-src 'unsafe-inline'; img-src data: blob:; font-src data:; connect-src data: blob:\">",
        f"<title>{html.escape(title)}</title>",
        f"<style>{_CSS}</style>",
        "</head><body>",
        _BODY,
        f'<script type="application/json" id="dse-data">{embed_json(data)}</script>',
        plotly,
        f"<script>{_script_safe(_report_script())}</script>",
        "</body></html>",
    ])


def report_stem(name: str) -> str:
    """A study name as a safe file name stem (the default ``reports/<stem>.html``)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "study"
