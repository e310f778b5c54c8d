"""Structural primitives of the Xilinx fabric and DSP packing: the widths and counts
that every lane price and fit is built from (:mod:`hwmodels.arith` re-exports them).

Xilinx 6-input-LUT fabric (UG474 / UG574):

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
8-bit lanes per slice on either generation, three 4-bit lanes.
"""

from __future__ import annotations

from functools import lru_cache

from .base import Unsupported
from .formats import levels

#: multiplier port widths (A x B) of each DSP generation: UG479 (DSP48E1), UG579 (DSP48E2)
DSP_PORTS = {"DSP48E1": (25, 18), "DSP48E2": (27, 18)}
#: most lanes packed in one slice (FINN mvu_4sx4u, Xilinx WP521: four 4-bit products)
MAX_DSP_LANES = 4


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


__all__ = ["DSP_PORTS", "MAX_DSP_LANES", "accumulator_bits", "adder_luts", "clog2", "dsp_lanes", "dsp_packing",
           "exact_fixed_bits", "lut_multiplier_luts", "shifter_levels", "shifter_luts"]
