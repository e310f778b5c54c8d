"""Arithmetic units: what one MAC lane (processing element) costs for each number format.

A *lane* does one multiply-accumulate stream; a DSP slice may hold several lanes
(packing). LUT/FF/DSP counts of a lane come from the calibration table of the device
family (:mod:`hwmodels.calibration`): Yosys ``synth_xilinx`` runs on the lane RTL that
:mod:`hwmodels.rtl.lanes` generates (``dse hw calibrate``). Widths never synthesized are
fitted with the lane's structural formula (:func:`lane_structure`) scaled by
synthesis/formula at the nearest synthesized widths; every price names its ``source``
(``dse hw lanes``). Energy per MAC stays analytic (:mod:`hwmodels.energy`).

Structural primitives used by the fits (Xilinx 6-input-LUT fabric, UG474 / UG574):

- n-bit adder/subtractor: ``n`` LUTs (one LUT6 per bit feeding the carry chain; an AND
  or XOR on an adder input folds into the same LUT);
- 4:1 multiplexer: 1 LUT6 per bit, so a barrel shifter over ``p`` positions is
  ``ceil(log4 p)`` levels of 4:1 muxes, each as wide as the shifted result;
- LUT multiplier, w x a bits: ``(min(w,a) - 1) * (max(w,a) + 1)`` LUTs (ripple rows);
- DSP slices: DSP48E1 has a 25 x 18 multiplier (25-bit pre-adder), DSP48E2 a 27 x 18 one
  (UG479, UG579), a 48-bit ALU/accumulator.

Low-precision packing into one DSP slice (:func:`dsp_packing`): the packed lanes share
the (unsigned) activation on the B port and their signed weights sit ``w + a`` bits apart
on the A/D path, as FINN's ``mvu_8sx8u_dsp48`` does on both DSP48E1 and DSP48E2: two
8-bit lanes per slice on either generation, three 4-bit lanes. Packed lanes accumulate in
fabric (the P register cannot hold several wide accumulators); the table prices that.
Array overhead outside the lanes (control, address generation, requantisation) is
:func:`array_overhead`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Callable

from .base import Unsupported
from .calibration import FAMILY_OF_DSP, LanePrice, lane_price
from .energy import EnergyModel
from .formats import QuantScheme, levels, max_terms
from .workload import LayerSpec

#: MAC-lane implementations. ``dsp``/``lut``: parallel fixed-point multipliers;
#: ``shift``: power-of-two (one shift) and SP2 (two shifts and an add) units in LUTs;
#: ``bitserial``: one weight bit (or one weight bit x one activation bit) per cycle;
#: ``termserial``: one (weight term, activation term) pair per cycle.
UNITS = ("dsp", "lut", "shift", "bitserial", "termserial")
SERIAL_MODES = ("weight", "both")
#: units whose cycles per MAC depend on the format (they take ``dot_cycles`` per fold)
SERIAL_UNITS = ("bitserial", "termserial")

#: multiplier port widths (A x B) of each DSP generation: UG479 (DSP48E1), UG579 (DSP48E2)
DSP_PORTS = {"DSP48E1": (25, 18), "DSP48E2": (27, 18)}
#: most lanes packed in one slice (FINN mvu_4sx4u, Xilinx WP521: four 4-bit products)
MAX_DSP_LANES = 4


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

    @property
    def lanes_per_dsp(self) -> int:
        return round(1.0 / self.dsp) if self.dsp else 0


# --- primitive costs -----------------------------------------------------------------

def clog2(n: int) -> int:
    """ceil(log2(n)) for n >= 1 (0 for n = 1)."""
    return max(int(n) - 1, 0).bit_length()


def adder_luts(bits: int) -> int:
    """n-bit ripple-carry adder on the carry chain: one LUT6 per bit (UG474/UG574)."""
    return int(bits)


def lut_multiplier_luts(w_bits: int, a_bits: int) -> int:
    """Signed w x a array multiplier in LUT6 + carry chain: (min-1) rows of (max+1) bits."""
    lo, hi = sorted((int(w_bits), int(a_bits)))
    return (lo - 1) * (hi + 1) if lo >= 2 else hi


def shifter_levels(positions: int) -> int:
    """4:1-mux levels of a barrel shifter over ``positions`` shift amounts (log4)."""
    return (clog2(positions) + 1) // 2 if positions > 1 else 0


def shifter_luts(in_bits: int, positions: int) -> int:
    """Barrel shifter of ``in_bits`` data over ``positions`` amounts: each 4:1-mux level is
    one LUT6 per output bit; the output is ``in_bits + positions - 1`` wide."""
    return shifter_levels(positions) * (in_bits + positions - 1)


def accumulator_bits(product_bits: int, reduction: int) -> int:
    """Exact accumulator width for ``reduction`` products of ``product_bits`` each."""
    return int(product_bits) + clog2(max(int(reduction), 1))


@lru_cache(maxsize=256)
def exact_fixed_bits(kind: str, w_bits: int) -> int:
    """Fixed-point width (sign included) that represents every level of ``kind`` at
    ``w_bits`` exactly: what a multiplier needs to compute that format.

    fixed/term: ``w_bits``; pow2: ``2**(w_bits-1)`` (levels down to 2^-(2^(b-1)-2));
    sp2: ``2**ceil((b-1)/2) + 1`` for b >= 3 (2-bit SP2 is ternary: 2 bits); msq: the larger of its SP2 and fixed rows.
    Derived from :func:`hwmodels.levels`: the finest dyadic step of the level set.
    """
    if kind in ("fixed", "term"):
        return w_bits
    if kind == "msq":
        return max(w_bits, exact_fixed_bits("sp2", w_bits))
    frac_bits = 0
    for v in levels(kind, w_bits):
        k = 0
        while not float(v * 2**k).is_integer():  # levels are dyadic: this terminates
            k += 1
        frac_bits = max(frac_bits, k)
    # magnitudes are integers up to 2**frac_bits on the grid, plus a sign bit
    return frac_bits + 2


def dsp_packing(dsp_gen: str, w_bits: int, a_bits: int) -> tuple[int, int]:
    """``(lanes, spacing)``: MACs one DSP slice computes per cycle for a signed ``w_bits`` x
    unsigned ``a_bits`` product, and the bit distance between packed weights.

    Packed lanes share the activation (B port, ``a_bits + 1`` signed bits <= 18); the
    weights sit ``spacing = w + a`` bits apart on the A/D path (one exact product field
    each, FINN's ``mvu_8sx8u_dsp48`` layout), so ``lanes`` is the largest ``n`` with
    ``(n - 1) * spacing + w_bits + 1`` (the packed word's width) <= the pre-adder width
    (25 bits DSP48E1, 27 DSP48E2)
    and the packed product within the 48-bit P port. 8x8 -> 2 lanes on both
    generations (FINN packs two 8-bit products per DSP48E1, 16 bits apart); 4x4 -> 3;
    at most :data:`MAX_DSP_LANES` (4, the most any published packing uses).
    FINN's ``mvu_4sx4u`` reaches 4 lanes at 4x4 on DSP48E2 by overlapping lanes 7 bits
    apart and repairing them with canary LUTs; our generator does not do that.
    A product too wide for one multiplier in either orientation raises ``Unsupported``."""
    if dsp_gen not in DSP_PORTS:
        raise ValueError(f"dsp_gen: must be one of {', '.join(DSP_PORTS)}; got {dsp_gen!r}")
    port_a, port_b = DSP_PORTS[dsp_gen]
    wb, ab = int(w_bits), int(a_bits) + 1          # unsigned activation as a signed operand
    lo, hi = sorted((wb, ab))
    if hi > port_a or lo > port_b:
        raise Unsupported(f"a {w_bits} x {a_bits}-bit product does not fit one {dsp_gen} "
                          f"multiplier ({port_a} x {port_b})")
    spacing = wb + int(a_bits)
    lanes = 1
    if ab <= port_b:
        # the packed word sum(w_i 2^(spacing i)) needs one bit above the top weight
        while lanes < MAX_DSP_LANES and lanes * spacing + wb + 1 <= port_a and lanes * spacing + wb + ab + 1 <= 48:
            lanes += 1
    return lanes, spacing


def dsp_lanes(dsp_gen: str, w_bits: int, a_bits: int) -> int:
    """MACs one DSP slice computes per cycle for a w x a-bit product (:func:`dsp_packing`)."""
    return dsp_packing(dsp_gen, w_bits, a_bits)[0]


# --- lane prices from the calibration table ------------------------------------------

#: model unit -> (unit, kind) of the generated lane family (``hwmodels.rtl.lanes``)
LANE_UNIT = {"dsp": "dsp", "lut": "lut", "shift": "shift", "bitserial": "bit", "termserial": "term"}


def _term_exp_bits(bits: int) -> int:
    return max(clog2(bits), 1)


def lane_structure(unit: str, kind: str, w_bits: int, a_bits: int, acc_bits: int,
                   family: str) -> tuple[float, float]:
    """Structural (LUT, FF) count of one generated lane *module* (a DSP module holds
    ``dsp_lanes`` lanes): what the calibration fit scales between synthesized widths.
    One LUT6 per adder bit (carry chain), 4:1-mux levels for shifters, one FF per
    register bit; the RTL is :mod:`hwmodels.rtl.lanes`."""
    w, a, acc = int(w_bits), int(a_bits), int(acc_bits)
    if unit == "lut":
        return lut_multiplier_luts(w, a + 1) + acc, w + a + acc
    if unit == "dsp":
        lanes, sp = dsp_packing(_DSP_OF_FAMILY[family], w, a)
        if lanes == 1:  # Yosys keeps the accumulator in fabric (Vivado puts it in P)
            return float(acc), w + a + 1 + acc
        pb = (lanes - 1) * sp + w + a + 2
        corr = sum(pb - sp * i for i in range(1, lanes))
        return corr + lanes * acc, (lanes - 1) * sp + w + 1 + a + 1 + lanes * acc
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


@lru_cache(maxsize=8192)
def lane_module_price(family: str, unit: str, kind: str, w_bits: int, a_bits: int,
                      acc_bits: int) -> LanePrice:
    """LUT/FF/DSP of one generated lane module (a DSP module holds ``dsp_lanes`` lanes)
    from the calibration table of ``family`` (xc7 | xcup)."""
    def formula(w: int, a: int, acc: int, fam: str) -> tuple[float, float]:
        return lane_structure(unit, kind, w, a, acc, fam)

    p = lane_price(family, unit, kind, int(w_bits), int(a_bits), int(acc_bits), formula)
    dsp = 1.0 if unit == "dsp" else 0.0
    lanes = dsp_packing(_DSP_OF_FAMILY[family], w_bits, a_bits)[0] if unit == "dsp" else 0
    return LanePrice(p.lut, p.ff, dsp, lanes, p.source, p.fit)


@lru_cache(maxsize=8192)
def lane_cost(unit: str, kind: str, w_bits: int, a_bits: int, acc_bits: int, dsp_gen: str) -> LanePrice:
    """Price of ONE lane (a packed DSP lane's share of its slice and fabric) on the device
    family of ``dsp_gen`` (DSP48E1 -> xc7, DSP48E2 -> xcup)."""
    family = FAMILY_OF_DSP[dsp_gen] if dsp_gen in FAMILY_OF_DSP else None
    if family is None:
        raise ValueError(f"dsp_gen: must be one of {', '.join(DSP_PORTS)}; got {dsp_gen!r}")
    m = lane_module_price(family, LANE_UNIT.get(unit, unit), kind, w_bits, a_bits, acc_bits)
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


# --- one MAC lane per implementation ---------------------------------------------------

@lru_cache(maxsize=4096)
def fixed_dsp(w_bits: int, a_bits: int, acc_bits: int, dsp_gen: str, energy: EnergyModel) -> PECost:
    """Fixed-point MAC in a DSP slice, packed ``dsp_lanes`` per slice (:func:`dsp_packing`).
    A single lane accumulates in the slice; packed lanes are split, sign-corrected and
    accumulated in fabric (one 48-bit P register cannot hold several wide accumulators;
    FINN's packed units keep theirs in fabric too). LUT/FF from the calibration table."""
    lanes = dsp_lanes(dsp_gen, w_bits, a_bits)
    p = lane_cost("dsp", "fixed", w_bits, a_bits, acc_bits, dsp_gen)
    e = energy.dsp_mac_j(w_bits, a_bits, lanes, dsp_gen)
    if lanes > 1:
        e += energy.add_j(acc_bits)  # the fabric accumulator is soft logic
    return PECost("dsp", lut=p.lut, ff=p.ff, dsp=1.0 / lanes, cycles_per_mac=1.0,
                  energy_per_mac_j=e, hard=True, source=p.source)


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


@lru_cache(maxsize=4096)
def row_classes(scheme: QuantScheme, rows: int) -> tuple[tuple[int, QuantScheme], ...]:
    """Split a layer's ``rows`` output channels by number format: an ``msq`` scheme puts
    ``floor(sp2_fraction * rows + 1/2)`` rows (round half up) in SP2 and the rest in fixed
    point (same bits); any other scheme is one class."""
    if scheme.kind != "msq":
        return ((rows, scheme),)
    n_sp2 = int(math.floor(scheme.sp2_fraction * rows + 0.5))
    sp2 = QuantScheme("sp2", scheme.w_bits, scheme.a_bits, "per_row")
    fixed = QuantScheme("fixed", scheme.w_bits, scheme.a_bits, "per_row")
    return tuple((n, s) for n, s in ((n_sp2, sp2), (rows - n_sp2, fixed)) if n > 0)


@lru_cache(maxsize=4096)
def row_bit_folds(scheme: QuantScheme, rows: int, cols: int) -> tuple[tuple[int, QuantScheme], ...]:
    """Rows of a per-row-width scheme (``row_bits``) as a serial array runs them:
    ``(rows, fixed b-bit scheme)`` parts, widest first, each part a run of column folds
    whose widest row has ``b`` bits.

    On a serial array the ``cols`` filters of a column fold walk their bits in lockstep,
    so a fold lasts its widest row's bits. Sorting the rows by width (widest first) and
    cutting them into folds of ``cols`` minimises the sum of the folds' widest widths
    (the i-th fold's maximum can be no smaller than the (i-1)*cols+1-th widest row, which
    is what the sorted cut achieves); consecutive folds with the same widest width are one
    part. ``rows`` is the rows per group; with several groups every group must hold the
    same widths (:func:`split_row_groups` splits a layer whose groups differ). Raises
    ``ValueError`` when the widths do not divide into ``rows`` per group."""
    rb = scheme.row_bits
    if rb is None:
        return ((rows, scheme),)
    if rows < 1 or cols < 1 or len(rb) % rows:
        raise ValueError(f"row_bits: {len(rb)} row widths do not split into groups of {rows} rows")
    groups = [tuple(sorted(rb[i:i + rows], reverse=True)) for i in range(0, len(rb), rows)]
    if any(g != groups[0] for g in groups[1:]):
        raise ValueError("row_bits: groups hold different widths; split the layer by group first (split_row_groups)")
    widths = groups[0]
    parts: list[list[int]] = []  # [rows, widest bits]
    for start in range(0, rows, cols):
        n, b = min(cols, rows - start), widths[start]
        if parts and parts[-1][1] == b:
            parts[-1][0] += n
        else:
            parts.append([n, b])
    return tuple((n, QuantScheme("fixed", b, scheme.a_bits, "per_row")) for n, b in parts)


@lru_cache(maxsize=4096)
def split_row_groups(layer: LayerSpec, scheme: QuantScheme) -> tuple[tuple[LayerSpec, QuantScheme], ...]:
    """A grouped layer with per-row widths as sub-layers whose groups hold the same
    widths (each distinct per-group multiset of widths becomes one sub-layer of the
    groups that have it; rows are reordered within a group, which changes no cost).
    One piece when there is nothing to split."""
    rb, g, ng = scheme.row_bits, layer.groups, layer.n_per_group
    if rb is None or g == 1:
        return ((layer, scheme),)
    if len(rb) != layer.N:
        raise ValueError(f"row_bits: layer {layer.name!r} has {layer.N} output channels but its scheme gives "
                         f"{len(rb)} row widths")
    patterns: dict[tuple[int, ...], int] = {}
    for i in range(g):
        pat = tuple(sorted(rb[i * ng:(i + 1) * ng], reverse=True))
        patterns[pat] = patterns.get(pat, 0) + 1
    if len(patterns) == 1:
        return ((layer, scheme),)
    out = []
    for pat, m in sorted(patterns.items(), reverse=True):
        sub = replace(layer, N=m * ng, groups=m, channels=layer.channels * m // g)
        out.append((sub, replace(scheme, w_bits=max(pat), row_bits=pat * m)))
    return tuple(out)
