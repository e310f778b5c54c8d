"""``dse search``, ``dse worker``, ``dse studies``, ``dse export``: the main job."""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Optional

from ..errors import UserError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("search", help="run a design-space search (default: the built-in digits demo)",
                       description="Search per-layer quantization schemes and accelerator knobs with Optuna. "
                       "Re-running the same command resumes the study.")
    p.add_argument("config", nargs="?", help="study config (TOML); omitted: the built-in digits demo")
    _common(p)
    p.add_argument("--jobs", type=int, default=1, help="worker processes on this machine (default 1)")
    p.add_argument("--seed", type=int, help="sampler seed (overrides the config)")
    p.add_argument("--report", help="HTML report path (default reports/<study>.html)")
    p.add_argument("--no-report", action="store_true", help="do not write the HTML report and exports")
    p.set_defaults(func=cmd_search)

    w = sub.add_parser("worker", help="join a running study from another process or machine",
                       description="Run trials of an existing study (its stored config) until its trial "
                       "budget is reached. With a PostgreSQL storage this spans machines.")
    w.add_argument("--storage", required=True, help="storage URL of the study")
    w.add_argument("--study", required=True, help="study name")
    w.add_argument("--trials", type=int, help="total trial budget (default: the study's)")
    w.add_argument("--timeout", type=float, help="stop after this many seconds")
    w.add_argument("--seed", type=int, help="sampler seed for this worker (default: config seed + pid)")
    w.add_argument("--quiet", action="store_true")
    w.set_defaults(func=cmd_worker)

    s = sub.add_parser("studies", help="list the studies in a storage with trial counts")
    s.add_argument("--storage", help="storage URL (default runs/dse.journal)")
    s.set_defaults(func=cmd_studies)

    e = sub.add_parser("export", help="write a study's Pareto set (CSV/JSON) or one trial's plan")
    e.add_argument("--storage", help="storage URL (default runs/dse.journal)")
    e.add_argument("--study", required=True)
    e.add_argument("--format", choices=("csv", "json"), default="csv")
    e.add_argument("-o", "--output", help="output file (Pareto set)")
    e.add_argument("--all", action="store_true", help="export every trial, not only the Pareto set")
    e.add_argument("--trial", type=int, help="export this trial's design point as a plan")
    e.add_argument("--plan-out", help="with --trial: plan file to write")
    e.set_defaults(func=cmd_export)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--trials", type=int, help="total trials in the study (overrides the config)")
    p.add_argument("--timeout", type=float, help="stop starting trials after this many seconds")
    p.add_argument("--storage", help="storage URL (default runs/dse.journal; sqlite:///F, postgresql://...)")
    p.add_argument("--study", help="study name (overrides the config)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _positive(name: str, v: Optional[float]) -> None:
    if v is not None and v <= 0:
        raise UserError(f"{name}: must be > 0, got {v:g}")


class _Progress:
    """tqdm bar: trials done, Pareto-front size, best value per objective."""

    def __init__(self, total: Optional[int], initial: int, objectives: list[str], enabled: bool):
        self.objectives = objectives
        self.bar = None
        if enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=initial, desc="trials", unit="trial", dynamic_ncols=True)

    def __call__(self, study, trial) -> None:
        if self.bar is None:
            return
        from ..study import format_value, pareto_trials

        front = pareto_trials(study)
        best = {}
        for i, o in enumerate(self.objectives):
            vals = [t.values[i] for t in front]
            if vals:
                best[o] = format_value(o, max(vals) if o == "accuracy" else min(vals))
        self.bar.set_postfix({"front": len(front), **best}, refresh=False)
        self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _worker_process(storage_url: str, study_name: str, index: int, seed: Optional[int],
                    deadline: Optional[float], target: Optional[int]) -> None:
    from ..storage import open_storage
    from ..study import config_from_study, resolve, run_worker
    import optuna

    handle = open_storage(storage_url)
    study = optuna.load_study(study_name=study_name, storage=handle.storage)
    resolved = resolve(config_from_study(study))
    run_worker(handle, resolved, target, deadline, worker_index=index, seed=seed)


def cmd_search(args: argparse.Namespace) -> int:
    from ..config import load_config
    from ..storage import open_storage
    from ..study import open_study, resolve, run_worker

    _positive("--trials", args.trials)
    _positive("--timeout", args.timeout)
    _positive("--jobs", args.jobs)
    cfg = load_config(args.config)
    raw = {}
    if args.config:
        import tomllib

        raw = tomllib.loads(Path(args.config).read_text(encoding="utf-8"))
    over: dict[str, Any] = {}
    if args.trials is not None:
        over["trials"] = args.trials
    if args.timeout is not None:
        over["timeout_s"] = args.timeout
    if args.study:
        over["name"] = args.study
    if args.seed is not None:
        over["seed"] = args.seed
    storage_url = args.storage or cfg.storage
    if over:
        cfg = replace(cfg, **over)
    if storage_url == "memory:" and args.jobs > 1:
        raise UserError("--jobs: several processes cannot share a memory: storage; use a file or database URL")
    resolved = resolve(cfg)  # every user mistake surfaces here, before anything is written
    handle = open_storage(storage_url)
    study, created = open_study(handle, cfg, raw, resolved)
    target = cfg.trials
    study.set_user_attr("target_trials", target)
    quiet = args.quiet or not sys.stderr.isatty()
    for note in study.user_attrs.get("baseline_notes", []):
        print(f"note: {note}", file=sys.stderr)
    print(f"study {cfg.name!r} in {handle.url} ({'new' if created else 'resumed'}): workload {cfg.workload}, "
          f"model {resolved.model.name}, objectives {', '.join(cfg.objectives)}, sampler {cfg.sampler}",
          file=sys.stderr)
    if resolved.bundle is not None:
        from ..train import pretrain

        pre = pretrain(resolved.bundle, seed=cfg.seed, epochs=cfg.finetune.pretrain_epochs, progress=not quiet)
        print(f"FP32 model: {100 * pre.float_accuracy:.2f}% validation accuracy "
              f"({'cached' if pre.from_cache else f'trained in {pre.time_s:.1f} s'})", file=sys.stderr)
    deadline = time.time() + cfg.timeout_s if cfg.timeout_s else None
    t0 = time.time()
    from ..study import counted_trials

    done_before = counted_trials(study.get_trials(deepcopy=False))
    if args.jobs == 1:
        progress = _Progress(target, min(done_before, target or done_before), list(cfg.objectives), not quiet)
        try:
            run_worker(handle, resolved, target, deadline, on_trial=progress)
        finally:
            progress.close()
    else:
        ctx = mp.get_context("spawn")
        procs = [ctx.Process(target=_worker_process, args=(handle.url, cfg.name, i, cfg.seed, deadline, target))
                 for i in range(args.jobs)]
        for p in procs:
            p.start()
        for p in procs:
            p.join()
    return _finish(study, handle, cfg.name, time.time() - t0, args)


def _finish(study, handle, name: str, elapsed_s: float, args: argparse.Namespace) -> int:
    from ..study import pareto_table, status_counts

    counts = status_counts(study)
    print(f"\n{name}: " + ", ".join(f"{v} {k}" for k, v in counts.items() if v) + f" ({elapsed_s:.1f} s this run)")
    print(pareto_table(study))
    if not getattr(args, "no_report", True):
        from ..export import pareto_records, write_records

        stem = _safe_stem(name)
        for fmt in ("csv", "json"):
            out = Path("runs") / f"{stem}-pareto.{fmt}"
            write_records(pareto_records(study), fmt, out)
        print(f"Pareto set: runs/{stem}-pareto.csv, runs/{stem}-pareto.json")
        try:
            from ..report import write_report
        except ImportError:
            write_report = None
        if write_report is not None:
            path = Path(args.report) if args.report else Path("reports") / f"{stem}.html"
            write_report(study, path)
            print(f"report: {path}")
    return 0


def _safe_stem(name: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "study"


def cmd_worker(args: argparse.Namespace) -> int:
    import optuna

    from ..storage import open_storage
    from ..study import config_from_study, resolve, run_worker

    _positive("--trials", args.trials)
    _positive("--timeout", args.timeout)
    handle = open_storage(args.storage, create_dirs=False)
    names = [s.study_name for s in optuna.get_all_study_summaries(handle.storage, include_best_trial=False)]
    if args.study not in names:
        raise UserError(f"--study: no study named {args.study!r} in {args.storage}; known: {', '.join(names) or 'none'}")
    study = optuna.load_study(study_name=args.study, storage=handle.storage)
    resolved = resolve(config_from_study(study))
    target = args.trials or study.user_attrs.get("target_trials") or resolved.cfg.trials
    deadline = time.time() + args.timeout if args.timeout else None
    import os

    seed = args.seed if args.seed is not None else resolved.cfg.seed + os.getpid()
    res = run_worker(handle, resolved, target, deadline, seed=seed)
    if not args.quiet:
        print(f"worker: ran {res.ran} trials ({res.duplicates} duplicates), {res.stopped}")
    return 0


def cmd_studies(args: argparse.Namespace) -> int:
    import optuna

    from ..storage import open_storage
    from ..study import status_counts

    handle = open_storage(args.storage, create_dirs=False)
    summaries = optuna.get_all_study_summaries(handle.storage, include_best_trial=False)
    if not summaries:
        print(f"no studies in {handle.url}")
        return 0
    print(f"{'study':<32} {'trials':>6} {'complete':>8} {'infeasible':>10} {'abandoned':>9} {'failed':>6}  objectives")
    for s in summaries:
        study = optuna.load_study(study_name=s.study_name, storage=handle.storage)
        c = status_counts(study)
        objs = ",".join(study.user_attrs.get("objectives", []))
        print(f"{s.study_name:<32} {s.n_trials:>6} {c['complete']:>8} {c['infeasible']:>10} {c['abandoned']:>9} "
              f"{c['failed']:>6}  {objs}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    import json

    import optuna

    from ..export import pareto_records, plan_of_trial, trial_record, write_records
    from ..storage import open_storage

    handle = open_storage(args.storage, create_dirs=False)
    names = [s.study_name for s in optuna.get_all_study_summaries(handle.storage, include_best_trial=False)]
    if args.study not in names:
        raise UserError(f"--study: no study named {args.study!r}; known: {', '.join(names) or 'none'}")
    study = optuna.load_study(study_name=args.study, storage=handle.storage)
    if args.trial is not None:
        if not args.plan_out:
            raise UserError("--plan-out: give the plan file to write with --trial")
        plan = plan_of_trial(study, args.trial)
        Path(args.plan_out).write_text(json.dumps(plan, indent=2, sort_keys=True), encoding="utf-8")
        print(f"trial {args.trial} plan -> {args.plan_out}")
        return 0
    if not args.output:
        raise UserError("-o/--output: give the file to write (or --trial N --plan-out FILE)")
    if args.all:
        objectives = study.user_attrs.get("objectives") or []
        records = [trial_record(t, objectives) for t in study.get_trials(deepcopy=False)]
    else:
        records = pareto_records(study)
    write_records(records, args.format, args.output)
    print(f"{len(records)} {'trials' if args.all else 'Pareto points'} -> {args.output}")
    return 0
