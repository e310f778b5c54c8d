"""The search-space contract: an Optuna trial becomes a DesignPoint.

Pieces contribute scheme *fields* per layer and hardware knob values; a
:class:`SearchSpace` composes pieces and builds the frozen ``QuantScheme`` objects at the
end, so each piece stays small (kind and bits; term budget; SP2 fraction; hardware).

Encoding. Every piece suggests the same parameters on every trial, whether or not the
sampled kind uses them (a fixed-point layer still gets a ``terms_per_value``, which it
ignores). The search space is therefore static: Optuna's multivariate TPE, GP and NSGA
samplers model all parameters jointly, instead of falling back to independent sampling
for parameters that only some trials have (Optuna's notes on ``multivariate=True`` and
``group=True``). The price is a few inert dimensions, which these samplers tolerate well.
Parameter names are flat and stable: ``<layer>.<field>`` and ``hw.<knob>``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Sequence

import optuna

from hwmodels import DesignPoint, QuantScheme, Workload


@dataclass
class Fragment:
    """What pieces build up during one suggestion."""

    layer_fields: dict[str, dict[str, Any]] = field(default_factory=dict)
    knobs: dict[str, Any] = field(default_factory=dict)

    def set(self, layer: str, **fields: Any) -> None:
        self.layer_fields.setdefault(layer, {}).update(fields)


class SpacePiece(ABC):
    """One composable part of a search space."""

    @abstractmethod
    def contribute(self, trial: optuna.trial.BaseTrial, workload: Workload, frag: Fragment) -> None:
        """Suggest this piece's parameters on ``trial`` and record them in ``frag``."""

    def baseline_params(self, workload: Workload, w_bits: int, a_bits: int) -> dict[str, Any] | None:
        """Parameter values that make this piece produce a uniform fixed-point point
        (``None`` when the space cannot express it)."""
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
        kind = f.get("kind", "fixed")
        fields_: dict[str, Any] = {"kind": kind}
        for name in ("w_bits", "a_bits", "granularity"):
            if name in f:
                fields_[name] = f[name]
        if kind == "term":
            for name in ("term_budget", "group_size", "term_encoding", "a_term_budget"):
                if f.get(name) is not None:
                    fields_[name] = f[name]
            fields_.setdefault("term_budget", 1)
        if kind == "msq":
            fields_["sp2_fraction"] = f.get("sp2_fraction", 0.5)
            fields_["granularity"] = "per_row"
        if kind == "pow2":
            fields_["w_bits"] = min(fields_.get("w_bits", 4), 6)
        schemes[layer] = QuantScheme(**fields_)
    return DesignPoint.make(schemes, frag.knobs)
