"""Verilog for a design point of the ``systolic`` model: an ``R x C`` array with its
scratchpads, sequencer and output path, plus the host-side data layout that feeds it.

Plain synthesizable Verilog-2005 text from a frozen :class:`ArraySpec`. The array follows
the schedule the cycle model counts (:func:`hwmodels.array_core.fold_cycles`, equal to
SCALE-Sim 3.0.0's "Total Cycles"), so a simulation can check the count cycle for cycle:

- every fold streams ``T`` operand vectors into skewed array edges (row ``i`` delayed
  ``i`` cycles, column ``j`` delayed ``j``), then waits ``R + C - 2`` cycles for the
  wavefront to leave the array (``R + C/L - 2`` with packed DSP lanes, below);
  ``ws``/``is`` folds first shift the stationary operand
  down the columns in ``R`` cycles. Folds follow one another with no gap and no
  overlap, as SCALE-Sim's do. os: ``T = K``, ws: ``T = M``, is: ``T = N``.
- ``os``: ifmap rows enter on the left, weight columns on top; each PE is the
  output-stationary lane of :mod:`hwmodels.rtl.lanes` (the very module the lane prices
  are calibrated on). A finished column of accumulators leaves through a one-hot row
  select, is de-skewed, requantised (:mod:`hwmodels.rtl.lanes` ``requant``) and stored.
- ``ws``/``is``: the stationary operand (weights / ifmap) is loaded from the top, the
  other streams in from the left, partial sums flow down the columns, are de-skewed and
  accumulated over the reduction folds in the output scratchpad (read-modify-write);
  the host reads final sums through the requantisers.

Numbers: weights signed, activations unsigned (post-ReLU), as in the lanes. The
scratchpads are simple-dual-port memories sized from the point's buffer knobs (inferred
block RAM); word ``0`` of each input scratchpad holds zeros and is what the edges read
while idle. The host (a DMA engine in a real system, the testbench here) lays the
operand tiles out as :func:`layout` says.

Packed DSP lanes (``L`` MACs per slice sharing one activation) are generated for os: one
PE computes ``L`` adjacent columns, so the wavefront crosses ``C / L`` PE columns and each
fold fills in ``R + C/L - 2`` cycles, fewer than SCALE-Sim's ``R + C - 2`` for ``C``
single-MAC columns; the model counts the packed fill too (``fold_cycles(..., pack=L)``;
:func:`array_cycles` says what the array takes).

Not generated: DRAM traffic and double-buffering (a layer must fit the scratchpads),
packed DSP lanes and shift PEs on ws/is, serial PEs.
"""

from __future__ import annotations

from .array_host import (GemmRun, conv_reference, default_shift, fits, im2col, layout, random_operands, requant,
                         weight_values)
from .array_spec import CFG_BITS, DATAFLOWS, TOP, UNITS, ArraySpec, array_cycles, spec_for_point
from .array_verilog import generate

# the module is split by what it holds: array_spec (what to build), array_verilog (the
# Verilog text), array_host (operand layout and integer reference); names re-exported here
__all__ = ["CFG_BITS", "ArraySpec", "DATAFLOWS", "array_cycles", "GemmRun", "TOP", "UNITS", "conv_reference", "default_shift", "fits",
           "generate", "im2col", "layout", "random_operands", "requant", "spec_for_point", "weight_values"]
