"""RTL validation results (``dse validate``) for the report: which Pareto points were
simulated and synthesized, and how close the model came.

``dse validate`` stores its results in the study user attribute ``rtl_validation``
(``{trial number: result}``; Optuna forbids user attributes on finished trials). This
module turns them into the plain rows the page shows; it reads the storage only."""

from __future__ import annotations

from typing import Any, Optional

import optuna

from ..record import StudyRecord
from ..validation import RESOURCES, VALIDATION_ATTR


def validation_data(study: optuna.Study, pareto: Optional[list[int]] = None) -> dict[str, Any]:
    """``{"points": [trial numbers validated], "rows": [...], "resources": [...]}``.

    One row per validated trial: ``trial``, ``array``, ``status``, ``reason``,
    ``layers`` (simulated), ``skipped`` (over the simulation bound), ``cycles_match``,
    ``outputs_match``, and per resource ``model``/``synth``/``error`` (``None`` where not
    synthesized). ``pareto``: the current front; rows of trials no longer on it keep
    ``on_front = False``."""
    raw = StudyRecord.get(study, VALIDATION_ATTR) or {}
    front = set(pareto) if pareto is not None else None
    rows = []
    for key in sorted(raw, key=lambda k: int(k) if str(k).isdigit() else -1):
        r = raw[key] or {}
        try:
            number = int(key)
        except (TypeError, ValueError):
            continue
        row: dict[str, Any] = {"trial": number, "status": r.get("status", ""), "array": r.get("array", ""),
                               "reason": r.get("reason", ""), "on_front": front is None or number in front}
        v = r.get("verify") or {}
        tot = v.get("total") or {}
        row.update(layers=tot.get("layers", 0), skipped=len(v.get("skipped") or []),
                   cycles_match=tot.get("cycles_match"), outputs_match=tot.get("outputs_match"),
                   simulator=v.get("simulator", ""))
        s = r.get("synth") or {}
        row["synth_note"] = s.get("skipped", "")
        row["tool"] = s.get("tool", "")
        for res in RESOURCES:
            row[res] = {"model": (s.get("model") or {}).get(res), "synth": (s.get("synth") or {}).get(res),
                        "error": (s.get("error") or {}).get(res)}
        rows.append(row)
    return {"points": [r["trial"] for r in rows if r["status"] == "validated"], "rows": rows,
            "resources": list(RESOURCES)}
