"""How a method's spec declares its settings once: with the config's vocabulary
(:func:`dse.config.schema.setting`: default, constraint, doc), or by pointing at the config
setting that already declares it (:func:`declared_by`). The same declaration gives the
library check (:func:`check_settings`, ``ValueError`` messages starting ``field:``, bounds
included), the CLI option (``dse.commands.options.add_setting``) and the docs."""

from __future__ import annotations

import math
from dataclasses import MISSING, field, fields
from typing import Any, Iterable, Optional

from ..config.schema import Choice, Constraint, Int, Num


def declared_by(section: type, name: str, default: Any = MISSING, *, config: Optional[str] = None) -> Any:
    """A spec field declared by the config setting ``section.name``: its constraint, doc and
    (unless given) default come from there. ``config``: the ``StudyConfig`` path a study fills
    it from (``None``: the spec's default, whatever the study says)."""
    f = {f.name: f for f in fields(section)}[name]
    meta = {"constraint": f.metadata["constraint"], "doc": f.metadata.get("doc", ""),
            "declared": f"{section.__name__}.{name}", "config": config}
    return field(default=f.default if default is MISSING else default, metadata=meta)


def check_value(name: str, value: Any, constraint: Constraint) -> None:
    """``value`` of field ``name`` against its declared constraint, bounds included."""
    if isinstance(constraint, Int):
        high = constraint.high
        if (isinstance(value, bool) or not isinstance(value, int) or value < constraint.low
                or (high is not None and value > high)):
            what = f"in [{constraint.low}, {high}]" if high is not None else f">= {constraint.low}"
            raise ValueError(f"{name}: must be an integer {what}, got {value!r}")
    elif isinstance(constraint, Num):
        low, high = constraint.low, constraint.high
        ok = (not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
              and (low is None or value > low or (value == low and not constraint.strict_low))
              and (high is None or value <= high))
        if not ok:
            if high is None and low is not None:
                raise ValueError(f"{name}: must be a finite number {'>' if constraint.strict_low else '>='} "
                                 f"{low:g}, got {value!r}")
            lo = "(-inf" if low is None else f"{'(' if constraint.strict_low else '['}{low:g}"
            hi = "inf)" if high is None else f"{high:g}]"
            raise ValueError(f"{name}: must be in {lo}, {hi}, got {value!r}")
    elif isinstance(constraint, Choice):
        if value not in constraint.allowed:
            raise ValueError(f"{name}: must be one of {', '.join(constraint.allowed)}; got {value!r}")
    else:
        constraint.check(value, name)


def check_settings(obj: Any, names: Iterable[str]) -> None:
    """Check ``obj``'s fields ``names`` (in that order) against their declared constraints;
    ``None`` passes where the field's default is ``None``."""
    declared = {f.name: f for f in fields(obj)}
    for name in names:
        f = declared[name]
        value = getattr(obj, name)
        if value is None and f.default is None:
            continue
        check_value(name, value, f.metadata["constraint"])
