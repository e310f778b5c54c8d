"""Quantization pieces: scheme kind and bits, then each format's own fields.

Each piece works per layer (``<layer>.<field>``) or, with ``shared=True``, once for the
whole network (``all.<field>``). A first/last-layer policy can pin the first and last
compute layers to a fixed scheme (common practice: they are small and sensitive).

What a kind draws beyond kind and bits (term budgets, SP2 fractions, ...) is declared by
its number format (``hwmodels.formats.NumberFormat.space_fields``); :class:`FormatPiece`
draws it for any registered format, so a new format needs no code here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import optuna

from hwmodels import Workload
from hwmodels.formats import BASELINE_KIND, formats, get_format, kinds as registered_kinds

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

    kinds: Sequence[str] = field(default_factory=registered_kinds)
    w_bits: Sequence[int] = (2, 3, 4, 5, 6, 8)
    a_bits: Sequence[int] = (4, 6, 8)
    granularity: str = "per_row"
    shared: bool = False
    first_last: str = "fixed8"

    def contribute(self, trial: optuna.trial.BaseTrial, workload: Workload, frag: Fragment) -> None:
        pinned = pinned_layers(workload, self.first_last)
        for name in pinned:
            frag.set(name, kind=BASELINE_KIND, w_bits=8, a_bits=8, granularity=self.granularity)
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
        out = {f"{n}.scheme": f"{BASELINE_KIND} W8A8" for n in sorted(pinned)}
        for prefix, _ in _targets(workload, self.shared, pinned):
            out.update(_fixed(prefix, self._fields()))
        return out

    def baseline_params(self, workload: Workload, w_bits: int, a_bits: int) -> dict[str, Any] | None:
        if BASELINE_KIND not in self.kinds or w_bits not in self.w_bits or a_bits not in self.a_bits:
            return None
        out: dict[str, Any] = {}
        for prefix, _ in _targets(workload, self.shared, pinned_layers(workload, self.first_last)):
            if len(self.kinds) > 1:
                out[f"{prefix}.kind"] = BASELINE_KIND
            if len(self.w_bits) > 1:
                out[f"{prefix}.w_bits"] = w_bits
            if len(self.a_bits) > 1:
                out[f"{prefix}.a_bits"] = a_bits
        return out


@dataclass
class FormatPiece(SpacePiece):
    """The fields number format ``kind`` draws (its ``space_fields``), suggested only for
    layers whose kind is ``kind``; ``scheme_fields`` of the format turns the drawn values
    into scheme fields. ``choices`` maps a space field's ``config`` name to its values
    (missing: the field's default; empty: left out)."""

    kind: str
    choices: Mapping[str, Sequence[Any]] = field(default_factory=dict)
    shared: bool = False
    first_last: str = "fixed8"

    def _fields(self) -> list[tuple[str, Sequence[Any]]]:
        return [(sf.param, tuple(self.choices.get(sf.config, sf.default))) for sf in get_format(self.kind).space_fields]

    def contribute(self, trial: optuna.trial.BaseTrial, workload: Workload, frag: Fragment) -> None:
        fmt = get_format(self.kind)
        pinned = pinned_layers(workload, self.first_last)
        for prefix, layers in _targets(workload, self.shared, pinned):
            if not _uses(frag, layers, self.kind):
                continue
            drawn: dict[str, Any] = {}
            for param, values in self._fields():
                if not values:
                    drawn[param] = None
                elif len(values) > 1:
                    drawn[param] = trial.suggest_categorical(f"{prefix}.{param}", list(values))
                else:
                    drawn[param] = values[0]
            for layer in layers:
                frag.set(layer, **fmt.scheme_fields(drawn, frag.layer_fields.get(layer, {})))

    def dimensions(self, workload: Workload, kinds: Sequence[str]) -> list[Dimension]:
        out: list[Dimension] = []
        for prefix, _ in _targets(workload, self.shared, pinned_layers(workload, self.first_last)):
            active, when = _condition(prefix, kinds, self.kind)
            if active:
                out += _dims(prefix, self._fields(), when)
        return out

    def fixed_values(self, workload: Workload, kinds: Sequence[str]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for prefix, _ in _targets(workload, self.shared, pinned_layers(workload, self.first_last)):
            if _condition(prefix, kinds, self.kind)[0]:
                out.update(_fixed(prefix, self._fields()))
        return out


class _FormatPieceFacade(SpacePiece):
    """A named piece with its own constructor arguments that behaves as a :class:`FormatPiece`."""

    def as_format_piece(self) -> FormatPiece:
        raise NotImplementedError

    def contribute(self, trial: optuna.trial.BaseTrial, workload: Workload, frag: Fragment) -> None:
        self.as_format_piece().contribute(trial, workload, frag)

    def dimensions(self, workload: Workload, kinds: Sequence[str]) -> list[Dimension]:
        return self.as_format_piece().dimensions(workload, kinds)

    def fixed_values(self, workload: Workload, kinds: Sequence[str]) -> dict[str, Any]:
        return self.as_format_piece().fixed_values(workload, kinds)


#: the built-in kinds with space fields of their own (their pieces keep their names)
_TERM = next(f.kind for f in formats() if f.term_based)
_MSQ = next(f.kind for f in formats() if f.row_mixed)


@dataclass
class TermBudgetPiece(_FormatPieceFacade):
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

    def as_format_piece(self) -> FormatPiece:
        return FormatPiece(_TERM, {"terms_per_value": self.terms_per_value, "group_sizes": self.group_sizes,
                                   "term_encodings": self.encodings, "a_term_budgets": self.a_term_budgets},
                           self.shared, self.first_last)


@dataclass
class Sp2FractionPiece(_FormatPieceFacade):
    """Fraction of rows in SP2, suggested only for layers whose kind is ``msq``."""

    fractions: Sequence[float] = (0.0, 0.25, 0.5, 0.75, 1.0)
    shared: bool = False
    first_last: str = "fixed8"

    def as_format_piece(self) -> FormatPiece:
        return FormatPiece(_MSQ, {"sp2_fractions": self.fractions}, self.shared, self.first_last)


#: ``default_quant_pieces`` keywords spelled differently from the space config field
_KEYWORD_ALIASES = {"encodings": "term_encodings"}


def default_quant_pieces(kinds: Sequence[str], **kw: Any) -> list[SpacePiece]:
    """The pieces a set of kinds needs: kind and bits, then one :class:`FormatPiece` per
    kind with space fields of its own (term budgets only with ``term``, SP2 fractions only
    with ``msq``), in registry order. Choices are given by space config field name
    (``terms_per_value``, ``group_sizes``, ``term_encodings`` or ``encodings``,
    ``a_term_budgets``, ``sp2_fractions``, ...)."""
    common = {k: kw[k] for k in ("shared", "first_last") if k in kw}
    pieces: list[SpacePiece] = [KindBitsPiece(kinds=tuple(kinds), **{k: kw[k] for k in
                                 ("w_bits", "a_bits", "granularity", "shared", "first_last") if k in kw})]
    given = {_KEYWORD_ALIASES.get(k, k): v for k, v in kw.items()}
    for fmt in formats():
        if fmt.kind in kinds and fmt.space_fields:
            choices = {sf.config: given[sf.config] for sf in fmt.space_fields if sf.config in given}
            pieces.append(FormatPiece(fmt.kind, choices, **common))
    return pieces
