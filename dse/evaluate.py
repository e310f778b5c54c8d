"""Staged evaluation of one design point: cheap hardware model first, fine-tune last.

1. price the point with the hardware model (microseconds);
2. check constraints: device fit and user caps on hardware metrics; an infeasible point
   stops here, never fine-tuned, with its reasons;
   2b. with a ``[screen]`` section, estimate accuracy cheaply (``dse/study/screen.py``); a
   candidate its promotion rule does not promote stops here (status ``screened out``);
3. fine-tune feasible points (fidelity ``finetune``), abandoning one that is hopeless
   after its first epoch (below ``finetune.abandon_below`` or an ``accuracy >=`` cap);
   multi-objective studies cannot use Optuna's pruners, so this happens here;
4. return every metric, the constraint values and timings.

The evaluator knows nothing of Optuna (``dse/study/run.py`` wires it to trials and
``dse/study/recording.py`` stores the outcome as a :class:`dse.record.TrialRecord`). Metric
names, sources and the attribute each is read from: ``dse/metrics.py``.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Optional

from hwmodels import DesignPoint, HardwareModel, HwReport, Unsupported, Workload
from hwmodels.metrics import metrics as point_metrics

from .config import StudyConfig
from .metrics import METRICS, values_from
# the trial status vocabulary lives with the trial record (re-exported: dse.evaluate.STATUS_*)
from .record import STATUS_ABANDONED, STATUS_COMPLETE, STATUS_FAILED, STATUS_INFEASIBLE, STATUS_SCREENED  # noqa: F401


@dataclass(frozen=True)
class Evaluation:
    """Outcome of one design point. ``values`` follow the study's objectives (``None``
    unless complete); ``constraints`` are <= 0 when satisfied (Optuna's convention)."""

    status: str
    values: Optional[tuple[float, ...]]
    metrics: dict[str, float]
    constraints: dict[str, float]
    reason: str = ""
    hw: dict[str, Any] = field(default_factory=dict)
    hw_layers: list[dict[str, Any]] = field(default_factory=list)
    finetune: dict[str, Any] = field(default_factory=dict)
    timing: dict[str, float] = field(default_factory=dict)
    screen: dict[str, Any] = field(default_factory=dict)  # the screening stage's estimate and decision
    fidelity: str = "hardware"  # the last stage reached: hardware | screen | the study's fidelity

    @property
    def feasible(self) -> bool:
        return all(v <= 0 for v in self.constraints.values())


def complexity_metrics(workload: Workload, point: DesignPoint) -> dict[str, float]:
    """Hardware-independent metrics (``hwmodels.metrics``; those of source "complexity" in
    ``dse/metrics.py``): average weight bits, sum of MACs x weight bits, term pairs."""
    return values_from("complexity", point_metrics(workload, point))


def hw_metrics(report: HwReport) -> dict[str, float]:
    """The metrics of source "hardware" in ``dse/metrics.py``, read from the report."""
    return values_from("hardware", report)


def training_metrics(result: Any) -> dict[str, float]:
    """The metrics of source "training" (accuracy, ...) read from a fine-tune result."""
    return {k: float(v) for k, v in values_from("training", result).items()}


def fit_constraint(report: HwReport) -> float:
    """Largest relative overuse of any device resource (<= 0: fits)."""
    worst = -1.0
    for name in ("lut", "ff", "dsp", "bram18", "uram"):
        used, cap = getattr(report.resources, name), getattr(report.capacity, name)
        if cap > 0:
            worst = max(worst, used / cap - 1.0)
        elif used > 0:
            worst = max(worst, float(used))
    if report.violations and worst <= 0:  # a non-resource violation (e.g. the clock bound)
        worst = 0.01
    return worst


def layer_rows(report: HwReport, workload: Workload, point: DesignPoint) -> list[dict[str, Any]]:
    """Per-layer facts for reports: scheme and costs."""
    rows = []
    costs = {c.name: c for c in report.layers}
    for layer in workload.layers:
        s = point.scheme_for(layer.name)
        c = costs.get(layer.name)
        rows.append({
            "name": layer.name, "kind": s.kind, "w_bits": s.w_bits, "a_bits": s.a_bits,
            "term_budget": s.term_budget, "group_size": s.group_size, "sp2_fraction": s.sp2_fraction,
            "macs": layer.macs, "cycles": c.cycles if c else None, "latency_s": c.latency_s if c else None,
            "energy_j": c.energy_j if c else None, "utilization": c.utilization if c else None,
            "lut_share": c.lut_share if c else None, "dsp_share": c.dsp_share if c else None,
        })
    return rows


class Evaluator:
    """Evaluates design points for one study configuration.

    ``finetune_fn(point, abort) -> FinetuneResult-like`` is injected (``dse.study`` builds
    it from the workload), so hardware-only studies never import the training stack.
    """

    def __init__(self, cfg: StudyConfig, model: HardwareModel, workload: Workload,
                 finetune_fn: Optional[Callable[[DesignPoint, Callable], Any]] = None,
                 screen_fn: Optional[Callable[[DesignPoint, dict[str, float]], dict[str, Any]]] = None):
        self.cfg = cfg
        self.model = model
        self.workload = workload
        self.finetune_fn = finetune_fn
        self.screen_fn = screen_fn  # (point, metrics) -> {"promoted": bool, "reason": str, ...}
        # caps on metrics known before training are checked before it; the others after it
        self.hw_caps = tuple(c for c in cfg.caps if METRICS[c.metric].source != "training")
        self.acc_caps = tuple(c for c in cfg.caps if METRICS[c.metric].source == "training")

    def _abandon_threshold(self) -> Optional[float]:
        levels = [c.value for c in self.acc_caps if c.op == ">="]
        if self.cfg.finetune.abandon_below is not None:
            levels.append(self.cfg.finetune.abandon_below)
        return max(levels) if levels else None

    def evaluate(self, point: DesignPoint) -> Evaluation:
        t0 = time.perf_counter()
        try:
            report = self.model.evaluate(self.workload, point)
        except Unsupported as e:
            return Evaluation(STATUS_INFEASIBLE, None, {}, {"supported": 1.0}, f"unsupported: {e.reason}",
                              timing={"hw_s": time.perf_counter() - t0, "total_s": time.perf_counter() - t0})
        hw_s = time.perf_counter() - t0
        metrics = {**hw_metrics(report), **complexity_metrics(self.workload, point)}
        constraints: dict[str, float] = {}
        reasons: list[str] = []
        if self.cfg.fit_device:
            constraints["fits_device"] = fit_constraint(report)
            if report.violations:
                reasons.append(f"does not fit {report.device}: " + "; ".join(report.violations))
        for cap in self.hw_caps:
            v = cap.violation(metrics[cap.metric])
            constraints[f"cap:{cap.metric}"] = v
            if v > 0:
                reasons.append(f"{cap.metric} = {metrics[cap.metric]:.4g} violates {cap}")
        hw = report.summary()
        rows = layer_rows(report, self.workload, point)
        if reasons:
            for cap in self.acc_caps:  # unknown without training: mark as not violated
                constraints.setdefault(f"cap:{cap.metric}", 0.0)
            return Evaluation(STATUS_INFEASIBLE, None, metrics, constraints, "; ".join(reasons), hw, rows,
                              timing={"hw_s": hw_s, "total_s": time.perf_counter() - t0})
        ft: dict[str, Any] = {}
        status, reason = STATUS_COMPLETE, ""
        screen: dict[str, Any] = {}
        if self.screen_fn is not None and self.finetune_fn is not None:  # cheap estimate, then promote or not
            screen = self.screen_fn(point, metrics)
            if not screen["promoted"]:
                for cap in self.acc_caps:  # not measured: marked as not violated, as for infeasible points
                    constraints.setdefault(f"cap:{cap.metric}", 0.0)
                return Evaluation(STATUS_SCREENED, None, metrics, constraints, screen["reason"], hw, rows,
                                  timing={"hw_s": hw_s, "screen_s": screen["time_s"],
                                          "total_s": time.perf_counter() - t0}, screen=screen, fidelity="screen")
        if self.cfg.fidelity != "none" and self.finetune_fn is not None:
            threshold = self._abandon_threshold()

            def abort(epoch: int, acc: float) -> Optional[str]:
                if threshold is not None and epoch == 1 and acc < threshold:
                    return f"hopeless: validation accuracy {acc:.4f} < {threshold:g} after epoch 1"
                return None

            t1 = time.perf_counter()
            result = self.finetune_fn(point, abort)
            ft = result.to_dict() if hasattr(result, "to_dict") else dict(asdict(result))
            ft["time_s"] = time.perf_counter() - t1
            if getattr(result, "diverged", False):
                return Evaluation(STATUS_FAILED, None, metrics, constraints, result.reason or "diverged",
                                  hw, rows, ft, {"hw_s": hw_s, "finetune_s": ft["time_s"],
                                                 "total_s": time.perf_counter() - t0}, screen, self.cfg.fidelity)
            metrics.update(training_metrics(result))
            if screen and hasattr(self.screen_fn, "observe"):  # the screen calibrates on what it promoted
                self.screen_fn.observe(screen["estimate"], float(result.accuracy))
            for cap in self.acc_caps:
                constraints[f"cap:{cap.metric}"] = cap.violation(result.accuracy)
            if result.aborted:
                status, reason = STATUS_ABANDONED, result.reason
            else:
                bad = [str(c) for c in self.acc_caps if c.violation(result.accuracy) > 0]
                if bad:
                    reason = f"accuracy = {result.accuracy:.4f} violates " + ", ".join(bad)
        timing = {"hw_s": hw_s, "finetune_s": ft.get("time_s", 0.0), "total_s": time.perf_counter() - t0}
        if screen:
            timing["screen_s"] = screen["time_s"]
        fidelity = self.cfg.fidelity if ft else "hardware"
        values = None
        if status == STATUS_COMPLETE:
            values = tuple(float(metrics[o]) for o in self.cfg.objectives)
            if any(not math.isfinite(v) for v in values):
                return Evaluation(STATUS_FAILED, None, metrics, constraints,
                                  f"non-finite objective values {values}", hw, rows, ft, timing, screen, fidelity)
        return Evaluation(status, values, metrics, constraints, reason, hw, rows, ft, timing, screen, fidelity)
