"""Off-chip traffic of one layer: what crosses the DRAM interface, in bytes.

Three facts decide it, each a function here:

- :func:`ifmap_elems_read`: the input elements a layer actually uses. A strided
  convolution whose filter is smaller than its stride skips input rows and columns
  (a stride-2 1x1 convolution reads one pixel in four); a DMA engine fetches only the
  rows and pixels a layer touches, so only those are charged. Per spatial dimension
  the used extent of the (padded) input is ``(out - 1) * min(stride, filt) + filt``:
  ``out * filt`` rows when windows do not overlap (``filt <= stride``), the contiguous
  span ``(out - 1) * stride + filt`` when they do. Padding positions inside that span
  are still counted (the map is stored padded), and a batch multiplies the map.
- :func:`weight_storage_bits`: the width a weight is stored and fetched at. For a
  ``term`` scheme it is the encoded width of its kept terms (see the function), never
  more than the plain ``w_bits`` word it was drawn from; every other format is stored
  as its ``w_bits`` code (``row_bits`` layers at their widest row).
- :func:`dram_bytes`: the bytes of one GEMM given operand sizes and the three
  double-buffered scratchpads (tiling and partial-sum spills).
"""

from __future__ import annotations

import math
from functools import lru_cache

from .formats import QuantScheme
from .workload import LayerSpec


def clog2(n: int) -> int:
    """ceil(log2(n)) for n >= 1 (0 for n = 1)."""
    return max(int(n) - 1, 0).bit_length()


def used_extent(out: int, stride: int, filt: int, size: int) -> int:
    """Input positions along one dimension that ``out`` windows of ``filt`` taps at
    ``stride`` touch, capped at the (padded) input ``size``."""
    return min(int(size), (int(out) - 1) * min(int(stride), int(filt)) + int(filt))


def ifmap_elems_read(layer: LayerSpec) -> int:
    """Input elements the layer reads from off-chip memory (all groups, whole batch).

    A convolution reads the used extent of its input map in both dimensions (module
    doc); a linear layer or GEMM reads its whole ``M x K`` operand per group."""
    if layer.kind != "conv":
        return layer.input_elems
    rows = used_extent(layer.out_h, layer.stride, layer.filt_h, layer.ifmap_h)
    cols = used_extent(layer.out_w, layer.stride, layer.filt_w, layer.ifmap_w)
    batch = max(layer.M // (layer.out_h * layer.out_w), 1)
    return rows * cols * layer.channels * batch


@lru_cache(maxsize=4096)
def term_code_bits(w_bits: int, group_size: int, term_budget: int, encoding: str = "binary") -> float:
    """Encoded bits per weight of a term-quantized group (before capping at ``w_bits``).

    Encoding (fixed-size records, what a term-serial engine streams): each group of
    ``g`` weights stores exactly ``k`` term records (its budget; a group using fewer
    pads with null records). A record is a term index into the group's ``g * P`` term
    positions plus one reserved null code, ``ceil(log2(g * P + 1))`` bits, and a sign
    bit. ``P`` is the positions a term may sit at: ``w_bits - 1`` magnitude bits for
    ``binary``, ``w_bits`` digits for ``csd`` (a non-adjacent form may carry into the
    top position). So a weight costs ``k * (ceil(log2(g * P + 1)) + 1) / g`` bits."""
    positions = w_bits - 1 if encoding == "binary" else w_bits
    record = clog2(group_size * positions + 1) + 1
    return term_budget * record / group_size


def weight_storage_bits(scheme: QuantScheme) -> float:
    """Bits per weight in off-chip memory and the weight scratchpad.

    ``term``: the term encoding (:func:`term_code_bits`) when it is narrower than the
    plain ``w_bits`` word, else the plain word (a budget so loose that its records cost
    more than the word is stored as the word). Other kinds: ``w_bits``."""
    if scheme.kind == "term":
        code = term_code_bits(scheme.w_bits, scheme.group_size, scheme.term_budget, scheme.term_encoding)
        return min(float(scheme.w_bits), code)
    return float(scheme.w_bits)


def dram_bytes(ifmap_bytes: float, weight_bytes: float, ofmap_bytes: float, psum_bytes_each: float,
               cols_weight_bytes: float, ifmap_buf: float, weight_buf: float, ofmap_buf: float) -> float:
    """Off-chip bytes of one GEMM with double-buffered scratchpads (half of each buffer
    holds the working set while the other half is filled).

    If the whole weight matrix or the whole ifmap fits its half-buffer, every operand
    crosses the DRAM interface once. Otherwise the scheduler tiles the larger operand and
    re-streams the other once per tile, picking the cheaper of the two loop orders.
    If one column fold of weights (``K x cols``) does not fit, the reduction is split in
    ``kc`` chunks and partial sums spill: ``2 (kc - 1)`` transfers of the partial-sum
    matrix, unless it fits the output half-buffer. Outputs are written once."""
    hi, hw, ho = ifmap_buf / 2.0, weight_buf / 2.0, ofmap_buf / 2.0
    if weight_bytes <= hw or ifmap_bytes <= hi:
        base = ifmap_bytes + weight_bytes
    else:
        base = min(ifmap_bytes * math.ceil(weight_bytes / hw) + weight_bytes,
                   weight_bytes * math.ceil(ifmap_bytes / hi) + ifmap_bytes)
    kc = max(1, math.ceil(cols_weight_bytes / hw))
    spill = 0.0 if kc == 1 or psum_bytes_each <= ho else 2.0 * (kc - 1) * psum_bytes_each
    return base + ofmap_bytes + spill
