"""Screenshots of an HTML report for the docs, taken in headless Chromium.

Writes, under ``--out`` (default ``docs/img``), with ``--prefix`` (default ``report``):

- ``PREFIX-front.png``: the header, the knee note and the Pareto front (explorer and parallel
  coordinates too with three or more objectives); the page opens on the knee (ringed) and the
  pointer rests on the pixel of the Pareto point best in the last objective, so the page's own
  tooltip shows it (plotly's hover label is off: the page picks with its own hit test);
- ``PREFIX-details.png``: that point clicked at its pixel (the click goes through the page's
  hit test; the script checks that exactly that trial got selected): the selected design point
  with its per-layer breakdown and the export commands;
- ``PREFIX-compare.png``: the comparison view after "Compare the knee with the baselines", with
  the point above added (as a link would: ``#trial=N&compare=...``);
- ``PREFIX-progress.png``: per-layer allocation heatmap, resources, search progress, Pareto table
  and infeasible reasons.

A PNG over 380 kB is re-saved with a 256-colour palette when Pillow is installed (docs images stay
under 400 kB).

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

# client pixel of trial n's marker in the first pair plot (its Pareto trace)
POINT_XY = """(n) => {
  const gd = document.querySelector('.front-plot');
  const fl = gd._fullLayout, r = gd.getBoundingClientRect();
  const t = gd.data.find(t => t.uid === 'pareto'), k = t.customdata.indexOf(n);
  return {x: r.left + fl.xaxis._offset + fl.xaxis.c2p(t.x[k]), y: r.top + fl.yaxis._offset + fl.yaxis.c2p(t.y[k])};
}"""

# the Pareto point best in the last objective (the other end of the front from the first objective's best)
TARGET = """() => { const D = dseReport.data, T = D.trials, m = D.objectives.length - 1;
  const sign = D.objectives[m].direction === 'maximize' ? -1 : 1;
  const knee = new Set((D.knee && D.knee.points) || []);
  let best = null, bv = Infinity;
  for (const n of D.pareto) { if (knee.has(n)) continue;
    const v = sign * T.values[T.number.indexOf(n)][m]; if (v < bv) { bv = v; best = n; } }
  return best; }"""


def section_box(page, first: str, last: str) -> dict:
    """Page-coordinate box from the top of ``first`` to the bottom of ``last``."""
    return page.evaluate("""([a, b]) => {
      const ra = document.querySelector(a).getBoundingClientRect(), rb = document.querySelector(b).getBoundingClientRect();
      return {x: 0, y: ra.top + window.scrollY - 8, width: document.documentElement.clientWidth,
              height: rb.bottom - ra.top + 16};
    }""", [first, last])


def full_height(page) -> None:
    """Make the viewport as tall as the page: nothing scrolls, so client pixels are page pixels."""
    h = page.evaluate("document.documentElement.scrollHeight")
    page.set_viewport_size({"width": WIDTH, "height": int(h)})
    page.wait_for_timeout(300)


def shoot(page, path: Path, first: str, last: str) -> None:
    page.screenshot(path=str(path), clip=section_box(page, first, last), full_page=True)
    shrink(path)


def shrink(path: Path, limit: int = 380_000) -> None:
    """Re-save a PNG over ``limit`` bytes as a 256-colour palette PNG (a third of the size, text stays sharp), with
    Pillow if present; smaller ones keep their exact colours."""
    if path.stat().st_size <= limit:
        return
    try:
        from PIL import Image
    except ImportError:
        return
    with Image.open(path) as im:
        small = im.convert("RGB").quantize(colors=256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    small.save(path, optimize=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("report", help="HTML report to photograph")
    ap.add_argument("--out", default="docs/img")
    ap.add_argument("--prefix", default="report")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    url = Path(args.report).resolve().as_uri()
    names = []
    with tempfile.TemporaryDirectory() as profile, sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(profile, executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                                   viewport={"width": WIDTH, "height": 1100})
        page = ctx.new_page()
        page.goto(url)
        page.wait_for_selector("body[data-ready='ok']", state="attached", timeout=120_000)
        full_height(page)
        target = page.evaluate(TARGET) if page.evaluate("dseReport.data.pareto.length") else None
        if target is not None:
            xy = page.evaluate(POINT_XY, target)
            page.mouse.move(xy["x"], xy["y"])
            page.wait_for_selector(f"#tip[data-trial='{target}']:not([hidden])", state="visible", timeout=10_000)
        shoot(page, out / f"{args.prefix}-front.png", "header", "#front")
        names.append("front")
        if target is not None:
            page.mouse.click(xy["x"], xy["y"])
            got = page.get_attribute("body", "data-selected-trial")
            if got != str(target):
                raise SystemExit(f"clicking trial {target}'s pixel selected trial {got}")
            page.mouse.move(2, 2)  # tooltip away
            page.wait_for_timeout(200)
            full_height(page)
            shoot(page, out / f"{args.prefix}-details.png", "#details", "#details")
            names.append("details")
            # the comparison: the knee with the baselines, plus the point above, opened from a link
            page.click("#compare-knee")
            cmp = page.eval_on_selector_all("#compare-table th.design", "ts => ts.map(t => t.dataset.trial)")
            if str(target) not in cmp:
                cmp.append(str(target))
            page.goto(url + f"#trial={target}&compare={','.join(cmp)}")
            page.reload()
            page.wait_for_selector("body[data-ready='ok']", state="attached", timeout=120_000)
            n = page.locator("#compare-table th.design").count()
            if n != len(cmp):
                raise SystemExit(f"the link {cmp} opened a comparison of {n} designs")
            full_height(page)
            shoot(page, out / f"{args.prefix}-compare.png", "#compare", "#compare")
            names.append("compare")
        shoot(page, out / f"{args.prefix}-progress.png", "#allocation", "#infeasible")
        names.append("progress")
        ctx.close()
    for name in names:
        f = out / f"{args.prefix}-{name}.png"
        print(f"{f} ({f.stat().st_size / 1e3:.0f} kB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
