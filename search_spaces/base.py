"""The search-space contract: an Optuna trial becomes a DesignPoint.

Pieces contribute scheme *fields* per layer and hardware knob values; a
:class:`SearchSpace` composes pieces and builds the frozen ``QuantScheme`` objects at the
end, so each piece stays small (kind and bits; term budget; SP2 fraction; hardware).

Encoding. A parameter is suggested only where the sampled choices make it matter: a
layer's term budget, group size, encoding and activation term budget only when its kind
is ``term``; its SP2 fraction only when its kind is ``msq`` (each format declares what
it draws: ``hwmodels.formats.NumberFormat.space_fields``); a hardware knob only when the
config searches it (fixed knobs and ``search=False`` knobs are never sampled). So no
trial carries inert dimensions, and every parameter a trial holds changed its design
point. The space is conditional, hence dynamic: ``dse.study`` runs multivariate TPE with
``group=True`` (Optuna models each group of parameters that co-occur jointly); NSGA-II
and GP recombine the parameters all trials share and sample the others independently.
Parameter names are flat and stable: ``<layer>.<field>`` and ``hw.<knob>``, the same
names older (static) studies used, so their trials still load, resume and convert to the
same design points (the extra inert values they hold are ignored).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Sequence

import optuna

from hwmodels import DesignPoint, QuantScheme, Workload
from hwmodels.formats import BASELINE_KIND, MAX_BITS, get_format


@dataclass
class Fragment:
    """What pieces build up during one suggestion."""

    layer_fields: dict[str, dict[str, Any]] = field(default_factory=dict)
    knobs: dict[str, Any] = field(default_factory=dict)

    def set(self, layer: str, **fields: Any) -> None:
        self.layer_fields.setdefault(layer, {}).update(fields)


@dataclass(frozen=True)
class Dimension:
    """One parameter a space may suggest: categorical ``choices``, or a numeric range
    ``low..high`` (``integer``: whole numbers, ``step`` apart). ``when`` = (parameter,
    value): suggested only on trials where that parameter took that value (``None``:
    always)."""

    name: str
    choices: tuple = ()
    low: float | None = None
    high: float | None = None
    integer: bool = False
    log: bool = False
    step: float | None = None
    when: tuple[str, Any] | None = None

    @property
    def count(self) -> float:
        """How many values it can take (``inf`` for a float range)."""
        if self.choices:
            return float(len(self.choices))
        if self.integer:
            return float((int(self.high) - int(self.low)) // int(self.step or 1) + 1)
        return 0.0 if self.low is None else (1.0 if self.low == self.high else math.inf)

    def draw(self, rng: Any) -> Any:
        """One value at random (``rng``: a ``numpy.random.Generator``): uniform over the
        choices or the range, log-uniform for a ``log`` range."""
        if self.choices:
            return self.choices[int(rng.integers(len(self.choices)))]
        low, high = float(self.low), float(self.high)
        if self.integer:
            if self.log:
                return int(min(max(round(math.exp(rng.uniform(math.log(low), math.log(high)))), low), high))
            step = int(self.step or 1)
            return int(low) + step * int(rng.integers((int(high) - int(low)) // step + 1))
        return float(math.exp(rng.uniform(math.log(low), math.log(high))) if self.log else rng.uniform(low, high))

    def describe(self) -> str:
        if self.choices:
            text = "{" + ", ".join(str(c) for c in self.choices) + "}"
        else:
            fmt = (lambda v: f"{int(v)}") if self.integer else (lambda v: f"{v:g}")
            text = f"{'int' if self.integer else 'float'} [{fmt(self.low)}, {fmt(self.high)}]" + \
                (" log" if self.log else "")
        return text + (f" when {self.when[0]} = {self.when[1]}" if self.when else "")


class SpacePiece(ABC):
    """One composable part of a search space."""

    #: scheme kinds a quantization piece searches (``None``: it sets no kind)
    kinds: Sequence[str] | None = None

    @abstractmethod
    def contribute(self, trial: optuna.trial.BaseTrial, workload: Workload, frag: Fragment) -> None:
        """Suggest this piece's parameters on ``trial`` and record them in ``frag``."""

    def baseline_params(self, workload: Workload, w_bits: int, a_bits: int) -> dict[str, Any] | None:
        """Parameter values that make this piece produce a uniform fixed-point point
        (``None`` when the space cannot express it)."""
        return {}

    def dimensions(self, workload: Workload, kinds: Sequence[str]) -> list[Dimension]:
        """The parameters this piece may suggest, given the space's scheme ``kinds``."""
        return []

    def fixed_values(self, workload: Workload, kinds: Sequence[str]) -> dict[str, Any]:
        """Values this piece sets without searching them (``<layer>.<field>``, ``hw.<knob>``)."""
        return {}


class SearchSpace:
    """A composition of pieces: ``suggest(trial, workload) -> DesignPoint``."""

    def __init__(self, pieces: Sequence[SpacePiece]):
        self.pieces = tuple(pieces)

    def suggest(self, trial: optuna.trial.BaseTrial, workload: Workload) -> DesignPoint:
        frag = Fragment()
        for piece in self.pieces:
            piece.contribute(trial, workload, frag)
        return build_point(frag)

    @property
    def kinds(self) -> tuple[str, ...]:
        """Scheme kinds the space searches (empty for a hardware-only space)."""
        out: list[str] = []
        for piece in self.pieces:
            out += [k for k in (piece.kinds or ()) if k not in out]
        return tuple(out)

    def dimensions(self, workload: Workload) -> list[Dimension]:
        """Every parameter the space may suggest, with the condition it is suggested under."""
        return [d for piece in self.pieces for d in piece.dimensions(workload, self.kinds)]

    def fixed_values(self, workload: Workload) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for piece in self.pieces:
            out.update(piece.fixed_values(workload, self.kinds))
        return out

    def size(self, workload: Workload) -> float:
        """Number of distinct parameter assignments (``inf`` with a float range). A
        conditional parameter multiplies only the branch it belongs to."""
        dims = self.dimensions(workload)
        branches: dict[str, dict[Any, float]] = {}
        total = 1.0
        for d in dims:
            if d.when is None:
                continue
            cond, value = d.when
            branches.setdefault(cond, {})
            branches[cond][value] = branches[cond].get(value, 1.0) * d.count
        for d in dims:
            if d.when is not None:
                continue
            if d.name in branches:  # a parameter others depend on: sum over its values
                total *= sum(branches[d.name].get(v, 1.0) for v in d.choices)
            else:
                total *= d.count
        return total

    def baseline_params(self, workload: Workload, w_bits: int, a_bits: int) -> dict[str, Any] | None:
        out: dict[str, Any] = {}
        for piece in self.pieces:
            p = piece.baseline_params(workload, w_bits, a_bits)
            if p is None:
                return None
            out.update(p)
        return out


def build_point(frag: Fragment) -> DesignPoint:
    """Fragment -> DesignPoint, keeping only the fields each scheme kind uses."""
    schemes = {}
    for layer, f in frag.layer_fields.items():
        kind = f.get("kind", BASELINE_KIND)
        fmt = get_format(kind)
        fields_: dict[str, Any] = {"kind": kind}
        for name in ("w_bits", "a_bits", "granularity"):
            if name in f:
                fields_[name] = f[name]
        for name in fmt.fields:
            if f.get(name) is not None:
                fields_[name] = f[name]
        for name, value in fmt.point_defaults.items():
            fields_.setdefault(name, value)
        if len(fmt.granularities) == 1:
            fields_["granularity"] = fmt.granularities[0]
        if fmt.max_bits < MAX_BITS:
            fields_["w_bits"] = min(fields_.get("w_bits", fmt.max_bits), fmt.max_bits)
        schemes[layer] = QuantScheme(**fields_)
    return DesignPoint.make(schemes, frag.knobs)
