"""Number formats as QONNX integer grids: the denominators and bit width each weight format is
written with, and the exact staircase of a term-budgeted activation (see :mod:`dse.export.qonnx`)."""

from __future__ import annotations

from typing import Optional

import numpy as np

from hwmodels.formats import QuantScheme, get_format, levels


class ExportError(ValueError):
    """The model cannot be written as QONNX; the message names the node and what to do."""



def pow2_grid(lv: np.ndarray) -> int:
    """Smallest 2^k with every level an integer multiple of 2^-k."""
    for k in range(0, 63):
        scaled = lv * (2.0 ** k)
        if np.all(scaled == np.round(scaled)):
            return 2 ** k
    raise ExportError("levels do not sit on a power-of-two grid")  # pragma: no cover


def bits_for(max_int: int) -> int:
    """Signed, narrow-range bit width holding integers in [-max_int, max_int]."""
    return max(2, int(max_int).bit_length() + 1)


def format_grid(kind: str, bits: int) -> tuple[int, int]:
    """(denominator D, bit width): a ``bits``-bit weight of format ``kind`` is an integer
    multiple of clip / D within the signed narrow range of the bit width. A uniform format
    is its own integer grid (D = 2^(b-1)-1); any other level set is written on the finest
    power-of-two grid holding all its levels (4-bit pow2 -> 8-bit, 4-bit SP2 -> 5-bit)."""
    if get_format(kind).uniform:
        return 2 ** (bits - 1) - 1, bits
    d = pow2_grid(levels(kind, bits))
    return d, bits_for(d)


def weight_grid(scheme: QuantScheme, rows: int, sp2_rows: Optional[np.ndarray] = None) -> tuple[np.ndarray, int, str]:
    """(per-row denominators D_r, bit width, how) for ``scheme``'s weights: the weights are
    integer multiples of clip_r / D_r, within the signed narrow range of the bit width.
    Asks the format registry (:func:`hwmodels.formats.get_format`), so a registered format
    exports without a change here. ``sp2_rows``: a row-mixed format's rows of its first row
    format (msq: the SP2 rows)."""
    kind, b = scheme.kind, scheme.w_bits
    fmt = get_format(kind)
    if fmt.row_bits and scheme.row_bits is not None:
        den = np.array([2 ** (rb - 1) - 1 for rb in scheme.row_bits], dtype=np.float64)
        return den, b, (f"{kind}, per-row widths {min(scheme.row_bits)}..{max(scheme.row_bits)} bits: native integer "
                        "grid per row")
    if fmt.row_mixed:
        first, rest = fmt.row_formats[0], fmt.row_formats[1]
        d, d_bits = format_grid(first, b)
        n, n_bits = format_grid(rest, b)
        mask = np.zeros(rows, dtype=bool) if sp2_rows is None or len(sp2_rows) == 0 else np.asarray(sp2_rows, bool)
        den = np.where(mask, float(d), float(n))
        bw = max(n_bits, d_bits) if mask.any() else n_bits
        return den, bw, (f"{kind} {b}-bit: {int(mask.sum())} of {rows} rows {first.upper()} (grid 1/{d}), the rest "
                         f"{rest} (grid 1/{n}); {bw}-bit integers, per-row scale")
    d, bw = format_grid(kind, b)
    if fmt.term_based:
        how = (f"{kind}: {b}-bit integer grid (native); {scheme.term_budget} {scheme.term_encoding} terms per group "
               f"of {scheme.group_size} kept in the stored values")
    elif fmt.uniform:
        how = f"{kind} {b}-bit: native"
    else:
        how = f"{kind} {b}-bit: levels on an integer grid of step 1/{d} ({bw}-bit integers)"
    return np.full(rows, float(d)), bw, how


def activation_staircase(scheme: QuantScheme, signed: bool) -> tuple[np.ndarray, int, int]:
    """(integer thresholds on the a_bits grid as half-steps, lowest output level, count)
    of an activation with a term budget: output level f(q) for grid integer q; thresholds
    at q - 0.5 repeated f(q) - f(q-1) times."""
    from ...quant.terms import term_quantize

    b = scheme.a_bits
    n = 2 ** (b - 1) - 1 if signed else 2 ** b - 1
    lo = -n if signed else 0
    q = np.arange(lo, n + 1, dtype=np.float64)
    f = np.asarray(term_quantize(q, scheme.a_term_budget, 1, scheme.term_encoding), dtype=np.float64)
    steps = np.diff(f).astype(np.int64)
    if np.any(steps < 0):  # pragma: no cover - term truncation is monotone
        raise ExportError("activation term quantization is not monotone")
    thresholds = np.repeat(q[1:] - 0.5, steps)
    return thresholds, int(f[0]), n

