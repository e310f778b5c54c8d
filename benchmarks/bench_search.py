"""Search quality and throughput, measured side by side in one run.

Quality: hypervolume after the same number of trials for the default sampler (TPE,
multivariate) against random sampling (and NSGA-II), several seeds, on a hardware-only
ResNet-18 study with three objectives. All runs share one normalisation: each objective
is scaled to [0, 1] by the min and max seen over every run's feasible trials, and the
reference point is 1.1 in every objective.

Throughput: trials per minute of a hardware-only study and of the digits fine-tuning
study, with 1 and 2 worker processes sharing one journal-file storage.

Scale (``--scale N``): one hardware-only study of N trials (default sampler, local journal
file, as ``dse search`` runs it) timed per window of 100 trials: the rate of trials
100-199 against the last 100, with and without the per-trial Pareto-front refresh the
progress bar does, and a profile of where the time of the last trials goes (sampler,
storage, our worker loop, the hardware model).

Pre-flight (``--preflight``): the pre-flight estimate of every shipped example.

    python benchmarks/bench_search.py [--trials 150] [--seeds 0,1,2,3,4] [--digits-trials 12] [--skip-digits]
    python benchmarks/bench_search.py --skip-quality --skip-throughput --scale 2000 [--scale-sampler nsga2]
        [--scale-window 0]   # plain TPE over every trial (the default windows it: dse/study/run.py)
    python benchmarks/bench_search.py --skip-quality --skip-throughput --preflight
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import tempfile
import time
from dataclasses import replace

import numpy as np

from dse.config import parse_config
from dse.study.pareto import hypervolume, normalize, to_minimization
from dse.study.storage import open_storage
from dse.study import feasible, open_study, resolve, run_worker
from hvtable import hv_table

HW = {
    "study": {"name": "bench-hw", "objectives": ["latency_s", "energy_j", "avg_weight_bits"], "fidelity": "none",
              "trials": 150, "baselines": []},
    "workload": {"name": "resnet18"},
    "space": {"kinds": ["fixed", "sp2"], "w_bits": [3, 4, 5, 6, 8], "a_bits": [4, 8]},
    "hardware": {"model": "systolic", "device": "XC7Z045", "search": ["rows", "cols", "dataflow", "pe_arith"],
                 "ranges": {"rows": [4, 64], "cols": [4, 64], "pe_arith": ["dsp", "lut"]}},
    "constraints": {"caps": ["latency_s <= 0.2"]},
}


def run(doc, sampler: str, seed: int, trials: int, url: str):
    cfg = replace(parse_config(doc), sampler=sampler, seed=seed, trials=trials, name=f"{sampler}-{seed}")
    resolved = resolve(cfg)
    handle = open_storage(url)
    study, _ = open_study(handle, cfg, doc, resolved)
    t0 = time.perf_counter()
    run_worker(handle, resolved, cfg.trials, None)
    return study, time.perf_counter() - t0


def quality(trials: int, seeds: list[int]) -> None:
    samplers = ("tpe", "random", "nsga2")
    fronts = {}
    with tempfile.TemporaryDirectory() as tmp:
        for s in samplers:
            for seed in seeds:
                study, _ = run(HW, s, seed, trials, f"{tmp}/q.journal")
                vals = [t.values for t in study.get_trials() if t.values is not None and feasible(t)]
                fronts[(s, seed)] = to_minimization(np.array(vals, dtype=float), ["minimize"] * 3) if vals else \
                    np.zeros((0, 3))
    allv = np.vstack([v for v in fronts.values() if len(v)])
    low, high = allv.min(0), allv.max(0)
    ref = np.full(3, 1.1)
    hv = {k: hypervolume(normalize(v, low, high), ref) if len(v) else 0.0 for k, v in fronts.items()}
    print(f"\nhypervolume after {trials} trials (ResNet-18 on XC7Z045; latency, energy, avg weight bits; "
          f"normalised over all runs, reference 1.1)")
    print("\n".join(hv_table(hv, samplers, seeds, [("tpe/random", 0, 1)])))


def _proc(url, name, idx, target):
    from dse.study import config_from_study

    import optuna

    handle = open_storage(url)
    study = optuna.load_study(study_name=name, storage=handle.storage)
    run_worker(handle, resolve(config_from_study(study)), target, None, worker_index=idx)


def throughput(doc, trials: int, label: str) -> None:
    rates = {}
    for jobs in (1, 2):
        with tempfile.TemporaryDirectory() as tmp:
            url = f"{tmp}/t.journal"
            cfg = replace(parse_config(doc), trials=trials, name=f"tp-{jobs}")
            resolved = resolve(cfg)
            handle = open_storage(url)
            open_study(handle, cfg, doc, resolved)
            if resolved.bundle is not None:
                from dse.training import pretrain

                pretrain(resolved.bundle, seed=cfg.seed)
            t0 = time.perf_counter()
            if jobs == 1:
                run_worker(handle, resolved, trials, None)
            else:
                ctx = mp.get_context("spawn")
                ps = [ctx.Process(target=_proc, args=(url, cfg.name, i, trials)) for i in range(jobs)]
                for p in ps:
                    p.start()
                for p in ps:
                    p.join()
            rates[jobs] = trials / (time.perf_counter() - t0) * 60
    print(f"{label:<44} 1 process {rates[1]:9.1f} trials/min   2 processes {rates[2]:9.1f} trials/min   "
          f"ratio {rates[2] / rates[1]:.2f}")


def _window_rates(stamps: list[float], width: int = 100) -> list[float]:
    """Trials per second of each window of ``width`` trials (stamps: finish times)."""
    return [width / (stamps[i + width - 1] - stamps[i - 1]) for i in range(1, len(stamps) - width + 1, width)]


def scale(trials: int, progress: bool, sampler: str = "tpe") -> None:
    """One long hardware-only study; trials/s per window of 100 and a profile of the tail."""
    import cProfile
    import pstats

    from dse.study import pareto_trials

    doc = {**HW, "study": {**HW["study"], "trials": trials}}
    with tempfile.TemporaryDirectory() as tmp:
        cfg = replace(parse_config(doc), sampler=sampler, seed=0, name=f"scale-{sampler}")
        resolved = resolve(cfg)
        handle = open_storage(f"{tmp}/scale.journal")
        open_study(handle, cfg, doc, resolved)
        stamps: list[float] = []
        cpu: list[float] = []  # this process's CPU time: the rates without other jobs' load
        fronts: list[int] = []

        def on_trial(study, trial) -> None:
            if progress:  # what the progress bar did per trial: the front from all trials
                fronts.append(len(pareto_trials(study)))
            stamps.append(time.perf_counter())
            cpu.append(time.process_time())

        run_worker(handle, resolved, trials, None, on_trial=on_trial)
        prof = cProfile.Profile()  # 50 more trials under the profiler (not in the rates)
        prof.enable()
        run_worker(handle, resolved, trials + 50, None, on_trial=on_trial)
        prof.disable()
        stamps, cpu = stamps[:trials], cpu[:trials]
    rates = _window_rates(stamps)
    cpu_rates = _window_rates(cpu)
    label = f"{sampler}, {'with' if progress else 'without'} per-trial front refresh"
    print(f"\n{trials} trials ({label}): trials/s per 100-trial window:")
    print("  " + " ".join(f"{r:.1f}" for r in rates))
    if len(rates) >= 2:
        print(f"  trials 100-199: {rates[1]:.1f}/s, last 100: {rates[-1]:.1f}/s, ratio {rates[-1] / rates[1]:.2f} "
              f"(target >= 0.33)")
        print("  per CPU second of this process (other jobs' load left out): "
              + " ".join(f"{r:.1f}" for r in cpu_rates))
        print(f"  trials 100-199: {cpu_rates[1]:.1f}/CPU s, last 100: {cpu_rates[-1]:.1f}/CPU s, "
              f"ratio {cpu_rates[-1] / cpu_rates[1]:.2f}")
    stats = pstats.Stats(prof)
    packages = (("optuna/samplers", "optuna samplers"), ("optuna/search_space", "optuna search-space bookkeeping"),
                ("optuna/study", "optuna study (ask/tell, non-domination)"), ("optuna/storages", "optuna storages"),
                ("optuna/", "optuna, other"), ("numpy", "numpy (called by any of these)"),
                ("dse/study/pareto.py", "dse/study/pareto.py (front refresh)"),
                ("dse/study/journal.py", "dse/study/journal.py (journal file)"),
                ("dse/", "dse, other (worker loop, evaluation)"), ("hwmodels/", "hwmodels (hardware model)"))
    own: dict[str, float] = {}
    for (f, _, _), v in stats.stats.items():
        label_ = next((lab for key, lab in packages if key in f), "python and other libraries")
        own[label_] = own.get(label_, 0.0) + v[2]
    total = sum(own.values())
    print(f"  where 50 more trials' time goes, profiled (self time by package; total {total:.1f} s, "
          f"{1000 * total / 50:.0f} ms per trial):")
    for label_, t in sorted(own.items(), key=lambda kv: -kv[1]):
        print(f"    {label_:<42} {t:6.1f} s  {100 * t / total:5.1f}%")
    key_fns = ("sample_relative", "sample_independent", "_fast_non_domination_rank", "pareto_trials", "get_all_trials",
               "run_worker", "evaluate")
    cums = {}
    for (f, _, fn), v in stats.stats.items():
        if fn in key_fns and ("optuna" in f or "dse/" in f or "hwmodels/" in f):
            cums[fn] = max(cums.get(fn, 0.0), v[3])
    top = sorted(((v[2], f"{f.split('site-packages/')[-1].split('lib/python3')[-1]}:{ln}({fn})")
                  for (f, ln, fn), v in stats.stats.items()), reverse=True)[:6]
    print("  top self time: " + "; ".join(f"{name} {t:.1f} s" for t, name in top))
    print("  cumulative: " + "; ".join(f"{fn} {t:.1f} s" for fn, t in sorted(cums.items(), key=lambda kv: -kv[1])))


def preflight_examples() -> None:
    import glob
    import tomllib

    from dse import preflight

    print("\npre-flight estimate of each example (its own seed, 256 random designs, hardware only)")
    for path in sorted(glob.glob(os.path.join(os.path.dirname(__file__), "..", "examples", "*.toml"))):
        raw = tomllib.loads(open(path, encoding="utf-8").read())
        r = resolve(parse_config(raw, source=path))
        pf = preflight.estimate(r)
        print(f"  {os.path.basename(path):<26} {pf.summary()}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=150)
    ap.add_argument("--seeds", default="0,1,2,3,4")
    ap.add_argument("--digits-trials", type=int, default=12)
    ap.add_argument("--skip-digits", action="store_true")
    ap.add_argument("--skip-quality", action="store_true")
    ap.add_argument("--skip-throughput", action="store_true")
    ap.add_argument("--scale", type=int, default=0, help="trials of the scale run (0: skip)")
    ap.add_argument("--scale-sampler", default="tpe")
    ap.add_argument("--scale-window", type=int, default=None,
                    help="TPE window (dse.study.run.TPE_WINDOW; 0: none, plain TPE on every trial)")
    ap.add_argument("--scale-refresh", choices=("both", "with", "without"), default="both",
                    help="scale runs with / without the per-trial front refresh the old progress bar did")
    ap.add_argument("--preflight", action="store_true")
    args = ap.parse_args()
    print(f"cores: {os.cpu_count()}")
    if args.preflight:
        preflight_examples()
    if args.scale_window is not None:
        import dse.study.run

        dse.study.run.TPE_WINDOW = args.scale_window or 10**9
    if args.scale:
        for progress in {"both": (False, True), "with": (True,), "without": (False,)}[args.scale_refresh]:
            scale(args.scale, progress, args.scale_sampler)
    if not args.skip_quality:
        quality(args.trials, [int(s) for s in args.seeds.split(",")])
    if args.skip_throughput:
        return
    print("\nthroughput (process start-up included in the 2-process runs)")
    throughput(HW, 300, "hardware-only ResNet-18 (300 trials)")
    if not args.skip_digits:
        from dse.config import DEMO

        throughput(DEMO, args.digits_trials, f"digits demo, fine-tune ({args.digits_trials} trials)")


if __name__ == "__main__":
    main()
