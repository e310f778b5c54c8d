"""Number formats: the arithmetic of one layer, as plain data, and its level sets.

Pure numpy. A :class:`QuantScheme` is what every layer of the tool speaks: the search
space proposes one per layer, the hardware models price it, and ``dse.quant`` realises
it on a torch module. Each kind's torch-free facts (levels, widths, fields, checks, what
the search space draws) are one :class:`NumberFormat` in a registry keyed by kind
(:func:`register_format`, :func:`get_format`, :func:`kinds`); the torch quantizers
register in ``dse.quant.formats``. Level sets are signed values normalised to a largest
magnitude of 1; one of the ``b`` bits is the sign (see :func:`levels`).
"""

from __future__ import annotations

import math
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, Callable, Mapping

import numpy as np

GRANULARITIES = ("per_tensor", "per_row")
ENCODINGS = ("binary", "csd")

MIN_BITS = 2
MAX_BITS = 16
#: power-of-two levels need 2**(b-1)-1 exponents; beyond 6 bits they underflow float32.
MAX_POW2_BITS = 6


@dataclass(frozen=True)
class SpaceField:
    """One search-space field a format draws for a layer of its kind: ``config`` is the
    ``[space]`` field holding the choices, ``param`` the trial parameter ``<prefix>.<param>``
    (stored in studies: never rename one), ``default`` the choices when none are given (an
    empty list leaves the field out: it is drawn as ``None``)."""

    config: str
    param: str
    default: tuple = ()


@dataclass(frozen=True)
class NumberFormat:
    """Everything torch-free about one scheme kind; registered with :func:`register_format`.

    Attributes:
        kind: the ``QuantScheme.kind`` string.
        magnitudes: ``bits -> magnitudes`` normalised to a largest of 1, zero included
            (:func:`levels` mirrors them); ``None`` for a row-mixed kind.
        weight_terms: ``scheme -> average power-of-two terms per weight``, as a
            term-serial unit prices it (``QuantScheme.weight_terms_per_value``).
        max_bits: widest ``w_bits`` the format supports; ``max_bits_why`` says why.
        granularities: the granularities it allows (``granularity_why``: why not all).
        fields: the optional ``QuantScheme`` fields it uses, in checking order (other
            kinds must leave them at their defaults; two formats may share one).
        check: ``scheme -> None``, raising ``ValueError("field: ...")`` for a bad value of
            one of its own fields.
        short_defaults: ``fields -> None`` filling the fields the short form
            ``KIND:BITS`` leaves out (``QuantScheme.parse``).
        point_defaults: fields a search-space point of this kind gets when no piece set them.
        space_fields: what the search space draws for a layer of this kind, in draw order.
        scheme_fields: ``(drawn {param: value}, the layer's fields so far) -> scheme fields``.
        check_space: ``[space] config -> (field, message) | None``: checks beyond
            ``max_bits`` and ``granularities`` (any object with the ``[space]`` fields).
        row_formats: for a row-mixed kind, the kinds its rows use (``msq``: sp2, fixed).
        row_bits: whether per-row widths (``QuantScheme.row_bits``) apply.
        uniform: weights on the signed uniform grid ``k / (2^(b-1) - 1)``, stored as
            ``b``-bit integers (fixed, term); else on ``magnitudes`` or the row formats'.
        term_based: whether weights are priced by their kept power-of-two terms.
        doc: one line for listings.
    """

    kind: str
    magnitudes: Callable[[int], np.ndarray] | None
    weight_terms: Callable[["QuantScheme"], float]
    max_bits: int = MAX_BITS
    max_bits_why: str = ""
    granularities: tuple[str, ...] = GRANULARITIES
    granularity_why: str = ""
    fields: tuple[str, ...] = ()
    check: Callable[["QuantScheme"], None] | None = None
    short_defaults: Callable[[dict], None] | None = None
    point_defaults: Mapping[str, Any] = field(default_factory=dict)
    space_fields: tuple[SpaceField, ...] = ()
    scheme_fields: Callable[[Mapping[str, Any], Mapping[str, Any]], dict] | None = None
    check_space: Callable[[Any], tuple[str, str] | None] | None = None
    row_formats: tuple[str, ...] = ()
    row_bits: bool = False
    uniform: bool = False
    term_based: bool = False
    doc: str = ""

    @property
    def row_mixed(self) -> bool:
        """Rows (output channels) in different formats (``row_formats``)."""
        return bool(self.row_formats)


_FORMATS: dict[str, NumberFormat] = {}


def register_format(fmt: NumberFormat) -> NumberFormat:
    """Add a number format (``ValueError`` if its kind is taken). Returns it."""
    if not isinstance(fmt, NumberFormat):
        raise TypeError(f"register_format: expected a NumberFormat, got {type(fmt).__name__}")
    if fmt.kind in _FORMATS:
        raise ValueError(f"kind: {fmt.kind!r} is already registered")
    unknown = [f for f in fmt.fields if f not in _SCHEME_DEFAULTS]
    if unknown:
        raise ValueError(f"fields: {', '.join(unknown)} are not QuantScheme fields")
    if fmt.space_fields and fmt.scheme_fields is None:
        raise ValueError(f"scheme_fields: {fmt.kind!r} draws space fields, so it needs scheme_fields")
    _FORMATS[fmt.kind] = fmt
    return fmt


def unregister_format(kind: str) -> NumberFormat:
    """Remove a registered format (for tests and plug-ins that clean up). Returns it."""
    if kind not in _FORMATS:
        raise ValueError(f"kind: {kind!r} is not registered")
    return _FORMATS.pop(kind)


def get_format(kind: str) -> NumberFormat:
    """The registered format of ``kind`` (``ValueError`` naming the known kinds)."""
    try:
        return _FORMATS[kind]
    except (KeyError, TypeError):
        _check_choice("kind", kind, kinds())
        raise


def formats() -> tuple[NumberFormat, ...]:
    """Every registered format, in registration order (built-ins first)."""
    return tuple(_FORMATS.values())


def kinds() -> tuple[str, ...]:
    """The registered kinds, in registration order: ``fixed, pow2, sp2, term, msq`` + plug-ins."""
    return tuple(_FORMATS)


def __getattr__(name: str) -> Any:
    if name == "KINDS":  # the registered kinds now (was a constant; plug-ins extend it)
        return kinds()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
        _check_choice("kind", self.kind, kinds())
        _check_choice("granularity", self.granularity, GRANULARITIES)
        _check_choice("term_encoding", self.term_encoding, ENCODINGS)
        _check_int("w_bits", self.w_bits, MIN_BITS, MAX_BITS)
        _check_int("a_bits", self.a_bits, MIN_BITS, MAX_BITS)
        _check_int("group_size", self.group_size, 1, 1 << 20)
        own = _FORMATS[self.kind]
        if self.w_bits > own.max_bits:
            raise ValueError(f"w_bits: {self.kind} supports at most {own.max_bits} bits{own.max_bits_why}, "
                             f"got {self.w_bits}")
        for fmt in _FORMATS.values():  # in registry order, so messages come in a stable order
            if fmt is own:
                if fmt.check is not None:
                    fmt.check(self)
                if self.granularity not in fmt.granularities:
                    allowed = " or ".join(repr(g) for g in fmt.granularities)
                    raise ValueError(f"granularity: kind '{self.kind}' {fmt.granularity_why}, so it must be {allowed}")
                continue
            for name in fmt.fields:
                if name not in own.fields and getattr(self, name) != _SCHEME_DEFAULTS[name]:
                    raise ValueError(f"{name}: only meaningful for kind '{fmt.kind}', not '{self.kind}'")
        if self.row_bits is not None:
            self._check_row_bits()

    def _check_row_bits(self) -> None:
        rb = self.row_bits
        if not _FORMATS[self.kind].row_bits:
            owners = " or ".join(f"'{f.kind}'" for f in _FORMATS.values() if f.row_bits)
            raise ValueError(f"row_bits: per-row widths are only meaningful for kind {owners}, not '{self.kind}'")
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
        """A ``fixed`` (``BASELINE_KIND``) per-row scheme with these widths (``w_bits`` = the widest)."""
        rb = tuple(int(b) for b in row_bits)
        return cls(BASELINE_KIND, max(rb) if rb else MIN_BITS, a_bits, "per_row", row_bits=rb)

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
        return _FORMATS[self.kind].weight_terms(self)

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
        d = {f.name: getattr(self, f.name) for f in fields(self)}  # scalars (asdict's deep copy: issue 13)
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
        fmt = _FORMATS.get(fields_["kind"])
        if fmt is not None and fmt.short_defaults is not None:
            fmt.short_defaults(fields_)
        return cls.from_dict(fields_)


#: each QuantScheme field's default (a kind's own fields must stay at it for other kinds)
_SCHEME_DEFAULTS = {f.name: f.default for f in fields(QuantScheme) if f.default is not MISSING}


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
    ``msq`` has no single level set (rows are SP2 or fixed): ask for each. Other registered
    kinds: their ``NumberFormat.magnitudes``, mirrored.
    """
    fmt = get_format(kind)
    _check_int("bits", bits, MIN_BITS, MAX_BITS)
    if fmt.magnitudes is None:
        rows = " and ".join(fmt.row_formats)
        ask = " and ".join(f"levels('{k}', b)" for k in fmt.row_formats)
        raise ValueError(f"kind: '{kind}' mixes {rows} rows; ask {ask}")
    if bits > fmt.max_bits:
        raise ValueError(f"bits: {kind} supports at most {fmt.max_bits} bits, got {bits}")
    mags = np.unique(np.asarray(fmt.magnitudes(bits), dtype=np.float64))
    out = np.unique(np.concatenate([-mags[::-1], mags]))
    out[out == 0] = 0.0  # one zero, positive
    return out


def space_field_kinds() -> tuple[tuple[str, str], ...]:
    """``(space config field, kind that draws it)`` for every format's search-space fields."""
    return tuple((sf.config, f.kind) for f in _FORMATS.values() for sf in f.space_fields)


def space_field_owners() -> dict[str, tuple[str, ...]]:
    """``{space config field: kinds that draw it}`` in registry order (a field two formats
    draw is used when either kind is searched)."""
    out: dict[str, tuple[str, ...]] = {}
    for config, kind in space_field_kinds():
        if kind not in out.get(config, ()):
            out[config] = out.get(config, ()) + (kind,)
    return out


def check_space_kinds(space: Any) -> tuple[str, str] | None:
    """The first problem of a ``[space]`` config with its kinds, as ``(field, message)``:
    every width above a kind's ``max_bits``, a granularity a kind refuses, then each
    kind's own ``check_space``. ``None`` when it is fine."""
    chosen = [get_format(k) for k in space.kinds]
    for f in chosen:
        if f.max_bits < MAX_BITS and min(space.w_bits) > f.max_bits:
            return ("space.w_bits", f"kind {f.kind} needs at least one width <= {f.max_bits} "
                    f"({f.kind} supports {MIN_BITS}..{f.max_bits} bits)")
    for f in chosen:
        if space.granularity not in f.granularities:
            allowed = " or ".join(repr(g) for g in f.granularities)
            return ("space.granularity", f"kind {f.kind} {f.granularity_why}, so it needs {allowed}, got "
                    f"{space.granularity!r} (or drop {f.kind!r} from space.kinds)")
    for f in chosen:
        problem = f.check_space(space) if f.check_space is not None else None
        if problem is not None:
            return problem
    return None


# --- the built-in formats -------------------------------------------------------------------

def _uniform_magnitudes(bits: int) -> np.ndarray:
    n = 2 ** (bits - 1) - 1
    return np.arange(0, n + 1, dtype=np.float64) / n


def _pow2_magnitudes(bits: int) -> np.ndarray:
    return np.concatenate([[0.0], 2.0 ** -np.arange(0, 2 ** (bits - 1) - 1, dtype=np.float64)])


def _fixed_terms(s: QuantScheme) -> float:
    if s.row_bits is not None:  # every magnitude bit of each row, averaged over rows
        return s.mean_row_bits - 1.0
    return float(max_terms(s.w_bits, "binary"))


def _check_term(s: QuantScheme) -> None:
    if s.term_budget is None:
        raise ValueError("term_budget: required for kind 'term' (terms per group, >= 1)")
    _check_int("term_budget", s.term_budget, 1, 1 << 24)
    if s.a_term_budget is not None:
        _check_int("a_term_budget", s.a_term_budget, 1, s.a_bits)


def _term_short(fields_: dict) -> None:
    fields_.setdefault("term_budget", max_terms(fields_.get("w_bits", 8), "binary"))


def _term_scheme_fields(drawn: Mapping[str, Any], layer: Mapping[str, Any]) -> dict:
    """Budget searched as terms per value r, so one parameter means the same at every group
    size: budget = round(r * group_size), at least 1 and at most what the width can hold."""
    g, enc, at = int(drawn["group_size"]), drawn["term_encoding"], drawn["a_term_budget"]
    cap = max_terms(layer.get("w_bits", 8), enc) * g
    budget = max(1, min(cap, int(round(float(drawn["terms_per_value"]) * g))))
    return {"term_budget": budget, "group_size": g, "term_encoding": enc,
            "a_term_budget": None if at is None else min(int(at), layer.get("a_bits", 8))}


def _term_check_space(space: Any) -> tuple[str, str] | None:
    if space.a_term_budgets and max(space.a_term_budgets) > max(space.a_bits):
        return ("space.a_term_budgets", f"{max(space.a_term_budgets)} activation terms exceed the widest "
                f"space.a_bits = {max(space.a_bits)} (a b-bit value has at most b terms)")
    return None


def _check_msq(s: QuantScheme) -> None:
    f = s.sp2_fraction
    if f is None:
        raise ValueError(f"sp2_fraction: required for kind '{s.kind}' (a number in [0, 1])")
    if isinstance(f, bool) or not isinstance(f, (int, float)):
        raise ValueError(f"sp2_fraction: must be a number in [0, 1], got {f!r}")
    if not 0.0 <= float(f) <= 1.0:
        raise ValueError(f"sp2_fraction: must be in [0, 1], got {f}")
    object.__setattr__(s, "sp2_fraction", float(f))


def _msq_terms(s: QuantScheme) -> float:
    f = s.sp2_fraction
    return 2.0 * f + max_terms(s.w_bits, "binary") * (1.0 - f)


#: the kind of the uniform baselines (W8A8, W4A4) and of pinned first/last layers
BASELINE_KIND = "fixed"

for _fmt in (
    NumberFormat(BASELINE_KIND, _uniform_magnitudes, _fixed_terms, row_bits=True, uniform=True,
                 doc="uniform fixed point: k / (2^(b-1) - 1)"),
    NumberFormat("pow2", _pow2_magnitudes, lambda s: 1.0, max_bits=MAX_POW2_BITS,
                 max_bits_why=" (2**(b-1)-1 exponents)", point_defaults={"w_bits": 4},
                 doc="one power of two: 0, +-2^-i"),
    NumberFormat("sp2", _sp2_magnitudes, lambda s: 2.0, doc="sum of two powers of two (Mix and Match)"),
    NumberFormat("term", _uniform_magnitudes,
                 lambda s: min(s.term_budget / s.group_size, float(max_terms(s.w_bits, s.term_encoding))),
                 fields=("term_budget", "a_term_budget", "group_size", "term_encoding"), check=_check_term,
                 short_defaults=_term_short, point_defaults={"term_budget": 1},
                 space_fields=(SpaceField("terms_per_value", "terms_per_value", (1.0, 1.5, 2.0, 2.5, 3.0, 4.0)),
                               SpaceField("group_sizes", "group_size", (1, 4, 8, 16)),
                               SpaceField("term_encodings", "term_encoding", ("binary",)),
                               SpaceField("a_term_budgets", "a_term_budget", ())),
                 scheme_fields=_term_scheme_fields, check_space=_term_check_space, uniform=True, term_based=True,
                 doc="fixed-grid integers keeping a budget of power-of-two terms per group"),
    NumberFormat("msq", None, _msq_terms, granularities=("per_row",), granularity_why="mixes formats row by row",
                 fields=("sp2_fraction",), check=_check_msq,
                 short_defaults=lambda f: f.setdefault("sp2_fraction", 0.5), point_defaults={"sp2_fraction": 0.5},
                 space_fields=(SpaceField("sp2_fractions", "sp2_fraction", (0.0, 0.25, 0.5, 0.75, 1.0)),),
                 scheme_fields=lambda drawn, layer: {"sp2_fraction": float(drawn["sp2_fraction"])},
                 row_formats=("sp2", BASELINE_KIND),
                 doc="row-wise mix: a fraction sp2_fraction of the rows in SP2, the rest fixed"),
):
    register_format(_fmt)
del _fmt
