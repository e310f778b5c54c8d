"""Writing a trial's outcome to the storage: its record (user attrs, through
:class:`dse.record.TrialRecord`), constraints and Optuna state."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Optional

import optuna
from optuna.trial import FrozenTrial, TrialState

from hwmodels import DesignPoint

from ..evaluate import Evaluation
from ..record import (STATUS_ABANDONED, STATUS_COMPLETE, STATUS_INFEASIBLE, STATUS_SCREENED, TrialRecord,
                      jsonable)
from .storage import StorageHandle, worker_id

__all__ = ["DASHBOARD_CONSTRAINTS_KEY", "REPLAYED", "jsonable", "named_constraints", "outcome_fields", "point_key",
           "record", "record_point", "replay", "set_constraints", "tell", "tell_trial"]

#: fields a replayed trial copies from the identical earlier one (when stored there)
REPLAYED = ("metrics", "hw", "hw_layers", "finetune", "reason", "screen", "fidelity_reached")


def point_key(point: DesignPoint, as_dict: Optional[dict[str, Any]] = None) -> str:
    """The point's identity (identical points are replayed, not evaluated again). ``as_dict``:
    ``point.to_dict()`` when the caller has it already (it costs more than the hash)."""
    d = point.to_dict() if as_dict is None else as_dict
    return hashlib.sha1(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:16]


def tell_trial(study: optuna.Study, trial: optuna.Trial, values: Optional[list[float]] = None,
               state: Optional[TrialState] = None) -> None:
    """``study.tell(trial, values, state=state)`` without the deep copy of the finished trial
    that ``Study.tell`` returns and every caller here drops (with a hardware-only trial's
    per-layer attrs it was ~15% of a trial's CPU time: issue 13, H3-scale). Optuna's own
    function behind ``Study.tell`` does the work (validation, the sampler's ``after_trial``,
    the state write); if it is not there (another Optuna version), ``study.tell`` is used."""
    if _TELL is None:
        study.tell(trial, values, state=state)
    else:
        _TELL(study=study, trial=trial, value_or_values=values, state=state, skip_if_finished=False)


def _optuna_tell() -> Any:
    try:
        from optuna.study._tell import _tell_with_warning
    except ImportError:
        return None
    import inspect

    wanted = {"study", "trial", "value_or_values", "state", "skip_if_finished"}
    return _tell_with_warning if wanted <= set(inspect.signature(_tell_with_warning).parameters) else None


_TELL = _optuna_tell()


def outcome_fields(ev: Evaluation) -> dict[str, Any]:
    """The record fields of an evaluation, in the order they are stored (empty parts left out)."""
    out: dict[str, Any] = {"status": ev.status}
    if ev.reason:
        out["reason"] = ev.reason
    out["metrics"] = ev.metrics
    for name in ("hw", "hw_layers", "finetune"):
        if getattr(ev, name):
            out[name] = getattr(ev, name)
    out["timing"] = ev.timing
    if ev.screen:  # issue 13: the screening stage's estimate and decision
        out["screen"] = ev.screen
    out["fidelity_reached"] = ev.fidelity
    return out


def record(trial: optuna.Trial, ev: Evaluation) -> None:
    TrialRecord.write(trial, **outcome_fields(ev))
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
        tell_trial(study, trial, list(ev.values))
    elif ev.status in (STATUS_INFEASIBLE, STATUS_ABANDONED, STATUS_SCREENED):
        tell_trial(study, trial, state=TrialState.PRUNED)
    else:
        tell_trial(study, trial, state=TrialState.FAIL)


def record_point(handle: StorageHandle, study: optuna.Study, point: DesignPoint, ev: Evaluation,
                 extra: Optional[dict[str, Any]] = None) -> FrozenTrial:
    """Record a point evaluated outside the worker loop (e.g. by ``dse allocate``) as one
    trial with the search's user attrs (``worker``, ``point``, ``point_key``, then those of
    :func:`record`) plus ``extra`` (more :class:`~dse.record.TrialRecord` fields, e.g.
    ``allocator``; another name raises ``TypeError``); it joins the study's Pareto front like a searched point.
    The trial has no sampled parameters, and counts toward the study's trial total."""
    with handle.lock():
        trial = study.ask()
        TrialRecord.write(trial, worker=worker_id())
    as_dict = point.to_dict()
    TrialRecord.write(trial, point=as_dict, point_key=point_key(point, as_dict), **(extra or {}))
    record(trial, ev)
    tell(study, trial, ev)
    return study._storage.get_trial(trial._trial_id)


def replay(study: optuna.Study, trial: optuna.Trial, original: FrozenTrial) -> None:
    """Copy an identical earlier point's outcome instead of evaluating it again."""
    rec = TrialRecord.of(original)
    copied = {name: getattr(rec, name) for name in REPLAYED if getattr(rec, name) is not None}
    TrialRecord.write(trial, **copied, status=rec.status or STATUS_COMPLETE, duplicate_of=original.number,
                      timing={"total_s": 0.0})
    set_constraints(trial, named_constraints(original))
    if original.state == TrialState.COMPLETE:
        tell_trial(study, trial, list(original.values))
    else:
        tell_trial(study, trial, state=original.state)
