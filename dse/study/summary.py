"""Reading a study back: counts, feasibility, the Pareto front and its terminal table."""

from __future__ import annotations

from collections import Counter
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from ..metrics import format_value
from ..record import StudyRecord, TrialRecord, status_counts_of
from .pareto import pareto_mask, to_minimization

__all__ = ["TrialIndex", "counted_trials", "describe_point", "feasible", "format_value", "pareto_table", "pareto_trials",
           "retried_numbers", "status_counts", "stored_trials"]


def retried_numbers(trials: list[FrozenTrial]) -> set[int]:
    return {int(t.system_attrs["failed_trial"]) for t in trials if "failed_trial" in t.system_attrs}


def counted_trials(trials: list[FrozenTrial]) -> int:
    """Trials that count toward the budget: all but crashed ones that were re-enqueued."""
    return len(trials) - len(retried_numbers(trials))


_OPEN = (TrialState.WAITING, TrialState.RUNNING)


class TrialIndex:
    """What a worker asks of every trial while it holds the study lock (the budget count, queued
    and running trials, the trial already holding a point), kept incrementally (issue 13, H-scale2).

    Each :meth:`update` takes the study's current ``get_trials(deepcopy=False)`` list and reads
    only the trials new since the last call and the ones still open (WAITING or RUNNING: their
    state or point key may still change). COMPLETE, PRUNED and FAIL are final in Optuna, and a
    finished trial's ``point_key`` is not written again, so nothing else needs reading again.
    The answers are exactly those of :func:`counted_trials` and a scan over all trials."""

    def __init__(self) -> None:
        self._seen = 0                         # trials 0 .. _seen-1 have been read
        self._open: set[int] = set()           # numbers of trials WAITING/RUNNING when last read
        self._keys: dict[str, list[int]] = {}  # point_key -> numbers of the trials that stored it
        self._keyed: dict[int, str] = {}       # number -> its point_key, as last read
        self._retried: set[int] = set()        # see retried_numbers

    def update(self, trials: list[FrozenTrial]) -> None:
        if len(trials) < self._seen or (trials and trials[-1].number != len(trials) - 1):
            raise ValueError("trials are not the study's whole list in number order")
        for t in trials[self._seen:]:
            self._open.add(t.number)
            if "failed_trial" in t.system_attrs:
                self._retried.add(int(t.system_attrs["failed_trial"]))
        self._seen = len(trials)
        for n in list(self._open):
            t = trials[n]
            key = TrialRecord.get(t, "point_key")
            if key != self._keyed.get(n):  # stored now, or rewritten (a re-run retry)
                if n in self._keyed:
                    self._keys[self._keyed.pop(n)].remove(n)
                if key is not None:
                    self._keys.setdefault(key, []).append(n)
                    self._keyed[n] = key
            if t.state not in _OPEN:
                self._open.discard(n)

    @property
    def counted(self) -> int:
        """:func:`counted_trials` of the trials last given to :meth:`update`."""
        return self._seen - len(self._retried)

    def waiting(self, trials: list[FrozenTrial]) -> bool:
        return any(trials[n].state == TrialState.WAITING for n in self._open)

    def running(self, trials: list[FrozenTrial]) -> list[FrozenTrial]:
        return [trials[n] for n in sorted(self._open) if trials[n].state == TrialState.RUNNING]

    def holder(self, key: str, number: int, trials: list[FrozenTrial]) -> FrozenTrial | None:
        """The lowest-numbered trial other than ``number`` that stored ``key`` and is COMPLETE,
        PRUNED or RUNNING (None when there is none)."""
        for n in sorted(self._keys.get(key, ())):
            t = trials[n]
            if n != number and t.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING):
                return t
        return None


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
    """:func:`dse.record.status_counts_of` the study's trials."""
    return status_counts_of(study.get_trials(deepcopy=False))


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
