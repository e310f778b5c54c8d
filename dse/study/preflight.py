"""Pre-flight: what share of a study's space fits, before any trial is spent.

``dse search`` samples the resolved space at random (seeded; nothing is written), prices
each sample with the hardware model and the study's hardware constraints (device fit,
caps on hardware metrics; never training), and reports the feasible share,
the constraint that rejects the rest (the *binding* one) and the one change to the config
that admits the most of the sample. A space where almost nothing fits stops the search
with that line (exit 2) unless ``--force``; ``--dry-run`` prints the resolved space, the
estimate and the expected cost of the budget, and stops.

The estimate is of *random* designs: the study's sampler, which learns from constraint
values, usually does better, so a share above :data:`LOW_FEASIBLE` is a floor, not a
forecast.

Also here: config mistakes only the resolved space reveals (a setting that can never take
effect), raised as :class:`~dse.errors.UserError` before anything is created. The expected
cost of the budget is :mod:`dse.study.cost`.
"""

from __future__ import annotations

import math
import re
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Optional, Sequence

import optuna

from hwmodels import DesignPoint
from hwmodels.formats import space_field_owners

from ..errors import UserError
from ..evaluate import Evaluator
from .cost import TRIAL_OVERHEAD_S, Cost, cost, finetune_seconds  # noqa: F401 - re-exported: dse.preflight.*

#: below this feasible share a search stops before its first trial (``--force`` runs anyway)
LOW_FEASIBLE = 0.05
#: random designs priced by the pre-flight
SAMPLES = 256
#: a narrowed range must keep this share of the sample to be suggested (its estimate
#: rests on that many designs)
MIN_COVER = 0.15
#: designs re-priced on each other catalog device for the device hint
DEVICE_SAMPLES = 48
#: a suggested change must raise the estimated share by this much
MIN_GAIN = 0.1

_FIT_CAUSE = re.compile(r"\b(lut|ff|dsp|bram18|uram|clock_hz): ")


@dataclass(frozen=True)
class Hint:
    """One config change and the feasible share the sample predicts with it."""

    change: str
    share: float

    def __str__(self) -> str:
        return f"{self.change} (est. {100 * self.share:.0f}% feasible)"


@dataclass(frozen=True)
class Preflight:
    """Outcome of pricing ``samples`` random designs.

    ``rejected``: constraint -> samples it rejects (``fits_device`` is split by the
    resource over capacity, e.g. ``fits_device (dsp)``); ``binding``: the constraint whose
    removal admits the most samples; ``hints``: config changes, best first."""

    samples: int
    feasible: int
    rejected: Mapping[str, int]
    binding: Optional[str]
    hints: tuple[Hint, ...]
    hw_s: float
    failed: int = 0
    examples: Mapping[str, str] = field(default_factory=dict)

    @property
    def share(self) -> float:
        return self.feasible / self.samples if self.samples else 0.0

    def summary(self) -> str:
        text = f"{100 * self.share:.1f}% feasible ({self.feasible} of {self.samples} random designs)"
        if self.rejected:
            parts = [f"{name} {_pct(n / self.samples)}" for name, n in
                     sorted(self.rejected.items(), key=lambda kv: -kv[1])]
            text += "; rejected by " + ", ".join(parts)
        return text


def _pct(share: float) -> str:
    return "<1%" if 0 < share < 0.005 else f"{100 * share:.0f}%"


# --- settings that can never take effect -----------------------------------------------------

def check_space(resolved: Any, raw: Optional[Mapping[str, Any]] = None) -> None:
    """Raise :class:`UserError` for a setting the resolved space can never use: a
    kind-specific space field without that kind, a hardware range for a knob that is not
    searched, a knob both fixed and searched. ``raw`` is the TOML document (to tell the
    fields a user wrote from defaults)."""
    cfg = resolved.cfg
    written = set((raw or {}).get("space", {}) or {})
    for name, owners in space_field_owners().items():  # space fields only some formats draw
        if name in written and not set(owners) & set(cfg.space.kinds):
            kind = " or ".join(repr(k) for k in owners)
            raise UserError(f"space.{name}: never used, space.kinds has no {kind}; add {kind} to "
                            f"space.kinds or remove space.{name}")
    from search_spaces import HardwarePiece

    piece = next((p for p in resolved.space.pieces if isinstance(p, HardwarePiece)), None)
    if piece is None:
        return
    searched = {k.name for k in piece.searched_knobs()}
    for name in cfg.hardware.search or ():
        if name in piece.fixed:
            where = "hardware.device" if name == "device" and cfg.hardware.device is not None else \
                f"hardware.fixed.{name}"
            raise UserError(f"hardware.search: {name!r} is also fixed by {where}; remove one of them")
    for name in cfg.hardware.ranges:
        if name not in searched:
            why = ("it is fixed" if name in piece.fixed else "it is not in hardware.search"
                   if cfg.hardware.search is not None else "the model does not search it by default")
            raise UserError(f"hardware.ranges.{name}: never used, {why}; add {name!r} to hardware.search "
                            f"or remove the range")


# --- the estimate ----------------------------------------------------------------------------

def _causes(constraints: Mapping[str, float], reason: str) -> list[str]:
    out = []
    for key, value in constraints.items():
        if value <= 0:
            continue
        if key == "fits_device":
            found = sorted(set(_FIT_CAUSE.findall(reason)))
            out += [f"fits_device ({c})" for c in found] or ["fits_device"]
        else:
            out.append(key)
    return out


def _hardware_evaluator(resolved: Any) -> Evaluator:
    """The study's evaluator without training: its hardware constraints, no accuracy."""
    cfg = resolved.cfg
    hw_objectives = tuple(o for o in cfg.objectives if o != "accuracy") or ("latency_s",)
    return Evaluator(replace(cfg, objectives=hw_objectives, fidelity="none"), resolved.model, resolved.workload, None)


def _sample(resolved: Any, n: int, seed: int) -> tuple[list[tuple[dict[str, Any], DesignPoint, Any]], float,
                                                       list[str]]:
    """``n`` random designs: (params, point, evaluation) each, mean hardware seconds, and
    the errors of those whose evaluation raised. Values are drawn from the space's
    :class:`~search_spaces.Dimension` list (uniform, log-uniform for log ranges: what
    Optuna's RandomSampler draws) and fed through a ``FixedTrial``, a hundred times
    cheaper than asking an Optuna study."""
    import numpy as np

    rng = np.random.default_rng(seed)
    dims = resolved.space.dimensions(resolved.workload)
    evaluator = _hardware_evaluator(resolved)
    out = []
    hw_s = 0.0
    failed: list[str] = []
    for _ in range(n):
        # a value for every parameter; the space asks only for those the drawn kinds use
        trial = optuna.trial.FixedTrial({d.name: d.draw(rng) for d in dims})
        point = resolved.space.suggest(trial, resolved.workload)
        t0 = time.perf_counter()
        try:
            ev = evaluator.evaluate(point)
        except Exception as e:  # a plug-in bug: the search records such a trial as failed
            failed.append(f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:300])
            continue
        finally:
            hw_s += time.perf_counter() - t0
        out.append((dict(trial.params), point, ev))
    return out, hw_s / max(n, 1), failed


def _range_hints(rows: list[tuple[dict[str, Any], bool]], dims: Sequence[Any]) -> list[Hint]:
    """For each searched hardware knob, the narrowed range the sample says admits most."""
    hints = []
    n = len(rows)
    for d in dims:
        if not d.name.startswith("hw."):
            continue
        knob = d.name[len("hw."):]
        vals = [(p[d.name], ok) for p, ok in rows if d.name in p]
        if len(vals) < 10:
            continue
        best: Optional[tuple[float, int, str]] = None
        if d.choices:
            rate = {c: (sum(ok for v, ok in vals if v == c), sum(1 for v, _ in vals if v == c)) for c in d.choices}
            top = max((f / t for f, t in rate.values() if t), default=0.0)
            keep = [c for c in d.choices if rate[c][1] and rate[c][0] / rate[c][1] >= top / 2]
            cover = sum(rate[c][1] for c in keep)
            if keep and len(keep) < len(d.choices) and cover >= MIN_COVER * n:
                share = sum(rate[c][0] for c in keep) / cover
                best = (share, cover, f"hardware.ranges.{knob} = {_toml(keep)}")
        else:
            xs = sorted(v for v, _ in vals)
            cuts = sorted({xs[int(q * (len(xs) - 1))] for q in (0.15, 0.25, 0.35, 0.5, 0.65, 0.75, 0.85)})
            lo, hi = xs[0], xs[-1]
            for c in cuts:
                for a, b in ((lo, c), (c, hi)):
                    inside = [ok for v, ok in vals if a <= v <= b]
                    if len(inside) < MIN_COVER * n or (a, b) == (lo, hi):
                        continue
                    share = sum(inside) / len(inside)
                    a_txt, b_txt = (int(a), int(b)) if d.integer else (a, b)
                    cand = (share, len(inside), f"hardware.ranges.{knob} = {_toml([a_txt, b_txt])}")
                    if best is None or cand[:2] > best[:2]:
                        best = cand
        if best is not None:
            hints.append(Hint(best[2], best[0]))
    return hints


def _toml(values: Sequence[Any]) -> str:
    def one(v: Any) -> str:
        if isinstance(v, str):
            return f'"{v}"'
        if isinstance(v, float):
            return f"{v:.4g}"
        return str(v)
    return "[" + ", ".join(one(v) for v in values) + "]"


def _device_hints(resolved: Any, sample: list[tuple[dict[str, Any], DesignPoint, Any]]) -> list[Hint]:
    """The same designs on each other catalog device (when the device is fixed)."""
    from hwmodels.devices import get_device, list_devices
    from search_spaces import HardwarePiece

    piece = next((p for p in resolved.space.pieces if isinstance(p, HardwarePiece)), None)
    if piece is None or "device" not in {k.name for k in resolved.model.knobs()} or \
            "device" in {k.name for k in piece.searched_knobs()}:
        return []
    current = str(piece.fixed.get("device", next(k.default for k in resolved.model.knobs() if k.name == "device")))
    subset = sample[:DEVICE_SAMPLES]
    evaluator = _hardware_evaluator(resolved)
    hints = []
    for name in list_devices():
        if name == current:
            continue
        ok = 0
        for _, point, _ in subset:
            moved = DesignPoint.make(point.scheme_map, {**point.knob_map, "device": name}, point.default_scheme)
            try:
                ok += evaluator.evaluate(moved).feasible
            except Exception:
                pass
        if subset:
            dev = get_device(name)
            hints.append((ok / len(subset), -(dev.lut + 100 * dev.dsp), name))
    hints.sort(reverse=True)
    return [Hint(f'hardware.device = "{name}"', share) for share, _, name in hints[:1] if share > 0]


def _cap_hints(resolved: Any, sample: list[tuple[dict[str, Any], DesignPoint, Any]]) -> list[Hint]:
    """Each hardware cap loosened to the value that admits half the designs that fit otherwise."""
    hints = []
    for cap in resolved.cfg.caps:
        key = f"cap:{cap.metric}"
        vals = [ev.metrics.get(cap.metric) for _, _, ev in sample
                if ev.constraints and all(v <= 0 for k, v in ev.constraints.items() if k != key)
                and ev.metrics.get(cap.metric) is not None]
        if cap.metric == "accuracy" or len(vals) < 4:
            continue
        vals.sort(reverse=cap.op == ">=")
        target = vals[len(vals) // 2]
        if cap.violation(target) <= 0:
            continue
        share = len(vals) / 2 / len(sample)
        hints.append(Hint(f'constraints.caps: "{cap.metric} {cap.op} {target:.3g}"', share))
    return hints


def estimate(resolved: Any, samples: int = SAMPLES, seed: Optional[int] = None) -> Preflight:
    """Price ``samples`` random designs of ``resolved`` (a :class:`dse.study.Resolved`)."""
    pf, sample, rows = _estimate(resolved, samples, seed)
    return _with_hints(resolved, pf, sample, rows)


def _estimate(resolved: Any, samples: int, seed: Optional[int]) -> tuple[Preflight, list[Any], list[Any]]:
    """:func:`estimate` without the hints (``hints=()``), with the sample and its (params, feasible) rows."""
    seed = resolved.cfg.seed if seed is None else seed
    sample, hw_s, failed = _sample(resolved, samples, seed)
    rejected: Counter[str] = Counter()
    alone: Counter[str] = Counter()
    examples: dict[str, str] = {}
    rows = []
    feasible = 0
    if failed:
        rejected["error"] = len(failed)
        alone["error"] = len(failed)
        examples["error"] = failed[0]
    for params, _, ev in sample:
        causes = _causes(ev.constraints, ev.reason)
        ok = ev.feasible
        feasible += ok
        rows.append((params, ok))
        for c in causes:
            rejected[c] += 1
            examples.setdefault(c, ev.reason)
        roots = {c.split(" ")[0] for c in causes}
        if len(roots) == 1:
            alone[next(iter(roots))] += 1
    binding = None
    if rejected:
        root_counts: Counter[str] = Counter()
        for c, k in rejected.items():
            root_counts[c.split(" ")[0]] = max(root_counts[c.split(" ")[0]], k)
        # the constraint whose removal admits the most; ties: the one rejecting the most
        root = max(root_counts, key=lambda r: (alone[r], root_counts[r]))
        binding = max((c for c in rejected if c.split(" ")[0] == root), key=lambda c: rejected[c])
    pf = Preflight(samples=len(sample) + len(failed), feasible=feasible, rejected=dict(rejected),
                   binding=binding, hints=(), hw_s=hw_s, failed=len(failed), examples=examples)
    return pf, sample, rows


def _with_hints(resolved: Any, pf: Preflight, sample: list[Any], rows: list[Any]) -> Preflight:
    """``pf`` with its hints: config changes the sample says would admit more designs (re-pricing
    the sample on other devices costs more than the estimate itself)."""
    binding = pf.binding
    hints: list[Hint] = []
    if binding not in (None, "error") and pf.feasible < len(sample):
        dims = resolved.space.dimensions(resolved.workload)
        hints += _range_hints(rows, dims)
        if binding.startswith("fits_device"):
            hints += _device_hints(resolved, sample)
        if binding.startswith("cap:"):
            hints += _cap_hints(resolved, sample)
        base = pf.feasible / len(sample) if sample else 0.0
        hints = sorted((h for h in hints if h.share >= base + MIN_GAIN), key=lambda h: -h.share)
    return replace(pf, hints=tuple(hints[:3]))


def gate(pf: Preflight, force: bool = False) -> None:
    """Raise :class:`UserError` (one line) when almost nothing fits, unless ``force``."""
    if force or pf.share >= LOW_FEASIBLE:
        return
    line = f"pre-flight: only {100 * pf.share:.1f}% of {pf.samples} random designs are feasible; "
    if pf.binding == "error":
        line += (f"the hardware model raised on {pf.failed} of them (first: {pf.examples['error']}); fix the model "
                 "or the knobs it cannot price")
    else:
        line += (f"binding constraint {pf.binding} rejects "
                 f"{100 * pf.rejected.get(pf.binding or '', pf.samples - pf.feasible) / max(pf.samples, 1):.0f}%")
    if pf.hints:
        line += f"; try {pf.hints[0]}"
    raise UserError(line + "; or pass --force to search anyway (see dse search CONFIG --dry-run)")


# --- dry run -----------------------------------------------------------------------------------

def describe_space(resolved: Any) -> list[str]:
    """Lines: the size of the space, each active parameter, the fixed values."""
    space, wl = resolved.space, resolved.workload
    dims = space.dimensions(wl)
    size = space.size(wl)
    size_txt = "continuous (a float knob)" if math.isinf(size) else (
        f"{size:.3g}" if size >= 1e6 else f"{size:.0f}")
    always = sum(1 for d in dims if d.when is None)
    lines = [f"space: {size_txt} parameter assignments; {len(dims)} parameters, {always} on every trial, "
             f"{len(dims) - always} only when a layer's kind uses them"]
    width = max((len(d.name) for d in dims), default=0)
    lines += [f"  {d.name.ljust(width)}  {d.describe()}" for d in dims]
    fixed = space.fixed_values(wl)
    if fixed:
        lines.append("fixed: " + ", ".join(_group_fixed(fixed)))
    return lines


def _group_fixed(fixed: Mapping[str, Any]) -> list[str]:
    """``<layer>.<field> = v`` entries, one per field when many layers share the value."""
    by_field: dict[str, dict[str, Any]] = {}
    for key, value in fixed.items():
        prefix, _, name = key.rpartition(".")
        if prefix != "hw":
            by_field.setdefault(name, {})[prefix] = value
    out, done = [], set()
    for key, value in fixed.items():
        prefix, _, name = key.rpartition(".")
        group = by_field.get(name, {}) if prefix != "hw" else {}
        if len(group) > 2 and len({_fmt(v) for v in group.values()}) == 1:
            if name not in done:
                done.add(name)
                out.append(f"{name} = {_fmt(value)} ({len(group)} layers)")
            continue
        out.append(f"{key} = {_fmt(value)}")
    return out


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def dry_run_text(resolved: Any, pf: Preflight, c: Cost) -> str:
    cfg = resolved.cfg
    caps = ", ".join(str(x) for x in cfg.caps) or "none"
    head = [f"dry run of study {cfg.name!r}: nothing is created (no storage, runs/ or report)",
            f"workload {cfg.workload}: {len(resolved.workload.layers)} compute layers; model {resolved.model.name}; "
            f"objectives {', '.join(cfg.objectives)}; sampler {cfg.sampler}, seed {cfg.seed}; fidelity {cfg.fidelity}",
            f"constraints: fit_device = {str(cfg.fit_device).lower()}, caps: {caps}"]
    body = describe_space(resolved)
    est = [f"pre-flight: {pf.summary()}"]
    if pf.binding:
        est.append(f"binding constraint: {pf.binding}")
    for h in pf.hints:
        est.append(f"would help: {h}")
    if pf.share < LOW_FEASIBLE:
        est.append(f"a search would stop here: below {100 * LOW_FEASIBLE:.0f}% feasible (--force runs anyway)")
    est.append(f"expected cost: {c.summary(cfg.timeout_s)}")
    return "\n".join(head + body + est)


def run(resolved: Any, raw: Optional[Mapping[str, Any]] = None, *, force: bool = False, dry_run: bool = False,
        out: Any = None, err: Any = None) -> bool:
    """What ``dse search`` runs after resolving its config and before touching storage:
    the never-used-setting checks, the estimate, then either the dry-run text (returns
    ``True``: stop, nothing created) or the gate (raises when almost nothing fits) and
    one line of the estimate on ``err`` (returns ``False``: go on)."""
    import sys

    check_space(resolved, raw)
    pf, sample, rows = _estimate(resolved, SAMPLES, None)
    if dry_run or (pf.share < LOW_FEASIBLE and not force):  # only these print the hints (issue 16: start-up)
        pf = _with_hints(resolved, pf, sample, rows)
    if dry_run:
        print(dry_run_text(resolved, pf, cost(resolved, pf)), file=out or sys.stdout)
        return True
    gate(pf, force)
    line = f"pre-flight: {pf.summary()}"
    if pf.share < LOW_FEASIBLE:
        line += " (--force: searching anyway)"
    print(line, file=err or sys.stderr)
    return False
