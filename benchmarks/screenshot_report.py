"""Screenshots of an HTML report for the docs, taken in headless Chromium.

Writes, under ``--out`` (default ``docs/img``), with ``--prefix`` (default ``report``):

- ``PREFIX-front.png``: the header and the Pareto front, the pointer hovering the Pareto
  point that is best in the last objective (its hover label showing);
- ``PREFIX-details.png``: that point clicked: the selected design point with its
  per-layer table, and the per-layer allocation heatmap below;
- ``PREFIX-progress.png``: resources, search progress, Pareto table and infeasible reasons.

    python benchmarks/screenshot_report.py reports/digits-demo.html [--out docs/img] [--prefix report]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-quic"]
WIDTH = 1280


def section_box(page, first: str, last: str) -> dict:
    """Page-coordinate box from the top of ``first`` to the bottom of ``last``."""
    return page.evaluate("""([a, b]) => {
      const ra = document.querySelector(a).getBoundingClientRect(), rb = document.querySelector(b).getBoundingClientRect();
      return {x: 0, y: ra.top + window.scrollY - 8, width: document.documentElement.clientWidth,
              height: rb.bottom - ra.top + 16};
    }""", [first, last])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("report", help="HTML report to photograph")
    ap.add_argument("--out", default="docs/img")
    ap.add_argument("--prefix", default="report")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as profile, sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(profile, executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                                   viewport={"width": WIDTH, "height": 1100})
        page = ctx.new_page()
        page.goto(Path(args.report).resolve().as_uri())
        page.wait_for_selector("body[data-ready='ok']", state="attached", timeout=120_000)
        pareto = page.evaluate("dseReport.data.pareto")
        target = None
        if pareto:
            # the Pareto point best in the last objective: the other end of the front from the preselected one
            target = page.evaluate("""() => { const D = dseReport.data, T = D.trials, m = D.objectives.length - 1;
              const sign = D.objectives[m].direction === 'maximize' ? -1 : 1;
              let best = null, bv = Infinity;
              for (const n of D.pareto) { const v = sign * T.values[T.number.indexOf(n)][m]; if (v < bv) { bv = v; best = n; } }
              return best; }""")
            # hover through plotly itself: the pointer could land on a dominated point drawn close by
            page.evaluate("""(n) => { const gd = document.querySelector('.front-plot');
              const c = gd.data.findIndex(t => t.uid === 'pareto');
              Plotly.Fx.hover(gd, [{curveNumber: c, pointNumber: gd.data[c].customdata.indexOf(n)}]); }""", target)
            page.wait_for_timeout(300)
        page.screenshot(path=str(out / f"{args.prefix}-front.png"), clip=section_box(page, "header", "#front"),
                        full_page=True)
        if target is not None:
            page.evaluate("(n) => { Plotly.Fx.unhover(document.querySelector('.front-plot')); dseReport.select(n); }", target)
            page.wait_for_timeout(200)
        page.screenshot(path=str(out / f"{args.prefix}-details.png"), clip=section_box(page, "#details", "#allocation"),
                        full_page=True)
        page.screenshot(path=str(out / f"{args.prefix}-progress.png"), clip=section_box(page, "#resources", "#infeasible"),
                        full_page=True)
        ctx.close()
    for name in ("front", "details", "progress"):
        f = out / f"{args.prefix}-{name}.png"
        print(f"{f} ({f.stat().st_size / 1e3:.0f} kB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
