"""Multi-fidelity screening (issue 13): estimate cheaply, fine-tune only the promising.

A study with a ``[screen]`` section (``dse/config/screen.py``) evaluates a candidate in
three stages: the hardware model and constraints (``dse/evaluate.py``), then a cheap
accuracy estimate and a promotion rule (this module), then the full fine-tune for the
promoted ones only. A candidate that is not promoted ends PRUNED with status
``screened out``, its estimate in the ``screen`` user attr; every trial records the last
stage it reached in ``fidelity_reached`` (``hardware`` | ``screen`` | ``finetune``).

Estimates (``screen.estimate``):

- ``steps``: a fine-tune of ``screen.steps`` optimizer steps from the cached FP32 weights
  (the full fine-tune's optimizer, learning rate and seed), validation accuracy at the end;
- ``sensitivity``: FP32 accuracy minus the sum, over compute layers, of the accuracy drop
  of quantizing that layer alone with its scheme (post-training, no training step). Each
  (layer, scheme) entry is measured once per worker process the first time a candidate
  uses it, then looked up: the table of the space's schemes fills as the search goes.

Promotion (``screen.promote``), after ``screen.warmup`` candidates promoted unconditionally:

- ``front``: promoted unless an earlier promoted candidate dominates it on the study's
  objectives, accuracy taken as the estimate (the candidate's plus ``screen.margin``) and
  the hardware objectives from the hardware model;
- ``quantile``: promoted when the estimate is at least the ``screen.quantile`` quantile of
  the earlier estimates;
- ``gain``: promoted when the hypervolume the candidate is predicted to add to the front of
  the designs already fine-tuned (its calibrated accuracy prediction, the hardware objectives)
  is positive and the largest of the last ``screen.window`` candidates' predicted gains.

With either rule, once ``CALIBRATE_MIN`` candidates have been fine-tuned after their screen,
the estimate is also mapped onto the full fine-tune's accuracy (a least-squares line through
the (estimate, accuracy) pairs of the fine-tuned candidates: a 10-step screen reads lower than
the fine-tune it predicts) and a candidate whose predicted accuracy plus ``screen.margin``
falls short of an ``accuracy >=`` cap (or ``finetune.abandon_below``) is not promoted: its
fine-tune would end infeasible. ``screen.tolerance`` (``front`` only) makes the dominance test
coarser: an earlier design within that relative slack on every hardware objective (and at
least as accurate) counts as dominating, so fewer near-duplicates of a known design are
fine-tuned in many-objective spaces where almost everything is non-dominated.

The history is the study's screened trials (read from the storage when a worker starts)
plus those this worker screens; workers do not see each other's later screens.
"""

from __future__ import annotations

import math
import time
from dataclasses import replace
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence

from hwmodels import DesignPoint

from ..record import TrialRecord
from .pareto import dominates, hypervolume
from .resolve import Resolved

Estimate = Callable[[DesignPoint], float]


def kendall_tau(x: Sequence[float], y: Sequence[float]) -> float:
    """Kendall's tau-b of two equally long sequences (ties counted as neither concordant
    nor discordant, normalised as tau-b); NaN when either is constant or shorter than 2."""
    if len(x) != len(y):
        raise ValueError(f"kendall_tau: lengths differ ({len(x)} vs {len(y)})")
    conc = disc = tie_x = tie_y = 0
    n = len(x)
    for i in range(n):
        for j in range(i + 1, n):
            dx, dy = x[i] - x[j], y[i] - y[j]
            if dx == 0 and dy == 0:
                continue
            if dx == 0:
                tie_x += 1
            elif dy == 0:
                tie_y += 1
            elif (dx > 0) == (dy > 0):
                conc += 1
            else:
                disc += 1
    denom = math.sqrt((conc + disc + tie_x) * (conc + disc + tie_y))
    return (conc - disc) / denom if denom > 0 else float("nan")


def steps_estimate(resolved: Resolved) -> Estimate:
    """``steps``: a short fine-tune from the cached FP32 weights."""
    from ..training import finetune

    cfg = resolved.cfg
    ft, sc = cfg.finetune, cfg.screen
    budget = replace(ft.budget(), steps=sc.steps)  # the full fine-tune's optimizer, lr, schedule, batch size

    def estimate(point: DesignPoint) -> float:
        r = finetune(resolved.bundle, point, budget, seed=cfg.seed, device=ft.device,
                     pretrain_epochs=ft.pretrain_epochs)
        return 0.0 if r.diverged or not math.isfinite(r.accuracy) else float(r.accuracy)

    return estimate


class SensitivityTable:
    """Per-layer accuracy drops of post-training quantization, one layer at a time."""

    def __init__(self, resolved: Resolved):
        from ..training import FinetuneBudget

        self.resolved = resolved
        self.budget = FinetuneBudget(epochs=0, batch_size=resolved.cfg.finetune.batch_size)
        self.drops: dict[tuple[str, str], float] = {}
        self.float_accuracy: Optional[float] = None

    def drop(self, layer: str, scheme: Any) -> float:
        key = (layer, repr(sorted(scheme.to_dict().items())))
        if key not in self.drops:
            from ..training import finetune

            cfg = self.resolved.cfg
            r = finetune(self.resolved.bundle, {layer: scheme}, self.budget, seed=cfg.seed,
                         device=cfg.finetune.device, pretrain_epochs=cfg.finetune.pretrain_epochs)
            self.float_accuracy = float(r.float_accuracy)
            acc = 0.0 if r.diverged or not math.isfinite(r.accuracy) else float(r.accuracy)
            self.drops[key] = self.float_accuracy - acc
        return self.drops[key]

    def __call__(self, point: DesignPoint) -> float:
        total = 0.0
        for layer in self.resolved.workload.layers:
            scheme = point.scheme_for(layer.name)
            if scheme is not None:
                total += self.drop(layer.name, scheme)
        if self.float_accuracy is None:  # nothing quantized: the FP32 model's accuracy
            from ..training import finetune

            cfg = self.resolved.cfg
            self.float_accuracy = float(finetune(self.resolved.bundle, {}, self.budget, seed=cfg.seed,
                                                 device=cfg.finetune.device,
                                                 pretrain_epochs=cfg.finetune.pretrain_epochs).float_accuracy)
        return self.float_accuracy - total


#: screen.estimate -> factory(resolved) -> estimate(point) -> accuracy estimate
ESTIMATES: dict[str, Callable[[Resolved], Estimate]] = {"steps": steps_estimate, "sensitivity": SensitivityTable}


def _minimization(cfg: Any, accuracy: float, metrics: Mapping[str, float]) -> tuple[float, ...]:
    out = []
    for obj, direction in zip(cfg.objectives, cfg.directions):
        v = accuracy if obj == "accuracy" else float(metrics[obj])
        out.append(-v if direction == "maximize" else v)
    return tuple(out)


#: fine-tuned candidates needed before the estimate is calibrated and checked against caps
CALIBRATE_MIN = 3


def accuracy_floors(cfg: Any) -> list[tuple[float, str]]:
    """(level, name) of every lower bound on accuracy: ``accuracy >=`` caps and
    ``finetune.abandon_below``; a design below one ends infeasible or abandoned."""
    out = [(float(c.value), str(c)) for c in cfg.caps if c.metric == "accuracy" and c.op == ">="]
    if cfg.finetune.abandon_below is not None:
        out.append((float(cfg.finetune.abandon_below), f"finetune.abandon_below = {cfg.finetune.abandon_below:g}"))
    return out


class Calibration:
    """Least-squares line from screen estimates to full fine-tune accuracies (slope >= 0)."""

    def __init__(self) -> None:
        self.pairs: list[tuple[float, float]] = []

    def add(self, est: float, accuracy: float) -> None:
        if math.isfinite(est) and math.isfinite(accuracy):
            self.pairs.append((float(est), float(accuracy)))

    def predict(self, est: float) -> Optional[float]:
        """The predicted accuracy, or None with fewer than CALIBRATE_MIN pairs."""
        n = len(self.pairs)
        if n < CALIBRATE_MIN:
            return None
        mx = sum(e for e, _ in self.pairs) / n
        my = sum(a for _, a in self.pairs) / n
        sxx = sum((e - mx) ** 2 for e, _ in self.pairs)
        slope = max(0.0, sum((e - mx) * (a - my) for e, a in self.pairs) / sxx) if sxx > 0 else 0.0
        return my + slope * (est - mx)


class Screener:
    """The screening stage: ``screener(point, metrics)`` estimates the candidate's accuracy
    and decides; returns the dict the evaluator records as the ``screen`` user attr. The
    evaluator reports each promoted candidate's fine-tuned accuracy back through
    :meth:`observe` (the calibration)."""

    def __init__(self, cfg: Any, estimate: Estimate, history: Iterable[tuple[float, Mapping[str, float]]] = ()):
        self.cfg = cfg
        self.sc = cfg.screen
        self.estimate = estimate
        self.history: list[tuple[float, tuple[float, ...]]] = []
        self.promoted: list[tuple[float, tuple[float, ...]]] = []  # those fine-tuned: the front rule's rivals
        # the 'gain' rule: the fine-tuned designs as they came out (fine-tuned accuracy; None until
        # known, () when the fine-tune ended below an accuracy floor)
        self.tuned: list[Optional[tuple[float, ...]]] = []
        self.tuned_metrics: list[Mapping[str, float]] = []
        self.gains: list[float] = []  # the 'gain' rule's prediction at each screen (0 for stored ones)
        self._last_gain = 0.0
        self.calibration = Calibration()
        self.floors = accuracy_floors(cfg)
        self.screened = 0
        for est, metrics in history:
            tuned = "accuracy" in metrics  # a fine-tuned candidate: its estimate and what it reached
            self._remember(est, metrics, tuned)
            if tuned:
                self.observe(est, float(metrics["accuracy"]))

    def _remember(self, est: float, metrics: Mapping[str, float], promoted: bool) -> None:
        entry = (est, _minimization(self.cfg, est, metrics))
        self.history.append(entry)
        self.gains.append(self._last_gain)
        self._last_gain = 0.0
        if promoted:
            self.promoted.append(entry)
            self.tuned.append(None)
            self.tuned_metrics.append(dict(metrics))
        self.screened += 1

    def observe(self, est: float, accuracy: float) -> None:
        """A promoted candidate's full fine-tune reached ``accuracy`` (its screen said ``est``)."""
        self.calibration.add(est, accuracy)
        # the evaluator fine-tunes a promoted candidate right after its screen: the newest
        # promoted design is the one that reached ``accuracy``
        pending = [i for i, t in enumerate(self.tuned) if t is None]
        if pending and math.isfinite(accuracy):
            i = pending[-1]
            metrics = self.tuned_metrics[i]
            if all(accuracy >= level for level, _ in self.floors):  # a fine-tune below a floor ends infeasible
                self.tuned[i] = _minimization(self.cfg, accuracy, metrics)
            else:
                self.tuned[i] = ()

    def _gain(self, est: float, metrics: Mapping[str, float]) -> float:
        """The hypervolume the candidate is predicted to add to the front of the feasible
        fine-tuned designs: accuracy = the calibrated prediction of its estimate (the estimate
        itself before the calibration has CALIBRATE_MIN pairs) plus ``margin``; objectives
        normalised over every screened candidate so far and the fine-tuned front (so gains
        recorded at different times stay comparable), reference 1.1 per objective."""
        front = [t for t in self.tuned if t]
        pred = self.calibration.predict(est)
        mine = _minimization(self.cfg, min(1.0, (est if pred is None else pred) + self.sc.margin), metrics)
        allp = [p for _, p in self.history] + front + [mine]
        m = len(mine)
        low = [min(p[j] for p in allp) for j in range(m)]
        span = [(max(p[j] for p in allp) - low[j]) or 1.0 for j in range(m)]

        def norm(ps: Sequence[tuple[float, ...]]) -> list[list[float]]:
            return [[(p[j] - low[j]) / span[j] for j in range(m)] for p in ps]

        ref = [1.1] * m
        return hypervolume(norm(front + [mine]), ref) - (hypervolume(norm(front), ref) if front else 0.0)

    def _below_floor(self, est: float) -> Optional[str]:
        pred = self.calibration.predict(est) if self.floors else None
        if pred is None:
            return None
        for level, name in self.floors:
            if pred + self.sc.margin < level:
                return (f"screened out: estimated accuracy {est:.4f} predicts {pred:.4f} after the fine-tune "
                        f"(calibrated on {len(self.calibration.pairs)} fine-tuned designs, margin "
                        f"{self.sc.margin:g}), below {name}")
        return None

    def _dominates(self, other: Sequence[float], mine: Sequence[float]) -> bool:
        tol = self.sc.tolerance
        if tol <= 0:
            return dominates(other, mine)
        # coarse dominance: no less accurate, and within (1 + tol) of the candidate on the
        # hardware objectives (minimised, so a positive value may grow by tol x |value|)
        for (obj, o, m) in zip(self.cfg.objectives, other, mine):
            if obj == "accuracy":
                if o > m:
                    return False
            elif o > m + tol * abs(m):
                return False
        return any(o != m for o, m in zip(other, mine))

    def decide(self, est: float, metrics: Mapping[str, float]) -> tuple[bool, str]:
        """(promoted, why) for an estimate against the history so far."""
        self._last_gain = 0.0
        if self.screened < self.sc.warmup:
            return True, f"warm-up ({self.screened + 1} of {self.sc.warmup})"
        low = self._below_floor(est)
        if low is not None:
            return False, low
        if self.sc.promote == "gain":
            # best of the last `window`: the gains the previous window - 1 candidates were predicted
            # at their own screen (a promoted one included: one promotion per window of candidates)
            recent = self.gains[-(self.sc.window - 1):] if self.sc.window > 1 else []
            mine = self._last_gain = self._gain(est, metrics)
            best = max(recent, default=0.0)
            if mine <= 1e-12:
                return False, (f"screened out: estimated accuracy {est:.4f} is predicted to add no hypervolume to "
                               f"the {sum(1 for t in self.tuned if t)} feasible fine-tuned designs")
            if best > mine:
                return False, (f"screened out: predicted hypervolume gain {mine:.4g} is below {best:.4g}, the "
                               f"largest of the last {len(recent)} screened candidates (window {self.sc.window})")
            return True, f"predicted hypervolume gain {mine:.4g}, the largest of the last {len(recent) + 1}"
        if self.sc.promote == "quantile":
            ests = sorted(e for e, _ in self.history)
            q = _quantile(ests, self.sc.quantile)
            if est >= q:
                return True, f"estimate {est:.4f} >= {self.sc.quantile:g} quantile {q:.4f}"
            return False, (f"screened out: estimated accuracy {est:.4f} < {self.sc.quantile:g} quantile "
                           f"{q:.4f} of {len(ests)} screened designs")
        mine = _minimization(self.cfg, min(1.0, est + self.sc.margin), metrics)
        # rivals: the promoted candidates only. With exact dominance that changes nothing (a
        # screened-out design is dominated by a promoted one, or below an accuracy floor that
        # then rules out whatever it dominates too); with a tolerance it keeps the slack from
        # compounding along a chain of screened-out designs
        for other_est, other in self.promoted:
            if self._dominates(other, mine):
                return False, (f"screened out: estimated accuracy {est:.4f} (margin {self.sc.margin:g}) is "
                               f"dominated by a promoted design estimated at {other_est:.4f} that is no worse "
                               f"on {', '.join(o for o in self.cfg.objectives if o != 'accuracy')}"
                               + (f" (tolerance {self.sc.tolerance:g})" if self.sc.tolerance > 0 else ""))
        return True, "not dominated by the screened designs"

    def __call__(self, point: DesignPoint, metrics: Mapping[str, float]) -> dict[str, Any]:
        t0 = time.perf_counter()
        est = float(self.estimate(point))
        promoted, why = self.decide(est, metrics)
        self._remember(est, metrics, promoted)
        out = {"estimate": est, "kind": self.sc.estimate, "rule": self.sc.promote, "promoted": promoted,
               "reason": "" if promoted else why, "why": why, "time_s": time.perf_counter() - t0}
        if self.sc.estimate == "steps":
            out["steps"] = self.sc.steps
        return out


def _quantile(sorted_values: Sequence[float], q: float) -> float:
    if not sorted_values:
        return -math.inf
    pos = q * (len(sorted_values) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def stored_history(trials: Iterable[Any]) -> list[tuple[float, dict[str, float]]]:
    """(estimate, metrics) of the study's screened trials, oldest first (``FrozenTrial``s)."""
    out = []
    for t in sorted(trials, key=lambda t: t.number):
        s, m = TrialRecord.get(t, "screen"), TrialRecord.get(t, "metrics")
        if isinstance(s, dict) and "estimate" in s and isinstance(m, dict) and TrialRecord.get(t, "duplicate_of") is None:
            out.append((float(s["estimate"]), m))
    return out


def make_screen_fn(resolved: Resolved, trials: Iterable[Any] = ()) -> Optional[Screener]:
    """The screening stage of a study, or None when it has no ``[screen]`` section (or
    nothing to screen for: a hardware-only study)."""
    cfg = resolved.cfg
    if getattr(cfg, "screen", None) is None or not cfg.needs_training or cfg.fidelity != "finetune":
        return None
    estimate = ESTIMATES[cfg.screen.estimate](resolved)
    return Screener(cfg, estimate, stored_history(trials))
