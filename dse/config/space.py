"""``[space]``: the quantization search space (number formats, widths, per-format knobs)."""

from __future__ import annotations

from dataclasses import dataclass

from hwmodels import formats as _formats
from hwmodels.formats import ENCODINGS, GRANULARITIES, MAX_BITS, MIN_BITS

from .schema import Bool, Choice, Int, ListOf, Num, fail, setting

FIRST_LAST = ("search", "fixed8", "same")

_BITS = Int(MIN_BITS, MAX_BITS)


@dataclass(frozen=True)
class SpaceConfig:
    kinds: tuple[str, ...] = setting(_formats.kinds(),
                                     ListOf(Choice(lambda: _formats.KINDS)),
                                     "number formats the search draws per layer")
    w_bits: tuple[int, ...] = setting((2, 3, 4, 6, 8), ListOf(_BITS), "weight widths, sign included")
    a_bits: tuple[int, ...] = setting((4, 8), ListOf(_BITS), "activation widths, sign included")
    granularity: str = setting("per_row", Choice(GRANULARITIES), "one scale per tensor or per output row")
    shared: bool = setting(False, Bool(), "one format for every layer instead of one per layer")
    first_last: str = setting("fixed8", Choice(FIRST_LAST),
                              "first and last layers: searched, fixed at 8 bits, or as the others")
    terms_per_value: tuple[float, ...] = setting((1.0, 1.5, 2.0, 3.0, 4.0), ListOf(Num(0.0, 16.0, strict_low=True)),
                                                 "term budgets of kind term, in terms per weight")
    group_sizes: tuple[int, ...] = setting((1, 4, 16), ListOf(Int(1, 4096)),
                                           "weights sharing one term budget (kind term)")
    term_encodings: tuple[str, ...] = setting(("binary",), ListOf(Choice(ENCODINGS)),
                                              "term encodings of kind term")
    a_term_budgets: tuple[int, ...] = setting((), ListOf(Int(1, 16), nonempty=False),
                                              "activation terms per value (kind term; empty: not searched)")
    sp2_fractions: tuple[float, ...] = setting((0.0, 0.25, 0.5, 0.75, 1.0), ListOf(Num(0.0, 1.0)),
                                               "fraction of rows in SP2 (kind msq)")

    def check(self) -> None:
        """Cross-field checks (the formats drawn need values the space offers)."""
        problem = _formats.check_space_kinds(self)  # each kind's widths, granularity and own checks
        if problem is not None:
            raise fail(*problem)
