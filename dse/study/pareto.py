"""Pareto maths on plain arrays (all objectives *minimised*; flip the sign of maximised
ones first with :func:`to_minimization`)."""

from __future__ import annotations

from typing import Sequence

import numpy as np


def to_minimization(values: np.ndarray, directions: Sequence[str]) -> np.ndarray:
    """Copy of ``values`` (n x m) with maximised columns negated."""
    v = np.array(values, dtype=float, copy=True)
    for j, d in enumerate(directions):
        if d == "maximize":
            v[:, j] = -v[:, j]
    return v


def dominates(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> bool:
    """``a`` dominates ``b`` (both minimised): no worse anywhere, better somewhere."""
    a, b = np.asarray(a), np.asarray(b)
    return bool(np.all(a <= b) and np.any(a < b))


def pareto_mask(values: np.ndarray) -> np.ndarray:
    """Boolean mask of the non-dominated rows of ``values`` (minimisation): row i is dominated
    when some row is <= it everywhere and < somewhere. Duplicated points are all kept; a row
    with a NaN neither dominates nor is dominated.

    One pass in lexicographic order: a row's dominators all come before it (they are <= it
    everywhere, hence lexicographically smaller), and whatever dominates a dominated row
    dominates what that row dominates, so each row is checked against the front found so far
    only: O(n * front) time and O(n) memory (the all-pairs comparison this replaced took
    12 s and ~1.5 GB at 12,700 rows)."""
    v = np.asarray(values, dtype=float)
    n = len(v)
    if n == 0:
        return np.zeros(0, dtype=bool)
    v = v.reshape(n, -1)
    mask = np.zeros(n, dtype=bool)
    front = np.empty_like(v)
    k = 0
    for i in np.lexsort(v.T[::-1]):  # first column primary
        p = v[i]
        f = front[:k]
        if k and np.any(np.all(f <= p, axis=1) & np.any(f < p, axis=1)):
            continue
        front[k] = p
        k += 1
        mask[i] = True
    return mask


def hypervolume(points: np.ndarray, reference: np.ndarray) -> float:
    """Exact hypervolume dominated by ``points`` and bounded by ``reference`` (minimisation).

    Points not strictly better than the reference in every objective contribute nothing.
    2-D: sweep; higher dimensions: recursive slicing (HSO), fine for the front sizes of a
    study (tens to a few hundred points).
    """
    p = np.asarray(points, dtype=float)
    ref = np.asarray(reference, dtype=float)
    if p.size == 0:
        return 0.0
    p = p[np.all(p < ref, axis=1)]
    if len(p) == 0:
        return 0.0
    p = p[pareto_mask(p)]
    p = np.unique(p, axis=0)
    return float(_hv(p, ref))


def _hv(p: np.ndarray, ref: np.ndarray) -> float:
    d = p.shape[1]
    if d == 1:
        return float(ref[0] - p[:, 0].min())
    if d == 2:
        order = np.argsort(p[:, 0])
        p = p[order]
        hv, best_y = 0.0, ref[1]
        for x, y in p:
            if y < best_y:
                hv += (ref[0] - x) * (best_y - y)
                best_y = y
        return hv
    order = np.argsort(p[:, -1])
    p = p[order]
    hv = 0.0
    for i in range(len(p)):
        upper = p[i + 1, -1] if i + 1 < len(p) else ref[-1]
        depth = upper - p[i, -1]
        if depth <= 0:
            continue
        slab = p[: i + 1, :-1]
        slab = slab[pareto_mask(slab)]
        hv += depth * _hv(slab, ref[:-1])
    return hv


def normalize(values: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Map each column linearly so ``low`` -> 0 and ``high`` -> 1 (constant columns -> 0)."""
    span = np.where(np.asarray(high) > np.asarray(low), np.asarray(high) - np.asarray(low), 1.0)
    return (np.asarray(values, dtype=float) - low) / span


def hypervolume_history(values: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Hypervolume of the first k points for k = 1..n (points in trial order)."""
    v = np.asarray(values, dtype=float)
    out = np.zeros(len(v))
    front = np.zeros((0, v.shape[1] if v.ndim == 2 else 0))
    for k in range(len(v)):
        if np.all(v[k] < reference) and not any(dominates(f, v[k]) or np.array_equal(f, v[k]) for f in front):
            front = np.vstack([front[[not dominates(v[k], f) for f in front]], v[k][None, :]])
            out[k] = hypervolume(front, reference)
        else:
            out[k] = out[k - 1] if k else 0.0
    return out
