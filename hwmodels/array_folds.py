"""Compute cycles and scratchpad accesses of one GEMM on an ``R x C`` array, in closed
form (steps 1-3 of the pipeline :mod:`hwmodels.array_core` documents; it re-exports
these names).

1. A layer is ``groups`` GEMMs of ``(M x K) @ (K x N/groups)``.
2. Dataflow ``os`` / ``ws`` / ``is`` maps the GEMM onto an ``R x C`` array as spatial
   rows ``Sr``, spatial columns ``Sc`` and temporal steps ``T`` (SCALE-Sim's
   ``topologies.calc_spatio_temporal_params``): os (M, N, K), ws (K, N, M), is (K, M, N).
3. Stall-free compute cycles per GEMM, exactly SCALE-Sim 3.0.0's "Total Cycles"::

       os: ceil(M/R) * ceil(N/C) * (K +  R + C - 2) - 1
       ws: ceil(K/R) * ceil(N/C) * (M + 2R + C - 2) - 1
       is: ceil(K/R) * ceil(M/C) * (N + 2R + C - 2) - 1
"""

from __future__ import annotations

DATAFLOWS = ("os", "ws", "is")


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


# --- 1-3: compute cycles ---------------------------------------------------------------

def spatio_temporal(dataflow: str, M: int, K: int, N: int) -> tuple[int, int, int]:
    """SCALE-Sim's (Sr, Sc, T) for a GEMM of (M x K) @ (K x N)."""
    try:
        return _MAPPING[dataflow](M, K, N)
    except KeyError:
        raise ValueError(f"dataflow: must be one of {', '.join(DATAFLOWS)}; got {dataflow!r}") from None


_MAPPING = {
    "os": lambda M, K, N: (M, N, K),
    "ws": lambda M, K, N: (K, N, M),
    "is": lambda M, K, N: (K, M, N),
}
_FILL = {
    "os": lambda R, C: R + C - 2,
    "ws": lambda R, C: 2 * R + C - 2,
    "is": lambda R, C: 2 * R + C - 2,
}


def scalesim_cycles(M: int, K: int, N: int, rows: int, cols: int, dataflow: str) -> int:
    """SCALE-Sim 3.0.0's stall-free "Total Cycles" of one GEMM (see module doc)."""
    return fold_cycles(dataflow, M, K, N, rows, cols)


def fold_cycles(dataflow: str, M: int, K: int, N: int, rows: int, cols: int,
                k_cycles: int | None = None, pack: int = 1) -> int:
    """Compute cycles of one GEMM on a ``rows x cols`` array; 0 for an empty GEMM.

    ``k_cycles`` replaces the temporal extent of an ``os`` fold when a PE needs more than
    one cycle per reduction step (serial units: ``dot_cycles``). ``pack``: MACs per PE
    along a row (``L`` packed DSP lanes sharing one activation, ``os`` only): the array
    still covers ``cols`` output columns per fold, but the wavefront crosses only
    ``ceil(cols / L)`` PE columns, so an os fold fills and drains in ``R + ceil(C/L) - 2``
    cycles (``pack = 1``: SCALE-Sim's single-MAC PEs, ``R + C - 2``)."""
    if M <= 0 or K <= 0 or N <= 0:
        return 0
    sr, sc, t = spatio_temporal(dataflow, M, K, N)
    if k_cycles is not None:
        if dataflow != "os":
            raise ValueError("k_cycles: serial PEs are modelled on the os dataflow only")
        t = k_cycles
    pe_cols = _cdiv(cols, pack) if dataflow == "os" and pack > 1 else cols
    return _cdiv(sr, rows) * _cdiv(sc, cols) * (t + _FILL[dataflow](rows, pe_cols)) - 1


def sram_accesses(dataflow: str, M: int, K: int, N: int, rows: int, cols: int) -> tuple[int, int, int, int]:
    """Scratchpad accesses of one GEMM: (ifmap reads, filter reads, output writes,
    partial-sum reads), in elements.

    os re-reads the ifmap once per column fold and the filters once per row fold;
    ws reads each weight once and writes partial sums once per row (K) fold; is reads each
    input once. The ifmap/filter reads, and the output writes of ws/is, equal SCALE-Sim
    3.0.0's DETAILED_ACCESS_REPORT counts (the parity test checks them)."""
    R, C = rows, cols
    if dataflow == "os":
        return M * K * _cdiv(N, C), K * N * _cdiv(M, R), M * N, 0
    kf = _cdiv(K, R)
    if dataflow == "ws":
        return M * K * _cdiv(N, C), K * N, M * N * kf, M * N * (kf - 1)
    if dataflow == "is":
        return M * K, K * N * _cdiv(M, C), M * N * kf, M * N * (kf - 1)
    raise ValueError(f"dataflow: must be one of {', '.join(DATAFLOWS)}; got {dataflow!r}")


__all__ = ["DATAFLOWS", "fold_cycles", "scalesim_cycles", "spatio_temporal", "sram_accesses"]
