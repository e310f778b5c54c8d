"""Arithmetic units: what one MAC lane (processing element) costs for each number format.

A *lane* does one multiply-accumulate stream; a DSP slice may hold several lanes
(packing). This module prices a lane of each unit (``dsp``, ``lut``, ``shift``,
``bitserial``, ``termserial``) for a number format: LUT/FF/DSP from the calibration
table, energy per MAC analytic (:mod:`hwmodels.energy`). It builds on

- :mod:`hwmodels.primitives`: structural fabric primitives (adders, muxes, LUT
  multipliers), accumulator and exact fixed-point widths, DSP packing;
- :mod:`hwmodels.lane_prices`: lane prices from the calibration table (Yosys
  ``synth_xilinx`` on the lane RTL of :mod:`hwmodels.rtl.lanes`, fitted with the lane's
  structural formula between synthesized widths; ``dse hw lanes``) and the array
  overhead outside the lanes (control, address generation, requantisation);
- :mod:`hwmodels.row_classes`: a layer's rows split by format or per-row width;

and re-exports their names, so ``from hwmodels.arith import X`` keeps working.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

from .base import Unsupported
from .calibration import FAMILY_OF_DSP
from .energy import EnergyModel
from .formats import QuantScheme, max_terms
from .lane_prices import (LANE_UNIT, ArrayOverhead, array_overhead, lane_cost, lane_module_price, lane_structure,
                          operand_bits)
from .primitives import (DSP_PORTS, MAX_DSP_LANES, accumulator_bits, adder_luts, clog2, dsp_lanes, dsp_packing,
                         exact_fixed_bits, lut_multiplier_luts, shifter_levels, shifter_luts)
from .row_classes import row_bit_folds, row_classes, split_row_groups

#: MAC-lane implementations. ``dsp``/``lut``: parallel fixed-point multipliers;
#: ``shift``: power-of-two (one shift) and SP2 (two shifts and an add) units in LUTs;
#: ``bitserial``: one weight bit (or one weight bit x one activation bit) per cycle;
#: ``termserial``: one (weight term, activation term) pair per cycle.
UNITS = ("dsp", "lut", "shift", "bitserial", "termserial")
SERIAL_MODES = ("weight", "both")
#: units whose cycles per MAC depend on the format (they take ``dot_cycles`` per fold)
SERIAL_UNITS = ("bitserial", "termserial")


@dataclass(frozen=True)
class PECost:
    """Cost of one MAC lane for one number format.

    ``lut``/``ff``/``dsp`` are device primitives per lane (``dsp`` is fractional when a
    slice holds several lanes); ``cycles_per_mac`` the lane's average cycles per MAC
    (1 for parallel units); ``energy_per_mac_j`` the datapath energy of one MAC (J);
    ``hard`` whether the multiply runs in a DSP slice.
    """

    unit: str
    lut: float
    ff: float
    dsp: float
    cycles_per_mac: float
    energy_per_mac_j: float
    hard: bool = False
    source: str = ""
    #: share (0..1) of the lane's forwarded operand registers that the DSP slice holds in
    #: an array (module FF - in-array FF, over the operand bits): they cost no fabric, except
    #: on operand chains longer than the slice's input pipeline (``array_core``)
    fwd_in_slice: float = 0.0

    @property
    def lanes_per_dsp(self) -> int:
        return round(1.0 / self.dsp) if self.dsp else 0


# --- one MAC lane per implementation ---------------------------------------------------

@lru_cache(maxsize=4096)
def fixed_dsp(w_bits: int, a_bits: int, acc_bits: int, dsp_gen: str, energy: EnergyModel) -> PECost:
    """Fixed-point MAC in a DSP slice, packed ``dsp_lanes`` per slice (:func:`dsp_packing`).
    A single lane accumulates in the slice; packed lanes are split, sign-corrected and
    accumulated in fabric (one 48-bit P register cannot hold several wide accumulators;
    FINN's packed units keep theirs in fabric too). LUT/FF from the calibration table, as
    the lane is in an array (its forwarded operands in the neighbour slice's input
    registers where synthesis puts them there: ``fwd_in_slice``)."""
    lanes = dsp_lanes(dsp_gen, w_bits, a_bits)
    p = lane_cost("dsp", "fixed", w_bits, a_bits, acc_bits, dsp_gen, "array")
    mod = lane_cost("dsp", "fixed", w_bits, a_bits, acc_bits, dsp_gen)
    fam = FAMILY_OF_DSP[dsp_gen]
    fwd = min(max((mod.ff - p.ff) * lanes / operand_bits(fam, w_bits, a_bits), 0.0), 1.0)
    e = energy.dsp_mac_j(w_bits, a_bits, lanes, dsp_gen)
    if lanes > 1:
        e += energy.add_j(acc_bits)  # the fabric accumulator is soft logic
    return PECost("dsp", lut=p.lut, ff=p.ff, dsp=1.0 / lanes, cycles_per_mac=1.0,
                  energy_per_mac_j=e, hard=True, source=p.source, fwd_in_slice=fwd)


@lru_cache(maxsize=4096)
def fixed_lut(w_bits: int, a_bits: int, acc_bits: int, energy: EnergyModel, dsp_gen: str = "DSP48E1") -> PECost:
    """Fixed-point MAC in LUTs: signed w x unsigned a array multiplier + accumulator,
    operand and accumulator registers in fabric (calibration table)."""
    p = lane_cost("lut", "fixed", w_bits, a_bits, acc_bits, dsp_gen)
    e = energy.mult_j(w_bits, a_bits) + energy.add_j(acc_bits)
    return PECost("lut", lut=p.lut, ff=p.ff, dsp=0.0, cycles_per_mac=1.0, energy_per_mac_j=e, source=p.source)


@lru_cache(maxsize=4096)
def pow2_shift(w_bits: int, a_bits: int, acc_bits: int, energy: EnergyModel, dsp_gen: str = "DSP48E1") -> PECost:
    """Power-of-two weight: one barrel shift of the activation over the 2^(b-1)-1
    exponents, then a conditional add/subtract (sign) into the accumulator."""
    positions = 2 ** (w_bits - 1) - 1
    width = a_bits + positions - 1
    p = lane_cost("shift", "pow2", w_bits, a_bits, acc_bits, dsp_gen)
    e = shifter_levels(positions) * energy.mux4_stage_j(width) + energy.add_j(acc_bits)
    return PECost("shift", lut=p.lut, ff=p.ff, dsp=0.0, cycles_per_mac=1.0, energy_per_mac_j=e, source=p.source)


@lru_cache(maxsize=4096)
def sp2_shift(w_bits: int, a_bits: int, acc_bits: int, energy: EnergyModel, dsp_gen: str = "DSP48E1") -> PECost:
    """Sum-of-two-powers weight (Mix-and-Match, Chang et al., HPCA 2021): two barrel shifts
    (over 2^m1 and 2^m2 codes, m1 = ceil((b-1)/2), m2 = b-1-m1; code 0 gates to zero),
    one add of the two shifted terms, one add into the accumulator."""
    m1 = math.ceil((w_bits - 1) / 2)
    m2 = w_bits - 1 - m1
    p1, p2 = 2**m1, 2**m2
    w1, w2 = a_bits + p1 - 1, a_bits + p2 - 1
    p = lane_cost("shift", "sp2", w_bits, a_bits, acc_bits, dsp_gen)
    e = (shifter_levels(p1) * energy.mux4_stage_j(w1) + shifter_levels(p2) * energy.mux4_stage_j(w2)
         + energy.add_j(w1 + 1) + energy.add_j(acc_bits))
    return PECost("shift", lut=p.lut, ff=p.ff, dsp=0.0, cycles_per_mac=1.0, energy_per_mac_j=e, source=p.source)


@lru_cache(maxsize=4096)
def bitserial(w_bits: int, a_bits: int, acc_bits: int, serial: str, energy: EnergyModel,
              dsp_gen: str = "DSP48E1") -> PECost:
    """Bit-serial MAC (Stripes, Judd et al., MICRO 2016; BISMO, Umuroglu et al., FPL 2018).

    ``weight``: one weight bit per cycle, bit plane by bit plane (MSB first, the
    accumulator doubled at each new plane), the a-bit activation added or subtracted:
    ``w_bits`` cycles per MAC. ``both``: one weight bit x one activation bit per cycle,
    planes ordered by significance: ``w_bits * a_bits`` cycles per MAC."""
    if serial == "weight":
        cycles = w_bits
    elif serial == "both":
        cycles = w_bits * a_bits
    else:
        raise ValueError(f"serial: must be one of {', '.join(SERIAL_MODES)}; got {serial!r}")
    p = lane_cost("bitserial", serial, w_bits, a_bits, acc_bits, dsp_gen)
    e = cycles * energy.add_j(acc_bits)
    return PECost("bitserial", lut=p.lut, ff=p.ff, dsp=0.0, cycles_per_mac=float(cycles), energy_per_mac_j=e,
                  source=p.source)


@lru_cache(maxsize=4096)
def termserial(w_terms: float, a_terms: float, w_bits: int, a_bits: int, acc_bits: int,
               energy: EnergyModel, dsp_gen: str = "DSP48E1") -> PECost:
    """Term-serial multi-resolution MAC (Kung, McDanel, Zhang, term quantization): each
    cycle takes one weight term (exponent, sign) and one activation term, adds the
    exponents and adds +-2^(e_w+e_a) into the accumulator, so a MAC costs
    ``w_terms * a_terms`` cycles. Per lane: an activation-term buffer (every weight term
    meets every activation term), the weight-term register, term index, exponent adder,
    one-hot decoder and the accumulator (calibration table)."""
    e_bits = clog2(w_bits) + clog2(a_bits) + 1
    p = lane_cost("termserial", "term", w_bits, a_bits, acc_bits, dsp_gen)
    pairs = w_terms * a_terms
    e = pairs * (energy.add_j(e_bits) + energy.add_j(acc_bits))
    return PECost("termserial", lut=p.lut, ff=p.ff, dsp=0.0, cycles_per_mac=float(pairs), energy_per_mac_j=e,
                  source=p.source)


# --- a scheme on a unit ----------------------------------------------------------------

def _on_dsp(s: QuantScheme, acc: int, dsp_gen: str, serial: str, em: EnergyModel) -> PECost:
    return fixed_dsp(exact_fixed_bits(s.kind, s.w_bits), s.a_bits, acc, dsp_gen, em)


def _on_lut(s: QuantScheme, acc: int, dsp_gen: str, serial: str, em: EnergyModel) -> PECost:
    return fixed_lut(exact_fixed_bits(s.kind, s.w_bits), s.a_bits, acc, em, dsp_gen)


def _on_shift(s: QuantScheme, acc: int, dsp_gen: str, serial: str, em: EnergyModel) -> PECost:
    if s.kind == "pow2":
        return pow2_shift(s.w_bits, s.a_bits, acc, em, dsp_gen)
    if s.kind == "sp2":
        return sp2_shift(s.w_bits, s.a_bits, acc, em, dsp_gen)
    raise Unsupported(f"shift-add PEs multiply only by pow2/sp2 weights; '{s.kind}' weights need "
                      "a multiplier (pe_arith dsp or lut)")


def _on_bitserial(s: QuantScheme, acc: int, dsp_gen: str, serial: str, em: EnergyModel) -> PECost:
    if s.kind not in ("fixed", "term"):
        raise Unsupported(f"a bit-serial unit walks the bits of fixed-point weights; '{s.kind}' "
                          f"levels need {exact_fixed_bits(s.kind, s.w_bits)}-bit fixed point "
                          "(use a fixed scheme of that width, or the termserial model)")
    return bitserial(s.w_bits, s.a_bits, acc, serial, em, dsp_gen)


def _on_termserial(s: QuantScheme, acc: int, dsp_gen: str, serial: str, em: EnergyModel) -> PECost:
    return termserial(s.weight_terms_per_value, s.act_terms_per_value, exact_fixed_bits(s.kind, s.w_bits),
                      s.a_bits, acc, em, dsp_gen)


_UNIT_TABLE: dict[str, Callable[..., PECost]] = {
    "dsp": _on_dsp, "lut": _on_lut, "shift": _on_shift,
    "bitserial": _on_bitserial, "termserial": _on_termserial,
}


@lru_cache(maxsize=4096)
def product_bits(scheme: QuantScheme) -> int:
    """Width of one exact product of this format: exact weight width + activation bits."""
    return exact_fixed_bits(scheme.kind, scheme.w_bits) + scheme.a_bits


@lru_cache(maxsize=1 << 14)
def pe_cost(unit: str, scheme: QuantScheme, reduction: int, dsp_gen: str, energy: EnergyModel,
            serial: str = "weight") -> PECost:
    """Cost of one ``unit`` lane computing ``scheme`` over a reduction of ``reduction``
    products (which sets the accumulator width). Raises :class:`Unsupported` when the
    unit has no way to compute the format."""
    try:
        fn = _UNIT_TABLE[unit]
    except KeyError:
        raise ValueError(f"unit: must be one of {', '.join(UNITS)}; got {unit!r}") from None
    acc = accumulator_bits(product_bits(scheme), reduction)
    return fn(scheme, acc, dsp_gen, serial, energy)


def dot_cycles(unit: str, scheme: QuantScheme, reduction: int, serial: str = "weight") -> int:
    """Cycles one lane of ``unit`` needs for a dot product of length ``reduction`` (K).

    Parallel units: ``K``. Bit-serial: ``K * w_bits`` (``* a_bits`` when both operands are
    serial). Term-serial: each weight term meets every activation term; a group of ``g``
    weights shares a budget of ``k`` terms (never more than the group's values can hold,
    ``g * max_terms``), so ``term`` schemes take ``k * a_terms`` cycles per full group
    (a short last group ``min(k, r * max_terms) * a_terms``) and other kinds
    ``K * w_terms * a_terms``. ``msq`` mixes two row classes: split it with
    :func:`row_classes` first.
    """
    K = int(reduction)
    if unit in ("dsp", "lut", "shift"):
        return K
    if unit == "bitserial":
        return K * scheme.w_bits * (scheme.a_bits if serial == "both" else 1)
    if unit == "termserial":
        a_terms = int(scheme.act_terms_per_value)
        if scheme.kind == "term":
            g, k = scheme.group_size, scheme.term_budget
            mt = max_terms(scheme.w_bits, scheme.term_encoding)
            full, rest = divmod(K, g)
            return (full * min(k, g * mt) + (min(k, rest * mt) if rest else 0)) * a_terms
        if scheme.kind == "msq":
            raise ValueError("dot_cycles: split an msq scheme into its row classes first (row_classes)")
        return K * int(scheme.weight_terms_per_value) * a_terms
    raise ValueError(f"unit: must be one of {', '.join(UNITS)}; got {unit!r}")


__all__ = [
    # this module: PE costs per unit and format
    "PECost", "SERIAL_MODES", "SERIAL_UNITS", "UNITS", "Unsupported", "bitserial", "dot_cycles", "fixed_dsp",
    "fixed_lut", "pe_cost", "pow2_shift", "product_bits", "sp2_shift", "termserial",
    # re-exported: hwmodels.primitives, hwmodels.lane_prices, hwmodels.row_classes
    "DSP_PORTS", "MAX_DSP_LANES", "accumulator_bits", "adder_luts", "clog2", "dsp_lanes", "dsp_packing",
    "exact_fixed_bits", "lut_multiplier_luts", "shifter_levels", "shifter_luts",
    "LANE_UNIT", "ArrayOverhead", "array_overhead", "lane_cost", "lane_module_price", "lane_structure",
    "operand_bits", "row_bit_folds", "row_classes", "split_row_groups",
]
