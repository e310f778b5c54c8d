"""Everything the report shows, read from an Optuna study into plain JSON-ready dicts.

Nothing is re-run: the values come from the study's and each trial's stored record
(``dse.record``; ``docs/configuration.md``, "What a trial stores"). The page (``dse/report/html.py``
and ``report.js``) only formats and plots what :func:`report_data` returns.

Size matters at thousands of trials, so per-trial data is columnar (one list per field)
and rounded to 7 significant digits; per-layer detail and plans are kept for Pareto points
and baselines only.
"""

from __future__ import annotations

import math
import time
from typing import Any, Optional

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from ..export import csv_text, trial_record
from ..metrics import METRICS, report_table
from ..record import STATUS_ABANDONED, STATUS_SCREENED, StudyRecord, TrialRecord
from ..study.pareto import hypervolume_history, normalize, to_minimization
from ..study import describe_point, feasible, pareto_trials, retried_numbers, status_counts
from .importance import BINS, TOP_FRACTION, param_importances
from .knee import knee_info
from .validation import validation_data
from .reasons import group_reasons

#: metrics carried for every plotted trial (hover and click details): the whole table (dse/metrics.py)
TRIAL_METRICS = tuple(METRICS)
#: resources drawn against the device capacity
RESOURCES = ("lut", "ff", "dsp", "bram18", "uram")
#: per-layer columns kept for Pareto points and baselines
#: (energy_j and utilization per layer are missing from studies written before they were recorded: None)
LAYER_FIELDS = ("name", "kind", "granularity", "w_bits", "a_bits", "term_budget", "group_size", "term_encoding",
                "sp2_fraction", "macs", "cycles", "latency_s", "energy_j", "utilization", "lut_share", "dsp_share")
#: heatmap fields, in the order the page offers them
HEATMAP_FIELDS = ("w_bits", "term_budget", "sp2_fraction", "a_bits", "group_size")
#: hypervolume reference point in normalised objective space (1 = worst feasible value seen)
HV_REFERENCE = 1.1
#: largest final Pareto front (by number of objectives) for which the history is exact
HV_EXACT_MAX_FRONT = {2: 200, 3: 50}
#: Monte-Carlo samples for the hypervolume history beyond that
HV_SAMPLES = 20_000
#: parameters listed per objective (the most important first)
IMPORTANCE_TOP = 15
#: fewest complete trials before parameter importance is attempted
MIN_TRIALS_FOR_IMPORTANCE = 10


def _r(v: Any) -> Any:
    """Round floats to 7 significant digits (display data only); non-finite -> None."""
    if isinstance(v, bool) or v is None:
        return v
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        v = float(v)
        if not math.isfinite(v):
            return None
        return float(f"{v:.7g}")
    return v


def _directions(study: optuna.Study) -> list[str]:
    return ["maximize" if d == optuna.study.StudyDirection.MAXIMIZE else "minimize" for d in study.directions]


def _objectives(study: optuna.Study, sr: StudyRecord) -> list[str]:
    names = sr.objectives or []
    return list(names) if len(names) == len(study.directions) else [f"objective {i}" for i in
                                                                     range(len(study.directions))]


def _category(t: FrozenTrial, pareto: set[int]) -> str:
    """pareto | dominated | infeasible | screened | abandoned | failed | running."""
    if t.state == TrialState.COMPLETE:
        if t.number in pareto:
            return "pareto"
        return "dominated" if feasible(t) else "infeasible"
    if t.state == TrialState.PRUNED:
        status = TrialRecord.get(t, "status")
        return "abandoned" if status == STATUS_ABANDONED else "screened" if status == STATUS_SCREENED else "infeasible"
    if t.state == TrialState.FAIL:
        return "failed"
    return "running"


def _value(t: FrozenTrial, rec: TrialRecord, i: int, name: str) -> Optional[float]:
    if t.state == TrialState.COMPLETE and t.values is not None:
        return t.values[i]
    return rec.metric(name)


def _objective_specs(objectives: list[str], directions: list[str], trials: list[FrozenTrial],
                     values: list[list[Optional[float]]]) -> list[dict[str, Any]]:
    specs = []
    for j, (name, d) in enumerate(zip(objectives, directions)):
        col = [v[j] for v in values if v[j] is not None]
        feas = [v[j] for t, v in zip(trials, values) if v[j] is not None and t.state == TrialState.COMPLETE]
        ref = float(np.median(np.abs(feas or col))) if col else 0.0
        scale, unit = 1.0, ""
        m = METRICS.get(name)
        if m is not None and m.display == "percent":
            scale, unit = 100.0, "%"
        elif m is not None and m.ladder:  # the largest unit in which the typical value is >= 1
            scale, unit = next(((s, u) for s, u in m.ladder if ref * s >= 1.0), m.ladder[-1])
        positive = bool(col) and min(col) > 0
        log = positive and max(col) / min(col) > 100.0
        label = (m.label if m is not None else name) + (f" ({unit})" if unit else "")
        specs.append({"name": name, "direction": d, "label": label, "unit": unit, "scale": scale, "log": log})
    return specs


def _layer_rows(t: FrozenTrial) -> list[list[Any]]:
    rec = TrialRecord.of(t)
    point_layers = (rec.point or {}).get("layers") or {}
    rows = []
    for row in rec.hw_layers or []:
        scheme = point_layers.get(row.get("name"), {})
        merged = {**scheme, **{k: v for k, v in row.items() if v is not None or k not in scheme}}
        rows.append([_r(merged.get(f)) for f in LAYER_FIELDS])
    if not rows:  # no hardware report stored (e.g. unsupported): the plan alone
        for name, scheme in point_layers.items():
            rows.append([_r(name if f == "name" else scheme.get(f)) for f in LAYER_FIELDS])
    return rows


def _time_spent(trials: list[FrozenTrial]) -> dict[str, Any]:
    starts = [t.datetime_start for t in trials if t.datetime_start]
    ends = [t.datetime_complete for t in trials if t.datetime_complete]
    busy = sum((t.datetime_complete - t.datetime_start).total_seconds() for t in trials
               if t.datetime_start and t.datetime_complete)
    timings = [TrialRecord.get(t, "timing") or {} for t in trials]
    hw_s = sum(float(tm.get("hw_s") or 0.0) for tm in timings)
    ft_s = sum(float(tm.get("finetune_s") or 0.0) for tm in timings)
    return {
        "first_start_unix": min(starts).timestamp() if starts else None,
        "last_end_unix": max(ends).timestamp() if ends else None,
        "wall_s": (max(ends) - min(starts)).total_seconds() if starts and ends else 0.0,
        "trial_s": busy, "hw_s": hw_s, "finetune_s": ft_s,
    }


def _capacity(device: str) -> Optional[dict[str, float]]:
    from hwmodels.devices import get_device

    try:
        cap = get_device(device).capacity
    except (ValueError, KeyError):
        return None
    return {r: float(getattr(cap, r)) for r in RESOURCES}


def _hv_exact_is_cheap(m: int, front_size: int) -> bool:
    """Exact history (one exact hypervolume per front change) is quick for small fronts in
    2-3 objectives; it grows steeply beyond (a 300-point 3-D front takes minutes)."""
    return (m <= 2 and front_size <= HV_EXACT_MAX_FRONT[2]) or (m == 3 and front_size <= HV_EXACT_MAX_FRONT[3])


def hypervolume_history_mc(values: np.ndarray, reference: np.ndarray, samples: int = HV_SAMPLES,
                           seed: int = 0) -> np.ndarray:
    """Monte-Carlo hypervolume of the first k points for k = 1..n (minimisation, all values
    >= 0): one seeded set of uniform samples in [0, reference]; each sample counts from the
    first trial that dominates it, so the history is monotone and reproducible."""
    v = np.asarray(values, dtype=float)
    n = len(v)
    ref = np.asarray(reference, dtype=float)
    rng = np.random.default_rng(seed)
    cand = _record_setters(v)  # only these can be the first to dominate a sample
    first = np.empty(samples, dtype=np.int64)
    for lo in range(0, samples, 1000):
        pts = rng.random((min(1000, samples - lo), len(ref))) * ref
        le = np.all(v[cand][:, None, :] <= pts[None, :, :], axis=2)  # le[k, s]: candidate k dominates sample s
        first[lo:lo + len(pts)] = np.where(le.any(axis=0), cand[le.argmax(axis=0)], n)
    covered = np.cumsum(np.bincount(first, minlength=n + 1)[:n])
    return covered / samples * float(np.prod(ref))


def _record_setters(v: np.ndarray) -> np.ndarray:
    """Positions k where no earlier point is <= v[k] in every objective: a point that an
    earlier one weakly dominates is never the first to dominate anything (the earlier one
    was), so the Monte-Carlo history needs only these (a few hundred of thousands)."""
    keep = []
    front = np.empty((0, v.shape[1]))
    for k, p in enumerate(v):
        if len(front) and np.any(np.all(front <= p, axis=1)):
            continue
        keep.append(k)
        front = np.vstack([front[~np.all(p <= front, axis=1)], p])
    return np.array(keep, dtype=np.int64)


def _hypervolume(front_trials: list[FrozenTrial], directions: list[str], front_size: int) -> dict[str, Any]:
    """Hypervolume of the feasible complete trials, in trial order, on normalised objectives
    (``front_size``: how many of them are on the final front)."""
    m = len(directions)
    note = (f"Objectives are normalised over the feasible complete trials (maximised ones flipped): the best "
            f"value seen -> 0, the worst -> 1. Reference point: {HV_REFERENCE} on every axis, so the largest "
            f"possible value is {HV_REFERENCE}^{m} = {HV_REFERENCE ** m:.4g}.")
    if not front_trials:
        return {"trial": [], "value": [], "reference": HV_REFERENCE, "note": note, "max": HV_REFERENCE ** m,
                "method": "none"}
    v = to_minimization([t.values for t in front_trials], directions)
    lo, hi = v.min(axis=0), v.max(axis=0)
    nv = normalize(v, lo, hi)
    ref = np.full(m, HV_REFERENCE)
    if _hv_exact_is_cheap(m, front_size):
        hv, method = hypervolume_history(nv, ref), "exact"
    else:
        hv, method = hypervolume_history_mc(nv, ref), "monte-carlo"
        note += (f" Estimated from {HV_SAMPLES:,} seeded Monte-Carlo samples (exact hypervolume is too slow for "
                 f"this many objectives or this large a front); the error is about 1% of the value.")
    return {"trial": [t.number for t in front_trials], "value": [_r(x) for x in hv], "reference": HV_REFERENCE,
            "note": note, "max": HV_REFERENCE ** m, "method": method,
            "bounds": {"best": [_r(x) for x in lo], "worst": [_r(x) for x in hi]}}


def _importance(complete: list[FrozenTrial], objectives: list[str], directions: list[str]) -> dict[str, Any]:
    """Parameter importance per objective (``dse/report/importance.py``: PED-ANOVA's Pearson
    divergence on discretised parameters, numpy only)."""
    out: dict[str, Any] = {
        "evaluator": f"How much each parameter's distribution among the best {int(100 * TOP_FRACTION)}% of complete "
                     f"trials differs from its distribution among all of them (Pearson divergence, as PED-ANOVA; "
                     f"numeric parameters in {BINS} quantile bins), per objective, normalised to sum to 1",
        "per_objective": {}, "message": ""}
    if len(complete) < MIN_TRIALS_FOR_IMPORTANCE:
        out["message"] = (f"Parameter importance needs at least {MIN_TRIALS_FOR_IMPORTANCE} complete trials; "
                          f"this study has {len(complete)}.")
        return out
    if not any(t.params for t in complete):
        out["message"] = "Parameter importance needs searched parameters; these trials have none."
        return out
    for name, rows in param_importances(complete, objectives, directions).items():
        out["per_objective"][name] = [[k, _r(v)] for k, v in rows[:IMPORTANCE_TOP]]
    return out


def public_url(url: Optional[str]) -> Optional[str]:
    """A storage URL fit to print in a page: any password removed
    (``postgresql://u:secret@h/db`` -> ``postgresql://u@h/db``)."""
    if not url or "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    return f"{scheme}://{creds.split(':', 1)[0]}@{host}"


def _plan(t: FrozenTrial, study_name: str) -> Optional[dict[str, Any]]:
    """What ``dse export --trial N --plan-out`` writes (``dse.export.plan_of_trial``, without
    its per-call scan of every trial)."""
    return TrialRecord.of(t).plan(study_name, t.number, t.state == TrialState.COMPLETE)


def _csv_text(records: list[dict[str, Any]]) -> str:
    """The Pareto set as ``dse export --format csv`` writes it (the same function)."""
    return csv_text(records)


def report_data(study: optuna.Study, storage_url: Optional[str] = None) -> dict[str, Any]:
    """All the numbers and texts of the report, as plain JSON-ready values.

    ``storage_url``, where the study was opened from, lets the page print exact commands
    (``dse export --storage URL ...``); without it they omit ``--storage``."""
    sr = StudyRecord.of(study)
    all_trials = study.get_trials(deepcopy=False)
    objectives, directions = _objectives(study, sr), _directions(study)
    counts = status_counts(study)
    retried = retried_numbers(all_trials)
    front = pareto_trials(study)
    # best first in the first objective: the order of the table, heatmap columns and bars
    front.sort(key=lambda t: (-t.values[0] if directions[0] == "maximize" else t.values[0], t.number))
    pareto_numbers = [t.number for t in front]
    pareto_set = set(pareto_numbers)

    # trials drawn and clickable: finished, not a copy of an earlier point, not a retried crash
    shown = [t for t in all_trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
             and TrialRecord.get(t, "duplicate_of") is None and t.number not in retried]
    recs = [TrialRecord.of(t) for t in shown]
    values = [[_value(t, rec, i, o) for i, o in enumerate(objectives)] for t, rec in zip(shown, recs)]
    specs = _objective_specs(objectives, directions, shown, values)

    # hardware knobs: columns for those that vary; the constant ones go to the header
    knob_values: dict[str, list[Any]] = {}
    for k, rec in enumerate(recs):
        for name, v in ((rec.point or {}).get("hardware") or {}).items():
            knob_values.setdefault(name, [None] * len(shown))[k] = _r(v)
    fixed_knobs = {n: vs[0] for n, vs in knob_values.items() if len(set(map(repr, vs))) == 1}
    varied_knobs = {n: vs for n, vs in knob_values.items() if n not in fixed_knobs}

    strings: list[str] = []
    index: dict[str, int] = {}

    def intern(s: str) -> int:
        if s not in index:
            index[s] = len(strings)
            strings.append(s)
        return index[s]

    metrics_cols = {m: [] for m in TRIAL_METRICS}
    for rec in recs:
        m = rec.metrics or {}
        for name in TRIAL_METRICS:
            metrics_cols[name].append(_r(m.get(name)))
    metrics_cols = {k: v for k, v in metrics_cols.items() if any(x is not None for x in v)}
    trials = {
        "number": [t.number for t in shown],
        "category": [_category(t, pareto_set) for t in shown],
        "values": [[_r(x) for x in v] for v in values],
        "baseline": [rec.baseline or None for rec in recs],
        "reason": [intern(rec.reason) if rec.reason else None for rec in recs],
        "design": [intern(describe_point(rec.point or {}).split(" | ")[0]) for rec in recs],
        "device": [intern(str((rec.hw or {}).get("device") or "")) for rec in recs],
        "metrics": metrics_cols,
        "knobs": varied_knobs,
    }

    # per-layer detail for the Pareto set and the baselines
    detailed = [t for t, rec in zip(shown, recs) if t.number in pareto_set or rec.baseline]
    details = {str(t.number): _layer_rows(t) for t in detailed}
    plans = {str(t.number): p for t in detailed if (p := _plan(t, study.study_name)) is not None}

    layer_names = [l["name"] for l in sr.layers or []]
    heat: dict[str, Any] = {"layers": [], "columns": pareto_numbers, "fields": {}}
    if front:
        names = layer_names or [r[0] for r in _layer_rows(front[0])]
        heat["layers"] = names
        pos = {n: i for i, n in enumerate(names)}
        for f in HEATMAP_FIELDS:
            fi = LAYER_FIELDS.index(f)
            grid: list[list[Any]] = [[None] * len(front) for _ in names]
            for c, t in enumerate(front):
                for row in details[str(t.number)]:
                    if row[0] in pos:
                        grid[pos[row[0]]][c] = row[fi]
            flat = [x for r in grid for x in r if x is not None]
            if flat and (f == "w_bits" or len(set(flat)) > 1):
                heat["fields"][f] = grid
        heat["kinds"] = [[None] * len(front) for _ in names]
        for c, t in enumerate(front):
            for row in details[str(t.number)]:
                if row[0] in pos:
                    heat["kinds"][pos[row[0]]][c] = row[1]

    study_device = str(sr.device or "")
    resources: dict[str, Any] = {"points": pareto_numbers, "device": [], "used": {r: [] for r in RESOURCES},
                                 "capacity": {r: [] for r in RESOURCES}, "unknown_devices": []}
    for t in front:
        rec = TrialRecord.of(t)
        hw = rec.hw or {}
        m = rec.metrics or {}
        dev = str(hw.get("device") or study_device)
        cap = _capacity(dev) if dev else None
        if cap is None and dev not in resources["unknown_devices"]:
            resources["unknown_devices"].append(dev)
        resources["device"].append(dev)
        for r in RESOURCES:
            resources["used"][r].append(_r(hw.get(r, m.get(r))))
            resources["capacity"][r].append(cap[r] if cap else None)

    # capacity of every device a shown trial was priced on (filters and comparisons use it)
    capacity = {}
    for dev in sorted({strings[i] for i in trials["device"]} | {study_device}):
        if dev and (cap := _capacity(dev)) is not None:
            capacity[dev] = cap

    complete = [t for t in all_trials if t.state == TrialState.COMPLETE and TrialRecord.get(t, "duplicate_of") is None]
    feasible_complete = [t for t in complete if feasible(t)]
    records = [trial_record(t, objectives) for t in front]

    unusable = [(rec.status or ("failed" if t.state == TrialState.FAIL else "infeasible"), rec.reason or "")
                for t, rec in zip(shown, recs) if t.state != TrialState.COMPLETE or not feasible(t)]

    cfg = sr.config or {}
    devices = sorted({s for s in (strings[i] for i in trials["device"]) if s})
    meta = {
        "study": study.study_name,
        "workload": sr.workload or "",
        "hwmodel": sr.hwmodel or "",
        "device": study_device if len(devices) <= 1 else ", ".join(devices),
        "objectives": [{"name": o, "direction": d} for o, d in zip(objectives, directions)],
        "fit_device": cfg.get("fit_device", True),
        "caps": list(sr.caps or []),
        "sampler": sr.sampler or "",
        "seed": sr.seed,
        "fidelity": cfg.get("fidelity", ""),
        "target_trials": sr.target_trials or cfg.get("trials"),
        "created_unix": sr.created_unix,
        "dse_version": sr.dse_version or "",
        "config_source": sr.config_source or "",
        "baseline_notes": list(sr.baseline_notes or []),
        "fixed_knobs": fixed_knobs,
        "n_layers": len(layer_names),
        "storage": public_url(storage_url),
        "trainable": cfg.get("fidelity", "none") not in ("", "none"),
        "generated_unix": time.time(),
    }
    from .. import __version__

    meta["report_version"] = __version__
    return {
        "meta": meta,
        "counts": {**counts, "total": len(all_trials), "pareto": len(front),
                   "infeasible_complete": sum(1 for t in complete if not feasible(t))},
        "time": _time_spent(all_trials),
        "objectives": specs,
        "metrics": report_table(),
        "strings": strings,
        "trials": trials,
        "pareto": pareto_numbers,
        "layer_fields": list(LAYER_FIELDS),
        "details": details,
        "plans": plans,
        "knee": knee_info(front, directions, _r),
        "capacity": capacity,
        "heatmap": heat,
        "resources": resources,
        "hypervolume": _hypervolume(feasible_complete, directions, len(front)),
        "importance": _importance(complete, objectives, directions),
        "csv": _csv_text(records),
        "infeasible": {"total": len(unusable), "groups": group_reasons(unusable)},
        "config": {"raw": sr.raw_config, "resolved": cfg},
        "validation": validation_data(study, pareto_numbers),
    }
