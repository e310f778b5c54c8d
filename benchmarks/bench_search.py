"""Search quality and throughput, measured side by side in one run.

Quality: hypervolume after the same number of trials for the default sampler (TPE,
multivariate) against random sampling (and NSGA-II), several seeds, on a hardware-only
ResNet-18 study with three objectives. All runs share one normalisation: each objective
is scaled to [0, 1] by the min and max seen over every run's feasible trials, and the
reference point is 1.1 in every objective.

Throughput: trials per minute of a hardware-only study and of the digits fine-tuning
study, with 1 and 2 worker processes sharing one journal-file storage.

    python benchmarks/bench_search.py [--trials 150] [--seeds 0,1,2,3,4] [--digits-trials 12] [--skip-digits]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import tempfile
import time
from dataclasses import replace

import numpy as np

from dse.config import parse_config
from dse.pareto import hypervolume, normalize, to_minimization
from dse.storage import open_storage
from dse.study import feasible, open_study, resolve, run_worker

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
    print("seed  " + "  ".join(f"{s:>8}" for s in samplers) + "   tpe/random")
    for seed in seeds:
        row = [hv[(s, seed)] for s in samplers]
        print(f"{seed:<4}  " + "  ".join(f"{v:8.4f}" for v in row) + f"   {row[0] / row[1]:10.3f}")
    means = [statistics.mean(hv[(s, seed)] for seed in seeds) for s in samplers]
    print("mean  " + "  ".join(f"{v:8.4f}" for v in means) + f"   {means[0] / means[1]:10.3f}")


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
                from dse.train import pretrain

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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=150)
    ap.add_argument("--seeds", default="0,1,2,3,4")
    ap.add_argument("--digits-trials", type=int, default=12)
    ap.add_argument("--skip-digits", action="store_true")
    ap.add_argument("--skip-quality", action="store_true")
    args = ap.parse_args()
    print(f"cores: {os.cpu_count()}")
    if not args.skip_quality:
        quality(args.trials, [int(s) for s in args.seeds.split(",")])
    print("\nthroughput (process start-up included in the 2-process runs)")
    throughput(HW, 300, "hardware-only ResNet-18 (300 trials)")
    if not args.skip_digits:
        from dse.config import DEMO

        throughput(DEMO, args.digits_trials, f"digits demo, fine-tune ({args.digits_trials} trials)")


if __name__ == "__main__":
    main()
