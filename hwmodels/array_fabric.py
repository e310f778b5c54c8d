"""Fabric and block RAM of an array: the PE envelope's lanes, skew and operand-chain
registers, the output path, and the blocks a scratchpad takes (step 6 of the pipeline
:mod:`hwmodels.array_core` documents; it re-exports these names).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

from .arith import PECost, adder_luts, clog2
from .base import Resources

#: RAMB18 aspect ratios (width bits, depth): UG473 Table 1-? (7-series) and UG573
#: (UltraScale); 36-bit width only in simple-dual-port mode, which is what a scratchpad
#: (one write port from DRAM, one read port to the array) uses.
BRAM18_ASPECTS = ((1, 16384), (2, 8192), (4, 4096), (9, 2048), (18, 1024), (36, 512))
#: URAM288: 4K x 72, fixed aspect (UG573).
URAM_ASPECTS = ((72, 4096),)
RAM_BLOCK_BYTES = {"bram18": 18 * 1024 // 8, "uram": 288 * 1024 // 8}
_RAM_ASPECTS = {"bram18": BRAM18_ASPECTS, "uram": URAM_ASPECTS}


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


@lru_cache(maxsize=4096)
def ram_blocks(capacity_bytes: int, width_bits: int, ram: str = "bram18") -> int:
    """Blocks of ``ram`` for a buffer of ``capacity_bytes`` read ``width_bits`` per cycle:
    the cheapest aspect ratio of ``ceil(width / w) * ceil(depth / d)``."""
    return ram_stack(capacity_bytes, width_bits, ram)[0]


@lru_cache(maxsize=4096)
def ram_stack(capacity_bytes: int, width_bits: int, ram: str = "bram18") -> tuple[int, int]:
    """``(blocks, deep)``: the cheapest aspect ratio (:func:`ram_blocks`) and how many
    blocks it stacks in depth (the fewest among aspects of equally few blocks)."""
    if capacity_bytes <= 0:
        return 0, 0
    width = max(int(width_bits), 1)
    depth = _cdiv(int(capacity_bytes) * 8, width)
    return min((_cdiv(width, w) * _cdiv(depth, d), _cdiv(depth, d)) for w, d in _RAM_ASPECTS[ram])


def ram_read_mux(capacity_bytes: int, width_bits: int, ram: str = "bram18") -> Resources:
    """Fabric around a buffer stacked ``deep`` > 1 blocks in depth (:func:`ram_stack`): an
    ``deep``:1 read mux per data bit (a LUT6 is a 4:1 mux: ``ceil(deep / 4)`` LUTs per
    bit), one write-enable decode LUT per stacked block, and the registered select
    (``clog2(deep)`` FF). Measured (Yosys 0.23 xc7, ``dse hw synth`` of a 4x4 ws DSP
    array with 16 KiB input buffers): a 48-bit x 2,730-word scratchpad on 3 x 3 RAMB18
    takes 48 LUT5 + 3 LUT3 and 2 FF."""
    _, deep = ram_stack(capacity_bytes, width_bits, ram)
    if deep <= 1:
        return Resources()
    width = max(int(width_bits), 1)
    return Resources(lut=float(width * _cdiv(deep, 4) + deep), ff=float(clog2(deep)))


@dataclass(frozen=True)
class PEEnvelope:
    """The PE an array must instantiate to run every layer: the maximum per-lane LUT, FF
    and DSP over the formats it meets, and the widest operands (for buffers and skew)."""

    lut: float = 0.0
    ff: float = 0.0
    dsp: float = 0.0
    w_bits: int = 0
    a_bits: int = 0
    acc_bits: int = 0
    #: share of the forwarded operand registers DSP slices hold (``PECost.fwd_in_slice``)
    fwd_in_slice: float = 0.0

    def merge(self, pe: PECost, w_bits: int, a_bits: int, acc_bits: int) -> "PEEnvelope":
        return PEEnvelope(max(self.lut, pe.lut), max(self.ff, pe.ff), max(self.dsp, pe.dsp),
                          max(self.w_bits, w_bits), max(self.a_bits, a_bits),
                          max(self.acc_bits, acc_bits), max(self.fwd_in_slice, pe.fwd_in_slice))


#: input pipeline registers a DSP48E1/E2 slice has per operand (AREG/BREG up to 2, UG479/UG579)
SLICE_INPUT_STAGES = 2


def array_resources(rows: int, cols: int, env: PEEnvelope, dataflow: str,
                    left_skew: bool = True) -> Resources:
    """LUT/FF/DSP of an ``rows x cols`` array of ``env`` lanes plus its skew registers.

    Systolic operands enter skewed: the edge that streams a new operand into each row
    (column) every cycle needs a triangular register file, ``R(R-1)/2`` (``C(C-1)/2``)
    operand registers. os skews ifmap rows and filter columns; ws skews ifmap rows and
    de-skews partial sums leaving the columns; is skews filter rows and de-skews sums.
    ``left_skew=False`` for a second array fed by the first one's skewed row stream.
    Plus the output path: os column registers, row select and output de-skew; ws/is the
    read-modify-write adders and registers of the partial-sum scratchpad.

    Packed DSP PEs (``L`` MACs per slice, ``dsp = 1/L``) sit on ``P = C/L`` PE columns,
    each fed one packed weight word (``(L-1)(w+a) + w + 1`` bits): the os top edge skews
    ``P`` words. DSP lanes are priced as they are in an array (their forwarded operands in
    the next slice's input registers, ``env.fwd_in_slice`` of them); a slice has
    :data:`SLICE_INPUT_STAGES` input registers per operand, so an operand chain through
    ``n`` PEs keeps ``n - 2`` stages in fabric (measured: a 4x4 grid of 12-bit DSP lanes,
    Yosys 0.23 xc7, 192 FF = 2 stages x 4 chains x 12 bits x 2 operands)."""
    per_slice = max(1, round(1 / env.dsp)) if 0 < env.dsp < 1 else 1
    pe_cols = max(1, cols // per_slice)
    lanes = rows * cols
    left = env.a_bits if dataflow in ("os", "ws") else env.w_bits
    top = env.w_bits if dataflow == "os" else env.acc_bits
    skewed_cols = cols
    if per_slice > 1 and dataflow == "os":   # packed weight words over the PE columns
        top = (per_slice - 1) * (env.w_bits + env.a_bits) + env.w_bits + 1
        skewed_cols = pe_cols
    tri_r, tri_c = rows * (rows - 1) // 2, skewed_cols * (skewed_cols - 1) // 2
    dsp = math.ceil(lanes * env.dsp - 1e-9) if env.dsp else 0
    ff = lanes * env.ff + (tri_r * left if left_skew else 0) + tri_c * top
    lut = lanes * env.lut
    if env.dsp and env.fwd_in_slice:
        deep_r, st = max(rows - SLICE_INPUT_STAGES, 0), SLICE_INPUT_STAGES
        if dataflow == "os":   # weights down the rows, activations across the PE columns
            chain = deep_r * pe_cols * top + rows * max(pe_cols - st, 0) * env.a_bits
        else:                  # stationary operand down the rows, streamed one across the columns
            chain = deep_r * cols * (env.w_bits if dataflow == "ws" else env.a_bits) \
                + rows * max(cols - st, 0) * left
        ff += env.fwd_in_slice * chain
    # output path (as hwmodels/rtl/array.py builds it, calibrated with `dse hw synth`):
    # os selects each finished accumulator into a column register (one-hot R:1 and-or,
    # ~3 pairs per LUT6) and de-skews the P = C/L PE columns (L MACs per packed DSP slice);
    # ws/is pipeline the read-modify-write of partial sums: per column bit a register, an
    # adder and the select between accumulating and overwriting (first reduction fold),
    # which Yosys keeps in its own LUT (measured: 2 x C x acc LUT on a 4x4 ws DSP array)
    if dataflow == "os":
        ff += cols * env.acc_bits + pe_cols * (pe_cols - 1) // 2 * per_slice * env.acc_bits
        lut += cols * env.acc_bits * math.ceil(rows / 3)
    else:
        ff += cols * env.acc_bits
        lut += 2 * cols * env.acc_bits
        if not env.dsp:
            # row 0 adds its product to a constant-zero partial sum: its fabric PEs lose
            # the partial-sum adder (a DSP PE adds in the slice; nothing to remove). Measured
            # on the 4x4 ws lut fixed:8 array: feeding row 0 a partial sum from a port
            # instead adds 513 LUT; only the 4 x 24 adder LUTs are taken out here
            lut -= cols * adder_luts(env.acc_bits)
    return Resources(lut=lut, ff=ff, dsp=float(dsp))


__all__ = ["BRAM18_ASPECTS", "RAM_BLOCK_BYTES", "SLICE_INPUT_STAGES", "URAM_ASPECTS", "PEEnvelope",
           "array_resources", "ram_blocks", "ram_read_mux", "ram_stack"]
