"""Multi-fidelity search (issue 13): screen cheaply, fine-tune only the promising.

1. Hypervolume at an EQUAL NUMBER OF FULL FINE-TUNES (``--finetunes K``), 3 seeds, on the
   digits workload (the default demo's space and hardware; objectives accuracy + latency_s):
   - ``random``: Optuna's RandomSampler, every hardware-feasible point fully fine-tuned;
   - ``tpe``: the default TPE sampler, every feasible point fully fine-tuned (no screen);
   - ``mf-tpe``: TPE with the ``[screen]`` stage (``--estimate``, ``--steps``, ``--warmup``,
     ``--margin``): only promoted points are fully fine-tuned.
   Each run stops when its K-th full fine-tune is recorded. Hypervolume of the fully
   fine-tuned feasible points, objectives normalised over all runs, reference 1.1 (the
   convention of bench_search.py); prints absolute values, the ratios to random, the trials
   and screens each run spent, and wall time.
2. Kendall tau (tau-b) of each screen estimate against the full fine-tune accuracy on N
   (``--points``, >= 30) hardware-feasible points drawn with Optuna's RandomSampler from the
   same space; for scale, also the tau between two full fine-tunes with different seeds.

    python benchmarks/bench_multifidelity.py [--finetunes 12] [--seeds 0,1,2] [--points 30]
        [--estimate steps] [--steps 10] [--warmup 4] [--margin 0.0] [--epochs 1]
        [--skip-hv] [--skip-tau]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import tempfile
import time
from dataclasses import replace

import numpy as np
import optuna
import torch

from dse.config import DEMO, ScreenConfig, parse_config
from dse.record import STATUS_SCREENED, TrialRecord
from dse.study import open_study, resolve, run_worker
from dse.study.pareto import hypervolume, normalize, to_minimization
from dse.study.screen import ESTIMATES, kendall_tau
from dse.study.storage import open_storage
from hvtable import hv_table  # benchmarks/hvtable.py (the script's folder is on sys.path)
from hwmodels import Unsupported

DIRECTIONS = ["maximize", "minimize"]


class _Enough(Exception):
    """Raised from the trial callback when a run has its K full fine-tunes."""


def base_doc(args) -> dict:
    epochs = args.epochs
    doc = copy.deepcopy(DEMO)
    doc["workload"] = {"name": args.workload}
    doc["space"] = {**doc["space"], "w_bits": [int(b) for b in args.w_bits.split(",")],
                    "a_bits": [int(b) for b in args.a_bits.split(",")]}
    doc["study"].update(objectives=["accuracy", "latency_s"], baselines=[], trials=100_000)
    doc["finetune"] = {**doc["finetune"], "epochs": epochs}
    doc["finetune"].pop("abandon_below", None)
    return doc


def run(doc: dict, sampler: str, seed: int, finetunes: int, url: str, screen) -> dict:
    cfg = replace(parse_config(doc), sampler=sampler, seed=seed, name=f"{sampler}-{seed}-{screen is not None}")
    cfg = replace(cfg, screen=screen)
    resolved = resolve(cfg)
    handle = open_storage(url)
    study, _ = open_study(handle, cfg, doc, resolved)
    done = [0]

    def on_trial(study, trial) -> None:
        if TrialRecord.get(trial, "finetune") is not None:
            done[0] += 1
        if done[0] >= finetunes:
            raise _Enough

    t0 = time.perf_counter()
    try:
        run_worker(handle, resolved, None, None, on_trial=on_trial)
    except _Enough:
        pass
    wall = time.perf_counter() - t0
    trials = study.get_trials()
    full = [t for t in trials if TrialRecord.get(t, "finetune") is not None]
    vals = [t.values for t in full if t.values is not None and all(v <= 0 for v in t.constraints.values())]
    return {"values": np.array(vals, dtype=float).reshape(-1, 2), "trials": len(trials), "finetunes": len(full),
            "screened_out": sum(TrialRecord.get(t, "status") == STATUS_SCREENED for t in trials),
            "infeasible": sum(TrialRecord.get(t, "status") == "infeasible" for t in trials), "wall_s": wall}


def hv_benchmark(args) -> None:
    doc = base_doc(args)
    screen = ScreenConfig(estimate=args.estimate, steps=args.steps, warmup=args.warmup, margin=args.margin)
    methods = {"random": ("random", None), "tpe": ("tpe", None), "mf-tpe": ("tpe", screen)}
    seeds = [int(s) for s in args.seeds.split(",")]
    res = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (sampler, sc) in methods.items():
            for seed in seeds:
                res[(name, seed)] = r = run(doc, sampler, seed, args.finetunes, f"{tmp}/{name}-{seed}.journal", sc)
                print(f"  {name:7s} seed {seed}: {r['finetunes']} fine-tunes, {r['trials']} trials "
                      f"({r['screened_out']} screened out, {r['infeasible']} infeasible), {r['wall_s']:.1f} s",
                      flush=True)
    allv = np.vstack([to_minimization(r["values"], DIRECTIONS) for r in res.values() if len(r["values"])])
    low, high = allv.min(0), allv.max(0)
    ref = np.full(2, 1.1)
    hv = {k: hypervolume(normalize(to_minimization(r["values"], DIRECTIONS), low, high), ref)
          if len(r["values"]) else 0.0 for k, r in res.items()}
    print(f"\nhypervolume at {args.finetunes} full fine-tunes ({args.workload}, accuracy + latency_s; normalised over all "
          f"runs: accuracy {-high[0]:.4f}..{-low[0]:.4f}, latency {low[1] * 1e6:.2f}..{high[1] * 1e6:.2f} us; "
          f"reference 1.1); screen {args.estimate}"
          + (f" {args.steps} steps" if args.estimate == "steps" else "") + f", warm-up {args.warmup}, margin "
          f"{args.margin:g}, finetune epochs {args.epochs}")
    union = hypervolume(normalize(allv, low, high), ref)
    print(f"headroom: the union of every run's points reaches {union:.4f} (box {ref.prod():.4f}); no run can beat "
          f"random by more than {union / statistics.mean(hv[('random', s)] for s in seeds):.3f}x at this reference")
    names = list(methods)
    print("\n".join(hv_table(hv, names, seeds, [("mf/random", 2, 0), ("tpe/random", 1, 0)])))
    for n in names:
        print(f"{n}: mean trials {statistics.mean(res[(n, s)]['trials'] for s in seeds):.1f}, mean wall "
              f"{statistics.mean(res[(n, s)]['wall_s'] for s in seeds):.1f} s")


def tau_benchmark(args) -> None:
    from dse.study import make_finetune_fn

    doc = base_doc(args)
    cfg = replace(parse_config(doc), sampler="random", seed=args.sample_seed,
                  screen=ScreenConfig(estimate="steps", steps=args.steps))
    resolved = resolve(cfg)
    full = make_finetune_fn(resolved)
    other = make_finetune_fn(type(resolved)(**{**resolved.__dict__, "cfg": replace(cfg, seed=cfg.seed + 1)}))
    estimators = {"steps": ESTIMATES["steps"](resolved), "sensitivity": ESTIMATES["sensitivity"](resolved)}
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=args.sample_seed))
    points = []
    while len(points) < args.points:
        trial = study.ask()
        point = resolved.space.suggest(trial, resolved.workload)
        study.tell(trial, 0.0)
        try:
            rep = resolved.model.evaluate(resolved.workload, point)
        except Unsupported:  # not priceable: not a candidate the search would fine-tune
            continue
        if not rep.violations:
            points.append(point)
    acc, acc2, est = [], [], {k: [] for k in estimators}
    cost = {k: 0.0 for k in [*estimators, "finetune"]}
    for p in points:
        t0 = time.perf_counter()
        acc.append(full(p, None).accuracy)
        cost["finetune"] += time.perf_counter() - t0
        acc2.append(other(p, None).accuracy)
        for k, f in estimators.items():
            t0 = time.perf_counter()
            est[k].append(f(p))
            cost[k] += time.perf_counter() - t0
    n = len(points)
    print(f"\nKendall tau-b vs full fine-tune accuracy ({args.epochs} epoch(s)) on {n} random feasible {args.workload} points "
          f"(accuracy {min(acc):.4f}..{max(acc):.4f}, {len(set(acc))} distinct values):")
    for k in estimators:
        print(f"  {k:12s} tau {kendall_tau(est[k], acc):+.3f}   mean cost {cost[k] / n:.3f} s/point "
              f"(full fine-tune {cost['finetune'] / n:.3f} s/point)"
              + (f"   [{args.steps} steps]" if k == "steps" else "   [table filled on the fly]"))
    print(f"  fine-tune seed {cfg.seed} vs seed {cfg.seed + 1}: tau {kendall_tau(acc2, acc):+.3f} (the full "
          "fine-tune's own ranking noise)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--finetunes", type=int, default=12)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--points", type=int, default=30)
    ap.add_argument("--sample-seed", type=int, default=0)
    ap.add_argument("--estimate", default="steps", choices=list(ESTIMATES))
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=4)
    ap.add_argument("--margin", type=float, default=0.0)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--workload", default="digits")
    ap.add_argument("--w-bits", default="2,3,4")
    ap.add_argument("--a-bits", default="2,3,4")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--skip-hv", action="store_true")
    ap.add_argument("--skip-tau", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if not args.skip_tau:
        tau_benchmark(args)
    if not args.skip_hv:
        hv_benchmark(args)


if __name__ == "__main__":
    main()
