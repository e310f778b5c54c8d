"""Term-serial array: latency proportional to term pairs (the multi-resolution MAC).

An ``R x C`` output-stationary array of term-serial lanes (Kung, McDanel and Zhang's term
quantization and its multi-resolution MAC): a lane consumes one (weight term, activation
term) pair per cycle. A group of ``g`` consecutive weights shares a budget of ``k`` terms
and every weight term meets each of the activation's ``a`` terms, so a group costs
``k * a`` cycles for ``g`` MACs:

    cycles = ceil(M/R) * ceil(N/C) * (ceil(K/g) * k * a + R + C - 2) - 1   per GEMM

(a short last group is charged its own, possibly smaller, budget). Schemes without a
term budget take every term: ``w_terms = w_bits - 1`` for fixed point, 1 for pow2, 2 for
sp2; ``a = a_term_budget`` or ``a_bits`` (activations are unsigned: ``a_bits`` magnitude bits). An ``msq`` layer's SP2 and fixed rows
occupy separate column folds (their cycles per MAC differ). Total cycles track
``hwmodels.metrics.term_pairs``.
"""

from __future__ import annotations

from typing import Any, Mapping

from .base import Knob
from .array_core import ArrayConfig, ArrayModel, cols_knob


class TermSerialModel(ArrayModel):
    """Output-stationary array of term-serial (multi-resolution) MAC lanes."""

    name = "termserial"
    description = ("R x C output-stationary array of term-serial lanes: one weight-term x "
                   "activation-term pair per cycle, cycles proportional to term pairs")

    def _extra_knobs(self) -> list[Knob]:
        return [cols_knob()]

    def _config(self, kv: Mapping[str, Any]) -> ArrayConfig:
        return self._base_config(kv, unit="termserial", cols=int(kv["cols"]), dataflow="os")
