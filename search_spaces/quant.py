"""Quantization pieces: scheme kind and bits, term budgets, SP2 fractions.

Each piece works per layer (``<layer>.<field>``) or, with ``shared=True``, once for the
whole network (``all.<field>``). A first/last-layer policy can pin the first and last
compute layers to a fixed scheme (common practice: they are small and sensitive).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import optuna

from hwmodels import Workload
from hwmodels.formats import max_terms

from .base import Dimension, Fragment, SpacePiece

FIRST_LAST_POLICIES = ("search", "fixed8", "same")


def _targets(workload: Workload, shared: bool, pinned: frozenset[str]) -> list[tuple[str, list[str]]]:
    """(parameter prefix, layers it sets) pairs."""
    free = [n for n in workload.layer_names if n not in pinned]
    if shared:
        return [("all", free)] if free else []
    return [(n, [n]) for n in free]


def _uses(frag: Fragment, layers: list[str], kind: str) -> bool:
    """Whether any of ``layers`` has ``kind`` (a layer whose kind no piece set yet counts:
    a piece used without :class:`KindBitsPiece` keeps suggesting its parameters)."""
    return any(frag.layer_fields.get(n, {}).get("kind", kind) == kind for n in layers)


def _condition(prefix: str, kinds: Sequence[str], kind: str) -> tuple[bool, tuple[str, str] | None]:
    """(whether parameters of ``kind`` can be suggested at all, the condition they carry)."""
    if kinds and kind not in kinds:
        return False, None
    return True, ((f"{prefix}.kind", kind) if len(kinds) > 1 else None)


def _dims(prefix: str, fields: Sequence[tuple[str, Sequence[Any]]], when: tuple[str, str] | None) -> list[Dimension]:
    return [Dimension(f"{prefix}.{name}", tuple(values), when=when) for name, values in fields if len(values) > 1]


def _fixed(prefix: str, fields: Sequence[tuple[str, Sequence[Any]]]) -> dict[str, Any]:
    return {f"{prefix}.{name}": values[0] for name, values in fields if len(values) == 1}


def pinned_layers(workload: Workload, policy: str) -> frozenset[str]:
    if policy == "fixed8" and workload.layers:
        return frozenset({workload.layers[0].name, workload.layers[-1].name})
    return frozenset()


@dataclass
class KindBitsPiece(SpacePiece):
    """Scheme kind, weight bits and activation bits, per layer (or shared)."""

    kinds: Sequence[str] = ("fixed", "pow2", "sp2", "term", "msq")
    w_bits: Sequence[int] = (2, 3, 4, 5, 6, 8)
    a_bits: Sequence[int] = (4, 6, 8)
    granularity: str = "per_row"
    shared: bool = False
    first_last: str = "fixed8"

    def contribute(self, trial: optuna.trial.BaseTrial, workload: Workload, frag: Fragment) -> None:
        pinned = pinned_layers(workload, self.first_last)
        for name in pinned:
            frag.set(name, kind="fixed", w_bits=8, a_bits=8, granularity=self.granularity)
        for prefix, layers in _targets(workload, self.shared, pinned):
            kind = trial.suggest_categorical(f"{prefix}.kind", list(self.kinds)) if len(self.kinds) > 1 else self.kinds[0]
            wb = trial.suggest_categorical(f"{prefix}.w_bits", list(self.w_bits)) if len(self.w_bits) > 1 else self.w_bits[0]
            ab = trial.suggest_categorical(f"{prefix}.a_bits", list(self.a_bits)) if len(self.a_bits) > 1 else self.a_bits[0]
            for layer in layers:
                frag.set(layer, kind=kind, w_bits=int(wb), a_bits=int(ab), granularity=self.granularity)

    def _fields(self) -> list[tuple[str, Sequence[Any]]]:
        return [("kind", self.kinds), ("w_bits", self.w_bits), ("a_bits", self.a_bits)]

    def dimensions(self, workload: Workload, kinds: Sequence[str]) -> list[Dimension]:
        pinned = pinned_layers(workload, self.first_last)
        return [d for prefix, _ in _targets(workload, self.shared, pinned) for d in _dims(prefix, self._fields(), None)]

    def fixed_values(self, workload: Workload, kinds: Sequence[str]) -> dict[str, Any]:
        pinned = pinned_layers(workload, self.first_last)
        out = {f"{n}.scheme": "fixed W8A8" for n in sorted(pinned)}
        for prefix, _ in _targets(workload, self.shared, pinned):
            out.update(_fixed(prefix, self._fields()))
        return out

    def baseline_params(self, workload: Workload, w_bits: int, a_bits: int) -> dict[str, Any] | None:
        if "fixed" not in self.kinds or w_bits not in self.w_bits or a_bits not in self.a_bits:
            return None
        out: dict[str, Any] = {}
        for prefix, _ in _targets(workload, self.shared, pinned_layers(workload, self.first_last)):
            if len(self.kinds) > 1:
                out[f"{prefix}.kind"] = "fixed"
            if len(self.w_bits) > 1:
                out[f"{prefix}.w_bits"] = w_bits
            if len(self.a_bits) > 1:
                out[f"{prefix}.a_bits"] = a_bits
        return out


@dataclass
class TermBudgetPiece(SpacePiece):
    """Term budget and group size, suggested only for layers whose kind is ``term``.

    The budget is searched as *terms per value* r, so one parameter means the same thing
    at every group size: budget = round(r * group_size), at least 1. An activation term
    budget is searched when ``a_term_budgets`` is non-empty.
    """

    terms_per_value: Sequence[float] = (1.0, 1.5, 2.0, 2.5, 3.0, 4.0)
    group_sizes: Sequence[int] = (1, 4, 8, 16)
    encodings: Sequence[str] = ("binary",)
    a_term_budgets: Sequence[int] = ()
    shared: bool = False
    first_last: str = "fixed8"

    def contribute(self, trial: optuna.trial.BaseTrial, workload: Workload, frag: Fragment) -> None:
        pinned = pinned_layers(workload, self.first_last)
        for prefix, layers in _targets(workload, self.shared, pinned):
            if not _uses(frag, layers, "term"):
                continue
            r = trial.suggest_categorical(f"{prefix}.terms_per_value", list(self.terms_per_value)) \
                if len(self.terms_per_value) > 1 else self.terms_per_value[0]
            g = trial.suggest_categorical(f"{prefix}.group_size", list(self.group_sizes)) \
                if len(self.group_sizes) > 1 else self.group_sizes[0]
            enc = trial.suggest_categorical(f"{prefix}.term_encoding", list(self.encodings)) \
                if len(self.encodings) > 1 else self.encodings[0]
            at = None
            if self.a_term_budgets:
                at = trial.suggest_categorical(f"{prefix}.a_term_budget", list(self.a_term_budgets)) \
                    if len(self.a_term_budgets) > 1 else self.a_term_budgets[0]
            for layer in layers:
                wb = frag.layer_fields.get(layer, {}).get("w_bits", 8)
                cap = max_terms(wb, enc) * int(g)
                budget = max(1, min(cap, int(round(float(r) * int(g)))))
                ab = frag.layer_fields.get(layer, {}).get("a_bits", 8)
                frag.set(layer, term_budget=budget, group_size=int(g), term_encoding=enc,
                         a_term_budget=None if at is None else min(int(at), ab))

    def _fields(self) -> list[tuple[str, Sequence[Any]]]:
        return [("terms_per_value", self.terms_per_value), ("group_size", self.group_sizes),
                ("term_encoding", self.encodings), ("a_term_budget", self.a_term_budgets)]

    def dimensions(self, workload: Workload, kinds: Sequence[str]) -> list[Dimension]:
        out: list[Dimension] = []
        for prefix, _ in _targets(workload, self.shared, pinned_layers(workload, self.first_last)):
            active, when = _condition(prefix, kinds, "term")
            if active:
                out += _dims(prefix, self._fields(), when)
        return out

    def fixed_values(self, workload: Workload, kinds: Sequence[str]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for prefix, _ in _targets(workload, self.shared, pinned_layers(workload, self.first_last)):
            if _condition(prefix, kinds, "term")[0]:
                out.update(_fixed(prefix, self._fields()))
        return out


@dataclass
class Sp2FractionPiece(SpacePiece):
    """Fraction of rows in SP2, suggested only for layers whose kind is ``msq``."""

    fractions: Sequence[float] = (0.0, 0.25, 0.5, 0.75, 1.0)
    shared: bool = False
    first_last: str = "fixed8"

    def contribute(self, trial: optuna.trial.BaseTrial, workload: Workload, frag: Fragment) -> None:
        pinned = pinned_layers(workload, self.first_last)
        for prefix, layers in _targets(workload, self.shared, pinned):
            if not _uses(frag, layers, "msq"):
                continue
            f = trial.suggest_categorical(f"{prefix}.sp2_fraction", list(self.fractions)) \
                if len(self.fractions) > 1 else self.fractions[0]
            for layer in layers:
                frag.set(layer, sp2_fraction=float(f))

    def dimensions(self, workload: Workload, kinds: Sequence[str]) -> list[Dimension]:
        out: list[Dimension] = []
        for prefix, _ in _targets(workload, self.shared, pinned_layers(workload, self.first_last)):
            active, when = _condition(prefix, kinds, "msq")
            if active:
                out += _dims(prefix, [("sp2_fraction", self.fractions)], when)
        return out

    def fixed_values(self, workload: Workload, kinds: Sequence[str]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for prefix, _ in _targets(workload, self.shared, pinned_layers(workload, self.first_last)):
            if _condition(prefix, kinds, "msq")[0]:
                out.update(_fixed(prefix, [("sp2_fraction", self.fractions)]))
        return out


def default_quant_pieces(kinds: Sequence[str], **kw: Any) -> list[SpacePiece]:
    """The pieces a set of kinds needs (term budget only with ``term``, SP2 fraction only
    with ``msq``)."""
    common = {k: kw[k] for k in ("shared", "first_last") if k in kw}
    pieces: list[SpacePiece] = [KindBitsPiece(kinds=tuple(kinds), **{k: kw[k] for k in
                                 ("w_bits", "a_bits", "granularity", "shared", "first_last") if k in kw})]
    if "term" in kinds:
        pieces.append(TermBudgetPiece(**common, **{k: kw[k] for k in
                      ("terms_per_value", "group_sizes", "encodings", "a_term_budgets") if k in kw}))
    if "msq" in kinds:
        pieces.append(Sp2FractionPiece(**common, **({"fractions": kw["sp2_fractions"]} if "sp2_fractions" in kw else {})))
    return pieces


