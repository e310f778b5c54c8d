"""A fake-quantized model as a QONNX file (the format FINN and hls4ml read).

The graph is built directly from the model's torch.fx trace (with shapes from running
the example input), one ONNX node per operation, so tensor and node names follow the
model's module names and a plan's layer ``features.3`` shows up as ``features.3.conv``.
Every quantized layer (a :class:`dse.quant.QuantLayer`) becomes::

    input -> Quant (activation) -> Conv / MatMul(+Add) -> ...
                                      ^
             weight (float, on the grid) -> Quant (weight)

with QONNX ``Quant`` nodes (domain ``qonnx.custom_op.general``): ``scale``,
``zeropt = 0``, ``bitwidth``, ``signed``, ``narrow``, ``rounding_mode = ROUND``
(half to even, as ``torch.round``). The float weight initializers hold the weights the
tool's own model computes with, so each weight ``Quant`` reproduces them exactly.

How each number format is written (QONNX has integer ``Quant``, and ``MultiThreshold``
for arbitrary monotone steps; a format with no exact QONNX form is written as the
smallest integer grid that holds all its levels, and the format is recorded):

- ``fixed`` b bits: integers in [-(2^(b-1)-1), 2^(b-1)-1], scale = clip / (2^(b-1)-1),
  ``narrow = 1``: exact, native.
- ``fixed`` with per-row widths ``row_bits``: one scale per row, clip_r / (2^(b_r-1)-1),
  ``bitwidth`` = the widest row (QONNX's bit width is one scalar per node); each row's
  integers stay within its own width (recorded per row in the metadata).
- ``term`` (b-bit grid, term budget per group): the kept values are b-bit integers, so
  the node is the b-bit ``fixed`` one; the budget (terms per group, group size,
  encoding) is a property of the stored values and is recorded. (CSD terms can round a
  magnitude up to 2^(b-1); the bit width then grows by one.)
- ``pow2`` b bits: levels +-2^-i (i = 0..2^(b-1)-2) are integer multiples of
  2^-(2^(b-1)-2); written on that grid: scale = clip * 2^-(2^(b-1)-2), bit width
  2^(b-1) (4-bit pow2 -> 8-bit integers that are all powers of two).
- ``sp2`` b bits: levels are multiples of the smallest power of two among them; written
  on that grid (4-bit SP2 -> 5-bit integers).
- ``msq`` (rows mixed SP2 / fixed): per-row scale on each row's own grid, bit width the
  larger of the two; which rows are SP2 is recorded.
- activations: ``a_bits`` uniform, signed (``narrow = 1``) or unsigned (``narrow = 0``,
  levels 0..2^b-1) as the quantizer fixed on calibration: exact, native. With a term
  budget per activation (``a_term_budget``) the function is a monotone staircase on the
  a_bits grid, written exactly as a ``MultiThreshold`` node (FINN's thresholding op):
  thresholds at the grid midpoints, repeated where a step skips levels.

Per layer the metadata (``model.metadata_props``, key ``dse.layer.<name>``) holds the
scheme and how it was written; each node's ``doc_string`` says the same in one line.

Where each part lives: :mod:`.grids` (formats as integer grids), :mod:`.layers` (the graph
builder and a quantized layer's nodes), :mod:`.graph` (the torch.fx walker), :mod:`.writer`
(``build_qonnx``, ``export_qonnx``, the output-path check), :mod:`.trial` (a study's trial).
"""

from __future__ import annotations

from .grids import ExportError, activation_staircase, weight_grid
from .layers import QONNX_DOMAIN
from .trial import export_trial, plan_model
from .writer import IR_VERSION, OPSET  # noqa: F401  (kept importable from here)
from .writer import ExportSummary, build_qonnx, check_target, export_qonnx, qonnx_available

__all__ = ["ExportError", "ExportSummary", "QONNX_DOMAIN", "activation_staircase", "build_qonnx", "check_target",
           "export_qonnx", "export_trial", "plan_model", "qonnx_available", "weight_grid"]
