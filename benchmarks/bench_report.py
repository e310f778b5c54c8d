"""Size and speed of the HTML report at 2,000 trials, against a 200-trial baseline.

Builds two hardware-only studies with the real machinery (ResNet-18 shapes on the
systolic model, XC7Z045, random sampler, 3 objectives: latency, LUTs, average weight
bits; journal storage in a temporary folder), then for each prints:

- the HTML size (MB) and how much of it is the study's data (the rest is plotly.js,
  gzip + base64, and our script);
- ``build``: seconds to read the storage and write the page (``dse report``'s work);
- ``render``: seconds from opening the file in headless Chromium until every plot is
  drawn (``body[data-ready]``), when ``/usr/bin/chromium`` and Playwright are there;

and the 2,000 / 200 ratio of each.

    python benchmarks/bench_report.py [--trials 2000] [--baseline 200] [--no-browser] [--keep DIR]
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import optuna  # noqa: E402

from dse.config import parse_config  # noqa: E402
from dse.report import write_report  # noqa: E402
from dse.storage import open_storage  # noqa: E402
from dse.study import open_study, pareto_trials, resolve, run_worker, status_counts  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-quic"]


def study_doc(name: str, trials: int) -> dict:
    return {
        "study": {"name": name, "objectives": ["latency_s", "lut", "avg_weight_bits"], "fidelity": "none",
                  "trials": trials},
        "workload": {"name": "resnet18"},
        "space": {"kinds": ["fixed", "sp2"], "w_bits": [4, 6, 8], "a_bits": [8], "shared": False},
        "hardware": {"model": "systolic", "device": "XC7Z045", "ranges": {"rows": [4, 32], "cols": [4, 32]},
                     "search": ["rows", "cols", "dataflow", "pe_arith"]},
        "sampler": {"name": "random"},
    }


def build_study(url: str, name: str, trials: int) -> tuple[optuna.Study, float]:
    doc = study_doc(name, trials)
    cfg = parse_config(doc)
    resolved = resolve(cfg)
    handle = open_storage(url)
    study, _ = open_study(handle, cfg, doc, resolved)
    t0 = time.perf_counter()
    run_worker(handle, resolved, cfg.trials, None)
    return study, time.perf_counter() - t0


def render_seconds(paths: list[Path]) -> list[float | None]:
    """Open each page in headless Chromium (fresh profile); seconds until it is drawn."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return [None] * len(paths)
    if not Path(CHROMIUM).exists():
        return [None] * len(paths)
    out = []
    with tempfile.TemporaryDirectory() as profile, sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(profile, executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                                   viewport={"width": 1400, "height": 1000})
        for path in paths:
            times = []
            for _ in range(2):  # the first load also warms the browser; keep the best of two
                page = ctx.new_page()
                t0 = time.perf_counter()
                page.goto(path.resolve().as_uri())
                page.wait_for_selector("body[data-ready='ok']", state="attached", timeout=120_000)
                times.append(time.perf_counter() - t0)
                page.close()
            out.append(min(times))
        ctx.close()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=2000)
    ap.add_argument("--baseline", type=int, default=200)
    ap.add_argument("--no-browser", action="store_true", help="skip the Chromium render timing")
    ap.add_argument("--keep", help="keep the storage and pages in this folder")
    args = ap.parse_args()
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="dse-bench-report-"))
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    try:
        for n in (args.baseline, args.trials):
            url = str(work / f"s{n}.journal")
            study, search_s = build_study(url, f"bench-{n}", n)
            print(f"built a {n}-trial study in {search_s:.0f} s", file=sys.stderr)
            # what `dse report` does: load the study from its storage, write the page
            t0 = time.perf_counter()
            study = optuna.load_study(study_name=f"bench-{n}", storage=open_storage(url, create_dirs=False).storage)
            path = write_report(study, work / f"report-{n}.html")
            build_s = time.perf_counter() - t0
            text = path.read_text(encoding="utf-8")
            data = re.search(r'id="dse-data">(.*?)</script>', text, re.S).group(1)
            c = status_counts(study)
            rows.append({"trials": n, "complete": c["complete"], "pareto": len(pareto_trials(study)), "path": path,
                         "mb": len(text.encode()) / 1e6, "data_mb": len(data.encode()) / 1e6, "build_s": build_s})
        renders = [None] * len(rows) if args.no_browser else render_seconds([r["path"] for r in rows])
        for r, s in zip(rows, renders):
            r["render_s"] = s
        print(f"{'trials':>6} {'complete':>8} {'pareto':>6} {'html MB':>8} {'data MB':>8} {'build s':>8} {'render s':>9}")
        for r in rows:
            rs = f"{r['render_s']:.2f}" if r["render_s"] is not None else "-"
            print(f"{r['trials']:>6} {r['complete']:>8} {r['pareto']:>6} {r['mb']:>8.2f} {r['data_mb']:>8.3f} "
                  f"{r['build_s']:>8.2f} {rs:>9}")
        a, b = rows
        ratio = [f"html {b['mb'] / a['mb']:.2f}x", f"data {b['data_mb'] / a['data_mb']:.1f}x",
                 f"build {b['build_s'] / a['build_s']:.1f}x"]
        if a["render_s"] and b["render_s"]:
            ratio.append(f"render {b['render_s'] / a['render_s']:.2f}x")
        print(f"{args.trials} / {args.baseline} trials: " + ", ".join(ratio))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
