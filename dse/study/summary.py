"""Reading a study back: counts, feasibility, the Pareto front and its terminal table."""

from __future__ import annotations

from collections import Counter
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from ..metrics import format_value
from ..record import STATUS_SCREENED, StudyRecord, TrialRecord
from .pareto import pareto_mask, to_minimization

__all__ = ["counted_trials", "describe_point", "feasible", "format_value", "pareto_table", "pareto_trials",
           "retried_numbers", "status_counts", "stored_trials"]


def retried_numbers(trials: list[FrozenTrial]) -> set[int]:
    return {int(t.system_attrs["failed_trial"]) for t in trials if "failed_trial" in t.system_attrs}


def counted_trials(trials: list[FrozenTrial]) -> int:
    """Trials that count toward the budget: all but crashed ones that were re-enqueued."""
    return len(trials) - len(retried_numbers(trials))


def stored_trials(trials: list[FrozenTrial]) -> int:
    """Trials a sampler may already have proposed: all but those still queued (baselines)."""
    return sum(t.state != TrialState.WAITING for t in trials)


def feasible(t: FrozenTrial) -> bool:
    return all(v <= 0 for v in t.constraints.values())


def pareto_trials(study: optuna.Study) -> list[FrozenTrial]:
    """Feasible complete trials on the Pareto front, without duplicated points."""
    trials = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
              if feasible(t) and TrialRecord.get(t, "duplicate_of") is None]
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
        elif TrialRecord.get(t, "duplicate_of") is not None:
            counts["duplicate"] += 1
        elif t.state == TrialState.FAIL:
            counts["failed"] += 1
        elif t.state == TrialState.PRUNED and (status := TrialRecord.get(t, "status")) == STATUS_SCREENED:
            counts[STATUS_SCREENED] = counts.get(STATUS_SCREENED, 0) + 1  # issue 13; key only when screening
        elif t.state == TrialState.PRUNED:
            counts[status if status in counts else "infeasible"] += 1
        else:
            counts["complete"] += 1
    counts["crashed_and_retried"] = len(retried)
    return counts


def describe_point(point: dict[str, Any]) -> str:
    """Short text: scheme kinds and bits across layers, and hardware knobs."""
    layers = point.get("layers", {})


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
    objectives = StudyRecord.of(study).objectives or [f"obj{i}" for i in range(len(study.directions))]
    front = pareto_trials(study)
    if not front:
        return "no feasible complete trials yet: the Pareto front is empty"
    head = ["trial"] + list(objectives) + ["design"]
    rows = []
    for t in front:
        rec = TrialRecord.of(t)
        tag = " (baseline)" if rec.is_baseline else ""
        rows.append([f"#{t.number}{tag}"] + [format_value(o, v) for o, v in zip(objectives, t.values)]
                    + [describe_point(rec.point or {})])
    widths = [max(len(str(r[i])) for r in [head] + rows) for i in range(len(head))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(head, widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    return "\n".join(lines)
