"""Exports from the storage alone: the Pareto set (CSV or JSON) and single plans."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from ..errors import UserError
from ..record import StudyRecord, TrialRecord
from ..study import feasible, pareto_trials


def trial_record(t: FrozenTrial, objectives: list[str]) -> dict[str, Any]:
    """One flat row: identity, objectives, all metrics (``metric.<name>``, names from
    ``dse/metrics.py``), all parameters, the plan."""
    rec = TrialRecord.of(t)
    row: dict[str, Any] = {"trial": t.number, "state": t.state.name,
                           "status": "" if rec.status is None else rec.status,
                           "baseline": "" if rec.baseline is None else rec.baseline, "feasible": feasible(t)}
    if t.values is not None:
        for name, v in zip(objectives, t.values):
            row[f"objective.{name}"] = v
    for k, v in sorted((rec.metrics or {}).items()):
        row[f"metric.{k}"] = v
    for k, v in sorted(t.params.items()):
        row[f"param.{k}"] = v
    if rec.reason:
        row["reason"] = rec.reason
    row["plan"] = json.dumps(rec.point if rec.point is not None else {}, sort_keys=True)
    return row


def pareto_records(study: optuna.Study) -> list[dict[str, Any]]:
    objectives = StudyRecord.of(study).objectives or []
    return [trial_record(t, objectives) for t in pareto_trials(study)]


def csv_text(records: list[dict[str, Any]]) -> str:
    """Records as CSV; columns in first-seen order (rows lacking a column leave it empty)."""
    cols: list[str] = []
    for r in records:
        cols += [k for k in r if k not in cols]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols)
    w.writeheader()
    for r in records:
        w.writerow(r)
    return buf.getvalue()


def write_records(records: list[dict[str, Any]], fmt: str, path: str | Path) -> None:
    path = Path(path)
    if fmt == "json":
        text = json.dumps(records, indent=2, default=str)
    elif fmt == "csv":
        text = csv_text(records)
    else:
        raise UserError(f"--format: unknown format {fmt!r}; allowed: csv, json")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except BaseException as e:  # a full disk: leave the old file (if any), not half a new one
        tmp.unlink(missing_ok=True)
        if isinstance(e, OSError) and not e.filename:
            raise OSError(e.errno, e.strerror, str(path)) from None
        raise


def plan_of_trial(study: optuna.Study, number: int) -> dict[str, Any]:
    """The design point of trial ``number`` in the plan format ``dse finetune`` and
    ``dse hw eval`` read."""
    trials = study.get_trials(deepcopy=False)
    match = [t for t in trials if t.number == number]
    if not match:
        raise UserError(f"--trial: study {study.study_name!r} has no trial {number} (trials 0..{len(trials) - 1})")
    t = match[0]
    plan = TrialRecord.of(t).plan(study.study_name, number, t.state == TrialState.COMPLETE)
    if plan is None:
        state = t.state.name.lower()
        raise UserError(f"--trial: trial {number} has no design point recorded (state {state}); pick another")
    return plan
