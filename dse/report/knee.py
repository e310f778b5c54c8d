"""The knee of a Pareto front: where it bulges the most toward the best corner (the report's
decision aid; see :func:`knee_points`)."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
from optuna.trial import FrozenTrial

from ..study.pareto import to_minimization

#: fewest Pareto points for which a knee means anything (two are both extremes)
KNEE_MIN_POINTS = 3
#: distances within this of the best (normalised units) are knees too (exact ties)
KNEE_TIE = 1e-9


def knee_points(values: np.ndarray, directions: list[str]) -> tuple[list[int], np.ndarray]:
    """Knee(s) of a Pareto front: the interior point farthest from the hyperplane through the
    front's extremes, toward the ideal point (Das's knee, "where the Pareto surface bulges the
    most": the point farthest from the convex hull of the individual minima; I. Das, "On
    characterizing the 'knee' of the Pareto curve based on Normal-Boundary Intersection",
    Structural Optimization 18, 1999; the distance-to-extreme-line knee of Deb and Gupta,
    KanGAL report 2010005, in two objectives).

    Each objective is first scaled over the front to 0 (its best value there) .. 1 (its worst).
    An extreme is a point that is the best in some objective; it is never a knee when an
    interior point exists. The distance is signed, positive toward the ideal point, so on a
    non-convex (outward-bulging) front the knee is the interior point that bulges least, and
    on a straight front all interior points tie. Exact ties (within ``KNEE_TIE``) are all
    knees. A front with no interior point has no knee. Returns (positions of the knees in
    ``values``, the scaled front)."""
    nv, dist, interior = knee_distances(values, directions)
    if not interior.any():
        return [], nv
    best = dist[interior].max()
    return [int(k) for k in np.flatnonzero(interior & (dist >= best - KNEE_TIE))], nv


def knee_distances(values: np.ndarray, directions: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(scaled front, signed distance of each point to the hyperplane through the extremes,
    mask of the interior points): see :func:`knee_points`."""
    v = to_minimization(values, directions)
    lo, hi = v.min(axis=0), v.max(axis=0)
    nv = (v - lo) / np.where(hi > lo, hi - lo, 1.0)
    m = nv.shape[1]
    extreme = (nv <= KNEE_TIE).any(axis=1)
    # one extreme per objective (the best there; ties: the best in the others' sum)
    rows = [int(np.lexsort((nv.sum(axis=1), nv[:, j]))[0]) for j in range(m)]
    w = np.ones(m)
    try:
        sol = np.linalg.solve(nv[rows], np.ones(m))  # the hyperplane w . x = 1 through them
        if np.all(np.isfinite(sol)) and np.all(sol > 0):
            w = sol
    except np.linalg.LinAlgError:
        pass  # extremes not in general position: the plane sum(x) = 1 through the unit corners
    dist = (1.0 - nv @ w) / np.linalg.norm(w)
    return nv, dist, ~extreme


def knee_info(front: list[FrozenTrial], directions: list[str], rnd: Callable[[float], Any] = float) -> dict[str, Any]:
    """The report's knee section: knee trial numbers, their scaled positions (rounded by
    ``rnd``), their two nearest alternatives on the front, and a message when there is none."""
    method = ("After scaling each objective over the Pareto set to 0 (its best value there) .. 1 (its worst), "
              "the knee is the point farthest from the line (plane) through the extremes, toward the best corner: "
              "where the front bulges the most, so that moving away from it in any direction buys little in one "
              "objective for much in another (Das 1999). Points that are the best in some objective are never knees.")
    out: dict[str, Any] = {"points": [], "scaled": {}, "neighbours": {}, "message": "", "method": method}
    if len(directions) < 2:
        out["message"] = "A knee needs two or more objectives."
        return out
    if len(front) < KNEE_MIN_POINTS:
        out["message"] = (f"A knee needs at least {KNEE_MIN_POINTS} Pareto points (with fewer, every point is an "
                          f"extreme); this front has {len(front)}.")
        return out
    values = np.array([t.values for t in front], dtype=float)
    knees, nv = knee_points(values, directions)
    if not knees:
        out["message"] = "Every Pareto point is the best in some objective: there is no interior trade-off to mark."
        return out
    _, dist, _ = knee_distances(values, directions)
    if dist[knees[0]] < -KNEE_TIE:
        out["method"] += (" This front bulges away from the best corner (it is not convex): no point stands out, "
                          "the one marked is the interior point closest to the line through the extremes.")
    elif len(knees) > 1 and abs(dist[knees[0]]) <= KNEE_TIE:
        out["method"] += " This front is straight between its extremes: every interior point is an equal knee."
    for k in knees:
        n = front[k].number
        out["points"].append(n)
        out["scaled"][str(n)] = [rnd(x) for x in nv[k]]
        # the nearest alternatives on the front, in scaled space: what moving away buys and costs
        d = np.abs(nv - nv[k]).sum(axis=1)
        d[k] = np.inf
        out["neighbours"][str(n)] = [front[j].number for j in np.argsort(d, kind="stable")[:2] if np.isfinite(d[j])]
    return out
