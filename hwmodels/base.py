"""The hardware-model contract and the objects that cross it.

A :class:`HardwareModel` prices a :class:`DesignPoint` (one :class:`QuantScheme` per
layer plus hardware knob values) on a :class:`~hwmodels.workload.Workload` and returns
a :class:`HwReport`. Models are pure: no torch, no optuna, no global state; the same
inputs always give the same report, and ``evaluate`` may be called from several threads
at once.
"""

from __future__ import annotations

import json
import math
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Iterable, Mapping

from .formats import QuantScheme
from .workload import Workload, layer_sum

KNOB_KINDS = ("int", "float", "categorical")


class Unsupported(Exception):
    """Raised by a model for a design point it cannot price; ``reason`` says why."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Knob:
    """One hardware parameter a model exposes (and a search space may search).

    ``kind`` is ``int`` or ``float`` (range ``low..high``, optional ``log`` and ``step``)
    or ``categorical`` (``choices``). ``default`` is used when a point leaves it unset.
    ``search`` says whether the default hardware space searches it.
    """

    name: str
    kind: str
    default: Any
    low: float | None = None
    high: float | None = None
    choices: tuple = ()
    log: bool = False
    step: float | None = None
    unit: str = ""
    doc: str = ""
    search: bool = True

    def __post_init__(self) -> None:
        if self.kind not in KNOB_KINDS:
            raise ValueError(f"kind: knob {self.name!r} kind must be one of {', '.join(KNOB_KINDS)}")
        if self.kind == "categorical":
            if not self.choices:
                raise ValueError(f"choices: categorical knob {self.name!r} needs choices")
            object.__setattr__(self, "choices", tuple(self.choices))
        elif self.low is None or self.high is None or self.low > self.high:
            raise ValueError(f"low/high: numeric knob {self.name!r} needs low <= high")
        self.validate(self.default)

    def describe(self) -> str:
        if self.kind == "categorical":
            return "one of " + ", ".join(str(c) for c in self.choices)
        return f"{self.kind} in [{self.low}, {self.high}]" + (" (log)" if self.log else "")

    def validate(self, value: Any) -> Any:
        """Return ``value`` coerced to the knob's type (strings accepted, as from a CLI);
        raise ``ValueError`` naming the knob and the allowed values otherwise."""
        bad = ValueError(f"{self.name}: got {value!r}; allowed: {self.describe()}")
        if self.kind == "categorical":
            for c in self.choices:
                if value == c or (isinstance(value, str) and value == str(c)):
                    return c
            raise bad
        try:
            if isinstance(value, bool):
                raise bad
            if self.kind == "int":
                if isinstance(value, float) and not value.is_integer():
                    raise bad
                v: float = int(float(value)) if isinstance(value, str) else int(value)
                if isinstance(value, str) and float(value) != v:
                    raise bad
            else:
                v = float(value)
        except (TypeError, ValueError):
            raise bad from None
        if not (self.low <= v <= self.high) or (isinstance(v, float) and math.isnan(v)):
            raise bad
        return v


@dataclass(frozen=True)
class DesignPoint:
    """One candidate: a scheme per layer plus hardware knob values. Hashable.

    Layers absent from ``schemes`` are priced with ``default_scheme`` (8-bit fixed).
    """

    schemes: tuple[tuple[str, QuantScheme], ...] = ()
    knobs: tuple[tuple[str, Any], ...] = ()
    default_scheme: QuantScheme = field(default_factory=QuantScheme)

    def __post_init__(self) -> None:
        s = self.schemes.items() if isinstance(self.schemes, Mapping) else self.schemes
        k = self.knobs.items() if isinstance(self.knobs, Mapping) else self.knobs
        object.__setattr__(self, "schemes", tuple(sorted(((str(n), q) for n, q in s), key=lambda p: p[0])))
        object.__setattr__(self, "knobs", tuple(sorted(((str(n), v) for n, v in k), key=lambda p: p[0])))

    @classmethod
    def make(cls, schemes: Mapping[str, QuantScheme] | None = None, knobs: Mapping[str, Any] | None = None,
             default_scheme: QuantScheme | None = None) -> "DesignPoint":
        return cls(tuple((schemes or {}).items()), tuple((knobs or {}).items()), default_scheme or QuantScheme())

    @property
    def scheme_map(self) -> dict[str, QuantScheme]:
        return dict(self.schemes)

    @property
    def knob_map(self) -> dict[str, Any]:
        return dict(self.knobs)

    def scheme_for(self, layer: str) -> QuantScheme:
        for name, scheme in self.schemes:
            if name == layer:
                return scheme
        return self.default_scheme

    def knob(self, name: str, default: Any = None) -> Any:
        for n, v in self.knobs:
            if n == name:
                return v
        return default

    def with_knobs(self, **knobs: Any) -> "DesignPoint":
        merged = {**self.knob_map, **knobs}
        return DesignPoint(self.schemes, tuple(merged.items()), self.default_scheme)

    # --- JSON at the edges: the plan format ---------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The plan format: ``{"layers": {name: scheme fields}, "hardware": {knob: value}}``."""
        return {"layers": {n: q.to_dict() for n, q in self.schemes},
                "hardware": {n: v for n, v in self.knobs}}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "DesignPoint":
        if not isinstance(data, Mapping):
            raise ValueError("plan: expected a JSON object with 'layers' (and optionally 'hardware')")
        extra = set(data) - {"layers", "hardware", "metrics", "trial", "study"}
        if extra:
            raise ValueError(f"plan: unknown top-level key(s) {', '.join(sorted(extra))}; allowed: layers, hardware")
        layers = data.get("layers", {})
        if not isinstance(layers, Mapping):
            raise ValueError("plan.layers: expected an object mapping layer name -> scheme fields")
        schemes = {}
        for name, fields_ in layers.items():
            try:
                schemes[name] = QuantScheme.from_dict(fields_)
            except ValueError as e:
                raise ValueError(f"plan.layers.{name}.{e}") from None
        hw = data.get("hardware", {})
        if not isinstance(hw, Mapping):
            raise ValueError("plan.hardware: expected an object mapping knob name -> value")
        return cls.make(schemes, dict(hw))


@dataclass(frozen=True)
class Resources:
    """FPGA resource counts (or capacities)."""

    lut: float = 0.0
    ff: float = 0.0
    dsp: float = 0.0
    bram18: float = 0.0
    uram: float = 0.0

    def __add__(self, other: "Resources") -> "Resources":
        return Resources(self.lut + other.lut, self.ff + other.ff, self.dsp + other.dsp,
                         self.bram18 + other.bram18, self.uram + other.uram)

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def astuple_(r: Resources) -> tuple[float, ...]:
    return (r.lut, r.ff, r.dsp, r.bram18, r.uram)


@dataclass(frozen=True)
class LayerCost:
    """Cost of one layer. ``cycles`` at the model's clock; ``latency_s`` includes any
    memory-bound time; ``energy_j`` compute plus memory traffic."""

    name: str
    cycles: float
    latency_s: float
    energy_j: float
    macs: int
    compute_cycles: float = 0.0
    memory_cycles: float = 0.0
    mac_bits: float = 0.0
    term_pairs: float = 0.0
    utilization: float = 0.0
    lut_share: float = 0.0
    dsp_share: float = 0.0
    bytes_offchip: float = 0.0

    @classmethod
    def of(cls, *values: Any) -> "LayerCost":
        """``LayerCost(*values)`` with every field given, in field order, built without
        the frozen dataclass's per-field ``object.__setattr__`` (pricing builds one per
        layer of every new point; this is ~2x faster). The object is the same."""
        obj = object.__new__(cls)
        obj.__dict__.update(zip(_LAYER_COST_FIELDS, values, strict=True))
        return obj


_LAYER_COST_FIELDS = tuple(f.name for f in fields(LayerCost))


@dataclass(frozen=True)
class HwReport:
    """What a model says about one design point on one workload.

    ``resources`` are those the accelerator instantiates (shared across layers, which run
    one after another); ``capacity`` is the target device's. ``violations`` names every
    resource over capacity and by how much; empty means the point fits.
    ``peak_macs_per_cycle`` is the most MACs the hardware can finish in one cycle (0 when
    the model does not say); no layer can take fewer than ``macs / peak`` cycles.
    """

    model: str
    device: str
    clock_hz: float
    layers: tuple[LayerCost, ...]
    resources: Resources
    capacity: Resources
    violations: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    peak_macs_per_cycle: float = 0.0

    cycles = layer_sum("cycles", float)
    latency_s = layer_sum("latency_s", float)
    energy_j = layer_sum("energy_j", float)

    @property
    def fits(self) -> bool:
        return not self.violations

    mac_bits = layer_sum("mac_bits", float)
    term_pairs = layer_sum("term_pairs", float)

    def summary(self) -> dict[str, Any]:
        """Flat, JSON-ready totals (the metrics a study stores)."""
        r = self.resources
        return {
            "cycles": self.cycles, "latency_s": self.latency_s, "energy_j": self.energy_j,
            "lut": r.lut, "ff": r.ff, "dsp": r.dsp, "bram18": r.bram18, "uram": r.uram,
            "mac_bits": self.mac_bits, "term_pairs": self.term_pairs,
            "fits": self.fits, "device": self.device, "model": self.model, "clock_hz": self.clock_hz,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model, "device": self.device, "clock_hz": self.clock_hz,
            "layers": [asdict(l) for l in self.layers],
            "total": self.summary(),
            "capacity": self.capacity.as_dict(),
            "violations": list(self.violations),
            "notes": list(self.notes),
            "peak_macs_per_cycle": self.peak_macs_per_cycle,
        }


def check_fit(resources: Resources, capacity: Resources) -> tuple[str, ...]:
    """Every resource over capacity, e.g. ``'dsp: 1024 > 900 (+124, 113.8%)'``."""
    out = []
    for name in ("lut", "ff", "dsp", "bram18", "uram"):
        used, cap = getattr(resources, name), getattr(capacity, name)
        if used > cap:
            pct = 100.0 * used / cap if cap else math.inf
            out.append(f"{name}: {used:.0f} > {cap:.0f} (+{used - cap:.0f}, {pct:.1f}%)")
    return tuple(out)


class HardwareModel(ABC):
    """Contract for an analytic hardware model.

    - ``name``: registry name (entry point ``dse.hwmodels``).
    - ``knobs()``: the hardware parameters, each a :class:`Knob`; a point's unknown knob
      names are an error (``ValueError``), missing ones take the default.
    - ``evaluate(workload, point)``: a :class:`HwReport` with latency in seconds, energy in
      joules, resources in device units. Raises :class:`Unsupported` with a reason for a
      point the model cannot price (e.g. a scheme kind it has no unit for). A point that
      does not fit the device is *not* an error: it is reported in ``violations``.
    - Pure and thread-safe; must not import torch or optuna.
    """

    name: str = ""
    description: str = ""

    @abstractmethod
    def knobs(self) -> tuple[Knob, ...]:
        ...

    @abstractmethod
    def evaluate(self, workload: Workload, point: DesignPoint) -> HwReport:
        ...

    def resolve_knobs(self, point: DesignPoint) -> dict[str, Any]:
        """Knob values for ``point``: validated, defaults filled in."""
        ks = self.knobs()
        state = getattr(self, "__dict__", {})
        cached = state.get("_knob_table")  # tables of the last knobs() tuple (immutable: reusable)
        if cached is None or cached[0] is not ks:
            cached = (ks, {k.name: k for k in ks}, {k.name: k.default for k in ks})
            if type(ks) is tuple:
                state["_knob_table"] = cached
        knobs, out = cached[1], dict(cached[2])
        for name, value in point.knobs:
            if name not in knobs:
                raise ValueError(f"{name}: unknown knob for hardware model '{self.name}'; "
                                 f"knobs: {', '.join(sorted(knobs))}")
            out[name] = knobs[name].validate(value)
        return out


def schemes_for(workload: Workload, point: DesignPoint) -> Iterable[tuple[Any, QuantScheme]]:
    """(layer, scheme) for every layer of the workload; unknown plan names are an error."""
    names = set(workload.layer_names)
    for n, _ in point.schemes:
        if n not in names:
            raise ValueError(f"plan: layer {n!r} is not in workload {workload.name!r}")
    plan, default = dict(point.schemes), point.default_scheme
    return ((layer, plan.get(layer.name, default)) for layer in workload.layers)
