"""Number formats: the arithmetic of one layer, as plain data, and its level sets.

Pure numpy. A :class:`QuantScheme` is what every layer of the tool speaks: the search
space proposes one per layer, the hardware models price it, and ``dse.quant`` realises
it on a torch module.

Level sets are signed values normalised to a largest magnitude of 1; one of the ``b``
bits is the sign (see :func:`levels`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping

import numpy as np

KINDS = ("fixed", "pow2", "sp2", "term", "msq")
GRANULARITIES = ("per_tensor", "per_row")
ENCODINGS = ("binary", "csd")

MIN_BITS = 2
MAX_BITS = 16
#: power-of-two levels need 2**(b-1)-1 exponents; beyond 6 bits they underflow float32.
MAX_POW2_BITS = 6


@dataclass(frozen=True)
class QuantScheme:
    """The number format of one compute layer.

    Attributes:
        kind: ``fixed`` (uniform), ``pow2`` (one power of two), ``sp2`` (sum of two
            powers of two), ``term`` (integers limited to a budget of power-of-two
            terms per group of values) or ``msq`` (row-wise mix: a fraction
            ``sp2_fraction`` of the rows (output channels) in SP2, the rest fixed).
        w_bits: weight bits, sign included. For ``term`` it is the width of the
            integer grid before terms are dropped.
        a_bits: activation bits (uniform fixed point; sign included when signed).
        granularity: ``per_tensor`` or ``per_row`` (one scale per output channel).
        term_budget: ``term`` only: power-of-two terms kept per group of
            ``group_size`` weights.
        group_size: ``term`` only: consecutive weights (along the reduction axis)
            sharing one budget; 1 is a per-value budget.
        term_encoding: ``term`` only: ``binary`` (set bits) or ``csd`` (canonical
            signed digit: fewest nonzero digits).
        sp2_fraction: ``msq`` only: fraction of rows in SP2, in [0, 1].
        a_term_budget: ``term`` only, optional: terms kept per activation value.
    """

    kind: str = "fixed"
    w_bits: int = 8
    a_bits: int = 8
    granularity: str = "per_row"
    term_budget: int | None = None
    group_size: int = 1
    term_encoding: str = "binary"
    sp2_fraction: float | None = None
    a_term_budget: int | None = None
    row_bits: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        _check_choice("kind", self.kind, KINDS)
        _check_choice("granularity", self.granularity, GRANULARITIES)
        _check_choice("term_encoding", self.term_encoding, ENCODINGS)
        _check_int("w_bits", self.w_bits, MIN_BITS, MAX_BITS)
        _check_int("a_bits", self.a_bits, MIN_BITS, MAX_BITS)
        _check_int("group_size", self.group_size, 1, 1 << 20)
        if self.kind == "pow2" and self.w_bits > MAX_POW2_BITS:
            raise ValueError(
                f"w_bits: pow2 supports at most {MAX_POW2_BITS} bits "
                f"(2**(b-1)-1 exponents), got {self.w_bits}"
            )
        if self.kind == "term":
            if self.term_budget is None:
                raise ValueError("term_budget: required for kind 'term' (terms per group, >= 1)")
            _check_int("term_budget", self.term_budget, 1, 1 << 24)
            if self.a_term_budget is not None:
                _check_int("a_term_budget", self.a_term_budget, 1, self.a_bits)
        else:
            for name in ("term_budget", "a_term_budget"):
                if getattr(self, name) is not None:
                    raise ValueError(f"{name}: only meaningful for kind 'term', not '{self.kind}'")
            if self.group_size != 1:
                raise ValueError(f"group_size: only meaningful for kind 'term', not '{self.kind}'")
            if self.term_encoding != "binary":
                raise ValueError(
                    f"term_encoding: only meaningful for kind 'term', not '{self.kind}'"
                )
        if self.kind == "msq":
            if self.sp2_fraction is None:
                raise ValueError("sp2_fraction: required for kind 'msq' (a number in [0, 1])")
            if isinstance(self.sp2_fraction, bool) or not isinstance(
                self.sp2_fraction, (int, float)
            ):
                raise ValueError(f"sp2_fraction: must be a number in [0, 1], got {self.sp2_fraction!r}")
            if not 0.0 <= float(self.sp2_fraction) <= 1.0:
                raise ValueError(f"sp2_fraction: must be in [0, 1], got {self.sp2_fraction}")
            if self.granularity != "per_row":
                raise ValueError("granularity: kind 'msq' mixes formats row by row, so it must be 'per_row'")
            object.__setattr__(self, "sp2_fraction", float(self.sp2_fraction))
        elif self.sp2_fraction is not None:
            raise ValueError(f"sp2_fraction: only meaningful for kind 'msq', not '{self.kind}'")
        if self.row_bits is not None:
            self._check_row_bits()

    def _check_row_bits(self) -> None:
        rb = self.row_bits
        if self.kind != "fixed":
            raise ValueError(f"row_bits: per-row widths are only meaningful for kind 'fixed', not '{self.kind}'")
        if isinstance(rb, (str, bytes)) or not hasattr(rb, "__iter__"):
            raise ValueError(f"row_bits: expected a list of integers (one width per output channel), got {rb!r}")
        rb = tuple(rb)
        if not rb:
            raise ValueError("row_bits: must not be empty (one width per output channel)")
        for i, b in enumerate(rb):
            try:
                _check_int("row_bits", b, MIN_BITS, MAX_BITS)
            except ValueError as e:
                raise ValueError(f"row_bits[{i}]: {str(e).split(': ', 1)[1]}") from None
        rb = tuple(int(b) for b in rb)
        if self.w_bits != max(rb):
            raise ValueError(f"w_bits: must equal max(row_bits) = {max(rb)} (the widest row), got {self.w_bits}")
        if self.granularity != "per_row":
            raise ValueError("granularity: per-row widths (row_bits) need one scale per row: 'per_row'")
        object.__setattr__(self, "row_bits", rb)

    @classmethod
    def with_row_bits(cls, row_bits: Any, a_bits: int = 8) -> "QuantScheme":
        """A ``fixed`` per-row scheme with these widths (``w_bits`` = the widest)."""
        rb = tuple(int(b) for b in row_bits)
        return cls("fixed", max(rb) if rb else MIN_BITS, a_bits, "per_row", row_bits=rb)

    @property
    def mean_row_bits(self) -> float:
        """Mean weight bits per row: ``mean(row_bits)``, else ``w_bits``."""
        if self.row_bits is None:
            return float(self.w_bits)
        return sum(self.row_bits) / len(self.row_bits)

    # --- derived quantities used by the hardware models ---------------------------------

    @property
    def weight_terms_per_value(self) -> float:
        """Average power-of-two terms per weight as priced by a term-serial unit."""
        if self.kind == "term":
            return min(self.term_budget / self.group_size, float(max_terms(self.w_bits, self.term_encoding)))
        if self.kind == "pow2":
            return 1.0
        if self.kind == "sp2":
            return 2.0
        if self.kind == "msq":
            f = self.sp2_fraction
            return 2.0 * f + max_terms(self.w_bits, "binary") * (1.0 - f)
        if self.row_bits is not None:  # every magnitude bit of each row, averaged over rows
            return self.mean_row_bits - 1.0
        return float(max_terms(self.w_bits, "binary"))

    @property
    def act_terms_per_value(self) -> float:
        """Power-of-two terms per activation (the budget, else every magnitude bit).

        Activations are priced unsigned: they follow a ReLU and the quantizer then gives
        them ``a_bits`` magnitude bits (``dse.quant.ActQuantizer``), so ``a_bits`` terms."""
        if self.a_term_budget is not None:
            return float(self.a_term_budget)
        return float(self.a_bits)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields, omitting those left at their defaults where not meaningful."""
        d = asdict(self)
        if self.row_bits is not None:
            d["row_bits"] = list(self.row_bits)
        return {k: v for k, v in d.items() if v is not None}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "QuantScheme":
        """Build from a JSON object; an unknown field raises ``ValueError`` naming it."""
        if not isinstance(data, Mapping):
            raise ValueError(f"scheme: expected an object of scheme fields, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        for key in data:
            if key not in known:
                raise ValueError(f"{key}: unknown scheme field; allowed: {', '.join(sorted(known))}")
        return cls(**dict(data))

    @classmethod
    def parse(cls, text: str) -> "QuantScheme":
        """Parse the short form ``KIND:BITS`` (e.g. ``fixed:8``, ``term:8``, ``msq:4``)
        with optional ``,key=value`` extras (``term:8,term_budget=12,group_size=4``)."""
        head, *extras = [p.strip() for p in text.split(",")]
        kind, _, bits = head.partition(":")
        fields_: dict[str, Any] = {"kind": kind.strip()}
        if bits:
            try:
                fields_["w_bits"] = int(bits)
            except ValueError:
                raise ValueError(f"scheme: bits must be an integer in '{text}' (e.g. fixed:8)") from None
        for ex in extras:
            key, eq, val = ex.partition("=")
            if not eq:
                raise ValueError(f"scheme: expected key=value after the kind in '{text}', got '{ex}'")
            fields_[key.strip()] = _parse_scalar(val.strip())
        if fields_["kind"] == "term":
            fields_.setdefault("term_budget", max_terms(fields_.get("w_bits", 8), "binary"))
        if fields_["kind"] == "msq":
            fields_.setdefault("sp2_fraction", 0.5)
        return cls.from_dict(fields_)


def _parse_scalar(val: str) -> Any:
    for conv in (int, float):
        try:
            return conv(val)
        except ValueError:
            pass
    return val


def _check_choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name}: must be one of {', '.join(allowed)}; got {value!r}")


def _check_int(name: str, value: Any, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name}: must be an integer in [{low}, {high}], got {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{name}: must be in [{low}, {high}], got {value}")


def max_terms(bits: int, encoding: str = "binary") -> int:
    """Largest number of nonzero power-of-two terms a ``bits``-bit signed integer can need.

    Binary: every magnitude bit (``bits - 1``). CSD (non-adjacent form): no two nonzero
    digits are adjacent, so ceil(bits / 2) digits over the ``bits`` positions NAF may use.
    """
    mag_bits = bits - 1
    if encoding == "binary":
        return mag_bits
    if encoding == "csd":
        return (mag_bits + 2) // 2
    raise ValueError(f"encoding: must be one of {', '.join(ENCODINGS)}; got {encoding!r}")


def _sp2_magnitudes(bits: int) -> np.ndarray:
    m1 = math.ceil((bits - 1) / 2)
    m2 = bits - 1 - m1
    q1 = np.concatenate([[0.0], 2.0 ** -np.arange(1, 2**m1)])
    q2 = np.concatenate([[0.0], 2.0 ** -np.arange(1, 2**m2)])
    mags = np.unique((q1[:, None] + q2[None, :]).ravel())
    return mags / mags.max()


def levels(kind: str, bits: int) -> np.ndarray:
    """Sorted, unique, signed representable values normalised to a maximum magnitude of 1.

    - ``fixed``: k / (2^(b-1) - 1), k in -(2^(b-1)-1) .. 2^(b-1)-1.
    - ``pow2``: 0 and +-2^-i, i = 0 .. 2^(b-1)-2.
    - ``sp2``: q1 + q2 with q1 in {0} u {2^-i: i=1..2^m1-1}, q2 in {0} u {2^-i: i=1..2^m2-1},
      m1 = ceil((b-1)/2), m2 = b-1-m1, rescaled so the largest is 1 (Mix-and-Match).
    - ``term``: the fixed grid the terms are drawn from (budgets act per group, not per value).
    ``msq`` has no single level set (rows are SP2 or fixed): ask for each.
    """
    _check_choice("kind", kind, KINDS)
    _check_int("bits", bits, MIN_BITS, MAX_BITS)
    if kind in ("fixed", "term"):
        n = 2 ** (bits - 1) - 1
        mags = np.arange(0, n + 1, dtype=np.float64) / n
    elif kind == "pow2":
        if bits > MAX_POW2_BITS:
            raise ValueError(f"bits: pow2 supports at most {MAX_POW2_BITS} bits, got {bits}")
        mags = np.concatenate([[0.0], 2.0 ** -np.arange(0, 2 ** (bits - 1) - 1, dtype=np.float64)])
    elif kind == "sp2":
        mags = _sp2_magnitudes(bits)
    else:
        raise ValueError("kind: 'msq' mixes sp2 and fixed rows; ask levels('sp2', b) and levels('fixed', b)")
    mags = np.unique(mags)
    out = np.unique(np.concatenate([-mags[::-1], mags]))
    out[out == 0] = 0.0  # one zero, positive
    return out
