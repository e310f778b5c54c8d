"""Multi-resolution term training against individual training, and zero-fine-tune scoring
of search candidates against fine-tuning them (dse/methods/multires/).

1. Resolutions served: one multi-resolution model trained on a budget list (default: the
   reference implementation's eight, ``2:8 .. 3:20``, group 16) against one model per
   budget trained alone with the same epochs, optimizer, schedule and data order (so each
   individual model gets as many optimizer steps as the multi-resolution one; the latter
   runs two forward/backward passes per step). Prints, per budget, both accuracies, how
   many resolutions are within 1% (absolute) of individual training, and the wall time of
   the multi-resolution training against the sum of the individual trainings, as a ratio.
   FP32 pre-training is cached and counted in neither.
2. Scoring candidates: the study of examples/term_multires.toml (its space, its
   ``[multires]`` checkpoint, its ``[finetune]`` budget) on each workload; N random
   candidates (per-layer term budgets, Optuna's RandomSampler) are scored by both
   fidelities through ``dse.study.make_finetune_fn``, in the same run. Prints the cost per
   candidate of each, their ratio, the one-time checkpoint training, and Kendall's tau
   (scipy, tau-b) between multires scores and fine-tuned accuracies; for scale, also the
   tau between fine-tunes with two seeds (how well a fine-tune ranks the candidates itself).

    python benchmarks/bench_multires.py [--workloads mnist1d,digits] [--budgets 2:8,...]
        [--epochs 10] [--seeds 0,1,2] [--distill-weight 0.1] [--temperature 4]
        [--candidates 16] [--seed 0] [--threads 1] [--no-seed-check]
        [--skip-resolutions] [--skip-candidates]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import optuna
from scipy.stats import kendalltau

from dse.config import load_config, parse_budgets
from dse.methods.multires import MultiresSpec, TermBudget, train_individual, train_multires
from dse.study import make_finetune_fn, resolve
from dse.training import pretrain
from dse.workloads import get_workload

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "term_multires.toml"
PAPER_BUDGETS = "2:8,2:10,2:12,2:14,3:14,3:16,3:18,3:20"


def resolutions(name: str, seed: int, args: argparse.Namespace) -> tuple[int, float, float]:
    """(resolutions within 1%, mean delta in points, time ratio) for one seed."""
    bundle = get_workload(name)
    pre = pretrain(bundle, seed, threads=args.threads)
    spec = MultiresSpec(budgets=tuple(TermBudget(a, k) for a, k in parse_budgets(args.budgets, "--budgets")),
                        group_size=args.group, epochs=args.epochs, distill_weight=args.distill_weight,
                        temperature=args.temperature)
    print(f"\n== {name}: {len(spec.budgets)} resolutions, group {spec.group_size}, {spec.w_bits}-bit weight grid, "
          f"{spec.a_bits}-bit activations, {spec.epochs} epochs each, distillation w {spec.distill_weight:g} "
          f"T {spec.temperature:g}, seed {seed}; FP32 {100 * pre.float_accuracy:.2f}%")
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = train_multires(bundle, spec, seed, path=Path(tmp) / "m.pt", threads=args.threads)
    individual = []
    for i in range(len(spec.budgets)):
        individual.append(train_individual(bundle, spec, i, seed, threads=args.threads))
    print(f"{'budget':<8} {'pairs/MAC':>9} {'multires':>9} {'individual':>10} {'delta':>7} {'ind. s':>7}")
    within = 0
    for b, acc, ind in zip(spec.budgets, ckpt.accuracies, individual):
        delta = acc - ind.accuracy
        within += delta >= -0.01 - 1e-9  # 1.00 points (10 of 1000 examples) counts as within
        tag = " T" if b == spec.budgets[spec.teacher] else ""
        print(f"{str(b) + tag:<8} {b.term_pairs / spec.group_size:>9.3g} {100 * acc:>8.2f}% "
              f"{100 * ind.accuracy:>9.2f}% {100 * delta:>+7.2f} {ind.time_s:>7.1f}")
    ind_s = sum(r.time_s for r in individual)
    mean_delta = statistics.mean(a - r.accuracy for a, r in zip(ckpt.accuracies, individual))
    print(f"within 1% of individual training: {within} of {len(spec.budgets)} resolutions "
          f"(mean delta {100 * mean_delta:+.2f} points)")
    print(f"training time: multires {ckpt.time_s:.1f} s ({ckpt.steps} steps), individual {ind_s:.1f} s in all "
          f"({len(individual)} models) -> ratio {ckpt.time_s / ind_s:.2f}")
    return within, mean_delta, ckpt.time_s / ind_s


def candidates(name: str, args: argparse.Namespace) -> None:
    cfg = load_config(EXAMPLE)
    cfg = replace(cfg, workload=name, seed=args.seed)
    resolved = resolve(cfg)
    sampler_study = optuna.create_study(directions=cfg.directions, sampler=optuna.samplers.RandomSampler(seed=args.seed))
    points = [resolved.space.suggest(sampler_study.ask(), resolved.workload) for _ in range(args.candidates)]
    with tempfile.TemporaryDirectory() as tmp:
        mr_cfg = replace(cfg, multires=replace(cfg.multires, checkpoint=str(Path(tmp) / "m.pt")))
        t0 = time.perf_counter()
        mr_fn = make_finetune_fn(replace(resolved, cfg=mr_cfg))
        setup_s = time.perf_counter() - t0
        ft_fn = make_finetune_fn(replace(resolved, cfg=replace(cfg, fidelity="finetune")))
        ft2_fn = (None if args.no_seed_check else
                  make_finetune_fn(replace(resolved, cfg=replace(cfg, fidelity="finetune", seed=args.seed + 1))))
        never = lambda epoch, acc: None  # noqa: E731 (score every candidate fully)
        rows = []
        for p in points:
            t0 = time.perf_counter()
            mr = mr_fn(p, never)
            t1 = time.perf_counter()
            ft = ft_fn(p, never)
            t2 = time.perf_counter()
            ft2 = ft2_fn(p, never) if ft2_fn else None
            rows.append((p, mr.accuracy, t1 - t0, ft.accuracy, t2 - t1, ft2.accuracy if ft2 else None))
    mr_budget = ", ".join(f"{a}:{k}" for a, k in cfg.multires.budgets)
    print(f"\n== {name}: {len(points)} random candidates of {EXAMPLE.name}'s space (per-layer term budgets); "
          f"multires checkpoint [{mr_budget}], {cfg.multires.epochs} epochs, {cfg.multires.calibration_batches} "
          f"BN calibration batches; fine-tune {cfg.finetune.epochs} epochs")
    print(f"{'#':>2} {'pairs':>9} {'multires':>9} {'mr s':>6} {'finetune':>9} {'ft s':>6}"
          + ("" if args.no_seed_check else f" {'ft seed+1':>9}"))
    from dse.evaluate import complexity_metrics

    for i, (p, mr, mr_s, ft, ft_s, ft2) in enumerate(rows):
        pairs = complexity_metrics(resolved.workload, p)["term_pairs"]
        print(f"{i:>2} {pairs:>9.3g} {100 * mr:>8.2f}% {mr_s:>6.2f} {100 * ft:>8.2f}% {ft_s:>6.2f}"
              + ("" if ft2 is None else f" {100 * ft2:>8.2f}%"))
    mr_acc, ft_acc = [r[1] for r in rows], [r[3] for r in rows]
    tau, pval = kendalltau(mr_acc, ft_acc)
    mr_mean, ft_mean = statistics.mean(r[2] for r in rows), statistics.mean(r[4] for r in rows)
    print(f"cost per candidate: multires {mr_mean:.2f} s, finetune {ft_mean:.2f} s -> ratio {mr_mean / ft_mean:.3f} "
          f"({ft_mean / mr_mean:.1f}x faster); one-time checkpoint training {setup_s:.1f} s "
          f"(pays off after {setup_s / max(ft_mean - mr_mean, 1e-9):.0f} candidates)")
    print(f"Kendall tau (multires score vs fine-tuned accuracy): {tau:.3f} (p = {pval:.3g}, n = {len(rows)})")
    if not args.no_seed_check:
        tau2, p2 = kendalltau([r[5] for r in rows], ft_acc)
        print(f"Kendall tau (fine-tune seed {args.seed + 1} vs seed {args.seed}): {tau2:.3f} (p = {p2:.3g})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workloads", default="mnist1d,digits")
    ap.add_argument("--budgets", default=PAPER_BUDGETS)
    ap.add_argument("--group", type=int, default=16)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--candidates", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0, help="seed of the candidate comparison")
    ap.add_argument("--seeds", default="0", help="comma-separated seeds of the resolution comparison")
    ap.add_argument("--distill-weight", type=float, default=MultiresSpec.distill_weight)
    ap.add_argument("--temperature", type=float, default=MultiresSpec.temperature)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-seed-check", action="store_true", help="skip the second fine-tune seed")
    ap.add_argument("--skip-resolutions", action="store_true")
    ap.add_argument("--skip-candidates", action="store_true")
    args = ap.parse_args()
    for name in args.workloads.split(","):
        if not args.skip_resolutions:
            runs = [resolutions(name, int(seed), args) for seed in args.seeds.split(",")]
            if len(runs) > 1:
                print(f"-- {name} over seeds {args.seeds}: within 1%: {', '.join(str(r[0]) for r in runs)} of "
                      f"{len(parse_budgets(args.budgets, '--budgets'))}; mean delta "
                      f"{100 * statistics.mean(r[1] for r in runs):+.2f} points; time ratio "
                      f"{statistics.mean(r[2] for r in runs):.2f} (mean)")
        if not args.skip_candidates:
            candidates(name, args)


if __name__ == "__main__":
    main()
