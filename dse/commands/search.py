"""``dse search``, ``dse worker``, ``dse studies``, ``dse export``: the main job."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Optional

from ..config import StudyConfig
from ..errors import SearchInterrupted, StorageError, UserError
from .options import add_seed, add_setting, add_storage, add_study, refuse_device


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("search", help="run a design-space search (default: the built-in digits demo)",
                       description="Search per-layer quantization schemes and accelerator knobs with Optuna. "
                       "Re-running the same command resumes the study.")
    p.add_argument("config", nargs="?", help="study config (TOML); omitted: the built-in digits demo")
    _common(p)
    p.add_argument("--jobs", type=int, default=1, help="worker processes on this machine (default 1)")
    add_seed(p, default=None, help="sampler seed (overrides the config)")
    p.add_argument("--report", help="HTML report path (default reports/<study>.html)")
    p.add_argument("--no-report", action="store_true", help="do not write the HTML report and exports")
    p.add_argument("--dry-run", action="store_true", help="print the resolved space, the pre-flight feasibility "
                   "estimate and the expected cost, then stop; creates nothing (dse/study/preflight.py)")
    p.add_argument("--force", action="store_true", help="search even when the pre-flight finds almost no "
                   "feasible design")
    p.set_defaults(func=cmd_search)

    w = sub.add_parser("worker", help="join a running study from another process or machine",
                       description="Run trials of an existing study (its stored config) until its trial "
                       "budget is reached. With a PostgreSQL storage this spans machines.")
    add_storage(w, required=True, help="storage URL of the study")
    add_study(w, required=True)
    add_setting(w, StudyConfig, "trials", default=None, help="total trial budget (default: the study's)")
    add_setting(w, StudyConfig, "timeout_s", "--timeout", default=None, dest="timeout",
                help="stop after this many seconds")
    add_seed(w, default=None, help="sampler seed for this worker (default: config seed + pid)")
    w.add_argument("--quiet", action="store_true")
    w.set_defaults(func=cmd_worker)

    s = sub.add_parser("studies", help="list the studies in a storage with trial counts")
    add_storage(s)
    s.set_defaults(func=cmd_studies)

    e = sub.add_parser("export", help="write a study's Pareto set (CSV/JSON) or one trial's plan")
    add_storage(e)
    add_study(e, required=True)
    e.add_argument("--format", choices=("csv", "json"), default="csv")
    e.add_argument("-o", "--output", help="output file (Pareto set)")
    e.add_argument("--all", action="store_true", help="export every trial, not only the Pareto set")
    e.add_argument("--trial", type=int, help="export this trial's design point as a plan")
    e.add_argument("--plan-out", help="with --trial: plan file to write")
    e.add_argument("--qonnx", metavar="OUT.onnx",
                   help="with --trial: write the trial's quantized network as QONNX (FINN, hls4ml; needs the "
                   "'qonnx' extra; docs/integration.md)")
    e.set_defaults(func=cmd_export)


def _common(p: argparse.ArgumentParser) -> None:
    add_setting(p, StudyConfig, "trials", default=None, help="total trials in the study (overrides the config)")
    add_setting(p, StudyConfig, "timeout_s", "--timeout", default=None, dest="timeout")
    add_storage(p)
    add_study(p, help="study name (overrides the config)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    refuse_device(p, "set hardware.device (the FPGA part) or finetune.device (cpu|cuda|auto) in the config")


def _positive(name: str, v: Optional[float]) -> None:
    if v is not None and v <= 0:
        raise UserError(f"{name}: must be > 0, got {v:g}")


def stop_on_signals():
    """:func:`dse.study.launch.stop_on_signals` (imported on use: ``dse.study`` loads Optuna)."""
    from ..study.launch import stop_on_signals as stop

    return stop()


def _resume_hint(args: argparse.Namespace, storage_url: str, name: str) -> str:
    argv = list(getattr(args, "argv", None) or [args.command])
    if args.command == "search" and not args.storage and storage_url and "--storage" not in argv:
        argv += ["--storage", storage_url]
    return "dse " + shlex.join(argv)


def _interrupted(e: SearchInterrupted | None, args: argparse.Namespace, storage_url: str, name: str) -> SearchInterrupted:
    failed = e.failed_trials if e is not None else []
    what = (f"trial #{failed[0]} marked failed and queued again; " if len(failed) == 1 else
            f"trials {', '.join(f'#{n}' for n in failed)} marked failed and queued again; " if failed else "")
    return SearchInterrupted(f"interrupted: {what}completed trials are saved in {storage_url}; resume with: "
                             f"{_resume_hint(args, storage_url, name)}", failed)


def cmd_search(args: argparse.Namespace) -> int:
    from ..config import load_config

    _positive("--trials", args.trials)
    _positive("--timeout", args.timeout)
    _positive("--jobs", args.jobs)
    _check_search_args(args)
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
    from ..study.storage import check_storage

    check_storage(storage_url)  # a bad storage path is refused before any other work
    from ..study.launch import Prestarted

    # workers 1..N-1 start their interpreters now, on the core this start-up leaves idle (issue 13)
    with Prestarted(args.jobs - 1 if not args.dry_run else 0, cfg.needs_training and cfg.fidelity != "none") as ahead:
        return _start(args, cfg, raw, storage_url, ahead)


def _start(args: argparse.Namespace, cfg, raw, storage_url: str, ahead) -> int:
    from ..study import resolve
    from ..study.launch import check_existing_study
    from ..study.storage import open_storage

    resolved = resolve(cfg)  # every user mistake surfaces here, before anything is written
    check_existing_study(storage_url, cfg)
    from ..study.preflight import run as preflight

    if preflight(resolved, raw, force=args.force, dry_run=args.dry_run):
        return 0  # --dry-run: nothing created
    handle = open_storage(storage_url)
    with stop_on_signals():
        try:
            return _search(args, cfg, raw, resolved, handle, ahead)
        except (KeyboardInterrupt, SearchInterrupted) as e:
            raise _interrupted(e if isinstance(e, SearchInterrupted) else None, args, handle.url, cfg.name) from None
        except StorageError as e:
            raise StorageError(f"{e}; the trials completed before it are kept: free space (or fix the storage) "
                               f"and resume with: {_resume_hint(args, handle.url, cfg.name)}") from None


def _search(args: argparse.Namespace, cfg, raw, resolved, handle, ahead=None) -> int:
    from ..record import StudyRecord
    from ..study import open_study, run_worker
    from ..study.launch import resume_state, run_processes

    study, created = open_study(handle, cfg, raw, resolved)
    target = cfg.trials
    StudyRecord.write(study, target_trials=target)
    quiet = args.quiet or not sys.stderr.isatty()
    for note in StudyRecord.get(study, "baseline_notes") or []:
        print(f"note: {note}", file=sys.stderr)
    print(f"study {cfg.name!r} in {handle.url} ({'new' if created else 'resumed'}): workload {cfg.workload}, "
          f"model {resolved.model.name}, objectives {', '.join(cfg.objectives)}, sampler {cfg.sampler}",
          file=sys.stderr)
    state = resume_state(study, target, cfg.timeout_s)
    done_before, start_trials = state.done, state.stored  # a resume draws new points
    if state.complete:
        from ..study.progress import complete_message

        argv = list(getattr(args, "argv", None) or ["search"])
        for flag in ("--trials",):  # the rerun hint gives its own --trials
            while flag in argv:
                i = argv.index(flag)
                del argv[i:i + 2]
        argv = [a for a in argv if not a.startswith("--trials=")]
        print(complete_message(cfg.name, done_before, target, "dse " + shlex.join(argv)), file=sys.stderr)
        return _finish(study, handle, cfg.name, 0.0, args)
    if resolved.bundle is not None:
        from ..training import pretrain

        pre = pretrain(resolved.bundle, seed=cfg.seed, epochs=cfg.finetune.pretrain_epochs, progress=not quiet)
        print(f"FP32 model: {100 * pre.float_accuracy:.2f}% validation accuracy "
              f"({'cached' if pre.from_cache else f'trained in {pre.time_s:.1f} s'})", file=sys.stderr)
    deadline = time.time() + cfg.timeout_s if cfg.timeout_s else None
    t0 = time.time()
    from ..study.progress import Progress

    progress = Progress(target, done_before, list(cfg.objectives), not quiet, directions=cfg.directions,
                        study=study)

    def worker0() -> None:  # this process is worker 0: already started up, config resolved
        run_worker(handle, resolved, target, deadline, on_trial=progress, start_trials=start_trials)

    try:
        if args.jobs == 1:
            worker0()
        else:
            run_processes(handle.url, cfg.name, args.jobs, cfg.seed, deadline, target, start_trials,
                          in_process=worker0, resolved=resolved, prestarted=ahead)
    finally:
        progress.close()
    return _finish(study, handle, cfg.name, time.time() - t0, args)


def _check_export_args(args: argparse.Namespace) -> None:
    """Contradictory or unusable export options: refused before the storage is opened."""
    qonnx = getattr(args, "qonnx", None)
    if args.trial is not None:
        if args.trial < 0:
            raise UserError(f"--trial: trial numbers start at 0, got {args.trial}")
        if args.output or args.all:
            raise UserError("--trial: exports one trial's plan (--plan-out FILE); -o/--all export the Pareto set "
                            "or every trial: give one or the other")
    elif args.plan_out:
        raise UserError("--plan-out: give the trial to export with --trial N")
    for flag, path in (("-o/--output", args.output), ("--plan-out", args.plan_out), ("--qonnx", qonnx)):
        if path is not None:
            check_output_file(path, flag)


def _check_search_args(args: argparse.Namespace) -> None:
    """Options that contradict each other or name unusable files: refused before anything runs."""
    import math

    if args.timeout is not None and not math.isfinite(args.timeout):
        raise UserError(f"--timeout: must be a finite number of seconds, got {args.timeout}")
    if args.seed is not None and not 0 <= args.seed < 2**31:
        raise UserError(f"--seed: must be in [0, {2**31 - 1}], got {args.seed}")
    if args.study is not None and not args.study.strip():
        raise UserError("--study: must not be empty")
    if args.storage is not None and not args.storage.strip():
        raise UserError("--storage: must not be empty (leave it out for runs/dse.journal)")
    if args.report is not None:
        if args.no_report:
            raise UserError("--report/--no-report: give one of them, not both")
        check_output_file(args.report, "--report")
    if args.config is not None:
        p = Path(args.config)
        if p.is_dir():
            raise UserError(f"config: {args.config} is a directory; pass a TOML file (see examples/)")


def check_output_file(path: str, flag: str) -> None:
    """An output file the command will write: not a directory, its directory exists (or is
    one missing level, created when writing)."""
    p = Path(path).expanduser()
    if not str(path).strip():
        raise UserError(f"{flag}: must not be empty")
    if p.is_dir() or str(path).endswith(("/", os.sep)):
        raise UserError(f"{flag}: {path} is a directory; give a file name")
    parent = p.parent
    if parent.exists() and not parent.is_dir():
        raise UserError(f"{flag}: {parent} is not a directory")
    if not parent.exists() and not parent.parent.is_dir():
        raise UserError(f"{flag}: directory {parent} does not exist; create it first or fix the path")


def _finish(study, handle, name: str, elapsed_s: float, args: argparse.Namespace) -> int:
    from ..study import pareto_table, status_counts

    counts = status_counts(study)
    print(f"\n{name}: " + ", ".join(f"{v} {k}" for k, v in counts.items() if v) + f" ({elapsed_s:.1f} s this run)")
    print(pareto_table(study))
    if not getattr(args, "no_report", True):
        from ..export import pareto_records, write_records
        from ..report.html import report_stem

        stem = report_stem(name)
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


def cmd_worker(args: argparse.Namespace) -> int:
    from ..record import StudyRecord
    from ..study.storage import open_storage, study_named
    from ..study import config_from_study, resolve, run_worker

    _positive("--trials", args.trials)
    _positive("--timeout", args.timeout)
    if args.timeout is not None and args.timeout != args.timeout:
        raise UserError("--timeout: must be a number of seconds, got nan")
    if args.seed is not None and not 0 <= args.seed < 2**31:
        raise UserError(f"--seed: must be in [0, {2**31 - 1}], got {args.seed}")
    handle = open_storage(args.storage, create_dirs=False, write=True)
    study = study_named(handle, args.study, "join")
    resolved = resolve(config_from_study(study))
    from ..study.launch import one_torch_thread

    one_torch_thread()  # a worker runs beside others: one torch thread each, so they do not fight
    target = args.trials or StudyRecord.get(study, "target_trials") or resolved.cfg.trials
    deadline = time.time() + args.timeout if args.timeout else None
    seed = args.seed if args.seed is not None else (resolved.cfg.seed + os.getpid()) % 2**31
    with stop_on_signals():
        try:
            res = run_worker(handle, resolved, target, deadline, seed=seed)
        except (KeyboardInterrupt, SearchInterrupted) as e:
            raise _interrupted(e if isinstance(e, SearchInterrupted) else None, args, handle.url, args.study) from None
        except StorageError as e:
            raise StorageError(f"{e}; the trials completed before it are kept: free space (or fix the storage) "
                               f"and resume with: {_resume_hint(args, handle.url, args.study)}") from None
    if not args.quiet:
        print(f"worker: ran {res.ran} trials ({res.duplicates} duplicates), {res.stopped}")
    return 0


def cmd_studies(args: argparse.Namespace) -> int:
    from ..peek import DEFAULT_STORAGE, read_studies
    from ..peek import status_counts as view_counts
    from ..record import STATUS_SCREENED, StudyRecord

    views = read_studies(args.storage)  # a journal or SQLite file, read without importing Optuna (issue 16)
    if views is not None:
        url = args.storage or DEFAULT_STORAGE
        rows = [(v.name, len(v.trials), view_counts(v.trials), StudyRecord.get(v, "objectives")) for v in views]
    else:
        url, rows = _studies_by_optuna(args.storage)
    if not rows:
        print(f"no studies in {url}")
        return 0
    # a "screened" column (multi-fidelity: candidates the [screen] stage kept from a fine-tune)
    # only when some study has them, so the table of other storages is as it always was
    screened = any(c.get(STATUS_SCREENED) for _, _, c, _ in rows)
    print(f"{'study':<32} {'trials':>6} {'complete':>8} {'infeasible':>10} " + (f"{'screened':>8} " if screened else "")
          + f"{'abandoned':>9} {'failed':>6}  objectives")
    for name, n_trials, c, objectives in rows:
        objs = ",".join(objectives or [])
        print(f"{name:<32} {n_trials:>6} {c['complete']:>8} {c['infeasible']:>10} "
              + (f"{c.get(STATUS_SCREENED, 0):>8} " if screened else "") + f"{c['abandoned']:>9} {c['failed']:>6}  {objs}")
    return 0


def _studies_by_optuna(storage: str | None) -> tuple[str, list[tuple[str, int, dict[str, int], Any]]]:
    """``dse studies``' rows read through Optuna: any storage (PostgreSQL, ...), and the
    messages of a storage that cannot be read."""
    import optuna

    from ..record import StudyRecord
    from ..study import status_counts
    from ..study.storage import open_storage

    handle = open_storage(storage, create_dirs=False)
    rows = []
    for s in optuna.get_all_study_summaries(handle.storage, include_best_trial=False):
        study = optuna.load_study(study_name=s.study_name, storage=handle.storage)
        rows.append((s.study_name, s.n_trials, status_counts(study), StudyRecord.get(study, "objectives")))
    return handle.url, rows


def cmd_export(args: argparse.Namespace) -> int:
    import json

    from ..export import pareto_records, plan_of_trial, trial_record, write_records
    from ..record import StudyRecord
    from ..study.storage import load_named_study

    _check_export_args(args)
    study, _ = load_named_study(args.storage, args.study, "export")
    if args.trial is not None:
        if not args.plan_out and not args.qonnx:
            raise UserError("--plan-out: give the plan file to write with --trial (or --qonnx OUT.onnx)")
        plan = plan_of_trial(study, args.trial)
        if args.qonnx:
            from ..export.qonnx import export_trial

            summary, note = export_trial(study, args.trial, args.qonnx,
                                         note=lambda line: print(line, file=sys.stderr))
            print(f"trial {args.trial} QONNX -> {summary.path} ({len(summary.layers)} quantized layers, "
                  f"{summary.quant_nodes} Quant + {summary.threshold_nodes} MultiThreshold nodes; {note})")
            if not args.plan_out:
                return 0
        Path(args.plan_out).write_text(json.dumps(plan, indent=2, sort_keys=True), encoding="utf-8")
        print(f"trial {args.trial} plan -> {args.plan_out}")
        return 0
    if args.qonnx:
        raise UserError("--qonnx: give the trial to export with --trial N")
    if not args.output:
        raise UserError("-o/--output: give the file to write (or --trial N --plan-out FILE)")
    if args.all:
        objectives = StudyRecord.get(study, "objectives") or []
        records = [trial_record(t, objectives) for t in study.get_trials(deepcopy=False)]
    else:
        records = pareto_records(study)
    write_records(records, args.format, args.output)
    print(f"{len(records)} {'trials' if args.all else 'Pareto points'} -> {args.output}")
    return 0
