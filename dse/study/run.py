"""The worker loop: ask Optuna for a trial, suggest its design point, evaluate, record, tell.

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

import copy
import hashlib
import threading
import time
import warnings
from dataclasses import dataclass
from typing import Callable, Optional

import optuna
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import FrozenTrial, TrialState

from ..errors import SearchInterrupted, StorageError, UserError
from ..evaluate import STATUS_FAILED, STATUS_SCREENED, Evaluator
from ..record import TrialRecord
from .fidelity import make_scorer
from .journal import batched, flush
from .storage import StorageHandle, pid_alive, storage_fault, worker_id
from .recording import point_key, record, replay, tell, tell_trial
from .resolve import Resolved
from .screen import make_screen_fn
from .pareto import pareto_mask, to_minimization
from .summary import TrialIndex, feasible, stored_trials

optuna.logging.set_verbosity(optuna.logging.WARNING)
# Optuna's retry-on-stale-heartbeat callback is marked experimental; its warning is noise here.
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
# we ask trials outside Study.optimize and record heartbeats ourselves (_Heartbeat)
warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used", category=UserWarning)


def make_sampler(name: str, seed: Optional[int], n_objectives: int) -> optuna.samplers.BaseSampler:
    if name == "tpe":
        # conditional space (see search_spaces.base): group=True lets multivariate TPE model
        # each set of co-occurring parameters jointly; constant_liar keeps parallel workers
        # from proposing the same point
        tpe = optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True, constant_liar=True,
                                         n_startup_trials=10)
        return WindowedSampler(tpe, TPE_WINDOW)
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=20)
    if name == "nsga3":
        return optuna.samplers.NSGAIIISampler(seed=seed, population_size=20)
    if name == "gp":
        return optuna.samplers.GPSampler(seed=seed, n_startup_trials=10)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    raise UserError(f"sampler.name: unknown sampler {name!r}")


#: finished trials TPE models at most (the newest ones, plus the feasible Pareto front of all):
#: its cost per suggestion grows with every stored trial (``_get_internal_repr``, the group
#: decomposition, the kernels), so a 2,000-trial study slowed to a quarter of its early rate.
#: Studies up to this size sample exactly as plain TPE (same seeded points).
TPE_WINDOW = 200
#: the constraint a screened-out trial carries in the sampler's view (``WindowedSampler._as_seen``;
#: Optuna reads constraints from the ``constraints:<name>`` system attrs), and its value: more
#: than any measured violation (LUTs, seconds, accuracy points), so such trials rank last
SCREENED_OUT = "constraints:screened_out"
SCREENED_VIOLATION = 1e12


class _WindowView:
    """The study as the wrapped sampler sees it: ``_get_trials``/``get_trials`` return the
    window; everything else is the study's."""

    def __init__(self, study: optuna.Study, trials: list[FrozenTrial]):
        self._study = study
        self._window = trials

    def __getattr__(self, name: str):
        return getattr(self._study, name)

    def _get_trials(self, deepcopy: bool = True, states=None, use_cache: bool = False) -> list[FrozenTrial]:
        trials = self._window if states is None else [t for t in self._window if t.state in states]
        return [copy.deepcopy(t) for t in trials] if deepcopy else trials

    def get_trials(self, deepcopy: bool = True, states=None) -> list[FrozenTrial]:
        return self._get_trials(deepcopy, states)


class WindowedSampler(optuna.samplers.BaseSampler):
    """Runs ``inner`` on a window of the study once it holds more than ``window`` finished
    trials: every trial neither COMPLETE nor PRUNED (running and queued ones: constant-liar
    and the trial being sampled need them; TPE skips failed ones), the ``window`` newest
    finished ones and the feasible Pareto front of
    all finished trials (kept incrementally), in trial order. The sampler's cost per trial
    then stops growing with the study; TPE already weights old trials down
    (``optuna.samplers._tpe.sampler.default_weights``). Below the window it is ``inner``
    itself on the whole study."""

    def __init__(self, inner: optuna.samplers.BaseSampler, window: int):
        self.inner = inner
        self.window = window
        self._front: list[FrozenTrial] = []
        self._seen: set[int] = set()
        self._cached: tuple[Optional[int], object] = (None, None)
        self._screened: dict[int, FrozenTrial] = {}

    def _view(self, study: optuna.Study, trial: FrozenTrial):
        number, view = self._cached
        if number == trial.number:
            return view
        trials = study._get_trials(deepcopy=False, use_cache=False)
        done = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
        self._update_front(study, done)
        if len(done) > self.window:
            keep = {t.number for t in done[-self.window:]} | {t.number for t in self._front}
            trials = [t for t in trials if t.number in keep or t.state not in (TrialState.COMPLETE, TrialState.PRUNED)]
        shown = [self._as_seen(t) for t in trials]
        changed = any(a is not b for a, b in zip(shown, trials))
        view = _WindowView(study, shown) if changed or len(done) > self.window else study
        self._cached = (trial.number, view)
        return view

    def _as_seen(self, t: FrozenTrial) -> FrozenTrial:
        """A screened-out trial as the sampler sees it: infeasible, by :data:`SCREENED_OUT`.
        Optuna's TPE fills its "good" group with the best feasible finished trials and, when
        there are too few of those, with PRUNED ones, which a screened-out trial is (scored by
        their last intermediate value: screened-out ones have none, so the oldest came first),
        then infeasible ones, least violation first. Where few designs pass an accuracy cap,
        screened-out designs filled the good group (issue 13: in the hard space, 16 of 30 at
        300 trials); shown as violating by more than any measured constraint, they come last.
        Copies, cached per trial (a finished trial does not change); the storage is untouched."""
        if t.state != TrialState.PRUNED or TrialRecord.get(t, "status") != STATUS_SCREENED:
            return t
        seen = self._screened.get(t.number)
        if seen is None:
            seen = self._screened[t.number] = copy.copy(t)
            seen.system_attrs = {**t.system_attrs, SCREENED_OUT: SCREENED_VIOLATION}
        return seen

    def _update_front(self, study: optuna.Study, done: list[FrozenTrial]) -> None:
        new = [t for t in done if t.number not in self._seen]
        self._seen.update(t.number for t in new)
        new = [t for t in new if t.state == TrialState.COMPLETE and t.values is not None and feasible(t)]
        if not new:
            return
        cands = self._front + new
        directions = ["maximize" if d == optuna.study.StudyDirection.MAXIMIZE else "minimize"
                      for d in study.directions]
        mask = pareto_mask(to_minimization([t.values for t in cands], directions))
        self._front = [t for t, m in zip(cands, mask) if m]

    def reseed_rng(self) -> None:
        self.inner.reseed_rng()

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self.inner.before_trial(study, trial)

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial):
        return self.inner.infer_relative_search_space(self._view(study, trial), trial)

    def sample_relative(self, study: optuna.Study, trial: FrozenTrial, search_space):
        return self.inner.sample_relative(self._view(study, trial), trial, search_space)

    def sample_independent(self, study: optuna.Study, trial: FrozenTrial, param_name: str, param_distribution):
        return self.inner.sample_independent(self._view(study, trial), trial, param_name, param_distribution)

    def after_trial(self, study: optuna.Study, trial: FrozenTrial, state: TrialState, values) -> None:
        self.inner.after_trial(study, trial, state, values)


def recover_stale(study: optuna.Study, handle: StorageHandle,
                  running: Optional[list[FrozenTrial]] = None) -> list[int]:
    """Fail and re-enqueue trials whose worker is gone; returns their numbers. ``running``:
    the study's RUNNING trials when the caller already has them (read from the storage when
    not given)."""
    failed: list[int] = []
    if handle.heartbeat:
        before = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
        optuna.storages.fail_stale_trials(study)
        after = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
        failed.extend(sorted(before - after))
        running = None  # some may have been failed just now
    me = worker_id()
    retry = RetryHeartbeatStaleTrialCallback(max_retry=2)
    if running is None:
        running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    for t in running:
        w = TrialRecord.of(t).worker or {}
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


@dataclass
class WorkerResult:
    ran: int
    duplicates: int
    recovered: list[int]
    stopped: str


def make_finetune_fn(resolved: Resolved, progress: bool = False) -> Optional[Callable]:
    """The study's scorer of feasible points (``None`` for a hardware-only study): the
    registered fidelity ``study.fidelity`` names (``dse/study/fidelity.py``)."""
    return make_scorer(resolved)


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
    evaluator = Evaluator(cfg, resolved.model, resolved.workload, make_finetune_fn(resolved),
                          screen_fn=make_screen_fn(resolved, study.get_trials(deepcopy=False)))
    ran = dups = 0
    recovered: list[int] = []
    stopped = "target reached"
    trial: Optional[optuna.Trial] = None
    index = TrialIndex()  # the budget count and the duplicate lookup, without a scan per trial
    try:
        while True:
            trial = None
            study.get_trials(deepcopy=False)  # catch up with other workers' records before locking
            with handle.lock():
                trials = study.get_trials(deepcopy=False)
                index.update(trials)
                failed = recover_stale(study, handle, index.running(trials))
                if failed:
                    recovered += failed
                    trials = study.get_trials(deepcopy=False)
                    index.update(trials)
                if deadline is not None and time.time() >= deadline:
                    stopped = "time budget spent"
                    break
                if not index.waiting(trials) and target is not None and index.counted >= target:
                    break
                trial = study.ask()
                TrialRecord.write(trial, worker=worker_id())
            heartbeat = _Heartbeat(handle, trial, interval_s=5)
            try:
                dups += _run_trial(handle, study, trial, resolved, evaluator, index)
            except (KeyboardInterrupt, StorageError):
                raise
            except Exception as e:  # a plug-in bug, a NaN: the trial fails, the search goes on
                fault = storage_fault(e, handle.url)
                if fault is not None:
                    raise fault from None
                reason = (f"{type(e).__name__}: {e}".splitlines() or [type(e).__name__])[0][:500]
                TrialRecord.write(trial, status=STATUS_FAILED, reason=reason)
                tell_trial(study, trial, state=TrialState.FAIL)
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
               evaluator: Evaluator, index: Optional[TrialIndex] = None) -> int:
    """Suggest, claim and evaluate one trial; returns 1 when it replayed an identical point."""
    index = TrialIndex() if index is None else index
    frozen = study._storage.get_trial(trial._trial_id)
    if "failed_trial" in frozen.system_attrs and TrialRecord.of(frozen).reason:
        TrialRecord.write(trial, reason="")  # a retry: the failed attempt's reason is not this one's
    storage = study._storage
    with batched(storage):  # a journal file gets the parameters and the claim in one append
        point = resolved.space.suggest(trial, resolved.workload)
        as_dict = point.to_dict()
        key = point_key(point, as_dict)
        study.get_trials(deepcopy=False)  # catch up outside the lock: inside, only what came since
        with handle.lock():  # claim the point: no other worker evaluates it at the same time
            trials = study.get_trials(deepcopy=False)
            index.update(trials)
            original = index.holder(key, trial.number, trials)
            TrialRecord.write(trial, point=as_dict, point_key=key)
            flush(storage)  # the claim is in the file before another worker can look for it
    if original is not None and original.state == TrialState.RUNNING:
        original = _wait_for(handle, study, original)
    if original is not None and original.state in (TrialState.COMPLETE, TrialState.PRUNED):
        with batched(storage):
            replay(study, trial, original)
        return 1
    ev = evaluator.evaluate(point)
    with batched(storage):  # the outcome's records and the trial's state in one append
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
        TrialRecord.write(trial, status=STATUS_FAILED, reason=reason)
        if storage.set_trial_state_values(trial._trial_id, TrialState.FAIL):
            RetryHeartbeatStaleTrialCallback(max_retry=2)(study, storage.get_trial(trial._trial_id))
        return True
    except Exception:  # the storage itself failed (disk full): the trial is retried on resume
        return False
