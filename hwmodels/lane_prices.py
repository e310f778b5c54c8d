"""Lane prices from the calibration table: what one generated lane module (and the
array's control and requantisation) costs in LUT/FF/DSP on a device family.

LUT/FF/DSP counts come from the calibration table of the device family
(:mod:`hwmodels.calibration`): Yosys ``synth_xilinx`` runs on the lane RTL that
:mod:`hwmodels.rtl.lanes` generates (``dse hw calibrate``). Widths never synthesized are
fitted with the lane's structural formula (:func:`lane_structure`, built from
:mod:`hwmodels.primitives`) scaled by synthesis/formula at the nearest synthesized
widths; every price names its ``source`` (``dse hw lanes``). Packed DSP lanes accumulate
in fabric (the P register cannot hold several wide accumulators); the table prices that.
:mod:`hwmodels.arith` re-exports these names.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

from .calibration import FAMILY_OF_DSP, LanePrice, lane_price
from .primitives import DSP_PORTS, clog2, dsp_packing, lut_multiplier_luts, shifter_levels, shifter_luts

#: model unit -> (unit, kind) of the generated lane family (``hwmodels.rtl.lanes``)
LANE_UNIT = {"dsp": "dsp", "lut": "lut", "shift": "shift", "bitserial": "bit", "termserial": "term"}


def _term_exp_bits(bits: int) -> int:
    return max(clog2(bits), 1)


def lane_structure(unit: str, kind: str, w_bits: int, a_bits: int, acc_bits: int,
                   family: str, context: str = "module") -> tuple[float, float]:
    """Structural (LUT, FF) count of one generated lane *module* (a DSP module holds
    ``dsp_lanes`` lanes): what the calibration fit scales between synthesized widths.
    ``context="array"``: a DSP lane as an array instantiates it, its operand registers
    in the slice's input pipeline (no fabric FF).
    One LUT6 per adder bit (carry chain), 4:1-mux levels for shifters, one FF per
    register bit; the RTL is :mod:`hwmodels.rtl.lanes`."""
    w, a, acc = int(w_bits), int(a_bits), int(acc_bits)
    if unit == "lut":
        return lut_multiplier_luts(w, a + 1) + acc, w + a + acc
    if unit == "dsp":
        lanes, sp = dsp_packing(_DSP_OF_FAMILY[family], w, a)
        operands = operand_bits(family, w, a) if context == "array" else 0
        if lanes == 1:  # Yosys keeps the accumulator in fabric (Vivado puts it in P)
            return float(acc), w + a + 1 + acc - operands
        pb = (lanes - 1) * sp + w + a + 2
        corr = sum(pb - sp * i for i in range(1, lanes))
        return corr + lanes * acc, (lanes - 1) * sp + w + 1 + a + 1 + lanes * acc - operands
    if unit == "shift" and kind == "pow2":
        positions = 2 ** (w - 1) - 1
        return shifter_luts(a, positions) + acc, w + a + acc
    if unit == "shift" and kind == "sp2":
        m1 = math.ceil((w - 1) / 2)
        m2 = w - 1 - m1
        tw = a + 2 ** m1 - 2
        return shifter_luts(a, 2 ** m1) + shifter_luts(a, 2 ** m2) + tw + 1 + acc, w + a + acc
    if unit == "term":
        ew, ea = _term_exp_bits(w - 1), _term_exp_bits(a)
        ix = max(clog2(a), 1)
        e_bits = max(clog2(w + a - 2), 1) + 1
        mux = (ea + 1) * shifter_levels(a)
        return mux + e_bits + 2 * acc, a * (ea + 1) + 2 + ew + ix + acc
    if unit == "bit" and kind == "weight":
        return acc + 1.0, acc + a + 1
    if unit == "bit" and kind == "both":
        return acc + 1.0, acc + 2.0
    if unit == "requant":
        return shifter_luts(acc, acc) + acc + 2 * a, float(a)
    if unit == "control":
        return 190.0, 99.0
    raise ValueError(f"lane: unknown family {unit}/{kind}")


_DSP_OF_FAMILY = {"xc7": "DSP48E1", "xcup": "DSP48E2"}


def operand_bits(family: str, w_bits: int, a_bits: int) -> int:
    """Operand register bits a DSP lane module forwards (``w_q`` + ``a_q``): the packed
    weight word (``(L - 1) * spacing + w + 1`` bits for ``L`` > 1 lanes) plus the activation."""
    lanes, sp = dsp_packing(_DSP_OF_FAMILY[family], w_bits, a_bits)
    return ((lanes - 1) * sp + w_bits + 1 if lanes > 1 else w_bits) + a_bits


@lru_cache(maxsize=8192)
def lane_module_price(family: str, unit: str, kind: str, w_bits: int, a_bits: int,
                      acc_bits: int, context: str = "module") -> LanePrice:
    """LUT/FF/DSP of one generated lane module (a DSP module holds ``dsp_lanes`` lanes)
    from the calibration table of ``family`` (xc7 | xcup); ``context="array"``: the lane
    as an array instantiates it (:func:`hwmodels.calibration.lane_price`)."""
    def formula(w: int, a: int, acc: int, fam: str) -> tuple[float, float]:
        return lane_structure(unit, kind, w, a, acc, fam, context)

    p = lane_price(family, unit, kind, int(w_bits), int(a_bits), int(acc_bits), formula, context=context)
    dsp = 1.0 if unit == "dsp" else 0.0
    lanes = dsp_packing(_DSP_OF_FAMILY[family], w_bits, a_bits)[0] if unit == "dsp" else 0
    return LanePrice(p.lut, p.ff, dsp, lanes, p.source, p.fit)


@lru_cache(maxsize=8192)
def lane_cost(unit: str, kind: str, w_bits: int, a_bits: int, acc_bits: int, dsp_gen: str,
              context: str = "module") -> LanePrice:
    """Price of ONE lane (a packed DSP lane's share of its slice and fabric) on the device
    family of ``dsp_gen`` (DSP48E1 -> xc7, DSP48E2 -> xcup); ``context`` as in
    :func:`lane_module_price`."""
    family = FAMILY_OF_DSP[dsp_gen] if dsp_gen in FAMILY_OF_DSP else None
    if family is None:
        raise ValueError(f"dsp_gen: must be one of {', '.join(DSP_PORTS)}; got {dsp_gen!r}")
    m = lane_module_price(family, LANE_UNIT.get(unit, unit), kind, w_bits, a_bits, acc_bits, context)
    if unit == "dsp":
        return LanePrice(m.lut / m.lanes_per_dsp, m.ff / m.lanes_per_dsp, 1.0 / m.lanes_per_dsp,
                         m.lanes_per_dsp, m.source, m.fit)
    return m


@dataclass(frozen=True)
class ArrayOverhead:
    """Fabric outside the lanes of one array: control and address generation (one
    sequencer) and requantisation (one unit per output column)."""

    lut: float
    ff: float
    source: str


@lru_cache(maxsize=4096)
def array_overhead(cols: int, a_bits: int, acc_bits: int, dsp_gen: str) -> ArrayOverhead:
    """Control/address-generation and per-column requantisation logic of an array with
    ``cols`` output columns, ``acc_bits`` accumulators and ``a_bits`` outputs, priced
    from the calibration table (``control`` and ``requant`` rows). Requantisation is a
    per-channel shift with rounding, ReLU and clamp (``hwmodels.rtl.lanes``); a full
    fixed-point rescale would add one multiplier per column."""
    family = FAMILY_OF_DSP.get(dsp_gen)
    if family is None:
        raise ValueError(f"dsp_gen: must be one of {', '.join(DSP_PORTS)}; got {dsp_gen!r}")
    ctl = lane_module_price(family, "control", "fixed", 8, 8, 9)
    rq = lane_module_price(family, "requant", "fixed", int(a_bits), int(a_bits), max(int(acc_bits), int(a_bits) + 1))
    return ArrayOverhead(ctl.lut + cols * rq.lut, ctl.ff + cols * rq.ff,
                         f"control: {ctl.source}; requant x {cols}: {rq.source}")


__all__ = ["LANE_UNIT", "ArrayOverhead", "array_overhead", "lane_cost", "lane_module_price", "lane_structure",
           "operand_bits"]
