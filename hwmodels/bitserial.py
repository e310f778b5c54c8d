"""Bit-serial array: latency proportional to MACs x bits.

An ``R x C`` output-stationary array of bit-serial lanes (Stripes, Judd et al., MICRO
2016, serialises one operand; BISMO, Umuroglu et al., FPL 2018, both). Each lane walks
the weight bits one per cycle (``serial = weight``: ``w_bits`` cycles per MAC) or the
weight and activation bits (``serial = both``: ``w_bits * a_bits``), so a fold of the os
mapping lasts ``K * w_bits (* a_bits)`` cycles plus the ``R + C - 2`` fill/drain:

    cycles = ceil(M/R) * ceil(N/C) * (K * w_bits [* a_bits] + R + C - 2) - 1   per GEMM

Total cycles therefore track ``sum(MACs x bits)`` (``hwmodels.metrics.mac_bits``) up to the
fold quantisation.

Per-filter widths (a ``fixed`` scheme with ``row_bits``, e.g. from ``dse allocate``): a
column of the array holds one filter and the columns of a fold walk their bits in
lockstep, so a fold lasts its widest filter's bits. Filters may sit in any column (the
outputs are written back by index), so the array sorts them by width and cuts them into
folds of ``C``, which minimises the sum of the folds' widest widths::

    cycles = ceil(M/R) * sum over column folds j of (K * b_j + R + C - 2) - 1

with ``b_j`` the widest filter of fold ``j``. Cycles thus follow each filter's own bits
(``sum over filters of MACs x bits``, ``hwmodels.metrics.mac_bits``) up to the spread of
widths within a fold, not the widest filter's. Energy per fold is charged at its widest
width, and weights cross the DRAM interface at the layer's widest width (one word size
per layer): both conservative. Fixed-point and term-quantised weights (integers on a w-bit grid) are
supported; pow2/sp2/msq levels are not fixed-point words of ``w_bits`` bits, so the
model raises :class:`~hwmodels.base.Unsupported` for them.
"""

from __future__ import annotations

from typing import Any, Mapping

from .arith import SERIAL_MODES
from .base import Knob
from .array_core import ArrayConfig, ArrayModel, cols_knob


class BitSerialModel(ArrayModel):
    """Output-stationary array of bit-serial MAC lanes."""

    name = "bitserial"
    description = ("R x C output-stationary array of bit-serial lanes: cycles proportional to "
                   "MACs x weight bits (x activation bits when both are serial)")

    def _extra_knobs(self) -> list[Knob]:
        return [
            cols_knob(),
            Knob("serial", "categorical", "weight", choices=SERIAL_MODES,
                 doc="weight bits serial (w cycles/MAC) or both operands (w*a cycles/MAC)"),
        ]

    def _config(self, kv: Mapping[str, Any]) -> ArrayConfig:
        return self._base_config(kv, unit="bitserial", cols=int(kv["cols"]), dataflow="os",
                                 serial=str(kv["serial"]))
