"""Size- vs complexity-regularised bit allocation (Uhlich et al., ICLR 2020) at matched accuracy.

For each workload, a sweep of targets (average bits) for both penalties, ``size`` (weights
x bits) and ``macbits`` (MACs x bits per filter), each run as ``dse allocate`` runs it:
learn per-filter widths from the cached FP32 model, fine-tune the exported plan like a
search trial (2 epochs), price it on the bit-serial model (defaults: XC7Z045, 16 x 16,
weight-serial, 200 MHz). Uniform fixed-point plans (W3/W4/W5, activations 8 bits) are
added as references.

Printed per workload: every point (accuracy, average weight bits, MACs x bits, bit-serial
latency), then the matched-accuracy comparison: for each accuracy level (the best
mean accuracy over seeds, minus 0.5 / 1 / 2 / 5 points), the fastest seed-averaged point
of each penalty that reaches it, and the ratios macbits / size of latency, MACs x bits and
average bits (the paper: about 0.79 in inference time, i.e. 21 % less at equal accuracy).
The ``cycles`` penalty (an extension: MACs padded to the array's rows) is compared the
same way.

    python benchmarks/bench_allocate.py [--workloads mnist1d,digits] [--targets 2.1,2.25,2.5,3,3.5,4]
        [--metrics size,macbits,cycles] [--seeds 0,1,2] [--epochs 10] [--granularity filter|layer]
        [--finetune-epochs 2] [--storage runs/bench-allocate.journal] [--json out.json]

With ``--storage`` every point is also recorded in study ``bench-allocate-<workload>`` (the
Pareto report shows them beside any searched points).
"""

from __future__ import annotations

import argparse
import json
import math
import time

from dse.methods.allocate import AllocationSpec, run_allocation
from dse.training import FinetuneBudget, finetune
from dse.workloads import get_workload
from hwmodels import DesignPoint, QuantScheme, get_model
from hwmodels.metrics import metrics

LEVELS = (0.005, 0.01, 0.02, 0.05)


def uniform_points(name: str, bits: list[int], args: argparse.Namespace) -> list[dict]:
    bundle = get_workload(name)
    out = []
    for b in bits:
        plan = DesignPoint.make({n: QuantScheme("fixed", b, 8) for n in bundle.spec.layer_names})
        seeds = []
        for seed in args.seeds:
            r = finetune(bundle, plan, FinetuneBudget(epochs=args.finetune_epochs), seed=seed,
                         cache_dir=args.cache_dir)
            seeds.append(r.accuracy)
        m = metrics(bundle.spec, plan)
        lat = get_model("bitserial").evaluate(bundle.spec, plan).latency_s
        for seed, acc in zip(args.seeds, seeds):
            out.append({"workload": name, "metric": f"uniform W{b}", "target": float(b), "seed": seed,
                        "accuracy": acc, "avg_weight_bits": m.avg_weight_bits, "mac_bits": m.mac_bits,
                        "latency_s": lat, "cost": float(b), "target_met": True})
    return out


def sweep(name: str, args: argparse.Namespace) -> list[dict]:
    rows = []
    for metric in args.metrics:
        for target in args.targets:
            for seed in args.seeds:
                spec = AllocationSpec(metric=metric, target=target, epochs=args.epochs,
                                      granularity=args.granularity)
                t0 = time.perf_counter()
                study = f"bench-allocate-{name}" if args.storage else None
                run = run_allocation(name, spec, seed, storage=args.storage, study=study,
                                     finetune_epochs=args.finetune_epochs, cache_dir=args.cache_dir)
                res = run.result()
                rows.append({"workload": name, "metric": metric, "target": target, "seed": seed, **res,
                             "cost": run.allocation.cost, "target_met": run.allocation.target_met,
                             "allocator_accuracy": run.allocation.allocator_accuracy,
                             "layer_mean_bits": run.allocation.summary()["layer_mean_bits"],
                             "time_s": time.perf_counter() - t0})
                r = rows[-1]
                print(f"  {metric:<8} target {target:<4g} seed {seed}: acc {100 * r['accuracy']:6.2f}%  "
                      f"bits {r['avg_weight_bits']:.2f}  MACxbits {r['mac_bits']:.4g}  "
                      f"latency {r['latency_s'] * 1e6:7.2f} us  ({r['time_s']:.0f} s)", flush=True)
    return rows


def averaged(rows: list[dict]) -> list[dict]:
    """One point per (penalty, target): the mean over seeds of every number."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["metric"], r["target"]), []).append(r)
    out = []
    for (metric, target), rs in sorted(groups.items()):
        mean = {k: sum(r[k] for r in rs) / len(rs) for k in ("accuracy", "avg_weight_bits", "mac_bits", "latency_s")}
        out.append({"metric": metric, "target": target, "seeds": len(rs), **mean,
                    "target_met": all(r["target_met"] for r in rs)})
    return out


def matched(points: list[dict], penalty: str, base: str = "size") -> list[dict]:
    """At each accuracy level (best mean accuracy of the two penalties minus LEVELS), the
    fastest seed-averaged point of each penalty reaching it."""
    pool = [p for p in points if p["metric"] in (base, penalty)]
    best = max(p["accuracy"] for p in pool)
    out = []
    for drop in LEVELS:
        level = best - drop
        pick = {}
        for metric in (base, penalty):
            ok = [p for p in pool if p["metric"] == metric and p["accuracy"] >= level - 1e-12]
            pick[metric] = min(ok, key=lambda p: p["latency_s"]) if ok else None
        s, m = pick[base], pick[penalty]
        ratio = (lambda k: m[k] / s[k]) if s and m else (lambda k: math.nan)
        out.append({"level": level, "drop": drop, base: s, penalty: m, "latency_ratio": ratio("latency_s"),
                    "mac_bits_ratio": ratio("mac_bits"), "avg_bits_ratio": ratio("avg_weight_bits")})
    return out


def report(name: str, rows: list[dict]) -> list[dict]:
    print(f"\n{name}: every point (accuracy after the evaluation fine-tune; bit-serial latency)")
    print(f"{'penalty':<11} {'target':>6} {'seed':>4} {'accuracy':>9} {'avg bits':>8} {'MACs x bits':>12} "
          f"{'latency us':>10} {'met':>4}")
    for r in sorted(rows, key=lambda r: (r["metric"], r["target"], r["seed"])):
        print(f"{r['metric']:<11} {r['target']:>6g} {r['seed']:>4} {100 * r['accuracy']:>8.2f}% "
              f"{r['avg_weight_bits']:>8.3f} {r['mac_bits']:>12.4g} {r['latency_s'] * 1e6:>10.2f} "
              f"{'yes' if r['target_met'] else 'no':>4}")
    points = averaged(rows)
    print(f"\n{name}: mean over seeds")
    print(f"{'penalty':<11} {'target':>6} {'accuracy':>9} {'avg bits':>8} {'MACs x bits':>12} {'latency us':>10}")
    for p in points:
        print(f"{p['metric']:<11} {p['target']:>6g} {100 * p['accuracy']:>8.2f}% {p['avg_weight_bits']:>8.3f} "
              f"{p['mac_bits']:>12.4g} {p['latency_s'] * 1e6:>10.2f}")

    def cell(p):
        if p is None:
            return "-"
        return (f"{100 * p['accuracy']:.2f}% {p['avg_weight_bits']:.2f} {p['mac_bits']:.3g} "
                f"{p['latency_s'] * 1e6:.2f}us (t{p['target']:g})")

    summary = []
    for penalty in [m for m in ("macbits", "cycles") if any(p["metric"] == m for p in points)]:
        print(f"\n{name}: matched accuracy (seed means), fastest point of each penalty; ratio = {penalty} / size")
        print(f"{'accuracy >=':>11}  {'size: acc bits MACxb latency':<40} {penalty + ': acc bits MACxb latency':<40} "
              f"{'lat ratio':>9} {'MACxb ratio':>11} {'bits ratio':>10}")
        for m in matched(points, penalty):
            print(f"{100 * m['level']:>10.2f}%  {cell(m['size']):<40} {cell(m[penalty]):<40} "
                  f"{m['latency_ratio']:>9.3f} {m['mac_bits_ratio']:>11.3f} {m['avg_bits_ratio']:>10.3f}")
            summary.append({"workload": name, "penalty": penalty, "level": m["level"],
                            "latency_ratio": m["latency_ratio"], "mac_bits_ratio": m["mac_bits_ratio"],
                            "avg_bits_ratio": m["avg_bits_ratio"]})
    return summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workloads", default="mnist1d,digits")
    ap.add_argument("--targets", default="2.1,2.25,2.5,3,3.5,4")
    ap.add_argument("--metrics", default="size,macbits,cycles",
                    help="penalties to sweep (cycles: MACs padded to the array rows, an extension)")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--epochs", type=int, default=10, help="allocation epochs (default 10)")
    ap.add_argument("--granularity", default="filter", choices=("filter", "layer"),
                    help="one width per filter (default) or per layer (as in the paper)")
    ap.add_argument("--finetune-epochs", type=int, default=2, help="evaluation fine-tune epochs (default 2)")
    ap.add_argument("--uniform", default="3,4,5", help="uniform fixed-point references (weight bits)")
    ap.add_argument("--storage", help="record every point in study bench-allocate-<workload> of this storage")
    ap.add_argument("--cache-dir")
    ap.add_argument("--json", help="write every point to this JSON file")
    args = ap.parse_args()
    args.targets = [float(t) for t in args.targets.split(",")]
    args.seeds = [int(s) for s in args.seeds.split(",")]
    args.metrics = args.metrics.split(",")
    uniform = [int(b) for b in args.uniform.split(",") if b.strip()]
    everything = []
    for name in args.workloads.split(","):
        print(f"\n== {name}: per-{args.granularity} widths, targets {args.targets}, seeds {args.seeds}, "
              f"{args.epochs} allocation epochs, "
              f"{args.finetune_epochs} fine-tune epochs", flush=True)
        rows = sweep(name, args) + uniform_points(name, uniform, args)
        report(name, rows)
        everything += rows
    if args.json:
        with open(args.json, "w") as f:
            json.dump(everything, f, indent=2)


if __name__ == "__main__":
    main()
