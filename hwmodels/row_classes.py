"""Row classes: how a layer's output rows split by number format (``msq``) or by
per-row width (``row_bits``) before they are priced (:mod:`hwmodels.arith` re-exports
these names)."""

from __future__ import annotations

import math
from dataclasses import replace
from functools import lru_cache

from .formats import QuantScheme
from .workload import LayerSpec


@lru_cache(maxsize=4096)
def row_classes(scheme: QuantScheme, rows: int) -> tuple[tuple[int, QuantScheme], ...]:
    """Split a layer's ``rows`` output channels by number format: an ``msq`` scheme puts
    ``floor(sp2_fraction * rows + 1/2)`` rows (round half up) in SP2 and the rest in fixed
    point (same bits); any other scheme is one class."""
    if scheme.kind != "msq":
        return ((rows, scheme),)
    n_sp2 = int(math.floor(scheme.sp2_fraction * rows + 0.5))
    sp2 = QuantScheme("sp2", scheme.w_bits, scheme.a_bits, "per_row")
    fixed = QuantScheme("fixed", scheme.w_bits, scheme.a_bits, "per_row")
    return tuple((n, s) for n, s in ((n_sp2, sp2), (rows - n_sp2, fixed)) if n > 0)


@lru_cache(maxsize=4096)
def row_bit_folds(scheme: QuantScheme, rows: int, cols: int) -> tuple[tuple[int, QuantScheme], ...]:
    """Rows of a per-row-width scheme (``row_bits``) as a serial array runs them:
    ``(rows, fixed b-bit scheme)`` parts, widest first, each part a run of column folds
    whose widest row has ``b`` bits.

    On a serial array the ``cols`` filters of a column fold walk their bits in lockstep,
    so a fold lasts its widest row's bits. Sorting the rows by width (widest first) and
    cutting them into folds of ``cols`` minimises the sum of the folds' widest widths
    (the i-th fold's maximum can be no smaller than the (i-1)*cols+1-th widest row, which
    is what the sorted cut achieves); consecutive folds with the same widest width are one
    part. ``rows`` is the rows per group; with several groups every group must hold the
    same widths (:func:`split_row_groups` splits a layer whose groups differ). Raises
    ``ValueError`` when the widths do not divide into ``rows`` per group."""
    rb = scheme.row_bits
    if rb is None:
        return ((rows, scheme),)
    if rows < 1 or cols < 1 or len(rb) % rows:
        raise ValueError(f"row_bits: {len(rb)} row widths do not split into groups of {rows} rows")
    groups = [tuple(sorted(rb[i:i + rows], reverse=True)) for i in range(0, len(rb), rows)]
    if any(g != groups[0] for g in groups[1:]):
        raise ValueError("row_bits: groups hold different widths; split the layer by group first (split_row_groups)")
    widths = groups[0]
    parts: list[list[int]] = []  # [rows, widest bits]
    for start in range(0, rows, cols):
        n, b = min(cols, rows - start), widths[start]
        if parts and parts[-1][1] == b:
            parts[-1][0] += n
        else:
            parts.append([n, b])
    return tuple((n, QuantScheme("fixed", b, scheme.a_bits, "per_row")) for n, b in parts)


@lru_cache(maxsize=4096)
def split_row_groups(layer: LayerSpec, scheme: QuantScheme) -> tuple[tuple[LayerSpec, QuantScheme], ...]:
    """A grouped layer with per-row widths as sub-layers whose groups hold the same
    widths (each distinct per-group multiset of widths becomes one sub-layer of the
    groups that have it; rows are reordered within a group, which changes no cost).
    One piece when there is nothing to split."""
    rb, g, ng = scheme.row_bits, layer.groups, layer.n_per_group
    if rb is None or g == 1:
        return ((layer, scheme),)
    if len(rb) != layer.N:
        raise ValueError(f"row_bits: layer {layer.name!r} has {layer.N} output channels but its scheme gives "
                         f"{len(rb)} row widths")
    patterns: dict[tuple[int, ...], int] = {}
    for i in range(g):
        pat = tuple(sorted(rb[i * ng:(i + 1) * ng], reverse=True))
        patterns[pat] = patterns.get(pat, 0) + 1
    if len(patterns) == 1:
        return ((layer, scheme),)
    out = []
    for pat, m in sorted(patterns.items(), reverse=True):
        sub = replace(layer, N=m * ng, groups=m, channels=layer.channels * m // g)
        out.append((sub, replace(scheme, w_bits=max(pat), row_bits=pat * m)))
    return tuple(out)


__all__ = ["row_bit_folds", "row_classes", "split_row_groups"]
