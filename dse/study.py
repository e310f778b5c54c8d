"""Study orchestration: config -> resolved parts -> Optuna study -> worker loop.

A worker asks Optuna for a trial under a cross-process lock (so a study's trial count is
exact however many workers share it), turns it into a DesignPoint, evaluates it in stages
(``dse/evaluate.py``) and tells Optuna the outcome. Every metric, the design point, the
hardware summary and timings land in ``trial.user_attrs``; reports and exports read the
storage alone.

Trial states: COMPLETE = fully evaluated (constraints may still be violated, e.g. an
accuracy cap); PRUNED = infeasible before fine-tuning, or abandoned as hopeless (the
``status`` user attr says which, ``reason`` says why); FAILED = an error (``reason``).
A trial whose worker died is failed and re-enqueued (Optuna's RetryHeartbeatStaleTrialCallback):
by heartbeat on RDB storages, by process liveness on local journal files.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Optional

import optuna
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import FrozenTrial, TrialState

from hwmodels import DesignPoint, HardwareModel, Workload
from search_spaces import HardwarePiece, SearchSpace, default_quant_pieces

from . import __version__
from .config import StudyConfig, parse_config
from .errors import SearchInterrupted, StorageError, UserError
from .evaluate import STATUS_ABANDONED, STATUS_COMPLETE, STATUS_FAILED, STATUS_INFEASIBLE, Evaluation, Evaluator
from .pareto import pareto_mask, to_minimization
from .storage import StorageHandle, pid_alive, storage_fault, worker_id

optuna.logging.set_verbosity(optuna.logging.WARNING)
# Optuna's retry-on-stale-heartbeat callback is marked experimental; its warning is noise here.
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
# we ask trials outside Study.optimize and record heartbeats ourselves (_Heartbeat)
warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used", category=UserWarning)

#: config fields that may differ when a study is resumed
_RESUMABLE_FIELDS = ("trials", "timeout_s", "storage", "name", "seed")


@dataclass
class Resolved:
    """A validated config with its parts built."""

    cfg: StudyConfig
    model: HardwareModel
    workload: Workload
    space: SearchSpace
    bundle: Any = None  # dse.workloads.WorkloadBundle when training is needed


def resolve(cfg: StudyConfig) -> Resolved:
    """Build the hardware model, workload and search space; every bad name -> UserError."""
    from hwmodels.registry import get_model, list_models

    try:
        model = get_model(cfg.hardware.model)
    except (KeyError, ValueError):
        raise UserError(f"hardware.model: unknown model {cfg.hardware.model!r}; allowed: "
                        f"{', '.join(list_models())}") from None
    knobs = {k.name: k for k in model.knobs()}
    fixed = dict(cfg.hardware.fixed)
    if cfg.hardware.device is not None:
        if "device" not in knobs:
            raise UserError(f"hardware.device: model {model.name!r} has no device knob")
        fixed["device"] = cfg.hardware.device
    for name, value in fixed.items():
        if name not in knobs:
            raise UserError(f"hardware.fixed.{name}: unknown knob of {model.name!r}; knobs: {', '.join(knobs)}")
        try:
            fixed[name] = knobs[name].validate(value)
        except ValueError as e:
            where = "hardware.device" if name == "device" and cfg.hardware.device is not None else f"hardware.fixed.{name}"
            raise UserError(f"{where}: {str(e).split(': ', 1)[-1]}") from None
    for name, rng in cfg.hardware.ranges.items():
        if name not in knobs:
            raise UserError(f"hardware.ranges.{name}: unknown knob of {model.name!r}; knobs: {', '.join(knobs)}")
        if not isinstance(rng, list) or not rng:
            raise UserError(f"hardware.ranges.{name}: expected a list of choices or [low, high]")
        knob = knobs[name]
        try:
            if knob.kind == "categorical" or len(rng) != 2:
                [knob.validate(v) for v in rng]
            else:
                if knob.validate(rng[0]) > knob.validate(rng[1]):
                    raise ValueError(f"{name}: low {rng[0]} > high {rng[1]}")
        except ValueError as e:
            raise UserError(f"hardware.ranges.{e}") from None
    for name in cfg.hardware.search or ():
        if name not in knobs:
            raise UserError(f"hardware.search: unknown knob {name!r} of {model.name!r}; knobs: {', '.join(knobs)}")
    from .workloads import get_workload, get_workload_spec

    bundle = None
    if cfg.needs_training and cfg.fidelity != "none":
        bundle = get_workload(cfg.workload, **dict(cfg.workload_options))
        if not bundle.has_data:
            raise UserError(f"workload.name: {cfg.workload!r} is shape-only (no data), so it cannot score "
                            "accuracy; use hardware objectives only with study.fidelity = 'none'")
        workload = bundle.spec
    else:
        workload = get_workload_spec(cfg.workload, **dict(cfg.workload_options))
    sp = cfg.space
    pieces = default_quant_pieces(
        sp.kinds, w_bits=sp.w_bits, a_bits=sp.a_bits, granularity=sp.granularity, shared=sp.shared,
        first_last=sp.first_last, terms_per_value=sp.terms_per_value, group_sizes=sp.group_sizes,
        encodings=sp.term_encodings, a_term_budgets=sp.a_term_budgets, sp2_fractions=sp.sp2_fractions)
    pieces.append(HardwarePiece(model, fixed=fixed, ranges=dict(cfg.hardware.ranges), search=cfg.hardware.search))
    return Resolved(cfg, model, workload, SearchSpace(pieces), bundle)


def make_sampler(name: str, seed: Optional[int], n_objectives: int) -> optuna.samplers.BaseSampler:
    if name == "tpe":
        # conditional space (see search_spaces.base): group=True lets multivariate TPE model
        # each set of co-occurring parameters jointly; constant_liar keeps parallel workers
        # from proposing the same point
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True, constant_liar=True,
                                          n_startup_trials=10)
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=20)
    if name == "nsga3":
        return optuna.samplers.NSGAIIISampler(seed=seed, population_size=20)
    if name == "gp":
        return optuna.samplers.GPSampler(seed=seed, n_startup_trials=10)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    raise UserError(f"sampler.name: unknown sampler {name!r}")


def point_key(point: DesignPoint) -> str:
    return hashlib.sha1(json.dumps(point.to_dict(), sort_keys=True, default=str).encode()).hexdigest()[:16]


def _comparable(cfg_dict: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in cfg_dict.items() if k not in _RESUMABLE_FIELDS}


def _jsonable(x: Any) -> Any:
    return json.loads(json.dumps(x, default=lambda o: o.item() if hasattr(o, "item") else str(o)))


def open_study(handle: StorageHandle, cfg: StudyConfig, raw_config: dict[str, Any],
               resolved: Resolved, create: bool = True) -> tuple[optuna.Study, bool]:
    """Load the study, or create it (with its config and baselines) when absent.

    Resuming with a config that differs in anything but trials/timeout/seed is an error:
    the stored trials would not mean the same thing. Runs under the storage's lock, so two
    searches started at the same instant create the study (and its baselines) once.
    """
    with handle.lock():
        return _open_study(handle, cfg, raw_config, resolved, create)


def check_resumable(handle: StorageHandle, cfg: StudyConfig) -> bool:
    """Whether study ``cfg.name`` exists in the storage; UserError when it does with a config
    that means something else (objectives, space, workload, ...). Writes nothing."""
    names = {s.study_name for s in optuna.get_all_study_summaries(handle.storage, include_best_trial=False)}
    if cfg.name not in names:
        return False
    study = optuna.load_study(study_name=cfg.name, storage=handle.storage)
    stored = study.user_attrs.get("config")
    if stored is None:
        raise UserError(f"study.name: {cfg.name!r} in this storage was not created by dse search; pick another "
                        "--study name")
    cfg_dict = _jsonable(cfg.to_dict())
    if _comparable(stored) != _comparable(cfg_dict):
        diff = sorted(k for k in set(stored) | set(cfg_dict)
                      if k not in _RESUMABLE_FIELDS and stored.get(k) != cfg_dict.get(k))
        raise UserError(f"study.name: study {cfg.name!r} already exists in this storage with a different "
                        f"config ({', '.join(diff)} differ); resume it with the same config or start a new "
                        "study with a new --study name")
    return True


def _open_study(handle: StorageHandle, cfg: StudyConfig, raw_config: dict[str, Any],
                resolved: Resolved, create: bool) -> tuple[optuna.Study, bool]:
    summaries = {s.study_name: s for s in optuna.get_all_study_summaries(handle.storage, include_best_trial=False)}
    cfg_dict = _jsonable(cfg.to_dict())
    if cfg.name in summaries:
        check_resumable(handle, cfg)
        study = optuna.load_study(study_name=cfg.name, storage=handle.storage)
        if study.metric_names is None:  # made before dse named its objectives for Optuna's tools
            study.set_metric_names(list(cfg.objectives))
        return study, False
    if not create:
        raise UserError(f"study: no study named {cfg.name!r} in this storage; known: "
                        f"{', '.join(sorted(summaries)) or 'none'}")
    study = optuna.create_study(study_name=cfg.name, storage=handle.storage, directions=cfg.directions)
    study.set_metric_names(list(cfg.objectives))  # optuna-dashboard and optuna.visualization show these
    attrs = {
        "config": cfg_dict, "raw_config": _jsonable(raw_config), "config_source": cfg.source,
        "workload": cfg.workload, "hwmodel": resolved.model.name,
        "device": _device_of(resolved), "objectives": list(cfg.objectives), "directions": cfg.directions,
        "caps": [str(c) for c in cfg.caps], "sampler": cfg.sampler, "seed": cfg.seed,
        "layers": [{"name": l.name, "macs": l.macs, "weights": l.weights, "M": l.M, "K": l.K, "N": l.N}
                   for l in resolved.workload.layers],
        "created_unix": time.time(), "dse_version": __version__,
    }
    for k, v in attrs.items():
        study.set_user_attr(k, v)
    notes = enqueue_baselines(study, resolved)
    study.set_user_attr("baseline_notes", notes)
    return study, True


def _device_of(resolved: Resolved) -> str:
    knobs = {k.name: k for k in resolved.model.knobs()}
    fixed = {}
    for p in resolved.space.pieces:
        if isinstance(p, HardwarePiece):
            fixed = dict(p.fixed)
    if "device" in fixed:
        return str(fixed["device"])
    if "device" in knobs:
        return str(knobs["device"].default) + ("" if resolved.cfg.hardware.search is not None and "device" not in
                                               (resolved.cfg.hardware.search or ()) else "")
    return ""


def enqueue_baselines(study: optuna.Study, resolved: Resolved) -> list[str]:
    """Enqueue uniform fixed-point baselines (e.g. W8A8, W4A4) so every front is compared
    against them. Returns notes on baselines the space cannot express."""
    notes = []
    a_choices = resolved.cfg.space.a_bits
    for bits in resolved.cfg.baselines:
        a = bits if bits in a_choices else min(a_choices, key=lambda x: (abs(x - bits), -x))
        params = resolved.space.baseline_params(resolved.workload, bits, a)
        if params is None:
            notes.append(f"baseline fixed W{bits}A{a} not enqueued: the search space cannot express it "
                         f"(needs kind 'fixed' and {bits} in space.w_bits)")
            continue
        study.enqueue_trial(params, user_attrs={"baseline": f"fixed W{bits}A{a}"}, skip_if_exists=True)
    return notes


# --- counting and recovery ----------------------------------------------------------------

def retried_numbers(trials: list[FrozenTrial]) -> set[int]:
    return {int(t.system_attrs["failed_trial"]) for t in trials if "failed_trial" in t.system_attrs}


def counted_trials(trials: list[FrozenTrial]) -> int:
    """Trials that count toward the budget: all but crashed ones that were re-enqueued."""
    return len(trials) - len(retried_numbers(trials))


def recover_stale(study: optuna.Study, handle: StorageHandle) -> list[int]:
    """Fail and re-enqueue trials whose worker is gone; returns their numbers."""
    failed: list[int] = []
    if handle.heartbeat:
        before = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
        optuna.storages.fail_stale_trials(study)
        after = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
        failed.extend(sorted(before - after))
    me = worker_id()
    retry = RetryHeartbeatStaleTrialCallback(max_retry=2)
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        w = t.user_attrs.get("worker") or {}
        pid = w.get("pid")
        if w.get("host") == me["host"] and isinstance(pid, int) and pid != me["pid"] and not pid_alive(pid):
            if handle.storage.set_trial_state_values(t._trial_id, TrialState.FAIL):
                retry(study, handle.storage.get_trial(t._trial_id))
                failed.append(t.number)
    return failed


class _Heartbeat:
    """Records Optuna heartbeats for a running trial on RDB storages."""

    def __init__(self, handle: StorageHandle, trial: optuna.Trial, interval_s: float):
        self._stop = threading.Event()
        self._thread = None
        if handle.heartbeat:
            storage = handle.storage

            def beat() -> None:
                while not self._stop.wait(interval_s):
                    try:
                        storage.record_heartbeat(trial._trial_id)  # type: ignore[attr-defined]
                    except Exception:  # a transient DB error must not kill the trial
                        pass

            storage.record_heartbeat(trial._trial_id)  # type: ignore[attr-defined]
            self._thread = threading.Thread(target=beat, daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


# --- recording ------------------------------------------------------------------------------

def record(trial: optuna.Trial, ev: Evaluation) -> None:
    trial.set_user_attr("status", ev.status)
    if ev.reason:
        trial.set_user_attr("reason", ev.reason)
    trial.set_user_attr("metrics", _jsonable(ev.metrics))
    if ev.hw:
        trial.set_user_attr("hw", _jsonable(ev.hw))
    if ev.hw_layers:
        trial.set_user_attr("hw_layers", _jsonable(ev.hw_layers))
    if ev.finetune:
        trial.set_user_attr("finetune", _jsonable(ev.finetune))
    trial.set_user_attr("timing", _jsonable(ev.timing))
    set_constraints(trial, ev.constraints)


#: the trial system attr optuna-dashboard reads constraint values from (a list; the key
#: Optuna's deprecated ``constraints_func`` wrote, ``optuna.study._constrained_optimization``)
DASHBOARD_CONSTRAINTS_KEY = "constraints"


def set_constraints(trial: optuna.Trial, constraints: dict[str, float]) -> None:
    """Record constraint values (<= 0: satisfied) where Optuna and optuna-dashboard read them:
    by name with ``Trial.set_constraint`` (Optuna 5's samplers, visualizations and
    ``FrozenTrial.constraints``), and as one list, in name order, under the trial system
    attr ``constraints`` (optuna-dashboard 0.21 reads only that; Optuna 5 writes it only
    from the deprecated ``constraints_func``). ``FrozenTrial.constraints`` then also lists
    the values as "0", "1", ...: :func:`named_constraints` leaves those out."""
    names = sorted(k for k in constraints if not k.isdigit())
    for key in names:
        trial.set_constraint(key, float(constraints[key]))
    if names:
        trial.storage.set_trial_system_attr(trial._trial_id, DASHBOARD_CONSTRAINTS_KEY,
                                            [float(constraints[k]) for k in names])


def named_constraints(t: FrozenTrial) -> dict[str, float]:
    """A trial's constraint values by name (without the list copy kept for optuna-dashboard)."""
    return {k: v for k, v in t.constraints.items() if not k.isdigit()}


def tell(study: optuna.Study, trial: optuna.Trial, ev: Evaluation) -> None:
    if ev.status == STATUS_COMPLETE:
        study.tell(trial, list(ev.values))
    elif ev.status in (STATUS_INFEASIBLE, STATUS_ABANDONED):
        study.tell(trial, state=TrialState.PRUNED)
    else:
        study.tell(trial, state=TrialState.FAIL)


def record_point(handle: StorageHandle, study: optuna.Study, point: DesignPoint, ev: Evaluation,
                 extra: Optional[dict[str, Any]] = None) -> FrozenTrial:
    """Record a point evaluated outside the worker loop (e.g. by ``dse allocate``) as one
    trial with the search's user attrs (``worker``, ``point``, ``point_key``, then those of
    :func:`record`) plus ``extra``; it joins the study's Pareto front like a searched point.
    The trial has no sampled parameters, and counts toward the study's trial total."""
    with handle.lock():
        trial = study.ask()
        trial.set_user_attr("worker", worker_id())
    trial.set_user_attr("point", point.to_dict())
    trial.set_user_attr("point_key", point_key(point))
    for key, value in (extra or {}).items():
        trial.set_user_attr(key, _jsonable(value))
    record(trial, ev)
    tell(study, trial, ev)
    return study._storage.get_trial(trial._trial_id)


def _replay(study: optuna.Study, trial: optuna.Trial, original: FrozenTrial) -> None:
    """Copy an identical earlier point's outcome instead of evaluating it again."""
    for key in ("metrics", "hw", "hw_layers", "finetune", "reason"):
        if key in original.user_attrs:
            trial.set_user_attr(key, original.user_attrs[key])
    trial.set_user_attr("status", original.user_attrs.get("status", STATUS_COMPLETE))
    trial.set_user_attr("duplicate_of", original.number)
    trial.set_user_attr("timing", {"total_s": 0.0})
    set_constraints(trial, named_constraints(original))
    if original.state == TrialState.COMPLETE:
        study.tell(trial, list(original.values))
    else:
        study.tell(trial, state=original.state)


# --- the worker loop --------------------------------------------------------------------------

@dataclass
class WorkerResult:
    ran: int
    duplicates: int
    recovered: list[int]
    stopped: str


def make_finetune_fn(resolved: Resolved, progress: bool = False) -> Optional[Callable]:
    cfg = resolved.cfg
    if not cfg.needs_training or cfg.fidelity == "none":
        return None
    if cfg.fidelity == "multires":
        from .multires import multires_score_fn  # issue 7: zero-fine-tune scoring

        return multires_score_fn(resolved)
    from .train import FinetuneBudget, finetune

    ft = cfg.finetune
    budget = FinetuneBudget(epochs=ft.epochs, steps=ft.steps, lr=ft.lr, optimizer=ft.optimizer,
                            weight_decay=ft.weight_decay, batch_size=ft.batch_size)

    def fn(point: DesignPoint, abort: Callable) -> Any:
        return finetune(resolved.bundle, point, budget, seed=cfg.seed, abort=abort, device=ft.device,
                        progress=False, pretrain_epochs=ft.pretrain_epochs)

    return fn


def stored_trials(trials: list[FrozenTrial]) -> int:
    """Trials a sampler may already have proposed: all but those still queued (baselines)."""
    return sum(t.state != TrialState.WAITING for t in trials)


def sampler_seed(seed: int, worker_index: int = 0, start_trials: int = 0) -> int:
    """One worker's sampler seed. A fresh study keeps ``seed + 1000 * worker_index`` (a fresh run
    gives the same points as before); a resumed one (``start_trials`` stored when the worker
    starts) mixes that count in, so it draws a new stream instead of re-proposing the first
    run's points, and stays reproducible."""
    if start_trials == 0:
        return seed + 1000 * worker_index
    digest = hashlib.sha256(f"{seed}:{worker_index}:{start_trials}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 2**31


def run_worker(handle: StorageHandle, resolved: Resolved, target: Optional[int], deadline: Optional[float],
               worker_index: int = 0, seed: Optional[int] = None,
               on_trial: Optional[Callable[[optuna.Study, FrozenTrial], None]] = None,
               start_trials: Optional[int] = None) -> WorkerResult:
    """Run trials until the study holds ``target`` counted trials or ``deadline`` passes.

    An exception inside a trial (a plug-in model or workload raising, a NaN) fails that trial
    with the reason and the search goes on. A storage that cannot be written (disk full,
    read-only) stops the worker with :class:`~dse.errors.StorageError`: the running trial
    stays RUNNING and is failed and retried on resume. ``KeyboardInterrupt`` (Ctrl-C, or
    SIGTERM turned into one by the CLI) fails the running trial, queues it again, and
    raises :class:`~dse.errors.SearchInterrupted`.

    The sampler seed comes from :func:`sampler_seed` with ``start_trials`` (counted from the
    storage now when not given; ``dse search --jobs N`` passes the count it saw before
    starting its workers, so they all use the same one)."""
    cfg = resolved.cfg
    study = optuna.load_study(study_name=cfg.name, storage=handle.storage)
    if start_trials is None:
        start_trials = stored_trials(study.get_trials(deepcopy=False))
    study.sampler = make_sampler(cfg.sampler, sampler_seed(cfg.seed if seed is None else seed, worker_index,
                                                           start_trials), len(cfg.objectives))
    evaluator = Evaluator(cfg, resolved.model, resolved.workload, make_finetune_fn(resolved))
    ran = dups = 0
    recovered: list[int] = []
    stopped = "target reached"
    trial: Optional[optuna.Trial] = None
    try:
        while True:
            trial = None
            with handle.lock():
                recovered += recover_stale(study, handle)
                trials = study.get_trials(deepcopy=False)
                if deadline is not None and time.time() >= deadline:
                    stopped = "time budget spent"
                    break
                waiting = any(t.state == TrialState.WAITING for t in trials)
                if not waiting and target is not None and counted_trials(trials) >= target:
                    break
                trial = study.ask()
                trial.set_user_attr("worker", worker_id())
            heartbeat = _Heartbeat(handle, trial, interval_s=5)
            try:
                dups += _run_trial(handle, study, trial, resolved, evaluator)
            except (KeyboardInterrupt, StorageError):
                raise
            except Exception as e:  # a plug-in bug, a NaN: the trial fails, the search goes on
                fault = storage_fault(e, handle.url)
                if fault is not None:
                    raise fault from None
                reason = (f"{type(e).__name__}: {e}".splitlines() or [type(e).__name__])[0][:500]
                trial.set_user_attr("status", STATUS_FAILED)
                trial.set_user_attr("reason", reason)
                study.tell(trial, state=TrialState.FAIL)
            finally:
                heartbeat.stop()
            trial_id, trial = trial._trial_id, None
            ran += 1
            if on_trial is not None:
                on_trial(study, study._storage.get_trial(trial_id))
    except KeyboardInterrupt:
        failed = []
        if trial is not None and _fail_and_requeue(study, trial, "interrupted (Ctrl-C or SIGTERM); retried on resume"):
            failed.append(trial.number)
        raise SearchInterrupted("interrupted", failed) from None
    except StorageError:
        raise
    except Exception as e:
        fault = storage_fault(e, handle.url)
        if fault is not None:
            raise fault from None
        raise
    return WorkerResult(ran, dups, recovered, stopped)


def _run_trial(handle: StorageHandle, study: optuna.Study, trial: optuna.Trial, resolved: Resolved,
               evaluator: Evaluator) -> int:
    """Suggest, claim and evaluate one trial; returns 1 when it replayed an identical point."""
    frozen = study._storage.get_trial(trial._trial_id)
    if "failed_trial" in frozen.system_attrs and frozen.user_attrs.get("reason"):
        trial.set_user_attr("reason", "")  # a retry: the failed attempt's reason is not this one's
    point = resolved.space.suggest(trial, resolved.workload)
    key = point_key(point)
    with handle.lock():  # claim the point: no other worker evaluates it at the same time
        original = next((t for t in study.get_trials(deepcopy=False)
                         if t.user_attrs.get("point_key") == key and t.number != trial.number
                         and t.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)), None)
        trial.set_user_attr("point", point.to_dict())
        trial.set_user_attr("point_key", key)
    if original is not None and original.state == TrialState.RUNNING:
        original = _wait_for(handle, study, original)
    if original is not None and original.state in (TrialState.COMPLETE, TrialState.PRUNED):
        _replay(study, trial, original)
        return 1
    ev = evaluator.evaluate(point)
    record(trial, ev)
    tell(study, trial, ev)
    return 0


def _wait_for(handle: StorageHandle, study: optuna.Study, running: FrozenTrial,
              poll_s: float = 0.2) -> Optional[FrozenTrial]:
    """Wait until another worker finishes the identical point it is evaluating; None when it
    failed (then this trial evaluates the point itself)."""
    storage = study._storage
    while True:
        t = storage.get_trial(running._trial_id)
        if t.state in (TrialState.COMPLETE, TrialState.PRUNED):
            return t
        if t.state != TrialState.RUNNING:
            return None
        time.sleep(poll_s)
        with handle.lock():
            recover_stale(study, handle)  # its worker may have died


def _fail_and_requeue(study: optuna.Study, trial: optuna.Trial, reason: str) -> bool:
    """Fail a running trial and queue the same parameters again (Optuna's retry callback,
    as for a crashed worker). False when the storage would not take it."""
    storage = study._storage
    try:
        trial.set_user_attr("status", STATUS_FAILED)
        trial.set_user_attr("reason", reason)
        if storage.set_trial_state_values(trial._trial_id, TrialState.FAIL):
            RetryHeartbeatStaleTrialCallback(max_retry=2)(study, storage.get_trial(trial._trial_id))
        return True
    except Exception:  # the storage itself failed (disk full): the trial is retried on resume
        return False


# --- summaries --------------------------------------------------------------------------------

def feasible(t: FrozenTrial) -> bool:
    return all(v <= 0 for v in t.constraints.values())


def pareto_trials(study: optuna.Study) -> list[FrozenTrial]:
    """Feasible complete trials on the Pareto front, without duplicated points."""
    trials = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
              if feasible(t) and "duplicate_of" not in t.user_attrs]
    if not trials:
        return []
    directions = ["maximize" if d == optuna.study.StudyDirection.MAXIMIZE else "minimize" for d in study.directions]
    vals = to_minimization([t.values for t in trials], directions)
    mask = pareto_mask(vals)
    front = [t for t, m in zip(trials, mask) if m]
    return sorted(front, key=lambda t: tuple(t.values))


def status_counts(study: optuna.Study) -> dict[str, int]:
    counts = {"complete": 0, "infeasible": 0, "abandoned": 0, "failed": 0, "duplicate": 0, "running": 0,
              "waiting": 0}
    trials = study.get_trials(deepcopy=False)
    retried = retried_numbers(trials)
    for t in trials:
        if t.state == TrialState.RUNNING:
            counts["running"] += 1
        elif t.state == TrialState.WAITING:
            counts["waiting"] += 1
        elif "duplicate_of" in t.user_attrs:
            counts["duplicate"] += 1
        elif t.state == TrialState.FAIL:
            counts["failed"] += 1
        elif t.state == TrialState.PRUNED:
            counts[t.user_attrs.get("status", "infeasible") if t.user_attrs.get("status") in counts else "infeasible"] += 1
        else:
            counts["complete"] += 1
    counts["crashed_and_retried"] = len(retried)
    return counts


def format_value(name: str, v: float) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if name == "accuracy":
        return f"{100 * v:.2f}%"
    if name == "latency_s":
        return f"{v * 1e6:.1f} us"
    if name == "energy_j":
        return f"{v * 1e6:.2f} uJ"
    if name in ("mac_bits", "term_pairs"):
        return f"{v:.3g}"
    if name == "avg_weight_bits":
        return f"{v:.2f}"
    return f"{v:.0f}"


def describe_point(point: dict[str, Any]) -> str:
    """Short text: scheme kinds and bits across layers, and hardware knobs."""
    layers = point.get("layers", {})
    from collections import Counter

    c = Counter(f"{s['kind']}{s.get('w_bits', 8)}" for s in layers.values())
    quant = " ".join(f"{k}x{n}" for k, n in sorted(c.items()))
    hw = point.get("hardware", {})
    short = {"rows", "cols", "dataflow", "clock_hz", "pe_arith", "lut_fraction", "sp2_rows", "lanes"}
    hw_s = " ".join(f"{k}={_short(v)}" for k, v in sorted(hw.items()) if k in short or len(hw) <= 4)
    return f"{quant} | {hw_s}" if hw_s else quant


def _short(v: Any) -> str:
    if isinstance(v, float):
        return f"{v / 1e6:.0f}M" if v >= 1e6 else f"{v:.3g}"
    return str(v)


def pareto_table(study: optuna.Study) -> str:
    objectives = study.user_attrs.get("objectives") or [f"obj{i}" for i in range(len(study.directions))]
    front = pareto_trials(study)
    if not front:
        return "no feasible complete trials yet: the Pareto front is empty"
    head = ["trial"] + list(objectives) + ["design"]
    rows = []
    for t in front:
        tag = " (baseline)" if "baseline" in t.user_attrs else ""
        rows.append([f"#{t.number}{tag}"] + [format_value(o, v) for o, v in zip(objectives, t.values)]
                    + [describe_point(t.user_attrs.get("point", {}))])
    widths = [max(len(str(r[i])) for r in [head] + rows) for i in range(len(head))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(head, widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    return "\n".join(lines)


def config_from_study(study: optuna.Study) -> StudyConfig:
    raw = study.user_attrs.get("raw_config")
    if raw is None:
        raise UserError(f"study: {study.study_name!r} was not created by dse search (no stored config)")
    source = study.user_attrs.get("config_source", "")
    if not raw and source == "<built-in digits demo>":
        # `dse search` without a config stores no TOML (raw {}): its workers (--jobs N,
        # dse worker) must rebuild the demo, not parse_config's defaults (another model/space)
        from .config import DEMO

        raw = DEMO
    cfg = parse_config(raw, source=source)
    stored = study.user_attrs.get("config", {})
    from dataclasses import replace

    return replace(cfg, name=study.study_name, trials=stored.get("trials", cfg.trials),
                   timeout_s=stored.get("timeout_s", cfg.timeout_s), seed=stored.get("seed", cfg.seed))


