"""Size and speed of the HTML report at 2,000 (and 20,000) trials, against a 200-trial baseline.

Builds hardware-only studies with the real machinery (ResNet-18 shapes on the systolic
model, XC7Z045, journal storage in a temporary folder, or reused from ``--keep DIR``),
then for each runs ``dse report`` in a fresh process, as a user would, and prints:

- the HTML size (MB) and how much of it is the study's data (the rest is plotly.js,
  gzip + base64, and our script);
- ``build``: wall seconds of the whole ``dse report`` command (interpreter start,
  imports, reading the storage, writing the page);
- ``cpu s``: the command's CPU seconds (user + system): what it costs, whatever else
  the machine is doing (wall time stretches on a busy machine, CPU time does not);
- ``peak MB``: the command's peak resident memory (``ru_maxrss`` of the child);
- ``render``: seconds from opening the file in headless Chromium until every plot is
  drawn (``body[data-ready]``), when ``/usr/bin/chromium`` and Playwright are there;

and the N / baseline ratio of each.

    python benchmarks/bench_report.py [--trials 2000 [20000 ...]] [--baseline 200]
        [--objectives latency_s lut avg_weight_bits] [--sampler random|tpe] [--no-browser] [--keep DIR]
        [--importance]

``--synthetic N ...`` builds studies of N trials fast instead of searching them: a real
search of ``--base`` trials (default 100) is run first, then its trials are copied in bulk
into the same journal, record by record, in the exact on-disk shape a worker writes (one
create record, one record per parameter, one per user attr, the constraints, the final
state), each copy with its latency/cycles/energy scaled by a random factor (log-normal,
sigma 0.2) and its LUT/FF by another (sigma 0.1), in the trial's metrics, ``hw`` and
``hw_layers`` alike, a unique ``point_key``, and its objective values recomputed from the
scaled metrics. Parameters and feasibility are the source trial's (so parameter importance
on such a study means nothing; the size, shape and cost of the storage are realistic).

    python benchmarks/bench_report.py --synthetic 2000 20000 [--base 100] --no-browser --keep DIR

``--importance`` also compares the report's parameter importance (dse/report/importance.py)
with Optuna's PED-ANOVA evaluator on the largest study: top parameters and seconds of each.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-quic"]


def study_doc(name: str, trials: int, objectives: list[str], sampler: str) -> dict:
    return {
        "study": {"name": name, "objectives": objectives, "fidelity": "none", "trials": trials},
        "workload": {"name": "resnet18"},
        "space": {"kinds": ["fixed", "sp2"], "w_bits": [4, 6, 8], "a_bits": [8], "shared": False},
        "hardware": {"model": "systolic", "device": "XC7Z045", "ranges": {"rows": [4, 32], "cols": [4, 32]},
                     "search": ["rows", "cols", "dataflow", "pe_arith"]},
        "sampler": {"name": sampler},
    }


def build_study(url: str, name: str, trials: int, objectives: list[str], sampler: str) -> float:
    """Make (or resume to ``trials``) the study in a child process (so that this process
    stays small: a child inherits its parent's peak memory across fork and exec, which
    would inflate the report command's ``ru_maxrss``); seconds spent searching."""
    out = subprocess.run([sys.executable, __file__, "--_build", url, name, str(trials), sampler, *objectives],
                         check=True, capture_output=True, text=True, cwd=str(ROOT))
    return float(out.stdout.strip().splitlines()[-1])


def _build_here(url: str, name: str, trials: int, objectives: list[str], sampler: str) -> float:
    sys.path.insert(0, str(ROOT))
    from dse.config import parse_config
    from dse.storage import open_storage
    from dse.study import open_study, resolve, run_worker

    doc = study_doc(name, trials, objectives, sampler)
    cfg = parse_config(doc)
    resolved = resolve(cfg)
    handle = open_storage(url)
    open_study(handle, cfg, doc, resolved)
    t0 = time.perf_counter()
    run_worker(handle, resolved, cfg.trials, None)
    return time.perf_counter() - t0


def build_synthetic(url: str, name: str, trials: int, base: int, objectives: list[str], sampler: str) -> float:
    """A ``trials``-trial study written in bulk from a real ``base``-trial search (see the module
    docstring), in a child process (as :func:`build_study`: reading the journal here would
    raise this process's memory, which the report command's ``ru_maxrss`` inherits); seconds."""
    out = subprocess.run([sys.executable, __file__, "--_synth", url, name, str(trials), str(base), sampler,
                          *objectives], check=True, capture_output=True, text=True, cwd=str(ROOT))
    return float(out.stdout.strip().splitlines()[-1])


def _synthetic_here(url: str, name: str, trials: int, base: int, objectives: list[str], sampler: str,
                    seed: int = 0) -> float:
    import random

    t0 = time.perf_counter()
    if not Path(url).exists():
        build_study(url, name, base, objectives, sampler)
    lines = Path(url).read_bytes().splitlines(keepends=True)
    created = 0  # trial ids are given in creation order (one study per journal here)
    groups: dict[int, list[dict]] = {}
    baselines = set()
    for line in lines:
        log = json.loads(line)
        if log["op_code"] == 4:
            if "user_attrs" in log:  # an enqueued baseline (created WAITING with its template)
                baselines.add(created)
            created += 1
        elif "trial_id" in log:
            groups.setdefault(log["trial_id"], []).append(log)
    if created >= trials:
        return time.perf_counter() - t0

    def final(logs):
        return next((lg for lg in reversed(logs) if lg["op_code"] == 6 and lg["state"] in (1, 2)), None)

    def attr(logs, key):
        return next((lg["user_attr"][key] for lg in logs if lg["op_code"] == 8 and key in lg["user_attr"]), None)

    pool = [tid for tid, logs in sorted(groups.items())
            if tid not in baselines and final(logs) is not None and attr(logs, "duplicate_of") is None]
    if not pool:
        raise SystemExit(f"--synthetic: the {base}-trial base search finished no trial to copy")
    rng = random.Random(seed)
    worker = json.loads(lines[0])["worker_id"]
    timed = ("latency_s", "cycles", "energy_j")
    sized = ("lut", "ff")

    def scaled(d, f, g):
        d = dict(d)
        for k in timed:
            if isinstance(d.get(k), (int, float)):
                d[k] = d[k] * f
        for k in sized:
            if isinstance(d.get(k), (int, float)):
                d[k] = float(round(d[k] * g))
        return d

    with open(url, "ab") as out:
        for tid in range(created, trials):
            src = groups[rng.choice(pool)]
            f, g = rng.lognormvariate(0, 0.2), rng.lognormvariate(0, 0.1)
            recs = [{"op_code": 4, "worker_id": worker, "study_id": 0,
                     "datetime_start": "2026-01-01T00:00:00.000000+00:00"}]
            metrics = None
            for lg in src:
                lg = {**lg, "trial_id": tid}
                if lg["op_code"] == 8:
                    (key, value), = lg["user_attr"].items()
                    if key in ("metrics", "hw") and isinstance(value, dict):
                        value = scaled(value, f, g)
                        metrics = value if key == "metrics" else metrics
                    elif key == "hw_layers" and isinstance(value, list):
                        value = [scaled(row, f, 1.0) for row in value]
                    elif key == "point_key":
                        value = f"{value}-{tid:x}"
                    lg["user_attr"] = {key: value}
                elif lg["op_code"] == 6 and lg.get("values") is not None and metrics is not None:
                    lg["values"] = [metrics.get(o, v) for o, v in zip(objectives, lg["values"])]
                recs.append(lg)
            out.write("".join(json.dumps(r, separators=(",", ":")) + "\n" for r in recs).encode())
    return time.perf_counter() - t0


def report_command(url: str, name: str, out: Path) -> tuple[float, float, float]:
    """Run ``dse report`` in a child process: (wall seconds, CPU seconds, peak resident MB)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "dse", "report", "--storage", url, "--study", name, "-o", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=str(ROOT))
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    err = proc.stderr.read().decode() if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"dse report failed: {err.strip()}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024.0  # Linux: KiB


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
                page.wait_for_selector("body[data-ready='ok']", state="attached", timeout=300_000)
                times.append(time.perf_counter() - t0)
                page.close()
            out.append(min(times))
        ctx.close()
    return out


def compare_importance(url: str, name: str) -> None:
    """Top parameters per objective: dse.report.importance vs optuna's PedAnovaImportanceEvaluator."""
    import warnings

    sys.path.insert(0, str(ROOT))
    import optuna
    from optuna.trial import TrialState

    from dse.record import StudyRecord, TrialRecord
    from dse.report.importance import param_importances
    from dse.storage import open_storage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=name, storage=open_storage(url, create_dirs=False).storage)
    complete = [t for t in study.get_trials(deepcopy=False)
                if t.state == TrialState.COMPLETE and TrialRecord.get(t, "duplicate_of") is None]
    objectives = StudyRecord.get(study, "objectives")
    directions = ["maximize" if d == optuna.study.StudyDirection.MAXIMIZE else "minimize" for d in study.directions]
    t0 = time.perf_counter()
    ours = param_importances(complete, objectives, directions)
    ours_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    holder = optuna.create_study(directions=directions)
    holder.add_trials([optuna.trial.create_trial(params=t.params, distributions=t.distributions, values=t.values)
                       for t in complete])
    ref = {}
    for j, (o, d) in enumerate(zip(objectives, directions)):
        sign = -1.0 if d == "maximize" else 1.0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref[o] = list(optuna.importance.get_param_importances(
                holder, target=lambda t, j=j, sign=sign: sign * t.values[j],
                evaluator=optuna.importance.PedAnovaImportanceEvaluator()).items())
    ref_s = time.perf_counter() - t0
    print(f"parameter importance on {len(complete)} complete trials: dse {ours_s:.2f} s, "
          f"optuna PED-ANOVA {ref_s:.2f} s (with its imports)")
    for o in objectives:
        print(f"  {o}: dse    " + ", ".join(f"{k} {v:.3f}" for k, v in ours[o][:4]))
        print(f"  {o}: optuna " + ", ".join(f"{k} {v:.3f}" for k, v in ref[o][:4]))


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--_build":
        url, name, n, sampler, *objectives = sys.argv[2:]
        print(_build_here(url, name, int(n), objectives, sampler))
        return 0
    if len(sys.argv) > 1 and sys.argv[1] == "--_synth":
        url, name, n, base, sampler, *objectives = sys.argv[2:]
        print(_synthetic_here(url, name, int(n), int(base), objectives, sampler))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, nargs="+", default=[2000])
    ap.add_argument("--baseline", type=int, default=200)
    ap.add_argument("--objectives", nargs="+", default=["latency_s", "lut", "avg_weight_bits"])
    ap.add_argument("--sampler", default="random", choices=("random", "tpe", "nsga2"))
    ap.add_argument("--no-browser", action="store_true", help="skip the Chromium render timing")
    ap.add_argument("--keep", help="keep (and reuse) the storages and pages in this folder")
    ap.add_argument("--synthetic", type=int, nargs="+",
                    help="build studies of these sizes in bulk from a real --base-trial search (instead of --trials)")
    ap.add_argument("--base", type=int, default=100, help="real trials behind a --synthetic study")
    ap.add_argument("--importance", action="store_true",
                    help="compare parameter importance with Optuna's PED-ANOVA on the largest study")
    args = ap.parse_args()
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="dse-bench-report-"))
    work.mkdir(parents=True, exist_ok=True)
    tag = f"{len(args.objectives)}obj-{args.sampler}"
    rows = []
    try:
        sizes = args.synthetic if args.synthetic else [args.baseline, *args.trials]
        for n in sizes:
            if args.synthetic:
                tag_n = f"syn{n}-base{args.base}-{tag}"
                url, name = str(work / f"s{tag_n}.journal"), f"bench-{tag_n}"
                search_s = build_synthetic(url, name, n, args.base, args.objectives, args.sampler)
            else:
                url, name = str(work / f"s{n}-{tag}.journal"), f"bench-{n}-{tag}"
                search_s = build_study(url, name, n, args.objectives, args.sampler)
            print(f"{n}-trial study ready ({search_s:.0f} s to build, {os.path.getsize(url) / 1e6:.0f} MB)",
                  file=sys.stderr)
            path = work / f"report-{n}-{tag}.html"
            build_s, cpu_s, peak_mb = report_command(url, name, path)
            text = path.read_text(encoding="utf-8")
            data = re.search(r'id="dse-data">(.*?)</script>', text, re.S).group(1)
            c = json.loads(data)["counts"]
            rows.append({"trials": n, "complete": c["complete"], "pareto": c["pareto"], "path": path, "url": url, "name": name,
                         "mb": len(text.encode()) / 1e6, "data_mb": len(data.encode()) / 1e6, "build_s": build_s,
                         "cpu_s": cpu_s, "peak_mb": peak_mb, "load": os.getloadavg()[0]})
        renders = [None] * len(rows) if args.no_browser else render_seconds([r["path"] for r in rows])
        for r, s in zip(rows, renders):
            r["render_s"] = s
        print(f"objectives: {', '.join(args.objectives)}; sampler: {args.sampler}; load: 1-minute load average "
              f"when the command finished ({os.cpu_count()} CPUs)")
        print(f"{'trials':>6} {'complete':>8} {'pareto':>6} {'html MB':>8} {'data MB':>8} {'build s':>8} "
              f"{'cpu s':>6} {'peak MB':>8} {'render s':>9} {'load':>5}")
        for r in rows:
            rs = f"{r['render_s']:.2f}" if r["render_s"] is not None else "-"
            print(f"{r['trials']:>6} {r['complete']:>8} {r['pareto']:>6} {r['mb']:>8.2f} {r['data_mb']:>8.3f} "
                  f"{r['build_s']:>8.2f} {r['cpu_s']:>6.2f} {r['peak_mb']:>8.0f} {rs:>9} {r['load']:>5.1f}")
        a = rows[0]
        for b in rows[1:]:
            ratio = [f"html {b['mb'] / a['mb']:.2f}x", f"data {b['data_mb'] / a['data_mb']:.1f}x",
                     f"build {b['build_s'] / a['build_s']:.1f}x", f"cpu {b['cpu_s'] / a['cpu_s']:.1f}x", f"peak memory {b['peak_mb'] / a['peak_mb']:.2f}x"]
            if a["render_s"] and b["render_s"]:
                ratio.append(f"render {b['render_s'] / a['render_s']:.2f}x")
            print(f"{b['trials']} / {a['trials']} trials: " + ", ".join(ratio))
        if args.importance:
            compare_importance(rows[-1]["url"], rows[-1]["name"])
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
