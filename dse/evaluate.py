"""Staged evaluation of one design point: cheap hardware model first, fine-tune last.

1. price the point with the hardware model (microseconds);
2. check constraints: device fit and user caps on hardware metrics; an infeasible point
   stops here, never fine-tuned, with its reasons;
3. fine-tune feasible points (fidelity ``finetune``), abandoning one that is hopeless
   after its first epoch (below ``finetune.abandon_below`` or an ``accuracy >=`` cap);
   multi-objective studies cannot use Optuna's pruners, so this happens here;
4. return every metric, the constraint values and timings.

The evaluator knows nothing of Optuna (``dse/study.py`` wires it to trials).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Optional

from hwmodels import DesignPoint, HardwareModel, HwReport, Unsupported, Workload
from hwmodels.metrics import metrics as point_metrics

from .config import StudyConfig

STATUS_COMPLETE = "complete"
STATUS_INFEASIBLE = "infeasible"
STATUS_ABANDONED = "abandoned"
STATUS_FAILED = "failed"


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

    @property
    def feasible(self) -> bool:
        return all(v <= 0 for v in self.constraints.values())


def complexity_metrics(workload: Workload, point: DesignPoint) -> dict[str, float]:
    """Hardware-independent metrics (hwmodels.metrics): average weight bits, sum of MACs x
    weight bits, term pairs."""
    m = point_metrics(workload, point)
    return {"avg_weight_bits": m.avg_weight_bits, "mac_bits": m.mac_bits, "term_pairs": m.term_pairs}


def hw_metrics(report: HwReport) -> dict[str, float]:
    r = report.resources
    return {"latency_s": report.latency_s, "energy_j": report.energy_j, "cycles": report.cycles,
            "lut": r.lut, "ff": r.ff, "dsp": r.dsp, "bram18": r.bram18, "uram": r.uram}


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
                 finetune_fn: Optional[Callable[[DesignPoint, Callable], Any]] = None):
        self.cfg = cfg
        self.model = model
        self.workload = workload
        self.finetune_fn = finetune_fn
        self.hw_caps = tuple(c for c in cfg.caps if c.metric != "accuracy")
        self.acc_caps = tuple(c for c in cfg.caps if c.metric == "accuracy")

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
                                                 "total_s": time.perf_counter() - t0})
            metrics["accuracy"] = float(result.accuracy)
            metrics["float_accuracy"] = float(result.float_accuracy)
            for cap in self.acc_caps:
                constraints[f"cap:{cap.metric}"] = cap.violation(result.accuracy)
            if result.aborted:
                status, reason = STATUS_ABANDONED, result.reason
            else:
                bad = [str(c) for c in self.acc_caps if c.violation(result.accuracy) > 0]
                if bad:
                    reason = f"accuracy = {result.accuracy:.4f} violates " + ", ".join(bad)
        timing = {"hw_s": hw_s, "finetune_s": ft.get("time_s", 0.0), "total_s": time.perf_counter() - t0}
        values = None
        if status == STATUS_COMPLETE:
            values = tuple(float(metrics[o]) for o in self.cfg.objectives)
            if any(not math.isfinite(v) for v in values):
                return Evaluation(STATUS_FAILED, None, metrics, constraints,
                                  f"non-finite objective values {values}", hw, rows, ft, timing)
        return Evaluation(status, values, metrics, constraints, reason, hw, rows, ft, timing)
