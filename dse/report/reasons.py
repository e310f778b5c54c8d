"""Why trials were not usable: group the stored ``reason`` texts into a few readable causes.

Reasons come from ``dse.evaluate`` (``unsupported: ...``, ``does not fit DEV: res: ...;
res: ...``, ``METRIC = v violates CAP``, ``hopeless: ...``) and from errors (``Type: msg``).
Clauses are grouped by what they say, not by their numbers: ``does not fit XC7Z020`` with
one part per resource over capacity, ``latency_s cap (latency_s <= 0.05)``, the
``unsupported`` text with numbers replaced by ``N``. A trial that fails several checks
counts once in each group it belongs to.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable

_NUMBER = re.compile(r"(?<![\w.])[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?%?(?![\w])")
_FIT = re.compile(r"does not fit (?P<device>[^:]+): (?P<resource>\w+):")
_RESOURCE = re.compile(r"(?P<resource>\w+): [-+\d.eE]+(?: [A-Za-z]+)? > ")  # "dsp: 256 > 220", "clock_hz: 545 MHz > 464 MHz"
_CAP = re.compile(r"(?P<metric>\w+) = \S+ violates (?P<caps>.+)")
_MAX_LABEL = 160


def normalize_numbers(text: str) -> str:
    """``'rows 64 > 32 (+100.0%)'`` -> ``'rows N > N (+N)'``; part names such as XC7Z020 stay."""
    return _NUMBER.sub("N", text)


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_LABEL else text[: _MAX_LABEL - 3] + "..."


def classify(reason: str, status: str) -> list[tuple[str, str | None]]:
    """(group, part) pairs for one trial's reason; ``part`` names the resource of a fit failure."""
    reason = (reason or "").strip()
    if status == "failed":
        return [("failed: " + _short(normalize_numbers(reason.splitlines()[0] if reason else "no reason recorded")), None)]
    if status == "screened out":
        text = reason if reason.startswith("screened out") else "screened out: " + (reason or "no reason recorded")
        return [(_short(normalize_numbers(text)), None)]
    if status == "abandoned":
        return [("abandoned: " + _short(normalize_numbers(reason or "no reason recorded")), None)]
    if not reason:
        return [("no reason recorded", None)]
    if reason.startswith("unsupported:"):
        return [(_short(normalize_numbers(reason)), None)]
    out: list[tuple[str, str | None]] = []
    fit_group = None
    for clause in reason.split("; "):
        m = _FIT.match(clause)
        if m:
            fit_group = f"does not fit {m['device']}"
            out.append((fit_group, m["resource"]))
            continue
        m = _RESOURCE.match(clause)
        if m and fit_group:
            out.append((fit_group, m["resource"]))
            continue
        m = _CAP.match(clause)
        if m:
            fit_group = None
            out.append((f"{m['metric']} cap ({m['caps']})", None))
            continue
        fit_group = None
        out.append((_short(normalize_numbers(clause)), None))
    return out


@dataclass
class ReasonGroup:
    label: str
    kind: str  # infeasible | screened out | abandoned | failed
    count: int = 0
    example: str = ""
    parts: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict:
        parts = sorted(self.parts.items(), key=lambda kv: (-kv[1], kv[0]))
        return {"label": self.label, "kind": self.kind, "count": self.count, "example": self.example,
                "parts": [{"label": k, "count": v} for k, v in parts]}


def group_reasons(items: Iterable[tuple[str, str]]) -> list[dict]:
    """Group ``(status, reason)`` pairs; returns groups by descending trial count."""
    groups: dict[str, ReasonGroup] = {}
    for status, reason in items:
        kind = status if status in ("abandoned", "failed", "screened out") else "infeasible"
        seen_parts: dict[str, set[str]] = {}
        for label, part in classify(reason, status):
            g = groups.get(label)
            if g is None:
                g = groups[label] = ReasonGroup(label, kind, example=_short(reason or ""))
            parts = seen_parts.setdefault(label, set())
            if part is not None and part not in parts:
                g.parts[part] = g.parts.get(part, 0) + 1
            parts.add(part or "")
        for label in seen_parts:
            groups[label].count += 1
    return [g.to_dict() for g in sorted(groups.values(), key=lambda g: (-g.count, g.label))]
