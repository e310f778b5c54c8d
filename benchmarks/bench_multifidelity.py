"""Multi-fidelity search (issue 13): screen cheaply, fine-tune only the promising.

Two search spaces (``--space``):

- ``rich`` (default): what a user's real space looks like. MNIST-1D's 1-D CNN, every layer
  (first and last included) drawing its own number format (fixed, pow2, sp2, term with term
  budgets and group sizes, msq with SP2 fractions), weight widths 2-8 and activation widths
  2-8, on the term-serial array of a Zynq-7020 (rows and columns searched); objectives
  accuracy, latency_s and lut; caps ``accuracy >= 0.5`` (a design below it is useless) and a
  LUT budget (``--caps``). Most random designs here are poor: one layer at 2-bit pow2 ruins
  the network, so a screen has something to save.
- ``hard``: the rich space where random designs are mostly poor: a deeper MNIST-1D CNN
  (``--depth``, default 8 convolutions), a small device (``--device``, default XC7Z010),
  objectives accuracy, latency_s and energy_j, and the accuracy a user of a quantized model
  asks for: within 3 points of the FP32 model (``accuracy >= 0.935``; FP32 0.966).
- ``demo``: the default demo's space (bit-serial array, kinds fixed/term, first and last
  layer searched) with widths ``--w-bits``/``--a-bits``, objectives accuracy + latency_s, no
  cap (``--workload``, default digits): the space measured before; two easy-to-spread
  objectives, where random sampling covers most of the front by itself.

1. Hypervolume at an EQUAL NUMBER OF FULL FINE-TUNES (``--finetunes K``), seeds ``--seeds``;
   methods (``--methods``):
   - ``random``: Optuna's RandomSampler, every hardware-feasible point fully fine-tuned;
   - ``tpe``: the default TPE sampler, every feasible point fully fine-tuned (no screen);
   - ``mf-tpe``: TPE with the ``[screen]`` stage (``--estimate``, ``--steps``, ``--warmup``,
     ``--margin``, ``--promote``, ``--quantile``): only promoted points are fully fine-tuned;
   - ``mf-random``: the same screen on random proposals (what the screen alone buys).
   Each run stops when its K-th full fine-tune is recorded. Hypervolume of the fully
   fine-tuned feasible points (caps included), objectives normalised over all runs' points,
   reference 1.1 per objective (the convention of bench_search.py). Printed: absolute values,
   the ratios to random, and the hypervolume each run still MISSES to the union of every
   run's points (the headroom measure: a ratio near 1 can hide that random is close to the
   best any method found); the same hypervolumes with the reference just beyond the nadir of
   the union's front (only the region of good trade-offs counts); trials, screens, wall and
   CPU time per run.
   ``--curve 5,10,15,20,30,40``: the same measures after the first K fine-tunes of each run
   (the budget curve), one normalisation for every K (all runs' points at the largest K).
   ``--save FILE`` keeps every run's fine-tunes in order; ``--from-save F1,F2`` recomputes every
   table from saved runs without running (``NAME@TAG`` method labels keep runs of different
   screen settings apart, e.g. ``--methods mf-tpe@gain3 --promote gain --window 3``).
   ``--pruned above`` (an experiment, patches Optuna in this process): TPE keeps every PRUNED
   trial (screened out, infeasible) in its "bad" group (see :func:`pruned_above`).
2. Kendall tau (tau-b) of each screen estimate against the full fine-tune accuracy on N
   (``--points``, >= 30) hardware-feasible points drawn with Optuna's RandomSampler from the
   same space; for scale, also the tau between two full fine-tunes with different seeds.

    python benchmarks/bench_multifidelity.py [--space rich|hard|demo] [--finetunes 20] [--seeds 0,1,2]
        [--methods random,tpe,mf-tpe] [--points 30] [--estimate steps] [--steps 10] [--warmup 5]
        [--margin 0.0] [--tolerance 0.0] [--promote front|quantile|gain] [--window 1] [--epochs 1]
        [--curve 5,10,20] [--save F] [--from-save F1,F2] [--pruned optuna|above] [--skip-hv] [--skip-tau]
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import optuna
import torch

from dse.config import DEMO, ScreenConfig, parse_config
from dse.record import STATUS_SCREENED, TrialRecord
from dse.study import open_study, resolve, run_worker
from dse.study.pareto import hypervolume, normalize, pareto_mask, to_minimization
from dse.study.screen import ESTIMATES, kendall_tau
from dse.study.storage import open_storage
from hvtable import hv_table  # benchmarks/hvtable.py (the script's folder is on sys.path)
from hwmodels import Unsupported

KINDS = ["fixed", "pow2", "sp2", "term", "msq"]


class _Enough(Exception):
    """Raised from the trial callback when a run has its K full fine-tunes."""


def _ints(s: str) -> list[int]:
    return [int(b) for b in s.split(",")]


def demo_doc(args) -> dict:
    """The space measured first: the default demo's, widths from the command line."""
    doc = copy.deepcopy(DEMO)
    doc["workload"] = {"name": args.workload or "digits"}
    doc["space"] = {**doc["space"], "w_bits": _ints(args.w_bits or "2,3,4"), "a_bits": _ints(args.a_bits or "2,3,4")}
    doc["study"].update(objectives=(args.objectives or "accuracy,latency_s").split(","), baselines=[], trials=100_000)
    doc["constraints"] = {"fit_device": True, "caps": [c for c in (args.caps or "").split(";") if c]}
    doc["finetune"] = {**doc["finetune"], "epochs": args.epochs}
    doc["finetune"].pop("abandon_below", None)
    return doc


def rich_doc(args) -> dict:
    """A user's space: per-layer formats, widths 2-8, hardware knobs, three objectives, caps."""
    workload = {"name": args.workload or "mnist1d"}
    if args.num_samples:
        workload["options"] = {"num_samples": args.num_samples}
    if args.depth:
        workload.setdefault("options", {})["depth"] = args.depth
    return {
        "study": {"name": "rich", "objectives": (args.objectives or "accuracy,latency_s,lut").split(","),
                  "trials": 100_000, "seed": 0, "baselines": []},
        "workload": workload,
        "space": {"kinds": KINDS, "w_bits": _ints(args.w_bits or "2,3,4,5,6,8"),
                  "a_bits": _ints(args.a_bits or "2,3,4,6,8"), "first_last": "search"},
        "hardware": {"model": "termserial", "device": args.device or "XC7Z020", "search": ["rows", "cols"],
                     "ranges": {"rows": [4, 32], "cols": [4, 32]}},
        "constraints": {"fit_device": True,
                        "caps": [c for c in (args.caps if args.caps is not None else "accuracy >= 0.5;lut <= 40000")
                                 .split(";") if c]},
        "sampler": {"name": "tpe"},
        "finetune": {"epochs": args.epochs, "lr": 1e-3, "optimizer": "adam"},
    }


def hard_doc(args) -> dict:
    """A space where random designs are mostly poor: the rich space on a deeper MNIST-1D CNN
    (``--depth``, default 8 convolutions: low-bit errors compound through more layers), a
    small device (``--device``, default XC7Z010: 17,600 LUTs), objectives accuracy, latency_s
    and energy_j, and the accuracy requirement a user of a quantized model states: within 3
    points of the FP32 model (0.966 at depth 8: ``accuracy >= 0.935``)."""
    doc = rich_doc(args)
    doc["study"]["name"] = "hard"
    doc["study"]["objectives"] = (args.objectives or "accuracy,latency_s,energy_j").split(",")
    doc["workload"].setdefault("options", {})["depth"] = args.depth or 8
    doc["hardware"]["device"] = args.device or "XC7Z010"
    doc["constraints"]["caps"] = [c for c in (args.caps if args.caps is not None else "accuracy >= 0.935").split(";")
                                  if c]
    return doc


SPACES = {"rich": rich_doc, "demo": demo_doc, "hard": hard_doc}


def run(doc: dict, sampler: str, seed: int, finetunes: int, url: str, screen, max_trials: int = 10**9) -> dict:
    cfg = replace(parse_config(doc), sampler=sampler, seed=seed, name=f"{sampler}-{seed}-{screen is not None}")
    cfg = replace(cfg, screen=screen)
    resolved = resolve(cfg)
    handle = open_storage(url)
    study, _ = open_study(handle, cfg, doc, resolved)
    done = [0]

    def on_trial(study, trial) -> None:
        if TrialRecord.get(trial, "finetune") is not None:
            done[0] += 1
        if done[0] >= finetunes or trial.number + 1 >= max_trials:  # a rule too strict stops at max_trials
            raise _Enough

    t0, c0 = time.perf_counter(), time.process_time()
    try:
        run_worker(handle, resolved, None, None, on_trial=on_trial)
    except _Enough:
        pass
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    trials = study.get_trials()
    full = sorted((t for t in trials if TrialRecord.get(t, "finetune") is not None), key=lambda t: t.number)
    feasible = [t.values is not None and all(v <= 0 for v in t.constraints.values()) for t in full]
    vals = [t.values for t, ok in zip(full, feasible) if ok]
    m = len(cfg.objectives)
    return {"values": np.array(vals, dtype=float).reshape(-1, m), "trials": len(trials), "finetunes": len(full),
            # every full fine-tune in the order it ran: its objective values, or None when it ended
            # infeasible (the budget curve takes the first K of these)
            "sequence": [list(t.values) if ok else None for t, ok in zip(full, feasible)],
            "feasible_finetunes": len(vals),
            "screened_out": sum(TrialRecord.get(t, "status") == STATUS_SCREENED for t in trials),
            "screen_reasons": screen_reasons(trials),
            "infeasible": sum(TrialRecord.get(t, "status") == "infeasible" for t in trials),
            "wall_s": wall, "cpu_s": cpu, "directions": list(cfg.directions), "objectives": list(cfg.objectives)}


def pruned_above() -> None:
    """Experiment (``--pruned above``): Optuna 5's TPE (``_split_trials``) fills its "good"
    group with the best feasible COMPLETE trials, and when there are fewer of those than
    ceil(0.1 x finished trials) it tops the group up with PRUNED trials, ranked by their last
    intermediate value; screened-out trials have none, so they tie and the OLDEST ones join the
    good group. With this patch every PRUNED trial stays in the "bad" group."""
    from optuna.samplers._tpe import sampler as tpe_sampler

    tpe_sampler._split_pruned_trials = lambda trials, study, n_below: ([], list(trials))


def screen_reasons(trials) -> dict[str, int]:
    """Why the screened-out trials were: the accuracy floor (calibrated prediction below a
    cap), the front rule (dominated), the gain rule (no gain / a larger one in the window)."""
    out: dict[str, int] = {}
    for t in trials:
        s = TrialRecord.get(t, "screen")
        if TrialRecord.get(t, "status") != STATUS_SCREENED or not isinstance(s, dict):
            continue
        r = s.get("reason", "")
        kind = ("floor" if "predicts" in r else "dominated" if "dominated" in r else "no gain" if "no hypervolume" in r
                else "window" if "window" in r else "quantile" if "quantile" in r else "other")
        out[kind] = out.get(kind, 0) + 1
    return out


def screen_config(args) -> ScreenConfig:
    return ScreenConfig(estimate=args.estimate, steps=args.steps, warmup=args.warmup, margin=args.margin,
                        promote=args.promote, quantile=args.quantile, tolerance=args.tolerance,
                        window=args.window)


METHODS = {"random": ("random", False), "tpe": ("tpe", False), "mf-tpe": ("tpe", True), "mf-random": ("random", True)}


def load_saved(paths: str) -> dict:
    """The runs ``--save`` files (comma-separated) hold, keyed (method, seed) as hv_benchmark
    makes them; a method in two files keeps the first file's runs."""
    out = {}
    for key, r in [kr for path in paths.split(",") for kr in json.loads(Path(path).read_text()).items()]:
        if (key.rsplit("/", 1)[0], int(key.rsplit("/", 1)[1])) in out:
            continue
        name, seed = key.rsplit("/", 1)
        out[(name, int(seed))] = {**r, "values": np.array(r["values"], dtype=float).reshape(-1, len(r["directions"]))}
    return out


def curve_report(res: dict, names: list[str], seeds: list[int], ks: list[int]) -> list[str]:
    """Hypervolume (and the volume still missing) after the first K full fine-tunes of each run,
    for every K in ``ks``; ONE normalisation and ONE union for all K: every run's feasible
    points at the largest K (reference 1.1 per objective)."""
    first = next(iter(res.values()))
    directions = first["directions"]
    m = len(directions)

    def prefix(r: dict, k: int) -> np.ndarray:
        seq = r.get("sequence")
        if seq is None:
            raise SystemExit("the saved runs have no fine-tune sequence (saved before the budget curve existed)")
        return np.array([v for v in seq[:k] if v is not None], dtype=float).reshape(-1, m)

    kmax = max(ks)
    allv = np.vstack([to_minimization(prefix(r, kmax), directions) for r in res.values()])
    low, high = allv.min(0), allv.max(0)
    ref = np.full(m, 1.1)
    union = hypervolume(normalize(allv, low, high), ref)

    def hv(vals: np.ndarray) -> float:
        return hypervolume(normalize(to_minimization(vals, directions), low, high), ref) if len(vals) else 0.0

    lines = [(f"budget curve: hypervolume after the first K full fine-tunes (normalised over every run's feasible "
              f"points at K = {kmax}; reference 1.1; union {union:.4f}); mean over seeds {seeds}"),
             f"{'K':>4}  " + "  ".join(f"{n:>9}" for n in names)
             + "".join(f"  {n + '/rnd':>13}  {'miss rnd/' + n:>14}" for n in names if n != "random")]
    for k in ks:
        h = {(n, s): hv(prefix(res[(n, s)], k)) for n in names for s in seeds}
        mean = {n: statistics.mean(h[(n, s)] for s in seeds) for n in names}
        row = f"{k:>4}  " + "  ".join(f"{mean[n]:9.4f}" for n in names)
        per_seed: list[str] = []
        if "random" in names:
            for n in names:
                if n == "random":
                    continue
                per = "/".join(f"{h[(n, s)] / h[('random', s)]:.2f}" if h[("random", s)] else "-" for s in seeds)
                miss = (union - mean["random"]) / (union - mean[n]) if union > mean[n] else float("inf")
                ratio = mean[n] / mean["random"] if mean["random"] else float("nan")
                row += f"  {ratio:12.3f}x  {miss:13.2f}x"
                per_seed.append(f"{n}/rnd per seed {per}")
        lines.append(row + ("   " + "; ".join(per_seed) if per_seed else ""))
    short = [f"{n} at K = {k}: {sum(len(res[(n, s)]['sequence']) < k for s in seeds)} of {len(seeds)} runs"
             for n in names for k in ks if any(len(res[(n, s)]["sequence"]) < k for s in seeds)]
    if short:
        lines.append("runs that stopped (--max-trials) before their K-th fine-tune, scored with the fine-tunes they "
                     "had: " + "; ".join(short))
    feas = {n: [statistics.mean(sum(v is not None for v in res[(n, s)]["sequence"][:k]) for s in seeds) for k in ks]
            for n in names}
    lines.append("feasible fine-tunes among the first K (mean): "
                 + "; ".join(f"{n} " + "/".join(f"{v:.1f}" for v in feas[n]) for n in names))
    return lines


def hv_benchmark(args) -> None:
    names = args.methods.split(",")
    seeds = _ints(args.seeds)
    if args.from_save:
        res = load_saved(args.from_save)
        names = [n for n in names if all((n, s) in res for s in seeds)]
        report(args, res, names, seeds, doc=None)
        return
    doc = SPACES[args.space](args)
    screen = screen_config(args)
    res = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            sampler, screened = METHODS[name.split("@")[0]]
            for seed in seeds:
                res[(name, seed)] = r = run(doc, sampler, seed, args.finetunes, f"{tmp}/{name}-{seed}.journal",
                                            screen if screened else None, args.max_trials)
                print(f"  {name:9s} seed {seed}: {r['finetunes']} fine-tunes ({r['feasible_finetunes']} feasible), "
                      f"{r['trials']} trials ({r['screened_out']} screened out, {r['infeasible']} infeasible), "
                      f"wall {r['wall_s']:.1f} s, CPU {r['cpu_s']:.1f} s"
                      + (f"; screened out by {r['screen_reasons']}" if r["screen_reasons"] else ""), flush=True)
    if args.save:  # every run's fine-tuned feasible points, to recompute any measure later
        Path(args.save).write_text(json.dumps({f"{n}/{s}": {**r, "values": r["values"].tolist()}
                                               for (n, s), r in res.items()}, indent=1))
    report(args, res, names, seeds, doc)


def report(args, res: dict, names: list[str], seeds: list[int], doc: dict | None) -> None:
    if args.curve:
        print("\n".join(curve_report(res, names, seeds, _ints(args.curve))))
        print()
    first = next(iter(res.values()))
    directions, objectives = first["directions"], first["objectives"]
    m = len(directions)
    allv = np.vstack([to_minimization(r["values"], directions) for r in res.values() if len(r["values"])])
    low, high = allv.min(0), allv.max(0)
    ref = np.full(m, 1.1)
    hv = {k: hypervolume(normalize(to_minimization(r["values"], directions), low, high), ref)
          if len(r["values"]) else 0.0 for k, r in res.items()}
    span = ", ".join(f"{o} {(-high[j] if d == 'maximize' else low[j]):.4g}..{(-low[j] if d == 'maximize' else high[j]):.4g}"
                     for j, (o, d) in enumerate(zip(objectives, directions)))
    where = (f"{args.space} space, {doc['workload']['name']}; " if doc else f"saved runs {args.from_save}; ")
    caps = (doc['constraints'].get('caps') or 'none') if doc else "as saved"
    print(f"\nhypervolume at {args.finetunes} full fine-tunes ({where}"
          f"objectives {', '.join(objectives)}; caps {caps}; normalised over all "
          f"runs' feasible points: {span}; reference 1.1); "
          + ("screen settings as in the saved runs" if not doc else f"screen {args.estimate}"
             + (f" {args.steps} steps" if args.estimate == "steps" else "") + f", rule {args.promote}, warm-up "
             f"{args.warmup}, margin {args.margin:g}, tolerance {args.tolerance:g}, window {args.window}, finetune "
             f"epochs {args.epochs}"))
    union = hypervolume(normalize(allv, low, high), ref)
    rnd = statistics.mean(hv[("random", s)] for s in seeds) if "random" in names else None
    print(f"headroom: the union of every run's points reaches {union:.4f} (box {ref.prod():.4f})"
          + (f"; no run can beat random by more than {union / rnd:.3f}x at this reference" if rnd else ""))
    ratios = [(f"{n}/random", names.index(n), names.index("random")) for n in names if n != "random"] \
        if "random" in names else []
    print("\n".join(hv_table(hv, names, seeds, ratios)))
    print("\nhypervolume still missing to the union (lower is better):")
    miss = {k: union - v for k, v in hv.items()}
    print("\n".join(hv_table(miss, names, seeds, [(f"random/{n}", names.index("random"), names.index(n))
                                                  for n in names if n != "random"] if "random" in names else [])))
    # a second convention (Ishibuchi et al. 2018, "How to specify a reference point in hypervolume
    # calculation"): reference just beyond the nadir of the union's front, so the volume counts
    # only the region of good trade-offs instead of the whole span of every point found
    un = normalize(allv, low, high)
    front = un[pareto_mask(un)]
    nadir, ideal = front.max(0), front.min(0)
    ref2 = nadir + 0.1 * (nadir - ideal)
    hv2 = {k: hypervolume(normalize(to_minimization(r["values"], directions), low, high), ref2)
           if len(r["values"]) else 0.0 for k, r in res.items()}
    print(f"\nreference at the union front's nadir + 10 % of its range ({len(front)} front points; union "
          f"{hypervolume(un, ref2):.4f}):")
    print("\n".join(hv_table(hv2, names, seeds, ratios)))
    for n in names:
        rs = [res[(n, s)] for s in seeds]
        print(f"{n}: mean trials {statistics.mean(r['trials'] for r in rs):.1f} (screened out "
              f"{statistics.mean(r['screened_out'] for r in rs):.1f}), feasible fine-tunes "
              f"{statistics.mean(r['feasible_finetunes'] for r in rs):.1f} of {args.finetunes}, mean wall "
              f"{statistics.mean(r['wall_s'] for r in rs):.1f} s, mean CPU {statistics.mean(r['cpu_s'] for r in rs):.1f} s")


def tau_benchmark(args) -> None:
    from dse.study import make_finetune_fn

    doc = SPACES[args.space](args)
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
        t0 = time.process_time()
        acc.append(full(p, None).accuracy)
        cost["finetune"] += time.process_time() - t0
        acc2.append(other(p, None).accuracy)
        for k, f in estimators.items():
            t0 = time.process_time()
            est[k].append(f(p))
            cost[k] += time.process_time() - t0
    n = len(points)
    print(f"\nKendall tau-b vs full fine-tune accuracy ({args.epochs} epoch(s)) on {n} random feasible points, "
          f"{args.space} space, {doc['workload']['name']} (accuracy {min(acc):.4f}..{max(acc):.4f}, median "
          f"{statistics.median(acc):.4f}, {sum(a >= 0.5 for a in acc)} of {n} >= 0.5, {len(set(acc))} distinct):")
    for k in estimators:
        print(f"  {k:12s} tau {kendall_tau(est[k], acc):+.3f}   mean CPU {cost[k] / n:.3f} s/point "
              f"(full fine-tune {cost['finetune'] / n:.3f} s/point)"
              + (f"   [{args.steps} steps]" if k == "steps" else "   [table filled on the fly]"))
    print(f"  fine-tune seed {cfg.seed} vs seed {cfg.seed + 1}: tau {kendall_tau(acc2, acc):+.3f} (the full "
          "fine-tune's own ranking noise)")
    fp32 = float(full(points[0], None).float_accuracy)
    print(f"  FP32 model {fp32:.4f}; share of the {n} random feasible designs reaching FP32 minus 1 / 2 / 3 / 5 "
          "points: " + " / ".join(f"{sum(a >= fp32 - d for a in acc) / n:.0%}" for d in (0.01, 0.02, 0.03, 0.05))
          + f"; accuracies sorted: {' '.join(f'{a:.3f}' for a in sorted(acc))}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--space", default="rich", choices=list(SPACES))
    ap.add_argument("--finetunes", type=int, default=20)
    ap.add_argument("--max-trials", type=int, default=300, help="a run stops here even short of --finetunes")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--methods", default="random,tpe,mf-tpe", help="random, tpe, mf-tpe, mf-random; NAME@TAG "
                    "runs NAME under the label NAME@TAG (to tell apart screen settings saved to separate files)")
    ap.add_argument("--points", type=int, default=30)
    ap.add_argument("--sample-seed", type=int, default=0)
    ap.add_argument("--estimate", default="steps", choices=list(ESTIMATES))
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--promote", default="front")
    ap.add_argument("--quantile", type=float, default=0.5)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--margin", type=float, default=0.0)
    ap.add_argument("--tolerance", type=float, default=0.0)
    ap.add_argument("--window", type=int, default=1, help="rule 'gain': promote the best of the last N candidates")
    ap.add_argument("--pruned", default="optuna", choices=["optuna", "above"],
                    help="how TPE ranks PRUNED (screened-out, infeasible) trials: as Optuna does, or always 'bad'")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--workload", default=None, help="default: mnist1d (rich), digits (demo)")
    ap.add_argument("--num-samples", type=int, default=None, help="the workload's num_samples option (mnist1d)")
    ap.add_argument("--objectives", default=None, help="comma-separated (default: per space)")
    ap.add_argument("--depth", type=int, default=None, help="mnist1d convolutions (default 4; hard space 8)")
    ap.add_argument("--device", default=None, help="FPGA (default XC7Z020; hard space XC7Z010)")
    ap.add_argument("--caps", default=None, help="';'-separated caps (default: per space; '' for none)")
    ap.add_argument("--w-bits", default=None)
    ap.add_argument("--a-bits", default=None)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--save", default=None, help="write every run's points and counts to this JSON file")
    ap.add_argument("--from-save", default=None, help="recompute the hypervolume tables from a --save file "
                    "(no runs; --finetunes must match the saved runs)")
    ap.add_argument("--curve", default=None, help="comma-separated K: hypervolume after the first K fine-tunes "
                    "of each run, one normalisation (the union at the largest K), e.g. 5,10,15,20,30,40")
    ap.add_argument("--skip-hv", action="store_true")
    ap.add_argument("--skip-tau", action="store_true")
    args = ap.parse_args()
    for n in args.methods.split(","):
        if n.split("@")[0] not in METHODS:
            ap.error(f"--methods: unknown method {n!r}; choose from {', '.join(METHODS)}")
    torch.set_num_threads(args.threads)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if args.pruned == "above":
        pruned_above()
    if args.from_save:
        args.skip_tau = True
    if not args.skip_tau:
        tau_benchmark(args)
    if not args.skip_hv:
        hv_benchmark(args)


if __name__ == "__main__":
    main()
