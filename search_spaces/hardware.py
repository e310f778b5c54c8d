"""Hardware piece: knobs come from the hardware model itself (``model.knobs()``), so a
plug-in model is searchable with no extra code."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import optuna

from hwmodels import HardwareModel, Knob, Workload

from .base import Dimension, Fragment, SpacePiece


def suggest_knob(trial: optuna.trial.BaseTrial, knob: Knob, override: Any = None) -> Any:
    """Suggest one knob as ``hw.<name>``; ``override`` narrows it: a list of choices, or a
    ``[low, high]`` pair for a numeric knob."""
    name = f"hw.{knob.name}"
    if override is not None and not isinstance(override, (list, tuple)):
        return knob.validate(override)
    if knob.kind == "categorical" or (override is not None and len(override) != 2):
        choices = list(override) if override is not None else list(knob.choices)
        return trial.suggest_categorical(name, choices)
    low, high = (override if override is not None else (knob.low, knob.high))
    if knob.kind == "int":
        step = int(knob.step or 1)
        if knob.log:
            return trial.suggest_int(name, int(low), int(high), log=True)
        return trial.suggest_int(name, int(low), int(high), step=step)
    return trial.suggest_float(name, float(low), float(high), log=knob.log)


@dataclass
class HardwarePiece(SpacePiece):
    """Searches the model's knobs.

    ``fixed``: knob -> value, not searched. ``ranges``: knob -> list of choices or
    ``[low, high]``. ``search``: names to search (default: every knob with ``search=True``
    that is not fixed).
    """

    model: HardwareModel
    fixed: Mapping[str, Any] = field(default_factory=dict)
    ranges: Mapping[str, Any] = field(default_factory=dict)
    search: Sequence[str] | None = None

    def searched_knobs(self) -> list[Knob]:
        knobs = self.model.knobs()
        if self.search is not None:
            wanted = set(self.search)
            return [k for k in knobs if k.name in wanted and k.name not in self.fixed]
        return [k for k in knobs if k.search and k.name not in self.fixed]

    def contribute(self, trial: optuna.trial.BaseTrial, workload: Workload, frag: Fragment) -> None:
        knobs = {k.name: k for k in self.model.knobs()}
        for name, value in self.fixed.items():
            frag.knobs[name] = knobs[name].validate(value)
        for knob in self.searched_knobs():
            frag.knobs[knob.name] = suggest_knob(trial, knob, self.ranges.get(knob.name))

    def dimensions(self, workload: Workload, kinds: Sequence[str]) -> list[Dimension]:
        out = []
        for knob in self.searched_knobs():
            r = self.ranges.get(knob.name)
            name = f"hw.{knob.name}"
            if r is not None and not isinstance(r, (list, tuple)):
                continue
            if knob.kind == "categorical" or (r is not None and len(r) != 2):
                out.append(Dimension(name, tuple(r if r is not None else knob.choices)))
            else:
                low, high = r if r is not None else (knob.low, knob.high)
                out.append(Dimension(name, low=low, high=high, integer=knob.kind == "int", log=knob.log,
                                     step=None if knob.log else knob.step))
        return out

    def fixed_values(self, workload: Workload, kinds: Sequence[str]) -> dict[str, Any]:
        """Fixed knobs and those left at the model's default (not searched)."""
        searched = {k.name for k in self.searched_knobs()}
        out = {f"hw.{k.name}": k.default for k in self.model.knobs() if k.name not in searched}
        out.update({f"hw.{n}": v for n, v in self.fixed.items()})
        return out

    def baseline_params(self, workload: Workload, w_bits: int, a_bits: int) -> dict[str, Any] | None:
        """The model's default hardware, clamped into narrowed ranges (a categorical default
        outside its choices is left to the sampler)."""
        out: dict[str, Any] = {}
        for knob in self.searched_knobs():
            r = self.ranges.get(knob.name)
            if knob.kind == "categorical" or (r is not None and len(r) != 2):
                if knob.default in (r if r is not None else knob.choices):
                    out[f"hw.{knob.name}"] = knob.default
            else:
                low, high = r if r is not None else (knob.low, knob.high)
                value = min(max(knob.default, low), high)
                out[f"hw.{knob.name}"] = int(value) if knob.kind == "int" else float(value)
        return out
